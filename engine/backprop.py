"""Backpropagation: topological order, ``backward``, functional ``grad`` and gc handling.

The order is found without recursion, so a chain of a million nodes works; it
is deterministic (it depends only on the order of each node's parents).
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from engine.value import Value, _as_number, _inputs_as_written, enable_grad


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector inside this block (restored after).

    Values form no reference cycles, so reference counting frees every graph and
    the cyclic collector has nothing to find in them; yet it would walk every live
    node again and again while a big graph is built. Wrap a training step in this
    block to skip that work. Code of yours that makes cycles inside the block is
    collected after it ends.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


# A zero of its own (float() makes a new object): while a search runs, `node.grad is _REACHED`
# says the node is already found. Marking the node itself is ~35% faster than a set of every
# node, and the mark equals 0.0, so the chain rule can add to it directly, with no clearing pass.
_REACHED = float("0.0")


def topological_order(root: Value) -> list[Value]:
    """Every node that ``root`` depends on, ``root`` first, each before its parents.

    This is the order in which backpropagation visits nodes: when a node is
    reached, every path from ``root`` to it has already added its share to its
    gradient. Every ``grad`` is left as it was.
    """
    order, earlier = _reach(root)
    _restore_grads(order, earlier)
    return order


def _reach(root: Value) -> tuple[list[Value], list[tuple[Value, float]]]:
    """``topological_order(root)``, with every node's ``grad`` set to 0 (``_REACHED``).

    Also returns the nodes whose ``grad`` was not 0, with it, to be added back or
    restored. Iterative depth-first search, so a chain of a million nodes works: a
    ``None`` on the stack marks that the node below it has had all its parents placed.
    """
    order: list[Value] = []
    earlier: list[tuple[Value, float]] = []
    stack: list[Value | None] = [root]
    push, pop, place = stack.append, stack.pop, order.append
    try:
        while stack:
            node = pop()
            if node is None:  # all parents of the node below are placed: place it
                place(pop())  # type: ignore[arg-type]
                continue
            grad = node.grad
            if grad is _REACHED:
                continue
            if grad:
                earlier.append((node, grad))
            node.grad = _REACHED
            push(node)
            push(None)
            parents = node._parents
            if len(parents) == 2:  # tested here, unpacked: cheaper than pushing and popping a reached one
                a, b = parents
                if a.grad is not _REACHED:
                    push(a)
                if b.grad is not _REACHED:
                    push(b)
            elif len(parents) == 1:
                push(parents[0])  # a chain's parent is rarely reached yet: no test
            else:
                for parent in parents:  # n-ary nodes share most parents (weights, a layer's inputs)
                    if parent.grad is not _REACHED:
                        push(parent)
    except BaseException:  # (KeyboardInterrupt, MemoryError): leave no mark behind
        marked = [node for node in order + stack if node is not None and node.grad is _REACHED]
        _restore_grads(marked, earlier)
        raise
    order.reverse()
    return order, earlier


def _restore_grads(nodes: list[Value], earlier: list[tuple[Value, float]]) -> None:
    """Give every node in ``nodes`` back the ``grad`` it had before ``_reach``."""
    for node in nodes:
        node.grad = 0.0
    for node, previous in earlier:
        node.grad = previous


def _propagate(order: Sequence[Value], gradient: float) -> None:
    """Set each node's ``grad`` to ∂root/∂node (``order[0]`` is the root): the chain rule.

    Each node passes upstream × local to each parent: parent.grad += ∂node/∂parent · node.grad.
    Every ``grad`` in ``order`` must be 0 when it starts (as ``_reach`` leaves them).
    """
    order[0].grad = gradient
    for node in order:
        upstream = node.grad
        if upstream == 0.0:  # adds nothing; and 0 × an overflowed (inf) local derivative would be nan
            node.grad = 0.0  # a plain zero, no longer the search's mark
            continue
        parents = node._parents
        arity = len(parents)
        # Binary and unary nodes are most nodes: unpacked, they skip building a zip (−35% time).
        if arity == 2:
            a, b = parents
            local = node._local_grads
            if local is None:  # a product a·b stores none: ∂/∂a = b, ∂/∂b = a
                a.grad += b.data * upstream
                b.grad += a.data * upstream
            else:
                a.grad += local[0] * upstream
                b.grad += local[1] * upstream
        elif arity == 1:
            parents[0].grad += node._local_grads[0] * upstream
        elif arity:
            local = node._local_grads
            if local is None:  # a sum of more than two terms stores none: ∂/∂aᵢ = 1
                for parent in parents:
                    parent.grad += upstream
            else:
                for parent, local_grad in zip(parents, local):
                    parent.grad += local_grad * upstream


def backward(root: Value, gradient: float = 1.0) -> None:
    """Add ∂root/∂v (times ``gradient``) to ``v.grad`` for every node v below ``root``.

    Gradients accumulate as in PyTorch; calling it twice gives twice the gradients
    on every node, intermediate ones included. Interrupted (Ctrl-C), it leaves every
    ``grad`` as it was. Not thread-safe for graphs that share nodes: the search marks
    the nodes themselves.
    """
    _expect_value(root, "backward")
    gradient = _as_number(gradient, "backward: gradient")
    with gc_paused():
        order, earlier = _reach(root)
        try:
            _propagate(order, float(gradient))
        except BaseException:  # interrupted: every grad back as it was before this call
            _restore_grads(order, earlier)
            raise
        for node, previous in earlier:
            node.grad += previous


def _expect_value(node: object, function: str) -> None:
    if not isinstance(node, Value):
        raise TypeError(f"{function}: expected a Value, got {node!r} ({type(node).__name__})")


def zero_grad(nodes: Value | Iterable[Value]) -> None:
    """Set ``grad`` to 0 on a Value's whole graph, or on each Value of an iterable."""
    targets = topological_order(nodes) if isinstance(nodes, Value) else nodes
    for node in targets:
        node.grad = 0.0


def grad(
    output: Value | Callable[..., Value],
    inputs: Value | Sequence[Value] | None = None,
    create_graph: bool = False,
) -> Any:
    """∂output/∂input for each input, leaving every ``.grad`` as it was.

    Two forms:

    - ``grad(y, x)`` on a graph already built (like ``torch.autograd.grad``):
      one result for one input, a list for a sequence. With
      ``create_graph=False`` the results are floats; with ``create_graph=True``
      they are Values whose graph can itself be differentiated, so
      ``grad(grad(y, x, create_graph=True), x)`` is d²y/dx². An input that ``y``
      does not depend on gets 0.
    - ``grad(f)`` on a function (like HIPS autograd): returns the function
      x ↦ ∂f/∂x (the first argument; see ``derivative``), so
      ``grad(grad(f))(x)`` is f''(x).
    """
    if not isinstance(output, Value):
        if callable(output) and inputs is None:
            return derivative(output)
        raise TypeError(f"grad: expected a Value or a function, got {type(output).__name__}")
    if inputs is None:
        raise TypeError("grad(y, inputs): say which inputs, e.g. grad(y, x) or grad(y, [w, b])")
    single = isinstance(inputs, Value)
    wanted = list(inputs) if not single and isinstance(inputs, Iterable) else [inputs]
    for node in (output, *wanted):
        _expect_value(node, "grad")
    if create_graph:
        results: list = _graph_of_gradients(topological_order(output), wanted)
    else:
        with gc_paused():
            order, earlier = _reach(output)
            try:
                found = [node.grad is _REACHED for node in wanted]  # the search marked every node it found
                _propagate(order, 1.0)
                results = [node.grad if reached else 0.0 for node, reached in zip(wanted, found)]
            finally:
                _restore_grads(order, earlier)
    return results[0] if single else results


def _graph_of_gradients(order: list[Value], wanted: list[Value]) -> list:
    """The chain rule written with Value ops: every gradient is a differentiable graph.

    Each op's ``local_grads`` rule is called with Values instead of floats, so
    ∂node/∂parent is itself a node, and upstream × local builds the graph.
    """
    grads: dict[int, Value | float] = {id(order[0]): Value(1.0, label="1")}
    with enable_grad():
        for node in order:
            upstream = grads.get(id(node))
            if upstream is None or not node._parents:
                continue
            op, parents = node._op, node._parents
            inputs = _inputs_as_written(op, parents, node._const)
            for parent, local in zip(parents, op.local_grads(node, *inputs)):
                contribution = local * upstream
                earlier = grads.get(id(parent))
                grads[id(parent)] = contribution if earlier is None else earlier + contribution
    results = []
    for node in wanted:
        result = grads.get(id(node), 0.0)
        results.append(result if isinstance(result, Value) else Value(result))
    return results


def derivative(f: Callable[..., Value | float], argnum: int = 0) -> Callable[..., Any]:
    """The function x ↦ ∂f/∂x, where x is argument ``argnum`` of ``f`` (HIPS-style).

    Called with numbers it returns a float. Called with Values (as happens when
    it is itself differentiated) it returns a Value with its own graph, so
    derivatives nest: ``derivative(derivative(f))(x)`` is f''(x).

    >>> derivative(lambda x: x ** 3)(2.0)        # 3x²
    12.0
    >>> derivative(derivative(lambda x: x ** 3))(2.0)   # 6x
    12.0
    """

    def df(*args: Any) -> Any:
        nested = isinstance(args[argnum], Value)
        values = [a if isinstance(a, Value) else Value(a) for a in args]
        with enable_grad():
            output = f(*values)
        if not isinstance(output, Value):  # f ignored its argument: a constant
            return Value(0.0) if nested else 0.0
        return grad(output, values[argnum], create_graph=nested)

    df.__name__ = f"d_{getattr(f, '__name__', 'f')}"
    df.__doc__ = f"∂/∂(argument {argnum}) of {getattr(f, '__name__', 'f')}"
    return df

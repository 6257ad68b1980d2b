"""Backpropagation: topological order, ``backward``, functional ``grad`` and gc handling.

The order is found without recursion, so a chain of a million nodes works; it
is deterministic (it depends only on the order of each node's parents).
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager

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


def topological_order(root: Value) -> list[Value]:
    """Every node that ``root`` depends on, ``root`` first, each before its parents.

    This is the order in which backpropagation visits nodes: when a node is
    reached, every path from ``root`` to it has already added its share to its
    gradient. Iterative depth-first search: a ``None`` on the stack marks that
    the node below it has had all its parents placed.
    """
    order: list[Value] = []
    visited: set[Value] = set()
    stack: list[Value | None] = [root]
    push, pop = stack.append, stack.pop
    while stack:
        node = pop()
        if node is None:  # all parents of the node below are placed: place it
            order.append(pop())  # type: ignore[arg-type]
            continue
        if node in visited:
            continue
        visited.add(node)
        push(node)
        push(None)
        for parent in node._parents:
            if parent not in visited:
                push(parent)
    order.reverse()
    return order


def _propagate(order: Sequence[Value], gradient: float) -> None:
    """Set each node's ``grad`` to ∂root/∂node (``order[0]`` is the root): the chain rule.

    Each node passes upstream × local to each parent: parent.grad += ∂node/∂parent · node.grad.
    """
    for node in order:
        node.grad = 0.0
    order[0].grad = gradient
    for node in order:
        upstream = node.grad
        if upstream == 0.0:  # adds nothing; and 0 × an overflowed (inf) local derivative would be nan
            continue
        for parent, local in zip(node._parents, node._local_grads):
            parent.grad += local * upstream


def backward(root: Value, gradient: float = 1.0) -> None:
    """Add ∂root/∂v (times ``gradient``) to ``v.grad`` for every node v below ``root``.

    Gradients accumulate as in PyTorch; calling it twice gives twice the gradients
    on every node, intermediate ones included.
    """
    _expect_value(root, "backward")
    gradient = _as_number(gradient, "backward: gradient")
    with gc_paused():
        order = topological_order(root)
        previous = [node.grad for node in order]
        _propagate(order, gradient)
        for node, earlier in zip(order, previous):
            node.grad += earlier


def _expect_value(node: object, function: str) -> None:
    if not isinstance(node, Value):
        raise TypeError(f"{function}: expected a Value, got {node!r} ({type(node).__name__})")


def zero_grad(nodes: Value | Iterable[Value]) -> None:
    """Set ``grad`` to 0 on a Value's whole graph, or on each Value of an iterable."""
    targets = topological_order(nodes) if isinstance(nodes, Value) else nodes
    for node in targets:
        node.grad = 0.0


def grad(
    output: Value, inputs: Value | Sequence[Value], create_graph: bool = False
) -> float | Value | list:
    """∂output/∂input for each input, functional style (like HIPS autograd's ``grad``).

    Leaves every ``.grad`` as it was. Returns one result for one input, a list
    for a sequence. With ``create_graph=False`` the results are floats; with
    ``create_graph=True`` they are Values whose graph can itself be
    differentiated, so ``grad(grad(y, x, create_graph=True), x)`` is d²y/dx².
    An input that ``output`` does not depend on gets 0.
    """
    single = isinstance(inputs, Value)
    wanted = list(inputs) if not single and isinstance(inputs, Iterable) else [inputs]
    for node in (output, *wanted):
        _expect_value(node, "grad")
    order = topological_order(output)
    if create_graph:
        results: list = _graph_of_gradients(order, wanted)
    else:
        with gc_paused():
            saved = [node.grad for node in order]
            _propagate(order, 1.0)
            reached = {id(node) for node in order}
            results = [node.grad if id(node) in reached else 0.0 for node in wanted]
            for node, earlier in zip(order, saved):
                node.grad = earlier
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

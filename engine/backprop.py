"""Gradients as functions: ``grad(y, x)``, gradients that are graphs themselves, ``derivative(f)``.

``backward`` (in ``engine/value.py``) adds gradients into the nodes' ``grad``;
the functions here return them instead and change no node. With
``create_graph=True`` the chain rule is written with Value ops, so a gradient is
a graph that can be differentiated again (second and third derivatives).
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from typing import Any

from engine.checks import (
    AnomalyError,
    DomainError,
    as_number,
    check_bool,
    check_callable,
    check_instance,
    check_int,
    describe,
    describe_operand,
    fail,
)
from engine.modes import enable_grad
from engine.symbolic import Expression, derivative_formulas
from engine.value import Op, Value, chain_rule, topological_order


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
        fail(TypeError, "grad", "output", "a Value or a function to differentiate", describe(output))
    if inputs is None:
        raise TypeError("grad(y, inputs): say which inputs, e.g. grad(y, x) or grad(y, [w, b])")
    single = isinstance(inputs, Value)
    if single:
        wanted = [inputs]
    elif isinstance(inputs, (str, bytes)) or not hasattr(inputs, "__iter__"):
        fail(TypeError, "grad", "inputs", "a Value or a list of Values", describe(inputs))
    else:
        wanted = list(inputs)
        for k, node in enumerate(wanted):
            check_instance("grad", f"inputs[{k}]", node, Value, "a Value")
    if check_bool("grad", "create_graph", create_graph):
        results: list = _graph_of_gradients(topological_order(output), wanted)
    else:
        gradients = chain_rule(output, caller="grad")
        results = [gradients.get(node, 0.0) for node in wanted]
    return results[0] if single else results


def _graph_of_gradients(order: list[Value], wanted: list[Value]) -> list[Value]:
    """The chain rule written with Value ops: every gradient is a differentiable graph.

    Each op's ``local_grads`` rule is called with Values instead of floats (the
    node itself as ``out``), so ∂node/∂parent is itself a node, and upstream ×
    local builds the graph. A number operand stays a number.
    """
    grads: dict[Value, Value] = {order[0]: Value(1.0, label="1")}
    runs_on_values: set[tuple[Op, int]] = set()
    with enable_grad():
        for node in order:
            upstream = grads.get(node)
            op = node.op
            if upstream is None or op is None:
                continue
            inputs = node.inputs
            if (op, len(inputs)) not in runs_on_values:  # each op's rule checked once a call
                _check_rule_runs_on_values(op, inputs)
                runs_on_values.add((op, len(inputs)))
            local_grads = op.local_grads(node, *inputs)
            for x, local in zip(inputs, local_grads):
                if isinstance(x, Value):
                    try:
                        contribution = local * upstream
                        earlier = grads.get(x)
                        grads[x] = contribution if earlier is None else earlier + contribution
                    except DomainError as error:  # inf · 0 or inf − inf: refused as without create_graph
                        raise AnomalyError(
                            f"grad: the chain rule gave a gradient that is not a number at "
                            f"{describe_operand(x)} (inf · 0, or inf − inf; {error}); no grad was changed. "
                            "Rescale the loss or the inputs"
                        ) from None
    return [grads.get(node, Value(0.0)) for node in wanted]


def _check_rule_runs_on_values(op: Op, inputs: tuple) -> None:
    """A TypeError naming ``op`` if its rule cannot run on symbols: then on Values it either fails or,
    calling a math function (``math.cos(a)`` is ``math.cos(a.data)``), silently drops the graph."""
    symbols = [
        Expression(f"x{k}") if isinstance(x, Value) else Expression.constant(x) for k, x in enumerate(inputs)
    ]
    if derivative_formulas(op, Expression("out"), symbols) is None:
        raise TypeError(
            f"grad(create_graph=True): the local_grads of op {op.name!r} cannot run on Values (does it call "
            "a math function, such as math.cos?), so its derivatives cannot be differentiated again; write "
            "it with operators and ops, e.g. cos(a) for a user-defined cos"
        )


def derivative(f: Callable[..., Value | float], argnum: int = 0) -> Callable[..., Any]:
    """The function x ↦ ∂f/∂x, where x is argument ``argnum`` of ``f`` (HIPS-style).

    Called with numbers it returns a float. Called with Values (as happens when
    it is itself differentiated) it returns a Value with its own graph, so
    derivatives nest: ``derivative(derivative(f))(x)`` is f''(x). The other
    arguments (numbers become Values) and keyword arguments go to ``f`` as given.
    When no graph leads from f's result to x, f is a constant (derivative 0) if its
    result stays put when x moves (f runs once more, at x + 1e−6·max(1, |x|)); a
    result that moves was computed from x's number (``math.sin(x)``, ``float(x * 2)``,
    ``Value(x.data ** 2)``) and is refused. (A number read from x and multiplied
    back in, ``x * Value(x.data)``, cannot be told apart: it is differentiated as a
    constant factor.)

    >>> derivative(lambda x: x ** 3)(2.0)        # 3x²
    12.0
    >>> derivative(derivative(lambda x: x ** 3))(2.0)   # 6x
    12.0
    """
    check_callable("derivative", "f", f, "a function to differentiate")
    argnum = check_int("derivative", "argnum", argnum, minimum=0, hint="the position of the argument x")
    name = getattr(f, "__name__", "f")

    def df(*args: Any, **keywords: Any) -> Any:
        if len(args) <= argnum:
            example = ", ".join(["1.0"] * argnum + ["2.0"])
            raise TypeError(
                f"d_{name}: differentiates argument {argnum} of {name}, so it needs at least "
                f"{argnum + 1} argument{'s' if argnum else ''} (the point), got {len(args)}; "
                f"e.g. d_{name}({example})"
            )
        point = args[argnum]
        nested = isinstance(point, Value)
        x = point if nested else Value(as_number(point, f"d_{name}: argument {argnum}"))
        # the other numbers as Values too (f may call y.exp() on them); anything else as given
        others = [Value(a) if isinstance(a, numbers.Real) and not isinstance(a, Value) else a for a in args]

        def f_at(argument: Value) -> Any:
            with enable_grad():
                return f(*others[:argnum], argument, *others[argnum + 1 :], **keywords)

        output = f_at(x)
        if isinstance(output, Value) and x in topological_order(output):
            return grad(output, x, create_graph=nested)
        if not isinstance(output, (Value, int, float)) or isinstance(output, bool):
            fail(TypeError, f"d_{name}", f"{name}'s result", "a Value (or a number, for a constant function)",
                 describe(output))
        # No graph leads from the result to x: a constant, unless it moves with x (math.sin(x),
        # float(x * 2), Value(x.data ** 2) read x's number and left the graph). f runs once more to see.
        number = _number_of(output)
        if _number_of(f_at(Value(x.data + 1e-6 * max(1.0, abs(x.data))))) != number:
            raise TypeError(
                f"d_{name}: {name} returned {describe(output)}, computed from its argument's number (a math "
                "function such as math.sin(x), float(x) or x.data), so no graph leads to x; write it with "
                "Value ops (x.exp(), engine.tanh(x), or engine.define_op for sin)"
            )
        return Value(0.0) if nested else 0.0  # f ignored its argument: a constant

    df.__name__ = f"d_{name}"
    df.__doc__ = f"∂/∂(argument {argnum}) of {name}"
    return df


def _number_of(result: Any) -> Any:
    return result.data if isinstance(result, Value) else result

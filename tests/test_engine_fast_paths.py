"""The engine's fast paths give exactly what the plain ones give.

Speed-ups covered here (see bench/README.md for their numbers): ``linear_layer`` builds
the same nodes as one ``linear`` per row; the linear node's local derivatives, written
out in the forward pass, equal the LINEAR op's rule; backpropagation unpacks unary and
binary nodes and still accumulates exactly; the search marks nodes through their
``grad`` (a zero of its own) instead of a set, and leaves no mark behind, even when
interrupted; op results are made without ``Value.__init__`` and are plain Values;
number operands skip the slow ABC check.
"""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import (
    OPS,
    Value,
    backprop,
    grad,
    linear,
    linear_layer,
    numerical_grad,
    topological_order,
    zero_grad,
)
from engine.backprop import _REACHED

finite = st.floats(min_value=-3.0, max_value=3.0, allow_nan=False, allow_infinity=False)


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=0, max_value=7), st.integers(min_value=1, max_value=4), st.data())
def test_linear_layer_makes_the_nodes_linear_makes(n: int, rows: int, data) -> None:
    xs = [Value(data.draw(finite)) for _ in range(n)]
    weight_rows = [[Value(data.draw(finite)) for _ in range(n)] for _ in range(rows)]
    biases = [Value(data.draw(finite)) for _ in range(rows)]
    layer = linear_layer(weight_rows, xs, biases)
    singles = [linear(w, xs, b) for w, b in zip(weight_rows, biases)]
    assert len(layer) == rows
    for z, single, w, b in zip(layer, singles, weight_rows, biases):
        assert z.data == single.data
        assert z.parents == single.parents == (*w, *xs, b)
        assert z.local_grads == single.local_grads
        # The local derivatives written out in the forward pass are the LINEAR rule's.
        rule = OPS["linear"].local_grads(z.data, *(v.data for v in z.parents))
        assert z.local_grads == tuple(rule)
        assert z.op == "linear"


def test_linear_value_is_the_weighted_sum() -> None:
    w = [Value(0.5), Value(-2.0), Value(0.25)]
    x = [Value(4.0), Value(1.5), Value(-8.0)]
    z = linear(w, x, Value(0.1))
    assert z.data == pytest.approx(0.1 + 0.5 * 4.0 - 2.0 * 1.5 - 0.25 * 8.0, abs=1e-15)
    z.backward()
    assert [v.grad for v in w] == [4.0, 1.5, -8.0]
    assert [v.grad for v in x] == [0.5, -2.0, 0.25]


def test_linear_wraps_numbers_and_names_bad_operands() -> None:
    w = [Value(2.0), Value(3.0)]
    z = linear(w, [1, 0.5], 1)  # number inputs and a number bias become leaves
    assert z.data == 2.0 + 1.5 + 1.0
    assert all(isinstance(p, Value) for p in z.parents) and z.parents[2].data == 1.0
    with pytest.raises(TypeError, match=r"linear: weights must be Values .*got 0\.5 \(float\)"):
        linear([Value(1.0), 0.5], [1.0, 2.0], Value(0.0))
    with pytest.raises(ValueError, match="linear: 2 weights but 3 inputs"):
        linear(w, [1.0, 2.0, 3.0], Value(0.0))
    with pytest.raises(ValueError, match="linear: 2 rows of weights but 1 biases"):
        linear_layer([w, w], [1.0, 2.0], [Value(0.0)])
    with pytest.raises(TypeError, match="Value"):
        linear(w, ["a", 1.0], Value(0.0))


def _mixed_graph(a: Value, b: Value, c: Value) -> Value:
    """Unary, binary (a shared parent, a + a), n-ary and constant ops in one graph."""
    h = (a * b + a).tanh()
    s = (h + h) * c - a / b
    z = linear([a, b, c], [h, s, a], c)
    return (z.sigmoid() + (s * 0.5).exp() + (a - 2.0) ** 2).log() + (s + 20.0).relu()  # s > −20: no kink


@settings(max_examples=30, deadline=None)
@given(finite, st.floats(min_value=0.5, max_value=2.0), finite)
def test_backward_matches_central_differences_on_every_arity(a0: float, b0: float, c0: float) -> None:
    inputs = [Value(a0), Value(b0), Value(c0)]
    out = _mixed_graph(*inputs)
    out.backward()
    numerical = numerical_grad(lambda: _mixed_graph(*inputs).data, inputs, 1e-6)
    for value, expected in zip(inputs, numerical):
        assert value.grad == pytest.approx(expected, rel=1e-5, abs=1e-6)


def test_backward_twice_is_exactly_double_and_adds_to_earlier_gradients() -> None:
    inputs = [Value(0.3), Value(1.2), Value(-0.7)]
    out = _mixed_graph(*inputs)
    out.backward()
    order = topological_order(out)
    once = [node.grad for node in order]
    out.backward()
    assert [node.grad for node in order] == [2 * g for g in once]  # exactly, on every node
    zero_grad(out)
    inputs[0].grad = 5.0  # a gradient already there is added to, not replaced
    out.backward()
    assert inputs[0].grad == once[order.index(inputs[0])] + 5.0
    assert out.grad == 1.0


def test_grad_leaves_every_gradient_as_it_was() -> None:
    inputs = [Value(0.3), Value(1.2), Value(-0.7)]
    out = _mixed_graph(*inputs)
    order = topological_order(out)
    for i, node in enumerate(order):
        node.grad = 0.0 if i % 3 else float(i) - 0.5  # some nonzero, some zero
    before = [node.grad for node in order]
    results = grad(out, inputs)
    assert [node.grad for node in order] == before
    fresh = [Value(v.data) for v in inputs]
    _mixed_graph(*fresh).backward()
    assert results == [v.grad for v in fresh]


def test_topological_order_places_every_node_once_before_its_parents() -> None:
    leaves = [Value(float(i)) for i in range(6)]
    products = [leaves[i] * leaves[(i + 1) % 6] for i in range(6)]
    z = linear(products[:3], products[3:], leaves[0])
    out = (z + products[0]).tanh() * leaves[5]
    order = topological_order(out)
    assert order[0] is out and len({id(n) for n in order}) == len(order)
    position = {id(node): i for i, node in enumerate(order)}
    assert set(position) >= {id(v) for v in leaves + products}
    for node in order:
        for parent in node.parents:
            assert position[id(parent)] > position[id(node)]


def _graph_with_gradients() -> tuple[list[Value], Value, list[Value], list[float]]:
    """_mixed_graph with a gradient already on some nodes: (inputs, out, its order, their grads)."""
    inputs = [Value(0.3), Value(1.2), Value(-0.7)]
    out = _mixed_graph(*inputs)
    order = topological_order(out)
    for i, node in enumerate(order):
        node.grad = 0.0 if i % 2 else 0.25 * i - 1.0
    return inputs, out, order, [node.grad for node in order]


def _no_marks(order: list[Value]) -> bool:
    return all(node.grad is not _REACHED for node in order)


def test_the_search_mark_is_a_zero_no_other_code_holds() -> None:
    assert _REACHED == 0.0 and _REACHED is not 0.0 and Value(1.0).grad is not _REACHED  # noqa: F632


def test_topological_order_and_backward_leave_no_mark() -> None:
    x = Value(-1.0)
    dead = (x * 3.0).relu()  # relu'(−3) = 0: nothing reaches x through it, so x keeps the zero it got
    out = dead + Value(2.0) * Value(4.0)
    order = topological_order(out)
    assert [node.grad for node in order] == [0.0] * len(order) and _no_marks(order)
    out.backward()
    assert x.grad == 0.0 and dead.grad == 1.0 and _no_marks(order)
    grad(out, x)
    assert _no_marks(order)


class _InterruptsSearch(Value):
    """A leaf whose parents cannot be read: a search that reaches it stops, as Ctrl-C would stop it."""

    __slots__ = ()

    def _interrupt(self) -> tuple:
        raise KeyboardInterrupt

    _parents = property(_interrupt, Value._parents.__set__)  # type: ignore[assignment]


def test_an_interrupted_search_leaves_every_gradient_as_it_was() -> None:
    inputs, out, order, before = _graph_with_gradients()
    trap = _InterruptsSearch(1.5)
    root = out * trap + out  # the search marks out's side partly before it meets trap
    above = [root, *root.parents, trap]
    with pytest.raises(KeyboardInterrupt):
        root.backward()
    assert [node.grad for node in order] == before and _no_marks(order + above)
    with pytest.raises(KeyboardInterrupt):
        topological_order(root)
    assert [node.grad for node in order] == before and _no_marks(order + above)
    zero_grad(out)
    out.backward()  # nothing stale: the same gradients as on a fresh graph
    fresh = [Value(v.data) for v in inputs]
    _mixed_graph(*fresh).backward()
    assert [v.grad for v in inputs] == [v.grad for v in fresh]


def test_an_interrupted_chain_rule_leaves_every_gradient_as_it_was(monkeypatch) -> None:
    inputs, out, order, before = _graph_with_gradients()
    real = backprop._propagate

    def half_then_interrupt(order: list[Value], gradient: float) -> None:
        real(order[: len(order) // 2], gradient)
        raise KeyboardInterrupt

    monkeypatch.setattr(backprop, "_propagate", half_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        out.backward()
    assert [node.grad for node in order] == before and _no_marks(order)
    with pytest.raises(KeyboardInterrupt):
        grad(out, inputs)
    assert [node.grad for node in order] == before and _no_marks(order)


def test_op_results_are_plain_values_made_by_one_maker() -> None:
    a, b = Value(2.0), Value(3.0)
    results = [a + b, a + 1, 1 - a, a * b, a * 2, a / b, 2 / a, a**b, a**2, 2**a, -a,
               a.exp(), a.log(), a.sigmoid(), a.tanh(), a.relu(), linear([a], [b], a)]
    assert {type(r) for r in results} == {Value}
    assert all(r.grad == 0.0 and r.label == "" and r.parents for r in results)
    with pytest.raises(TypeError):
        Value(1.0, "", OPS["add"], (a, b), (1.0, 1.0))  # type: ignore[call-arg]  # ops only, not users


@pytest.mark.parametrize("number", [2, 2.0, True, Fraction(1, 2)])
def test_number_operands_of_any_real_type(number) -> None:
    x = Value(3.0)
    y = x * number
    assert y.data == 3.0 * float(number) and y.const == float(number) and type(y.const) is float
    assert (x + number).data == 3.0 + float(number)


def test_a_numpy_array_operand_gets_a_clear_error() -> None:
    np = pytest.importorskip("numpy")
    x = Value(1.0)
    assert (x * np.float64(2.5)).data == 2.5
    with pytest.raises(TypeError, match=r"\*: a Value holds one number, got an array of shape \(2,\)"):
        x.__mul__(np.array([1.0, 2.0]))


def test_under_no_grad_ops_still_compute_and_record_nothing() -> None:
    from engine import no_grad

    x = Value(0.5)
    with no_grad():
        zs = linear_layer([[x], [x]], [2.0], [0.0, 1.0])
        y = (x * 1e308) * 10.0  # inf is allowed as a no-grad result: nothing is recorded
    assert [z.data for z in zs] == [1.0, 2.0] and all(z.parents == () for z in zs)
    assert math.isinf(y.data) and y.parents == ()

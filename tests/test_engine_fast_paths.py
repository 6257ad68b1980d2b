"""The engine's fast paths give exactly what the op definitions give.

Each inlined rule is checked against the definition it stands for: ``a + b`` and
``a * b`` (made inline in ``Value.__add__``/``__mul__``) against applying ``ADD``
and ``MUL``; ``linear_layer``'s written-out local derivatives against LINEAR's
rule; the chain rule's inlined product (b, a) and sum (all ones) against a
reference backpropagation written from nothing but each node's ``op.local_grads``,
on random graphs over every op, to the bit.
"""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import Expression as RandomExpression
from strategies import expressions, fuzz_settings

from engine import (
    OPS,
    Value,
    chain_rule,
    grad,
    linear,
    linear_layer,
    numerical_grad,
    sum_values,
    topological_order,
    zero_grad,
)

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
        assert z.op is OPS["linear"]


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
    with pytest.raises(TypeError, match=r"^linear: inputs\[0\]: expected a real number .*got 'a' \(str\)$"):
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


def reference_gradients(root: Value) -> dict[Value, float]:
    """Backpropagation from the op definitions alone: each node's ``op.local_grads`` on its inputs."""
    gradients = {node: 0.0 for node in topological_order(root)}
    gradients[root] = 1.0
    for node in topological_order(root):
        upstream = gradients[node]
        if node.op is None or upstream == 0.0:
            continue
        inputs = node.inputs
        numbers = [x.data if isinstance(x, Value) else x for x in inputs]
        for x, local in zip(inputs, node.op.local_grads(node.data, *numbers)):
            if isinstance(x, Value):
                gradients[x] += local * upstream
    return gradients


@given(expressions())
@fuzz_settings(60)
def test_the_chain_rule_equals_backpropagation_from_the_definitions(expression: RandomExpression) -> None:
    """Every stored or inlined local derivative is the op's rule: the gradients agree to the bit."""
    root = expression(*expression.leaf_values())
    expected = reference_gradients(root)
    assert chain_rule(root) == expected
    root.backward()
    assert {node: node.grad for node in expected} == expected


@given(finite, finite)
@settings(max_examples=100, deadline=None)
def test_inlined_operators_make_the_node_the_op_makes(x: float, y: float) -> None:
    a, b = Value(x), Value(y)
    for inline, general in ((a + b, OPS["add"](a, b)), (a * b, OPS["mul"](a, b))):
        assert (inline.data, inline.op, inline.parents, inline.const) == (
            general.data, general.op, general.parents, general.const,
        )
        assert inline.local_grads == general.local_grads == inline.op.local_grads(inline.data, x, y)


def test_a_product_and_a_sum_store_no_local_derivatives_by_their_definition() -> None:
    """mul and sum keep none (their rule reads the parents); every other op stores its own."""
    a, b = Value(2.0), Value(3.0)
    assert not OPS["mul"].keeps_local_grads and not OPS["sum"].keeps_local_grads
    assert {name for name, op in OPS.items() if not op.keeps_local_grads} >= {"mul", "sum"}
    product, total = a * b, sum_values([a, b, a])
    assert product.local_grads == (3.0, 2.0) and total.local_grads == (1.0, 1.0, 1.0)
    assert (a * 2.0).local_grads == (2.0,)  # with a number operand the one derivative is kept


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
    with pytest.raises(TypeError, match=r"mul: a Value holds one number, got an array of shape \(2,\)"):
        x.__mul__(np.array([1.0, 2.0]))


def test_under_no_grad_ops_still_compute_and_record_nothing() -> None:
    from engine import no_grad

    x = Value(0.5)
    with no_grad():
        zs = linear_layer([[x], [x]], [2.0], [0.0, 1.0])
        y = (x * 1e308) * 10.0  # inf is allowed as a no-grad result: nothing is recorded
    assert [z.data for z in zs] == [1.0, 2.0] and all(z.parents == () for z in zs)
    assert math.isinf(y.data) and y.parents == ()

"""engine.detect_anomaly(): stop at the first op whose result (or local derivative) is nan or inf.

Outside the block + − × ÷ overflow to ±inf as Python floats do (checking every
op would cost speed); inside it, ``AnomalyError`` names the op, its inputs with
their labels, its local derivatives and the formula that led there.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import pytest
from hypothesis import given
from strategies import Expression, expressions, fuzz_settings

import engine
from engine import AnomalyError, Value, detect_anomaly, no_grad


class Overflow(NamedTuple):
    """An op that overflows from finite inputs: ``build()`` makes the bad node; ``match`` is its message."""

    case: str
    build: Callable[[], Value]
    match: str


def big(label: str = "") -> Value:
    return Value(1e200, label=label)


OVERFLOWS: list[Overflow] = [
    Overflow(
        "a * b", lambda: big("a") * big("b"),
        r"^detect_anomaly: op 'mul' gave inf computing a \* b; inputs \[1e\+200 \(label 'a'\), "
        r"1e\+200 \(label 'b'\)\], local derivatives \(1e\+200, 1e\+200\) "
        r"\(∂\(a·b\)/∂a = b, ∂\(a·b\)/∂b = a\)$",
    ),
    Overflow(
        "a * 1e200", lambda: big("a") * 1e200,
        r"^detect_anomaly: op 'mul' gave inf computing a \* 1e\+200; inputs \[1e\+200 \(label 'a'\), "
        r"constant 1e\+200\]",
    ),
    Overflow(
        "1e308 + a", lambda: 1e308 + Value(1e308, label="a"),
        r"^detect_anomaly: op 'add' gave inf computing 1e\+308 \+ a; inputs \[constant 1e\+308, ",
    ),
    Overflow(
        "-1e308 - a", lambda: -1e308 - Value(1e308, label="a"),
        r"^detect_anomaly: op 'sub' gave -inf computing -1e\+308 - a; inputs \[constant -1e\+308, ",
    ),
    Overflow(
        "a / b (result)", lambda: Value(1e300, label="a") / Value(1e-10, label="b"),
        r"^detect_anomaly: op 'div' gave inf computing a / b",
    ),
    Overflow(
        "linear", lambda: engine.linear([big("w")], [big("x")], Value(0.0, label="b")),
        r"^detect_anomaly: op 'linear' gave inf computing b \+ w \* x",
    ),
    Overflow(
        "sum_values", lambda: engine.sum_values([Value(1e308, label="p"), Value(1e308, label="q")]),
        r"^detect_anomaly: op 'sum' gave inf computing p \+ q",
    ),
]


@pytest.mark.parametrize("overflow", OVERFLOWS, ids=[o.case for o in OVERFLOWS])
def test_overflow_is_inf_outside_and_an_anomaly_inside(overflow: Overflow) -> None:
    """The documented outcome both ways: ±inf (or an inf derivative) without checks, AnomalyError with."""
    plain = overflow.build()
    assert not all(map(math.isfinite, (plain.data, *plain.local_grads)))
    with detect_anomaly(), pytest.raises(AnomalyError, match=overflow.match):
        overflow.build()


def test_the_message_writes_the_formula_back_to_the_labels() -> None:
    a, b = Value(1e200, label="a"), Value(1e200, label="b")
    hidden = (a * 2.0).tanh() + a  # unlabelled: the message writes out how it was made
    with detect_anomaly(), pytest.raises(AnomalyError) as caught:
        hidden * b
    assert str(caught.value) == (
        "detect_anomaly: op 'mul' gave inf computing (tanh(a * 2.0) + a) * b; "
        "inputs [1e+200, 1e+200 (label 'b')], local derivatives (1e+200, 1e+200) "
        "(∂(a·b)/∂a = b, ∂(a·b)/∂b = a)"
    )


def test_a_finite_result_with_an_overflowing_slope_is_a_domain_error_anywhere() -> None:
    """1/b is 1e200, but ∂(1/b)/∂b = −1e400: no float gives that, so it is refused with or without checks."""
    match = (
        r"^div: the local derivative is not finite here \(∂\(a/b\)/∂a = 1/b, ∂\(a/b\)/∂b = −a/b²\), "
        r"got a = 1\.0"
    )
    with pytest.raises(engine.DomainError, match=match):
        1.0 / Value(1e-200, label="b")
    with detect_anomaly(), pytest.raises(engine.DomainError, match=match):
        1.0 / Value(1e-200, label="b")
    with no_grad():  # the value alone needs no slope
        assert (1.0 / Value(1e-200)).data == 1e200


def test_a_long_formula_is_cut_short() -> None:
    x = Value(1.0, label="x")
    for _ in range(40):
        x = (x * 1.0).tanh()
    x.label = ""
    with detect_anomaly(), pytest.raises(AnomalyError) as caught:
        x * 1e308 * 1e308
    message = str(caught.value)
    assert "…" in message
    assert len(message) < 400


def test_stops_at_the_first_bad_op_not_later_ones() -> None:
    """inf − inf would be nan two ops later: the error is raised at the op that made the inf."""
    a, b = big("a"), big("b")
    with detect_anomaly(), pytest.raises(AnomalyError, match=r"^detect_anomaly: op 'mul' gave inf"):
        product = a * b
        product - product
    assert (a.data, a.grad, b.data, b.grad) == (1e200, 0.0, 1e200, 0.0)  # nothing the user had changed


def test_a_nan_put_into_data_by_hand_is_refused_at_the_assignment() -> None:
    w = Value(0.5, label="w")
    with pytest.raises(ValueError, match=r"^Value\.data: got nan; numbers must be finite"):
        w.data = math.nan  # as an update with a nan gradient would
    assert w.data == 0.5


def test_no_checks_outside_the_block_and_the_mode_is_restored_after_an_error() -> None:
    with pytest.raises(AnomalyError), detect_anomaly():
        big() * big()
    assert (big() * big()).data == math.inf  # checks are off again, even though the block raised


def test_nested_blocks_keep_checking_until_the_outermost_ends() -> None:
    with detect_anomaly():
        with detect_anomaly():
            pass
        with pytest.raises(AnomalyError):
            big() * big()  # still checked after the inner block ended
    assert (big() * big()).data == math.inf


@pytest.mark.parametrize("order", ["no_grad outside", "no_grad inside"])
def test_checks_run_under_no_grad_too(order: str) -> None:
    """Predictions under no_grad are checked as well, whichever block is outside."""
    outer, inner = (no_grad, detect_anomaly) if order == "no_grad outside" else (detect_anomaly, no_grad)
    with outer(), inner():
        fine = big() * 2.0
        assert fine.parents == ()  # still no graph
        with pytest.raises(AnomalyError, match=r"op 'mul' gave inf"):
            big() * big()
    assert engine.is_grad_enabled()


def test_anomaly_error_is_a_floating_point_error() -> None:
    assert issubclass(AnomalyError, FloatingPointError)


@given(expressions(max_steps=30))
@fuzz_settings(40)
def test_checks_change_no_result_or_gradient(expression: Expression) -> None:
    """On graphs with no anomaly, detect_anomaly gives the same numbers to the bit."""
    leaves = expression.leaf_values()
    root = expression(*leaves)
    with detect_anomaly():
        checked_leaves = expression.leaf_values()
        checked = expression(*checked_leaves)
    assert checked.data == root.data
    assert engine.grad(checked, checked_leaves) == engine.grad(root, leaves)


def test_a_huge_label_is_cut_in_the_anomaly_message_as_in_the_views() -> None:
    x = Value(1e200, label="x" * 17_000 + "\nend")
    with pytest.raises(AnomalyError) as caught, engine.detect_anomaly():
        _ = x * x
    message = str(caught.value)
    cut = "x" * 39 + "…"  # notation.readable: 40 characters at most, as draw and explain show it
    assert message.startswith(f"detect_anomaly: op 'mul' gave inf computing {cut} * {cut}; inputs [1e+200")
    assert len(message) < 500


@pytest.mark.parametrize(("start", "make"), [
    (-1.0, lambda x: x.relu() * 1e200 * 1e200),                     # inf upstream × relu's slope 0
    (1.0, lambda x: (x * Value(0.0)) * 1e200 * 1e200),              # inf upstream × a slope 0
    (1e-300, lambda x: x * 1e200 * 1e200 - x * 1e200 * 1e200),      # +inf + −inf at x
], ids=["relu", "times-zero", "inf-minus-inf"])
def test_a_nan_gradient_is_refused_by_every_way_to_backpropagate(
    start: float, make: Callable[[Value], Value]
) -> None:
    """Outside detect_anomaly an inf gradient is the documented float overflow; a nan never is."""
    x = Value(start, label="x")
    loss = make(x)
    x.grad = 0.25
    for name, call in (("backward", loss.backward), ("grad", lambda: engine.grad(loss, x)),
                       ("chain_rule", lambda: engine.chain_rule(loss))):
        with pytest.raises(AnomalyError, match=rf"^{name}: the chain rule gave the gradient nan at "):
            call()
        assert x.grad == 0.25 and loss.grad == 0.0  # nothing committed


@pytest.mark.parametrize("overflow", [
    lambda: Value(1e200) / 1e-200, lambda: Value(1e200) / Value(1e-200), lambda: 1e200 * Value(1e200),
    lambda: Value(1e200) * 1e200, lambda: Value(1e308) - (-1e308), lambda: -Value(1e308) - Value(1e308),
    lambda: engine.sum_values([Value(1e308), Value(1e308)]),
], ids=["div-number", "div", "rmul", "mul-number", "sub", "neg-sub", "sum"])
def test_detect_anomaly_inside_no_grad_stops_every_overflow(overflow: Callable[[], Value]) -> None:
    """Under no_grad the careful path made the value alone, with no op: the anomaly check was skipped."""
    stopped = r"^detect_anomaly: op '(div|mul|sub|sum)' gave -?inf"
    with pytest.raises(AnomalyError, match=stopped), no_grad(), detect_anomaly():
        overflow()
    with no_grad():
        assert math.isinf(overflow().data)  # without detect_anomaly: the documented float overflow


def test_grad_with_create_graph_refuses_a_nan_gradient_as_grad_does() -> None:
    x = Value(-1.0, label="x")
    y = (x.relu() * 1e200) * 1e200 + x
    for create_graph in (False, True):
        with pytest.raises(AnomalyError, match=r"^grad: the chain rule gave"):
            engine.grad(y, x, create_graph=create_graph)
    said = r"^grad: the chain rule gave a gradient that is not a number at -1\.0 \(label 'x'\) \(inf · 0"
    with pytest.raises(AnomalyError, match=said):
        engine.grad(y, x, create_graph=True)

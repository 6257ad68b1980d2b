"""The user-defined op exercise end to end: sin and cos written by the learner, everywhere an op goes.

Defined with ``engine.define_op`` as the README shows, sin and cos are checked in
backward (against math.cos), in second and third derivatives, gradcheck, draw,
explain, the step-through page, compile and detect_anomaly; then a binary op
(atan2, numbers on either side), n-ary ops (log-sum-exp, a mean), the PyTorch
float64 oracle, and the errors a bad definition gets. ``engine.OPS`` is one
registry for the whole process: every op defined here is removed again when the
module's tests end (the registry is restored as it was).
"""

from __future__ import annotations

import math
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import engine
from engine import (
    AnomalyError,
    DomainError,
    Value,
    define_op,
    derivative,
    explain,
    grad,
    gradcheck,
    numerical_grad,
    stepper,
    to_dot,
)


# ---------------------------------------------------------------------------
# The ops, defined as a learner defines them; the registry restored afterwards
# ---------------------------------------------------------------------------
@pytest.fixture(scope="module", autouse=True)
def registry():
    """engine.OPS as it was before this module, put back when its tests end."""
    saved = dict(engine.OPS)
    yield
    engine.OPS.clear()
    engine.OPS.update(saved)


def define_sin_and_cos() -> SimpleNamespace:
    """The classic exercise, exactly as the README writes it: each rule calls the other op."""
    sin = define_op("sin", forward=math.sin, local_grads=lambda out, a: (cos(a),),
                    formula="∂(sin a)/∂a = cos a")
    cos = define_op("cos", forward=math.cos, local_grads=lambda out, a: (-sin(a),),
                    formula="∂(cos a)/∂a = −sin a")
    return SimpleNamespace(sin=sin, cos=cos)


@pytest.fixture(scope="module")
def trig(registry) -> SimpleNamespace:
    return define_sin_and_cos()


@pytest.fixture(scope="module")
def ops(trig) -> SimpleNamespace:
    """The other user ops of these tests, named so that no other test module's ops are replaced."""
    sin, cos = trig.sin, trig.cos
    cosh = define_op("udo_cosh", forward=math.cosh, local_grads=lambda out, a: (sinh(a),),
                     formula="∂(cosh a)/∂a = sinh a")
    sinh = define_op("udo_sinh", forward=math.sinh, local_grads=lambda out, a: (cosh(a),),
                     formula="∂(sinh a)/∂a = cosh a")
    sqrt = define_op("udo_sqrt", symbol="√", forward=math.sqrt, local_grads=lambda out, a: (0.5 / out,),
                     formula="∂(√a)/∂a = 1/(2√a)")
    atan2 = define_op(
        "udo_atan2", forward=math.atan2,
        local_grads=lambda out, a, b: (b / (a * a + b * b), -a / (a * a + b * b)),
        formula="∂atan2(a, b)/∂a = b/(a²+b²), ∂atan2(a, b)/∂b = −a/(a²+b²)",
    )
    hypot = define_op("udo_hypot", forward=math.hypot, local_grads=lambda out, a, b: (a / out, b / out),
                      formula="∂√(a²+b²)/∂a = a/√(a²+b²), ∂√(a²+b²)/∂b = b/√(a²+b²)")
    logsumexp = define_op(  # ln Σ eˣʲ, its derivatives the softmax eˣⁱ⁻ᵒᵘᵗ
        "udo_logsumexp", forward=lambda *xs: _logsumexp(xs),
        local_grads=lambda out, *xs: tuple(engine.exp(x - out) for x in xs),
        formula="∂(ln Σ eˣʲ)/∂xᵢ = eˣⁱ/Σ eˣʲ",
    )
    mean = define_op("udo_mean", forward=lambda *xs: math.fsum(xs) / len(xs),
                     local_grads=lambda out, *xs: (1.0 / len(xs),) * len(xs), formula="∂(1/n Σ xⱼ)/∂xᵢ = 1/n")
    return SimpleNamespace(sin=sin, cos=cos, cosh=cosh, sinh=sinh, sqrt=sqrt, atan2=atan2, hypot=hypot,
                           logsumexp=logsumexp, mean=mean)


def _logsumexp(xs: tuple[float, ...]) -> float:
    top = max(xs)
    return top + math.log(math.fsum(math.exp(x - top) for x in xs))


def leaves(*numbers: float) -> list[Value]:
    return [Value(x, label=name) for x, name in zip(numbers, "xyzw")]


# ---------------------------------------------------------------------------
# sin and cos: numbers, nodes, backward
# ---------------------------------------------------------------------------
def test_a_user_op_on_numbers_is_a_number_and_on_a_value_a_node(trig) -> None:
    sin, cos = trig.sin, trig.cos
    assert sin(0.5) == math.sin(0.5) and type(sin(0.5)) is float
    assert cos(2) == math.cos(2.0) and type(cos(2)) is float  # an int is a number too
    x = Value(0.5, label="x")
    y = sin(x)
    assert isinstance(y, Value) and y.data == math.sin(0.5)
    assert y.op is engine.OPS["sin"] is sin and y.op.name == "sin" and y.op.formula == "∂(sin a)/∂a = cos a"
    assert y.parents == (x,) and y.inputs == (x,) and y.const is None
    assert y.local_grads == (math.cos(0.5),)
    assert "sin" not in engine.BUILT_IN_OPS and sin.arity == 1 and sin.input_names == ("a",)


@pytest.mark.parametrize("x0", [-2.5, -0.3, 0.0, 0.5, 1.2, 3.0])
def test_backward_through_sin_and_cos_matches_math(trig, x0: float) -> None:
    sin, cos = trig.sin, trig.cos
    x = Value(x0)
    sin(x).backward()
    assert x.grad == math.cos(x0)
    x = Value(x0)
    cos(x).backward()
    assert x.grad == -math.sin(x0)
    # composed with each other and with built-in ops: y = sin(x)·cos(x) + sin(cos(x)) + e^(sin x)
    x = Value(x0)
    y = sin(x) * cos(x) + sin(cos(x)) + sin(x).exp()
    y.backward()
    s, c = math.sin(x0), math.cos(x0)
    expected = c * c - s * s + math.cos(c) * -s + math.exp(s) * c
    assert y.data == pytest.approx(s * c + math.sin(c) + math.exp(s), rel=1e-15)
    assert x.grad == pytest.approx(expected, rel=1e-13, abs=1e-15)


def test_second_and_third_derivatives_nest(trig) -> None:
    sin, cos = trig.sin, trig.cos
    for x0 in (-1.3, 0.0, 0.5, 2.0):
        assert derivative(sin)(x0) == math.cos(x0)
        assert derivative(derivative(sin))(x0) == -math.sin(x0)  # sin'' = −sin
        assert derivative(derivative(derivative(sin)))(x0) == -math.cos(x0)  # sin''' = −cos
        assert derivative(derivative(cos))(x0) == -math.cos(x0)  # cos'' = −cos
        assert derivative(derivative(derivative(cos)))(x0) == math.sin(x0)
        # the graph form, on a product: (x sin x)'' = 2 cos x − x sin x
        x = Value(x0)
        first = grad(x * sin(x), x, create_graph=True)
        assert isinstance(first, Value)
        assert first.data == pytest.approx(math.sin(x0) + x0 * math.cos(x0), rel=1e-14, abs=1e-15)
        second = grad(first, x, create_graph=True)
        assert second.data == pytest.approx(2 * math.cos(x0) - x0 * math.sin(x0), rel=1e-14, abs=1e-15)
        third = grad(second, x)  # −3 sin x − x cos x
        assert third == pytest.approx(-3 * math.sin(x0) - x0 * math.cos(x0), rel=1e-13, abs=1e-15)


def test_mixed_partials_through_a_user_op(trig) -> None:
    x, y = Value(0.7), Value(-1.1)
    f = trig.sin(x * y)
    dx, dy = grad(f, [x, y], create_graph=True)
    # ∂²sin(xy)/∂x∂y = cos(xy) − xy sin(xy); ∂²/∂x² = −y² sin(xy)
    xy = 0.7 * -1.1
    assert grad(dx, y) == pytest.approx(math.cos(xy) - xy * math.sin(xy), rel=1e-13)
    assert grad(dy, x) == pytest.approx(math.cos(xy) - xy * math.sin(xy), rel=1e-13)
    assert grad(dx, x) == pytest.approx(-(1.1**2) * math.sin(xy), rel=1e-13)


@settings(max_examples=150, deadline=None)
@given(st.floats(-50.0, 50.0, allow_nan=False))
def test_user_sin_and_cos_agree_with_math_and_central_differences(trig, x0: float) -> None:
    """For random x: the values are math's, the slopes math's derivatives and central differences'."""
    for op, value, slope, curvature in (
        (trig.sin, math.sin, math.cos, lambda v: -math.sin(v)),
        (trig.cos, math.cos, lambda v: -math.sin(v), lambda v: -math.cos(v)),
    ):
        x = Value(x0)
        y = op(x)
        assert y.data == value(x0)
        y.backward()
        assert x.grad == slope(x0)
        (numerical,) = numerical_grad(lambda op=op, x=x: op(x), [x])
        assert numerical == pytest.approx(slope(x0), abs=1e-8)
        numerical_second = (derivative(op)(x0 + 1e-5) - derivative(op)(x0 - 1e-5)) / 2e-5
        assert derivative(derivative(op))(x0) == curvature(x0)
        assert numerical_second == pytest.approx(curvature(x0), abs=1e-8)


def test_gradcheck_passes_on_user_ops_and_names_the_inputs(trig) -> None:
    sin, cos = trig.sin, trig.cos
    a, b = Value(0.3, label="a"), Value(-1.1, label="b")
    report = gradcheck(lambda a, b: sin(a * b) + cos(a) / (2.0 + sin(b)), [a, b])
    assert report.passed and [check.name for check in report.inputs] == ["a", "b"]
    expected_da = -1.1 * math.cos(-0.33) - math.sin(0.3) / (2 + math.sin(-1.1))
    assert report.inputs[0].autograd == pytest.approx(expected_da, rel=1e-13)
    assert report.relative_error < 1e-8 and a.grad == 0.0 and b.grad == 0.0


# ---------------------------------------------------------------------------
# draw, explain, the step-through page, compile
# ---------------------------------------------------------------------------
def seeded(trig) -> tuple[Value, Value]:
    """y = sin(x) at x = 0.5, labelled, after backward."""
    x = Value(0.5, label="x")
    y = trig.sin(x)
    y.label = "y"
    y.backward()
    return x, y


def test_draw_shows_the_op_by_its_name_and_its_local_derivative_on_the_edge(trig, ops) -> None:
    _, y = seeded(trig)
    dot = to_dot(y, show_local_grads=True)
    op_line = next(line for line in dot.splitlines() if line.strip().startswith("o0 "))
    assert "label=<sin>" in op_line and 'tooltip="∂(sin a)/∂a = cos a"' in op_line
    edge = next(line for line in dot.splitlines() if "v1 -> o0" in line)
    assert "∂y/∂x = 0.8776" in edge and f"{math.cos(0.5):.4g}" == "0.8776"
    # a symbol of its own is what the op node shows
    root = ops.sqrt(Value(4.0, label="x"))
    assert "label=<√>" in to_dot(root)
    # a function with a number operand: the number where it was written, · where the Value goes
    q = Value(2.0, label="q")
    assert "label=<udo_atan2(2, ·)>" in to_dot(ops.atan2(2.0, q))
    assert "label=<udo_atan2(·, 0.5)>" in to_dot(ops.atan2(q, 0.5))


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_the_svg_shows_the_op_and_the_local_derivative(trig) -> None:
    _, y = seeded(trig)
    svg = engine.draw(y, show_local_grads=True).pipe(format="svg")
    texts = [t.text for t in ET.fromstring(svg).iter() if t.text]
    assert "sin" in texts and "∂y/∂x = 0.8776" in texts


def test_explain_writes_the_rule_derived_from_the_users_definition(trig) -> None:
    x, y = seeded(trig)
    text = explain(y, wrt=x)
    assert "dy/dx = ∂y/∂x = cos(x) = 0.8776" in text
    assert text.splitlines()[-1] == "rules used: ∂(sin a)/∂a = cos a (sin)"
    # cos's rule −sin a, and both rules through a chain u = cos(x), y = sin(u)·x
    x = Value(0.5, label="x")
    u = trig.cos(x)
    u.label = "u"
    y = trig.sin(u) * x
    y.label = "y"
    text = explain(y, wrt=x)
    assert "dy/du = dy/d(sin(u)) · ∂(sin(u))/∂u = dy/d(sin(u)) · cos(u) = 0.5 · 0.639 = 0.3195" in text
    assert "dy/du · (−sin(x))" in text
    assert "∂(sin a)/∂a = cos a (sin); ∂(cos a)/∂a = −sin a (cos)" in text


def test_the_step_through_page_names_the_op_and_its_rule(trig) -> None:
    _, y = seeded(trig)
    page = stepper(y)
    texts = {step.title: step.text for step in page.steps}
    assert texts["Compute y"].splitlines()[1:] == [
        "y is computed from x by the op sin.", "y = sin(x)", "  = sin(0.5)", "  = 0.4794",
    ]
    assert texts["dy/dx"].splitlines()[1:] == [
        "y uses x, so dy/dx is 1 times the local derivative ∂y/∂x (the rule of sin: ∂(sin a)/∂a = cos a).",
        "dy/dx = ∂y/∂x", "      = cos(x)", "      = 0.8776",
    ]


def test_compile_calls_the_user_op_by_name_and_replays_the_engine(trig) -> None:
    sin, cos = trig.sin, trig.cos

    def f(x, y):
        return sin(x * y) * cos(x) + sin(sin(y))

    g = engine.compile(f)
    for point in ([0.3, -1.2], [2.0, 0.5], [-0.7, 0.0]):
        leaves_ = [Value(v) for v in point]
        root = f(*leaves_)
        grads = engine.chain_rule(root)
        value, gradients = g(*point)
        assert value == pytest.approx(root.data, rel=1e-14, abs=1e-15)
        assert gradients == pytest.approx([grads[v] for v in leaves_], rel=1e-13, abs=1e-15)
        assert g.check(*point)
    source = g.source
    assert "t3 = sin(t2)" in source and "t4 = cos(x)" in source  # the forward, called by the op's name
    assert "dx += dt4 * -sin(x)" in source  # cos's rule −sin a, run on names
    assert "dt2 = dt3 * cos(t2)" in source and "[sin: ∂(sin a)/∂a = cos a]" in source
    values, (dx, dy) = g.batch([0.3, 2.0], [-1.2, 0.5])  # m samples at once: each one's replay
    assert values[1] == pytest.approx(g(2.0, 0.5)[0], rel=1e-14)
    assert [dx[0], dy[0]] == pytest.approx(g(0.3, -1.2)[1], rel=1e-14)


# ---------------------------------------------------------------------------
# Domain errors and detect_anomaly
# ---------------------------------------------------------------------------
def test_a_user_op_that_overflows_names_itself(ops) -> None:
    x = Value(1000.0, label="x")
    message = (
        r"udo_cosh: the result overflows float \(largest finite ≈ 1\.8e308\), got a = 1000\.0 \(label 'x'\)"
    )
    with pytest.raises(DomainError, match=message):
        ops.cosh(x)
    with engine.detect_anomaly(), pytest.raises(DomainError, match=message):
        ops.cosh(x)
    assert ops.cosh(700.0) == math.cosh(700.0)


@pytest.mark.parametrize(("name", "x0"), [("udo_cosh", 1000.0), ("udo_sqrt", -1.0), ("sin", math.inf)])
def test_a_user_op_on_a_number_outside_its_domain_names_itself(ops, name: str, x0: float) -> None:
    with pytest.raises(ValueError, match=rf"^{name}: "):
        engine.OPS[name](x0)


def test_an_infinite_local_derivative_gets_a_domain_error_with_the_formula(ops) -> None:
    with pytest.raises(DomainError) as error:
        ops.sqrt(Value(0.0, label="x"))
    assert str(error.value) == (
        "udo_sqrt: the local derivative is not finite here (∂(√a)/∂a = 1/(2√a)), got a = 0.0 (label 'x') "
        "(division by zero); under no_grad() the value alone is computed"
    )
    with engine.no_grad():
        assert ops.sqrt(Value(0.0)).data == 0.0
    with pytest.raises(DomainError, match=r"^udo_sqrt: not defined for these inputs \(math domain error\)"):
        ops.sqrt(Value(-1.0))


def test_a_domain_of_its_own_says_why_an_input_is_refused() -> None:
    root = define_op("udo_root", forward=math.sqrt, local_grads=lambda out, a: (0.5 / out,),
                     formula="∂(√a)/∂a = 1/(2√a)", domain=lambda a: None if a > 0.0 else "needs an input > 0")
    for bad in (Value(-4.0, label="v"), -4.0):
        with pytest.raises(DomainError, match=r"^udo_root: needs an input > 0, got a = -4\.0"):
            root(bad)
    assert root(Value(4.0)).local_grads == (0.25,)


def test_detect_anomaly_stops_at_the_user_op_that_overflows() -> None:
    square = define_op("udo_square", forward=lambda a: a * a, local_grads=lambda out, a: (2.0 * a,),
                       formula="∂(a²)/∂a = 2a", float_overflow=True)
    x = Value(1e200, label="x")
    assert square(x).data == math.inf  # as floats do, outside detect_anomaly
    with engine.detect_anomaly(), pytest.raises(AnomalyError) as error:
        square(x)
    assert str(error.value) == (
        "detect_anomaly: op 'udo_square' gave inf computing udo_square(x); inputs [1e+200 (label 'x')], "
        "local derivatives (2e+200,) (∂(a²)/∂a = 2a)"
    )


def test_detect_anomaly_names_the_user_op_a_gradient_overflowed_through(ops) -> None:
    x = Value(1e-20, label="x")
    y = ops.sqrt(x)  # ∂y/∂x = 5e9
    overflow = r"1e\+300 · 5000000000\.0 through op 'udo_sqrt'"
    with engine.detect_anomaly(), pytest.raises(AnomalyError, match=overflow):
        y.backward(1e300)
    assert x.grad == 0.0 and y.grad == 0.0  # no grad was changed


# ---------------------------------------------------------------------------
# A binary op and n-ary ops
# ---------------------------------------------------------------------------
def test_a_binary_user_op_with_values_and_numbers_on_either_side(ops) -> None:
    atan2 = ops.atan2
    assert atan2(1.0, 2.0) == math.atan2(1.0, 2.0)
    r2 = 1.0 * 1.0 + 2.0 * 2.0
    x, y = leaves(1.0, 2.0)
    both = atan2(x, y)
    both.backward()
    assert (x.grad, y.grad) == (2.0 / r2, -1.0 / r2)
    x, y = leaves(1.0, 2.0)
    left = atan2(x, 2.0)
    right = atan2(1.0, y)
    assert left.data == right.data == math.atan2(1.0, 2.0)
    assert left.inputs == (x, 2.0) and left.parents == (x,) and left.const == 2.0
    assert right.inputs == (1.0, y) and right.parents == (y,) and right.const == 1.0
    assert left.op is right.op is atan2  # the forms with a number share the one definition
    assert left.local_grads == (2.0 / r2,) and right.local_grads == (-1.0 / r2,)
    (left + right).backward()
    assert (x.grad, y.grad) == (2.0 / r2, -1.0 / r2)
    assert "dt/dx = ∂t/∂x = 2/(x²+4) = 0.4" in explain(_labelled(atan2(x, 2.0), "t"))
    assert "dt/dy = ∂t/∂y = −1/(1+y²) = -0.2" in explain(_labelled(atan2(1.0, y), "t"))
    assert gradcheck(lambda a, b: atan2(a * b, 2.0) + atan2(0.5, b) * atan2(a, b), [0.4, -1.3]).passed


def _labelled(node: Value, label: str) -> Value:
    node.label = label
    return node


def test_second_derivatives_of_a_binary_user_op(ops) -> None:
    atan2, hypot = ops.atan2, ops.hypot
    a0, b0 = 1.0, 2.0
    r2 = a0 * a0 + b0 * b0
    x, y = Value(a0), Value(b0)
    dx, dy = grad(atan2(x, y), [x, y], create_graph=True)
    # ∂²/∂a² = −2ab/r⁴, ∂²/∂a∂b = (a² − b²)/r⁴, ∂²/∂b² = 2ab/r⁴
    assert grad(dx, [x, y]) == pytest.approx([-2 * a0 * b0 / r2**2, (a0 * a0 - b0 * b0) / r2**2], rel=1e-14)
    assert grad(dy, y) == pytest.approx(2 * a0 * b0 / r2**2, rel=1e-14)
    # with a number operand on either side: d²/da² hypot(a, 4) = 16/r³, d²/db² hypot(3, b) = 9/r³
    assert derivative(derivative(lambda a: hypot(a, 4.0)))(3.0) == pytest.approx(16 / 125, rel=1e-14)
    assert derivative(derivative(lambda b: hypot(3.0, b)))(4.0) == pytest.approx(9 / 125, rel=1e-14)


def test_n_ary_user_ops_take_any_number_of_values_and_numbers(ops) -> None:
    logsumexp, mean = ops.logsumexp, ops.mean
    assert logsumexp(1.0, 2.0) == pytest.approx(math.log(math.e + math.e**2), rel=1e-15)
    assert logsumexp.arity is None and logsumexp.input_names == ("xs",)
    a, b, c = leaves(1.0, 2.0, 0.5)
    out = logsumexp(a, b, 3.0, c)  # a number among the inputs becomes a leaf
    assert len(out.parents) == 4 and out.parents[:2] == (a, b) and out.parents[3] is c
    out.backward()
    total = sum(math.exp(v) for v in (1.0, 2.0, 3.0, 0.5))
    assert out.data == pytest.approx(math.log(total), rel=1e-15)
    for leaf, v in ((a, 1.0), (b, 2.0), (c, 0.5)):
        assert leaf.grad == pytest.approx(math.exp(v) / total, rel=1e-14)  # the softmax
    assert "∂t0/∂x = exp(x−t0) = 0.08537" in explain(out, wrt=a)
    # second derivatives: ∂²/∂xᵢ² = pᵢ(1 − pᵢ), ∂²/∂xᵢ∂xⱼ = −pᵢpⱼ
    a, b = Value(1.0), Value(2.0)
    da = grad(logsumexp(a, b), a, create_graph=True)
    p_a, p_b = math.exp(1.0) / (math.e + math.e**2), math.exp(2.0) / (math.e + math.e**2)
    assert grad(da, [a, b]) == pytest.approx([p_a * (1 - p_a), -p_a * p_b], rel=1e-13)
    # a mean of three, with a Value used twice
    a, b = leaves(1.0, 4.0)
    m = mean(a, b, a)
    m.backward()
    assert m.data == 2.0 and (a.grad, b.grad) == (2 / 3, 1 / 3)
    assert "dt0/dy = ∂t0/∂y = 0.3333" in explain(m)
    assert gradcheck(lambda a, b: logsumexp(a, b * a, 0.5) * mean(a, b), [0.2, -0.7]).passed


def test_n_ary_and_binary_user_ops_compile(ops) -> None:
    def f(p, q):
        return ops.logsumexp(p, q, 1.0) * ops.hypot(p, q) + ops.atan2(p, 2.0) - ops.mean(p, q)

    g = engine.compile(f)
    p, q = Value(1.0), Value(-2.0)
    root = f(p, q)
    grads = engine.chain_rule(root)
    value, gradients = g(1.0, -2.0)
    assert value == pytest.approx(root.data, rel=1e-14)
    assert gradients == pytest.approx([grads[p], grads[q]], rel=1e-13)
    for call in ("udo_logsumexp(p, q, ", "udo_hypot(p, q)", "udo_atan2(p, 2.0)", "udo_mean(p, q)"):
        assert call in g.source
    assert "exp(p - " in g.source  # logsumexp's rule, written over names


# ---------------------------------------------------------------------------
# The PyTorch float64 oracle
# ---------------------------------------------------------------------------
@pytest.mark.torch
def test_user_ops_match_torch_float64_to_second_order(ops) -> None:
    torch = pytest.importorskip("torch")

    def expression(x, y, lib):
        if lib == "torch":
            return (torch.sin(x * y) * torch.cos(x) + torch.atan2(x, y) * torch.hypot(x, 2.0 * y)
                    + torch.logsumexp(torch.stack([x, y, x * y]), 0))
        return (ops.sin(x * y) * ops.cos(x) + ops.atan2(x, y) * ops.hypot(x, 2.0 * y)
                + ops.logsumexp(x, y, x * y))

    for x0, y0 in [(0.3, -1.2), (1.7, 0.4), (-0.8, 2.2)]:
        xv, yv = Value(x0), Value(y0)
        out = expression(xv, yv, "engine")
        dx, dy = grad(out, [xv, yv], create_graph=True)
        ours = [out.data, dx.data, dy.data, *grad(dx, [xv, yv]), *grad(dy, [xv, yv])]
        xt = torch.tensor(x0, dtype=torch.float64, requires_grad=True)
        yt = torch.tensor(y0, dtype=torch.float64, requires_grad=True)
        out_t = expression(xt, yt, "torch")
        gx, gy = torch.autograd.grad(out_t, [xt, yt], create_graph=True)
        second_x = torch.autograd.grad(gx, [xt, yt], retain_graph=True)
        second_y = torch.autograd.grad(gy, [xt, yt])
        theirs = [t.item() for t in (out_t, gx, gy, *second_x, *second_y)]
        assert ours == pytest.approx(theirs, rel=1e-12, abs=1e-14)


# ---------------------------------------------------------------------------
# Bad definitions: a clear error naming the op
# ---------------------------------------------------------------------------
def _sin_rule(out, a):
    return (math.cos(a),)


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        ({"name": "my sin"}, ValueError,
         r"define_op: name must be a Python identifier such as 'sin', got 'my sin'"),
        ({"name": "2x"}, ValueError, r"identifier such as 'sin', got '2x'"),
        ({"name": ""}, ValueError, r"identifier such as 'sin', got ''"),
        ({"name": "lambda"}, ValueError, r"identifier such as 'sin', got 'lambda'"),
        ({"forward": "math.sin"}, TypeError,
         r"define_op\('udo_bad'\): forward must be a function, got 'math.sin'"),
        ({"forward": None}, TypeError, r"define_op\('udo_bad'\): forward must be a function, got None"),
        ({"local_grads": (1.0,)}, TypeError, r"define_op\('udo_bad'\): local_grads must be a function"),
        ({"local_grads": lambda out: ()}, TypeError,
         r"define_op\('udo_bad'\): local_grads takes the result and the inputs, e\.g\. lambda out, a"),
        ({"formula": None}, TypeError, r"define_op\('udo_bad'\): formula must be a non-empty string"),
        ({"formula": 3.0}, TypeError, r"define_op\('udo_bad'\): formula must be a non-empty string"),
    ],
)
def test_a_bad_definition_is_refused_naming_the_op(arguments, error, message) -> None:
    definition = {"name": "udo_bad", "forward": math.sin, "local_grads": _sin_rule, "formula": "f"}
    before = dict(engine.OPS)
    with pytest.raises(error, match=message):
        define_op(**{**definition, **arguments})
    assert before == engine.OPS  # nothing registered


@pytest.mark.parametrize("name", engine.BUILT_IN_OPS)
def test_a_built_in_op_cannot_be_redefined(name: str) -> None:
    built_in = engine.OPS[name]
    with pytest.raises(ValueError, match=rf"define_op: '{name}' is a built-in op and cannot be redefined"):
        define_op(name, forward=math.sin, local_grads=_sin_rule, formula="∂(sin a)/∂a = cos a")
    assert engine.OPS[name] is built_in
    assert engine.exp(1.0) == math.e  # exp still is exp


def test_a_wrong_type_is_a_type_error_and_a_wrong_value_a_value_error() -> None:
    with pytest.raises(TypeError, match=r"define_op: name must be a string"):
        define_op(5, forward=math.sin, local_grads=_sin_rule, formula="∂(sin a)/∂a = cos a")
    with pytest.raises(ValueError, match=r"define_op\('udo_bad'\): formula must be a non-empty string"):
        define_op("udo_bad", forward=math.sin, local_grads=_sin_rule, formula="")


def test_a_forward_that_cannot_take_the_inputs_is_refused_at_definition() -> None:
    with pytest.raises(TypeError, match=r"define_op\('udo_bad'\): forward .* 2 inputs"):
        define_op("udo_bad", forward=math.sin, local_grads=lambda out, a, b: (1.0, 1.0), formula="f")


def test_an_arity_that_contradicts_the_rule_is_refused() -> None:
    message = r"define_op\('udo_bad'\): arity must be 1, as local_grads takes a, got 2"
    with pytest.raises(ValueError, match=message):
        define_op("udo_bad", forward=math.sin, local_grads=_sin_rule, formula="f", arity=2)


def _op_whose_rule_returns(result: object, arity: int = 1):
    if arity == 1:
        return define_op("udo_rule", forward=lambda a: 2.0 * a, local_grads=lambda out, a: result,
                         formula="f")
    return define_op("udo_rule2", forward=lambda a, b: a * b, local_grads=lambda out, a, b: result,
                     formula="f")


_ONE_DERIVATIVE = r"udo_rule: the op's local_grads must return a tuple of 1 derivative \(one per input\)"


@pytest.mark.parametrize(
    ("result", "message"),
    [
        ((1.0, 2.0), rf"{_ONE_DERIVATIVE}, got \(1\.0, 2\.0\)"),
        ((), rf"{_ONE_DERIVATIVE}, got \(\)"),
        (2.0, rf"{_ONE_DERIVATIVE}, got 2\.0"),
        ([2.0], rf"{_ONE_DERIVATIVE}, got \[2\.0\]"),
        (("two",), r"udo_rule: local_grads returned 'two', not a number"),
        ((1j,), r"udo_rule: local_grads returned 1j, not a number"),
        ((True,), r"udo_rule: local_grads returned True, not a number"),
        ((Value(2.0),), r"udo_rule: local_grads returned Value\(data=2\.0, grad=0\.0\), not a number; "
                        r"given floats it must return floats"),
    ],
)
def test_a_rule_that_returns_the_wrong_thing_is_refused_naming_the_op(result, message) -> None:
    op = _op_whose_rule_returns(result)
    x = Value(1.5)
    with pytest.raises(TypeError, match=message):
        op(x)
    assert op(1.5) == 3.0  # on numbers no derivative is needed


def _binary_forms(op):
    """The binary op on two Values, with a number on the left, with a number on the right."""
    return {"values": lambda: op(Value(1.5), Value(2.0)), "number left": lambda: op(1.5, Value(2.0)),
            "number right": lambda: op(Value(1.5), 2.0)}


@pytest.mark.parametrize("form", [
    "values", "number left", "number right",
])
def test_a_binary_rule_with_one_derivative_is_refused_in_every_form(form: str) -> None:
    op = _op_whose_rule_returns((1.0,), arity=2)
    with pytest.raises(TypeError, match=r"udo_rule2: the op's local_grads must return a tuple of 2 derivat"):
        _binary_forms(op)[form]()


@pytest.mark.parametrize("form", [
    "values",
    "number left",
    "number right",
])
def test_a_binary_rule_with_three_derivatives_is_refused_in_every_form(form: str) -> None:
    op = _op_whose_rule_returns((1.0, 2.0, 3.0), arity=2)
    with pytest.raises(TypeError, match=r"udo_rule2: the op's local_grads must return a tuple of 2 derivat"):
        _binary_forms(op)[form]()


@pytest.mark.parametrize("returned", ["a string", None, True, [1.0], Value(2.0)], ids=repr)
def test_a_forward_that_returns_something_not_a_number_is_refused(returned: object) -> None:
    """(A complex number is a DomainError: Python's a ** 0.5 at a < 0, an input outside the domain.)"""
    op = define_op("udo_forward", forward=lambda a: returned, local_grads=lambda out, a: (1.0,), formula="f")
    for x in (Value(1.0), 1.0):
        with pytest.raises(TypeError, match=r"^udo_forward: forward returned .*, not a number"):
            op(x)


def test_a_number_where_the_rule_says_none_must_stay_a_number() -> None:
    shift = define_op("udo_shift", forward=lambda a, k: a + k, local_grads=lambda out, a, k: (1.0, None),
                      formula="∂(a + k)/∂a = 1 (k a number)")
    assert shift(Value(1.0), 2.5).data == 3.5
    with pytest.raises(TypeError, match=r"udo_shift: input k must be a number here, got a Value \(2\.5\)"):
        shift(Value(1.0), Value(2.5))


def test_wrong_numbers_of_inputs_are_refused_naming_the_op(trig, ops) -> None:
    with pytest.raises(TypeError, match=r"^sin: takes 1 input, got 2"):
        trig.sin(Value(1.0), 2.0)
    with pytest.raises(TypeError, match=r"^udo_atan2: takes 2 inputs, got 1"):
        ops.atan2(Value(1.0))
    with pytest.raises(TypeError, match=r"^udo_mean: needs at least one input"):
        ops.mean()
    with pytest.raises(TypeError, match=r"^sin: expected a real number .*got 'x' \(str\)"):
        trig.sin("x")


# ---------------------------------------------------------------------------
# Defining again: a notebook cell run twice
# ---------------------------------------------------------------------------
def test_defining_a_user_op_again_replaces_it() -> None:
    first = define_op("udo_twice", forward=lambda a: 2.0 * a, local_grads=lambda out, a: (2.0,),
                      formula="∂(2a)/∂a = 2")
    x = Value(1.0)
    old = first(x)
    second = define_op("udo_twice", forward=lambda a: 3.0 * a, local_grads=lambda out, a: (3.0,),
                       formula="∂(3a)/∂a = 3")
    assert engine.OPS["udo_twice"] is second is not first
    new = engine.OPS["udo_twice"](x)
    assert (old.data, new.data) == (2.0, 3.0)
    (old + new).backward()
    assert x.grad == 5.0 and old.op is first and new.op is second  # a node keeps the op that made it


NOTEBOOK_CELL = """
import math
from engine import define_op
sin = define_op("sin", forward=math.sin, local_grads=lambda out, a: (cos(a),),
                formula="∂(sin a)/∂a = cos a")
cos = define_op("cos", forward=math.cos, local_grads=lambda out, a: (-sin(a),),
                formula="∂(cos a)/∂a = −sin a")
"""


def test_running_the_sin_and_cos_cell_again_works(trig) -> None:
    notebook: dict = {}  # one namespace, as a notebook's cells share
    try:
        exec(NOTEBOOK_CELL, notebook)  # noqa: S102 - the cell above, as a learner runs it
        first_sin = notebook["sin"]
        exec(NOTEBOOK_CELL, notebook)  # noqa: S102 - run again
        assert engine.OPS["sin"] is notebook["sin"] is not first_sin
        for sin in (notebook["sin"], first_sin):  # the old definition's rule now calls the new cos
            assert derivative(derivative(derivative(sin)))(0.5) == -math.cos(0.5)
    finally:
        engine.OPS["sin"], engine.OPS["cos"] = trig.sin, trig.cos


# ---------------------------------------------------------------------------
# The one rule: local_grads written with ops, not math functions
# ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def math_sin(registry):
    """sin whose rule calls math.cos: right on floats, but it cannot run on Values or symbols."""
    return define_op("udo_math_sin", forward=math.sin, local_grads=lambda out, a: (math.cos(a),),
                     formula="∂(sin a)/∂a = cos a")


def test_a_rule_written_with_math_still_gives_first_derivatives(math_sin) -> None:
    x = Value(0.5, label="x")
    y = math_sin(x)
    y.label = "y"
    y.backward()
    assert x.grad == math.cos(0.5)
    assert gradcheck(lambda a: math_sin(a * a), [0.7]).passed
    assert "dy/dx = ∂y/∂x = 0.8776" in explain(y)  # no formula: the rule cannot be written over names
    assert "∂y/∂x = 0.8776" in to_dot(y, show_local_grads=True)
    g = engine.compile(lambda a: math_sin(a * a))
    assert g(0.7) == (math.sin(0.7 * 0.7), (math.cos(0.7 * 0.7) * 0.7 + math.cos(0.7 * 0.7) * 0.7,))
    assert "_rule_udo_math_sin(" in g.source  # the rule is called on the numbers at run time


def test_a_rule_written_with_math_is_refused_for_second_derivatives(math_sin) -> None:
    with pytest.raises(TypeError, match=r"udo_math_sin"):
        derivative(derivative(math_sin))(0.5)


# ---------------------------------------------------------------------------
# The demo: demos/define_your_own_op.py
# ---------------------------------------------------------------------------
DEMO = Path(__file__).resolve().parent.parent / "demos" / "define_your_own_op.py"


def test_the_demo_defines_sin_and_cos_and_shows_every_use(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(DEMO), "--out", "drawings"], cwd=tmp_path, capture_output=True, text=True,
        timeout=120, check=False,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert 'sin = define_op("sin", forward=math.sin, local_grads=lambda out, a: (cos(a),),' in out
    rows = [line.split() for line in out.splitlines() if "autograd" in line and "closed form" in line]
    assert [row[0] for row in rows] == ["sin'(x)", "sin''(x)", "sin'''(x)", "cos'(x)", "cos''(x)"]
    for row in rows:  # ... autograd +0.877582561890373   closed form +0.877582561890373
        assert float(row[row.index("autograd") + 1]) == float(row[-1]) != 0.0
    assert f"dy/dx = {math.cos(1.0)!r}; by hand cos 2x = {math.cos(1.0)!r}" in out
    assert "      = dy/d(sin(x)) · cos(x) + dy/d(cos(x)) · (−sin(x))" in out  # explain, from the rules
    assert "∂(sin a)/∂a = cos a (sin); ∂(cos a)/∂a = −sin a (cos)" in out
    assert "PASS" in out.splitlines()[-1]
    drawing = tmp_path / "drawings" / ("sin_cos.svg" if shutil.which("dot") else "sin_cos.gv")
    assert f": {Path('drawings') / drawing.name}" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["drawings"]  # it writes into --out only
    if drawing.suffix == ".svg":
        texts = [t.text for t in ET.parse(drawing).getroot().iter() if t.text]
        assert {"sin", "cos", "∂(sin(x))/∂x = 0.8776", "∂(cos(x))/∂x = -0.4794"} <= set(texts)


def _shifted(**changes: Any) -> engine.Op:
    definition: dict[str, Any] = {
        "forward": lambda a: a + 1.0, "local_grads": lambda out, a: (1.0,), "formula": "∂(a + 1)/∂a = 1",
    }
    return define_op("shifted", **{**definition, **changes})


@pytest.mark.parametrize(("domain", "message"), [
    (lambda a: 1 / 0, r"^shifted: the op's domain raised ZeroDivisionError: division by zero at a = 2\.0; "
                      r"fix the domain given to define_op\('shifted'\)$"),
    (lambda a: True, r"^shifted: the op's domain must return None \(the inputs are fine\) or the reason they "
                     r"are refused \(a str\), got True at a = 2\.0"),
    (lambda a: np.array([1, 2]), r"^shifted: the op's domain must return None .*got array\(\[1, 2\]\)"),
], ids=["raises", "true", "array"])
def test_a_domain_that_fails_or_answers_oddly_is_a_bad_definition(domain: Callable, message: str) -> None:
    op = _shifted(domain=domain)
    for call in (lambda: op(Value(2.0)), lambda: op(2.0)):
        with pytest.raises(TypeError, match=message):
            call()
    assert _shifted(domain=lambda a: "")(Value(2.0)).data == 3.0  # '' says nothing is wrong


def test_a_binary_ops_domain_that_fails_is_reported_on_the_fast_path_too() -> None:
    op = define_op("joined", forward=lambda a, b: a + b, local_grads=lambda out, a, b: (1.0, 1.0),
                   formula="∂(a + b)/∂a = 1", domain=lambda a, b: {}["missing"])
    failed = r"^joined: the op's domain raised KeyError: 'missing' at a = 1\.0"
    for call in (lambda: op(Value(1.0), 2.0), lambda: op(Value(1.0), Value(2.0)),
                 lambda: op(1.0, Value(2.0))):
        with pytest.raises(TypeError, match=failed):
            call()


@pytest.mark.parametrize("local_grads", [lambda out, *, a: (1.0,), lambda out, a, **k: (1.0,)],
                         ids=["keyword-only", "double-star"])
def test_local_grads_with_keyword_parameters_is_refused_when_defined(local_grads: Callable) -> None:
    refused = r"^define_op\('shifted'\): local_grads is called as local_grads\(out, \*inputs\), so its"
    with pytest.raises(TypeError, match=refused):
        _shifted(local_grads=local_grads)


def test_a_complex_result_is_outside_the_domain_not_a_bad_definition() -> None:
    root = _shifted(forward=lambda a: a ** 0.5, local_grads=lambda out, a: (0.5 / out,))
    not_real = r"^shifted: the result \(1\.2246467991473532e-16\+2j\) is not real, got a = -4\.0$"
    with pytest.raises(DomainError, match=not_real):
        root(Value(-4.0))
    assert root(Value(4.0)).data == 2.0


def test_a_node_unpickles_only_where_its_op_is_defined_as_it_was() -> None:
    """What pickle does with a node's op (Op.__reduce__), without pickle (banned here): the op is
    found by name, and a missing or redefined op is refused instead of a KeyError or a silent swap."""
    op = define_op("cubed", forward=lambda a: a ** 3, local_grads=lambda out, a: (3.0 * a * a,),
                   formula="∂(a³)/∂a = 3a²")
    rebuild, arguments = op.__reduce__()
    assert rebuild(*arguments) is op
    rebuild_form, form_arguments = engine.OPS["mul"].with_constant[1].__reduce__()
    assert rebuild_form(*form_arguments) is engine.OPS["mul"].with_constant[1]
    define_op("cubed", forward=lambda a: a ** 3, local_grads=lambda out, a: (3.0 * a ** 2,),
              formula="∂(a³)/∂a = 3·a²")
    with pytest.raises(ValueError, match=r"^a pickled Value's op 'cubed' was redefined since it was pickled: "
                                         r"it was '∂\(a³\)/∂a = 3a²' \(1 input\), now '∂\(a³\)/∂a = 3·a²'"):
        rebuild(*arguments)
    del engine.OPS["cubed"]
    with pytest.raises(ValueError, match=r"^a pickled Value's op 'cubed' is not defined here: define it"):
        rebuild(*arguments)


def test_a_node_does_not_unpickle_onto_an_op_of_another_arity_with_the_same_formula() -> None:
    op = define_op("paired", forward=lambda a, b: a * b + b, local_grads=lambda out, a, b: (b, a + 1.0),
                   formula="paired")
    rebuild, arguments = op.with_constant[1].__reduce__()
    define_op("paired", forward=lambda a: a, local_grads=lambda out, a: (1.0,), formula="paired")
    with pytest.raises(ValueError, match=r"it was 'paired' \(2 inputs\), now 'paired' \(1 input\)"):
        rebuild(*arguments)  # was a raw IndexError


"""Higher-order gradients: gradients that are graphs, against closed forms and torch."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import engine
from engine import Value, derivative, grad, numerical_grad

SETTINGS = settings(max_examples=40, deadline=None)


def _sig(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


# name: (f on Values, f'' closed form, domain)
SECOND = {
    "sigmoid": (lambda x: x.sigmoid(), lambda x: _sig(x) * (1 - _sig(x)) * (1 - 2 * _sig(x)), (-6, 6)),
    "tanh": (lambda x: x.tanh(), lambda x: -2 * math.tanh(x) * (1 - math.tanh(x) ** 2), (-3, 3)),
    "log": (lambda x: x.log(), lambda x: -1 / x**2, (0.2, 10)),
    "exp": (lambda x: x.exp(), math.exp, (-4, 4)),
    "x**3": (lambda x: x**3, lambda x: 3 * 2 * x, (-3, 3)),
    "x**2.5": (lambda x: x**2.5, lambda x: 2.5 * 1.5 * x**0.5, (0.1, 4)),
    "x**-2": (lambda x: x**-2, lambda x: (-2) * (-3) * x**-4, (0.3, 4)),
    "c/x": (lambda x: 3.0 / x, lambda x: 6.0 / x**3, (0.3, 4)),
    "c**x": (lambda x: 2.0**x, lambda x: 2.0**x * math.log(2.0) ** 2, (-3, 3)),
    "relu": (lambda x: x.relu() * x, lambda x: 2.0 if x > 0 else 0.0, (-3, 3)),
    "x*x/(1+x*x)": (lambda x: x * x / (1 + x * x), lambda x: (2 - 6 * x * x) / (1 + x * x) ** 3, (-3, 3)),
    "neg,sub": (lambda x: -(x * x) - (1 - x) * x, lambda x: -2.0 + 2.0, (-3, 3)),
}


@pytest.mark.parametrize("name", sorted(SECOND))
@SETTINGS
@given(data=st.data())
def test_second_derivative_matches_closed_form(name: str, data: st.DataObject) -> None:
    f, second, domain = SECOND[name]
    x0 = data.draw(st.floats(*domain).filter(lambda v: abs(v) > 1e-3))
    assert derivative(derivative(f))(x0) == pytest.approx(second(x0), rel=1e-9, abs=1e-12)
    # the same through the graph form: grad(grad(y, x, create_graph=True), x)
    x = Value(x0)
    first = grad(f(x), x, create_graph=True)
    assert isinstance(first, Value)
    assert grad(first, x) == pytest.approx(second(x0), rel=1e-9, abs=1e-12)


def test_mixed_partials_of_binary_ops() -> None:
    a, b = Value(1.3), Value(0.6)
    # ∂²(a·b)/∂a∂b = 1;  ∂²(a/b)/∂b² = 2a/b³;  ∂²(aᵇ)/∂b² = aᵇ (ln a)²
    assert grad(grad(a * b, a, create_graph=True), b) == 1.0
    assert grad(grad(a / b, b, create_graph=True), b) == pytest.approx(2 * 1.3 / 0.6**3, rel=1e-12)
    assert grad(grad(a**b, b, create_graph=True), b) == pytest.approx(
        1.3**0.6 * math.log(1.3) ** 2, rel=1e-12
    )
    assert grad(grad(a**b, a, create_graph=True), a) == pytest.approx(0.6 * -0.4 * 1.3**-1.4, rel=1e-12)


@pytest.mark.parametrize(
    ("f", "third", "x0"),
    [
        (lambda x: x.sigmoid(), lambda a: a * (1 - a) * (1 - 6 * a + 6 * a * a), 0.7),
        (lambda x: x.log(), lambda a: 2 / 1.5**3, 1.5),
        (lambda x: x**4, lambda a: 24 * 1.2, 1.2),
        (lambda x: x.tanh(), lambda a: -2 * (1 - a * a) * (1 - 3 * a * a), -0.4),
    ],
)
def test_third_derivatives(f, third, x0: float) -> None:
    d3 = derivative(derivative(derivative(f)))
    a = f(Value(x0)).data
    assert d3(x0) == pytest.approx(third(a), rel=1e-9)


def test_hessian_of_cross_entropy_neuron_is_a_one_minus_a_x_xt() -> None:
    """For L = −[y ln a + (1−y) ln(1−a)], a = σ(w·x + b): ∂²L/∂w∂wᵀ = a(1−a) x xᵀ."""
    x = [0.5, -1.2, 2.0]
    y = 1.0
    w = [Value(v, label=f"w{j}") for j, v in enumerate([0.3, 0.1, -0.2])]
    b = Value(0.05, label="b")
    a = engine.linear(w, x, b).sigmoid()
    loss = -(y * a.log() + (1 - y) * (1 - a).log())
    first = grad(loss, w, create_graph=True)
    hessian = [grad(g, w) for g in first]
    s = a.data * (1 - a.data)
    for i in range(3):
        for j in range(3):
            assert hessian[i][j] == pytest.approx(s * x[i] * x[j], rel=1e-10)


def test_gradient_graph_agrees_with_stored_first_derivatives() -> None:
    x, y = Value(0.3), Value(-1.1)
    out = ((x * y).tanh() + (x / (1 + y * y)).exp() - 2.0**x).sigmoid()
    floats = grad(out, [x, y])
    values = grad(out, [x, y], create_graph=True)
    assert [v.data for v in values] == pytest.approx(floats, rel=1e-13)


def test_second_derivative_against_central_differences_of_the_first() -> None:
    x = Value(0.4)
    f = lambda v: (v * v + 1.0).log() * v.sigmoid()
    exact = derivative(derivative(f))(x.data)
    (numeric,) = numerical_grad(lambda: derivative(f)(x.data), [x])
    assert exact == pytest.approx(numeric, rel=1e-6)


def test_grad_without_create_graph_leaves_grad_untouched() -> None:
    x = Value(2.0)
    y = x**3
    assert grad(y, x) == 12.0 and x.grad == 0.0 and y.grad == 0.0
    first = grad(y, x, create_graph=True)
    assert first.data == 12.0 and x.grad == 0.0


def test_derivative_of_a_constant_function_and_bad_calls() -> None:
    assert derivative(lambda x: 3.0)(1.0) == 0.0
    with pytest.raises(TypeError, match="say which inputs"):
        grad(Value(1.0))
    with pytest.raises(TypeError, match=r"^grad: output must be a Value or a function to differentiate"):
        grad(3.0, [Value(1.0)])
    with pytest.raises(TypeError, match=r"^d_square: differentiates argument 0 of square, so it needs "):
        derivative(square)()  # no point given


def square(x: Value) -> Value:
    return x * x


def test_create_graph_inside_no_grad_still_builds() -> None:
    x = Value(1.0)
    with engine.no_grad():
        assert derivative(derivative(lambda v: v.exp()))(1.0) == pytest.approx(math.e)
    y = x.exp()
    with engine.no_grad():
        first = grad(y, x, create_graph=True)
    assert grad(first, x) == pytest.approx(math.e)


@pytest.mark.torch
def test_double_backward_matches_torch_float64() -> None:
    torch = pytest.importorskip("torch")

    def expression(x, y, *, lib):
        if lib == "torch":
            return torch.sigmoid(x * y) * torch.log(1 + x * x) + torch.tanh(y) / (2 + x) + (x**3) * y
        return (x * y).sigmoid() * (1 + x * x).log() + y.tanh() / (2 + x) + (x**3) * y

    for x0, y0 in [(0.3, -1.2), (1.7, 0.4), (-0.8, 2.2)]:
        xv, yv = Value(x0), Value(y0)
        out = expression(xv, yv, lib="engine")
        dx, dy = grad(out, [xv, yv], create_graph=True)
        ours = [grad(dx, [xv, yv]), grad(dy, [xv, yv])]
        xt = torch.tensor(x0, dtype=torch.float64, requires_grad=True)
        yt = torch.tensor(y0, dtype=torch.float64, requires_grad=True)
        gx, gy = torch.autograd.grad(expression(xt, yt, lib="torch"), [xt, yt], create_graph=True)
        theirs = [
            [t.item() for t in torch.autograd.grad(gx, [xt, yt], retain_graph=True)],
            [t.item() for t in torch.autograd.grad(gy, [xt, yt])],
        ]
        for row_ours, row_theirs in zip(ours, theirs):
            assert row_ours == pytest.approx(row_theirs, rel=1e-10, abs=1e-12)


def test_a_gradient_graph_draws() -> None:
    """dσ/dz = a(1−a) built by create_graph is an ordinary graph: draw shows its ops and numbers."""
    import xml.etree.ElementTree as ET

    z = Value(0.7, label="z")
    first = grad(z.sigmoid(), z, create_graph=True)
    first.label = "dσ/dz"
    svg = engine.draw(first).pipe(format="svg")
    text = " ".join(t.text or "" for t in ET.fromstring(svg).iter())
    a = 1 / (1 + math.exp(-0.7))
    assert "dσ/dz" in text and "σ" in text and "z" in text
    assert f"{a * (1 - a):.4g}" in text


def test_derivative_refuses_a_result_with_no_graph_to_its_argument() -> None:
    """derivative(math.sin) gave 0.0: math.sin reads float(x) and returns a float with no graph."""
    for function, pattern in (
        (math.sin, r"^d_sin: sin returned 0\.479425538604203 \(float\), computed from its argument's number"),
        (lambda x: x.data ** 2, r"^d_<lambda>: <lambda> returned 0\.25 \(float\), computed from its"),
        (lambda x: None, r"^d_<lambda>: <lambda>'s result must be a Value \(or a number, for a constant "
                         r"function\), got None \(NoneType\)$"),
        (lambda x: [x * x], r"^d_<lambda>: <lambda>'s result must be a Value .*\(list\)$"),
    ):
        with pytest.raises(TypeError, match=pattern):
            derivative(function)(0.5)
    for function in (lambda x: float(x * 2), lambda x: (x * 2).data, lambda x: Value(x.data ** 2),
                     lambda x: Value(math.sin(x))):  # the graph left inside f, a Value made of a number
        with pytest.raises(TypeError, match=r"computed from its argument's number"):
            derivative(function)(1.0)
    assert derivative(lambda x: 3.0)(1.0) == 0.0  # a constant: its derivative is 0
    assert derivative(lambda x: Value(3.0))(1.0) == 0.0
    assert derivative(lambda x: 1.0 if x.data > 0 else 0.0)(1.0) == 0.0  # a step, read off x: flat here
    assert derivative(derivative(lambda x: 5.0))(1.0) == 0.0
    with pytest.raises(TypeError, match=r"^d_<lambda>: argument 0: expected a real number .*got 'a' \(str\)"):
        derivative(lambda x: x)("a")


def test_derivative_passes_other_and_keyword_arguments_to_f() -> None:
    assert derivative(lambda x, k: x ** k)(2.0, 3) == 12.0
    assert derivative(lambda x, k=2: x ** k)(2.0, k=3) == 12.0
    assert derivative(lambda x, y: x * y.exp())(1.0, 2.0) == pytest.approx(math.exp(2.0))
    assert derivative(lambda x, table: x * table[0])(0.5, [2.0]) == 2.0
    assert derivative(lambda c, x: c * x * x, argnum=1)(3.0, 2.0) == 12.0
    example = r"needs at least 2 arguments \(the point\), got 1; e\.g\. d_f\(1\.0, 2\.0\)$"
    with pytest.raises(TypeError, match=example):
        derivative(f, argnum=1)(2.0)


def f(c: Value, x: Value) -> Value:
    return c * x

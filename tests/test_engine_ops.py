"""Every op: forward value, closed-form derivative, central differences, and torch when present."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import engine
from engine import Value, gradcheck

SETTINGS = settings(max_examples=60, deadline=None)


def _sig(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


# name: (build from a Value, float forward, closed-form derivative, (low, high) safe domain)
UNARY = {
    "neg": (lambda x: -x, lambda x: -x, lambda x: -1.0, (-5, 5)),
    "exp": (lambda x: x.exp(), math.exp, math.exp, (-5, 5)),
    "log": (lambda x: x.log(), math.log, lambda x: 1 / x, (0.05, 20)),
    "sigmoid": (lambda x: x.sigmoid(), _sig, lambda x: _sig(x) * (1 - _sig(x)), (-8, 8)),
    "tanh": (lambda x: x.tanh(), math.tanh, lambda x: 1 - math.tanh(x) ** 2, (-4, 4)),
    "relu+": (lambda x: x.relu(), lambda x: x, lambda x: 1.0, (0.01, 5)),
    "relu-": (lambda x: x.relu(), lambda x: 0.0, lambda x: 0.0, (-5, -0.01)),
    "square": (lambda x: x**2, lambda x: x * x, lambda x: 2 * x, (-5, 5)),
    "cube of negative": (lambda x: x**3, lambda x: x**3, lambda x: 3 * x * x, (-3, -0.1)),
    "sqrt": (lambda x: x**0.5, math.sqrt, lambda x: 0.5 / math.sqrt(x), (0.05, 20)),
    "x**-1.5": (lambda x: x**-1.5, lambda x: x**-1.5, lambda x: -1.5 * x**-2.5, (0.2, 5)),
    "x+c": (lambda x: x + 2.5, lambda x: x + 2.5, lambda x: 1.0, (-5, 5)),
    "c+x": (lambda x: 2.5 + x, lambda x: 2.5 + x, lambda x: 1.0, (-5, 5)),
    "x-c": (lambda x: x - 2.5, lambda x: x - 2.5, lambda x: 1.0, (-5, 5)),
    "c-x": (lambda x: 2.5 - x, lambda x: 2.5 - x, lambda x: -1.0, (-5, 5)),
    "x*c": (lambda x: x * -3.0, lambda x: -3.0 * x, lambda x: -3.0, (-5, 5)),
    "c*x": (lambda x: -3.0 * x, lambda x: -3.0 * x, lambda x: -3.0, (-5, 5)),
    "x/c": (lambda x: x / 4.0, lambda x: x / 4.0, lambda x: 0.25, (-5, 5)),
    "c/x": (lambda x: 3.0 / x, lambda x: 3.0 / x, lambda x: -3.0 / x**2, (0.2, 5)),
    "c**x": (lambda x: 2.0**x, lambda x: 2.0**x, lambda x: 2.0**x * math.log(2.0), (-4, 4)),
}

# name: (build from two Values, float forward, (∂/∂a, ∂/∂b), domains of a and b)
BINARY = {
    "a+b": (lambda a, b: a + b, lambda a, b: a + b, lambda a, b: (1.0, 1.0), (-5, 5), (-5, 5)),
    "a-b": (lambda a, b: a - b, lambda a, b: a - b, lambda a, b: (1.0, -1.0), (-5, 5), (-5, 5)),
    "a*b": (lambda a, b: a * b, lambda a, b: a * b, lambda a, b: (b, a), (-5, 5), (-5, 5)),
    "a/b": (lambda a, b: a / b, lambda a, b: a / b, lambda a, b: (1 / b, -a / b**2), (-5, 5), (0.2, 5)),
    "a**b": (
        lambda a, b: a**b, lambda a, b: a**b,
        lambda a, b: (b * a ** (b - 1), a**b * math.log(a)), (0.2, 4), (-2, 2),
    ),
}


def _in(domain: tuple[float, float]) -> st.SearchStrategy[float]:
    return st.floats(*domain, allow_nan=False, allow_infinity=False)


@pytest.mark.parametrize("name", sorted(UNARY))
@SETTINGS
@given(data=st.data())
def test_unary_op_value_and_derivative(name: str, data: st.DataObject) -> None:
    build, forward, derivative, domain = UNARY[name]
    x0 = data.draw(_in(domain))
    x = Value(x0)
    y = build(x)
    y.backward()
    assert y.data == pytest.approx(forward(x0), rel=1e-12, abs=1e-300)
    assert x.grad == pytest.approx(derivative(x0), rel=1e-10, abs=1e-12)
    assert y.local_grads[0] == pytest.approx(derivative(x0), rel=1e-10, abs=1e-12)
    gradcheck(build, [x0])


@pytest.mark.parametrize("name", sorted(BINARY))
@SETTINGS
@given(data=st.data())
def test_binary_op_value_and_derivatives(name: str, data: st.DataObject) -> None:
    build, forward, derivatives, domain_a, domain_b = BINARY[name]
    a0, b0 = data.draw(_in(domain_a)), data.draw(_in(domain_b))
    a, b = Value(a0), Value(b0)
    y = build(a, b)
    y.backward()
    da, db = derivatives(a0, b0)
    assert y.data == pytest.approx(forward(a0, b0), rel=1e-12, abs=1e-300)
    assert a.grad == pytest.approx(da, rel=1e-10, abs=1e-12)
    assert b.grad == pytest.approx(db, rel=1e-10, abs=1e-12)
    gradcheck(build, [a0, b0])


@SETTINGS
@given(
    st.lists(st.floats(-3, 3), min_size=1, max_size=6).flatmap(
        lambda w: st.tuples(st.just(w), st.lists(st.floats(-3, 3), min_size=len(w), max_size=len(w)))
    ),
    st.floats(-3, 3),
)
def test_linear_is_one_node_with_the_right_derivatives(wx: tuple, b0: float) -> None:
    w0, x0 = wx
    w = [Value(v) for v in w0]
    x = [Value(v) for v in x0]
    b = Value(b0)
    z = engine.linear(w, x, b)
    z.backward()
    assert len(z.parents) == 2 * len(w) + 1
    assert z.data == pytest.approx(b0 + sum(p * q for p, q in zip(w0, x0)), rel=1e-12, abs=1e-12)
    assert [v.grad for v in w] == pytest.approx(x0)  # ∂z/∂wᵢ = xᵢ
    assert [v.grad for v in x] == pytest.approx(w0)  # ∂z/∂xᵢ = wᵢ
    assert b.grad == 1.0
    gradcheck(lambda *v: engine.linear(v[: len(w0)], v[len(w0) : -1], v[-1]), [*w0, *x0, b0])


def test_sum_values_is_one_node() -> None:
    terms = [Value(v) for v in (1.0, -2.0, 0.5)]
    total = engine.sum_values([*terms, 4])
    total.backward()
    assert total.data == 3.5
    assert [t.grad for t in terms] == [1.0, 1.0, 1.0]
    assert total.op.name == "sum" and len(total.parents) == 4


@pytest.mark.parametrize("fn", ["exp", "log", "sigmoid", "tanh", "relu"])
def test_functional_forms_accept_numbers_and_values(fn: str) -> None:
    """An op on a Value makes a node; on plain numbers it is the plain number (as math.exp is)."""
    function = getattr(engine, fn)
    from_number = function(1.5)
    x = Value(1.5)
    from_value = function(x)
    assert type(from_number) is float
    assert from_number == from_value.data == getattr(x, fn)().data
    assert from_value.parents == (x,) and from_value.op is engine.OPS[fn]


def test_sigmoid_is_stable_and_exact_at_extremes() -> None:
    for z in (1e4, -1e4, 750.0, -750.0, 40.0, -40.0):
        a = Value(z).sigmoid()
        assert 0.0 <= a.data <= 1.0 and math.isfinite(a.local_grads[0])
    assert Value(-40.0).sigmoid().data == pytest.approx(math.exp(-40.0), rel=1e-15)  # no 1 − (1 − ε) loss
    assert Value(-700.0).sigmoid().data > 0.0  # still representable, so not rounded to 0
    assert Value(0.0).sigmoid().data == 0.5
    big = Value(1e4)
    big.sigmoid().backward()
    assert big.grad == 0.0


def test_sigmoid_derivative_is_a_times_one_minus_a() -> None:
    """The seeds' σ'(z) = a(1 − a), on a grid."""
    for z0 in [-6 + 0.5 * k for k in range(25)]:
        z = Value(z0)
        a = z.sigmoid()
        a.backward()
        assert z.grad == pytest.approx(a.data * (1 - a.data), rel=1e-14)


def test_repr_shows_data_grad_op_and_label() -> None:
    z = Value(1.0, label="z")
    a = z.sigmoid()
    a.label = "a"
    a.backward()
    assert repr(a) == "Value(data=0.7311, grad=1.0, op='sigmoid', label='a')"
    assert repr(z) == "Value(data=1.0, grad=0.1966, label='z')"
    assert repr(Value(2.0) * 3) == "Value(data=6.0, grad=0.0, op='mul')"
    assert repr(Value(1e300) * 1e10) == "Value(data=inf, grad=0.0, op='mul')"
    assert repr(Value(-2.5e-12)) == "Value(data=-2.5e-12, grad=0.0)"


def test_ops_record_constants_and_reflected_forms() -> None:
    x = Value(2.0)
    assert (1 - x).data == -1.0 and (1 - x).const == 1.0
    assert (1 / x).data == 0.5
    assert (2**x).data == 4.0
    assert (2 * x).data == 4.0 and (2 * x).parents == (x,)
    assert (x - 1).data == 1.0 and (x / 4).data == 0.5
    assert (+x) is x


def test_numpy_scalars_mix_with_values() -> None:
    np = pytest.importorskip("numpy")
    x = Value(np.float64(2.0))
    y = x * np.float32(0.5) + np.int64(3)
    y.backward()
    assert type(x.data) is float and y.data == 4.0 and x.grad == 0.5


@pytest.mark.torch
@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_ops_match_torch_float64(name: str) -> None:
    torch = pytest.importorskip("torch")
    build, _, _, (low, high) = UNARY[name]
    for x0 in [low + (high - low) * k / 7 for k in range(8)]:
        x = Value(x0)
        y = build(x)
        y.backward()
        xt = torch.tensor(x0, dtype=torch.float64, requires_grad=True)
        yt = build(xt) if name not in {"sigmoid", "relu+", "relu-", "log", "exp", "tanh"} else getattr(
            torch, {"relu+": "relu", "relu-": "relu"}.get(name, name)
        )(xt)
        yt.backward()
        assert y.data == pytest.approx(yt.item(), rel=1e-12, abs=1e-300)
        assert x.grad == pytest.approx(xt.grad.item(), rel=1e-10, abs=1e-15)

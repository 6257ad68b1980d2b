"""Losses: values and gradients against hand formulas, stability where a sigmoid saturates, clear errors."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import DomainError, Value, numerical_grad
from nn import binary_cross_entropy, hinge, mse, softplus


def bce_by_hand(a: list[float], y: list[float]) -> float:
    """L = −1/m Σ [y ln a + (1−y) ln(1−a)], with 0·ln 0 taken as 0."""
    terms = [
        -((yi * math.log(ai) if yi else 0.0) + ((1 - yi) * math.log(1 - ai) if yi != 1 else 0.0))
        for ai, yi in zip(a, y, strict=True)
    ]
    return sum(terms) / len(terms)


def sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))


def softplus_by_hand(z: float) -> float:
    """ln(1 + eᶻ) without overflow."""
    return max(z, 0.0) + math.log1p(math.exp(-abs(z)))


# --- binary cross-entropy ----------------------------------------------------------------------
def test_bce_value_and_da_match_the_hand_formulas():
    a = [Value(0.9), Value(0.2), Value(0.6), Value(0.35)]
    y = [1.0, 0.0, 0.3, 1.0]
    loss = binary_cross_entropy(a, y)
    loss.backward()
    m = len(a)
    assert loss.data == pytest.approx(bce_by_hand([v.data for v in a], y), rel=1e-14)
    for v, yi in zip(a, y, strict=True):  # ∂L/∂a = 1/m·(−y/a + (1−y)/(1−a))
        assert v.grad == pytest.approx((-yi / v.data + (1 - yi) / (1 - v.data)) / m, rel=1e-12)


def test_bce_through_a_sigmoid_gives_dz_equal_a_minus_y_over_m():
    z = [Value(1.3), Value(-0.4), Value(2.2)]
    y = [1.0, 1.0, 0.0]
    loss = binary_cross_entropy([v.sigmoid() for v in z], y)
    loss.backward()
    for v, yi in zip(z, y, strict=True):
        assert v.grad == pytest.approx((sigmoid(v.data) - yi) / 3, rel=1e-12)


@pytest.mark.parametrize("z", [40.0, 800.0, -40.0, -800.0, 14.0, -14.0])
@pytest.mark.parametrize("y", [0.0, 1.0, 0.25])
def test_bce_stays_finite_and_exact_at_a_saturated_sigmoid(z, y):
    # −[y ln σ(z) + (1−y) ln(1−σ(z))] = softplus(z) − yz; a has rounded to exactly 0 or 1 at |z| ≥ 40.
    # (ln(1 + eᶻ) is built from exp and log, so a loss near 0 is exact to ~1e−16 absolute, not relative.)
    node = Value(z)
    loss = binary_cross_entropy([node.sigmoid()], [y])
    loss.backward()
    expected = softplus_by_hand(z) - y * z
    assert math.isfinite(loss.data)
    assert loss.data == pytest.approx(expected, rel=1e-9, abs=1e-15)
    assert node.grad == pytest.approx(sigmoid(z) - y, rel=1e-9, abs=1e-15)


@settings(max_examples=60, deadline=None)
@given(z=st.floats(-30, 30), y=st.floats(0, 1))
def test_bce_of_a_sigmoid_is_softplus_z_minus_yz_with_central_difference_gradient(z, y):
    node = Value(z)
    loss = binary_cross_entropy([node.sigmoid()], [y])
    loss.backward()
    assert loss.data == pytest.approx(softplus_by_hand(z) - y * z, rel=1e-9, abs=1e-12)
    assert node.grad == pytest.approx(sigmoid(z) - y, rel=1e-9, abs=1e-12)
    if abs(z) <= 12:  # beyond, 1 − a cancels too much for a difference quotient to be meaningful
        numerical = numerical_grad(lambda: binary_cross_entropy([node.sigmoid()], [y]), [node], eps=1e-4)[0]
        assert node.grad == pytest.approx(numerical, abs=1e-6)


@pytest.mark.torch
def test_bce_matches_torch_with_logits_float64():
    torch = pytest.importorskip("torch")
    zs = [-60.0, -5.0, -0.3, 0.0, 0.7, 8.0, 60.0]
    ys = [1.0, 0.0, 1.0, 0.5, 0.0, 1.0, 0.0]
    nodes = [Value(z) for z in zs]
    loss = binary_cross_entropy([v.sigmoid() for v in nodes], ys)
    loss.backward()
    logits = torch.tensor(zs, dtype=torch.float64, requires_grad=True)
    targets = torch.tensor(ys, dtype=torch.float64)
    reference = torch.nn.functional.binary_cross_entropy_with_logits(logits, targets)
    reference.backward()
    assert loss.data == pytest.approx(reference.item(), rel=1e-13)
    for v, g in zip(nodes, logits.grad.tolist(), strict=True):
        assert v.grad == pytest.approx(g, rel=1e-12, abs=1e-18)


@pytest.mark.parametrize(
    ("a", "y", "message"),
    [
        (Value(1.0), 0.0, r"sample 0 has a = 1.0 with y = 0.0: \(1−y\)·ln\(1−a\) is −∞"),
        (Value(0.0), 1.0, r"sample 0 has a = 0.0 with y = 1.0: y·ln a is −∞"),
        (Value(0.0), 0.5, "y·ln a is −∞"),
        (Value(-0.5).relu(), 1.0, "a = 0.0 with y = 1.0"),
    ],
)
def test_bce_of_exactly_0_or_1_not_from_a_sigmoid_is_a_domain_error(a, y, message):
    with pytest.raises(DomainError, match=message):
        binary_cross_entropy([a], [y])


def test_bce_leaves_out_terms_of_weight_zero():
    # y = 0 with a = 0 and y = 1 with a = 1 are perfect predictions: L = 0, as 0·ln 0 = 0.
    assert binary_cross_entropy([Value(0.0), Value(1.0)], [0.0, 1.0]).data == 0.0


@pytest.mark.parametrize(
    ("predictions", "targets", "error", "message"),
    [
        ([Value(0.5)], [1.0, 0.0], ValueError, "1 predictions but 2 targets"),
        ([], [], ValueError, r"predictions must be a non-empty list of Values .*, got \[\]"),
        ([Value(0.5)], [1.5], ValueError, r"target 0 must be in \[0, 1\], got 1.5"),
        ([Value(0.5)], [math.nan], ValueError, "target 0 must be a finite number, got nan"),
        ([Value(0.5)], ["1"], TypeError, "target 0 must be a finite number, got '1'"),
    ],
)
def test_bce_bad_inputs(predictions, targets, error, message):
    with pytest.raises(error, match=message):
        binary_cross_entropy(predictions, targets)


# --- softplus, mse, hinge --------------------------------------------------------------------------
@pytest.mark.parametrize("z", [-1000.0, -3.0, 0.0, 2.5, 1000.0])
def test_softplus_value_and_its_derivative_sigmoid(z):
    node = Value(z)
    out = softplus(node)
    out.backward()
    assert out.data == pytest.approx(softplus_by_hand(z), rel=1e-14, abs=1e-300)
    assert node.grad == pytest.approx(sigmoid(z), rel=1e-14, abs=1e-300)


def test_mse_value_and_gradient():
    a = [Value(0.2), Value(0.9), Value(-1.0)]
    loss = mse(a, [0.0, 1.0, 1.0])  # (0.04 + 0.01 + 4)/3
    loss.backward()
    assert loss.data == pytest.approx(4.05 / 3, rel=1e-14)
    assert [v.grad for v in a] == pytest.approx([2 * 0.2 / 3, 2 * -0.1 / 3, 2 * -2.0 / 3], rel=1e-12)


def test_hinge_value_and_gradient():
    s = [Value(0.5), Value(-2.0), Value(3.0), Value(2.0)]
    loss = hinge(s, [1.0, 1.0, -1.0, 1.0])  # max(0, 1 − ys): 0.5, 3, 4, 0
    loss.backward()
    assert loss.data == pytest.approx(7.5 / 4, rel=1e-14)
    # ∂/∂s = −y/m where the margin is violated, 0 where ys ≥ 1.
    assert [v.grad for v in s] == pytest.approx([-0.25, -0.25, 0.25, 0.0], rel=1e-14)


def test_hinge_needs_plus_or_minus_one():
    with pytest.raises(ValueError, match=r"hinge: target 1 must be −1 or \+1, got 0\.0"):
        hinge([Value(0.5), Value(1.0)], [1.0, 0.0])

"""SGD: the update v ← μv + (g + λw); w ← w − αv, by hand and against torch.optim.SGD."""

from __future__ import annotations

import math
import random

import pytest

from engine import Value
from nn import MLP, SGD


def test_plain_step_is_w_minus_alpha_g():
    w, b = Value(2.0, label="w"), Value(-1.0, label="b")
    w.grad, b.grad = 0.5, -4.0
    SGD([w, b], lr=0.1).step()
    assert w.data == pytest.approx(1.95, abs=1e-15)
    assert b.data == pytest.approx(-0.6, abs=1e-15)


def test_momentum_and_weight_decay_by_hand():
    # α = 0.1, μ = 0.9, λ = 0.1, w₀ = 1.
    w = Value(1.0)
    optimizer = SGD([w], lr=0.1, momentum=0.9, weight_decay=0.1)
    w.grad = 0.5
    optimizer.step()  # v₁ = 0 + (0.5 + 0.1·1) = 0.6; w₁ = 1 − 0.06 = 0.94
    assert optimizer.velocities[0] == pytest.approx(0.6, abs=1e-15)
    assert w.data == pytest.approx(0.94, abs=1e-15)
    w.grad = 0.2
    optimizer.step()  # v₂ = 0.9·0.6 + (0.2 + 0.1·0.94) = 0.834; w₂ = 0.94 − 0.0834 = 0.8566
    assert optimizer.velocities[0] == pytest.approx(0.834, abs=1e-15)
    assert w.data == pytest.approx(0.8566, abs=1e-15)
    w.grad = 0.0
    optimizer.step()  # v₃ = 0.9·0.834 + 0.08566 = 0.83626; w₃ = 0.8566 − 0.083626 = 0.772974
    assert w.data == pytest.approx(0.772974, abs=1e-15)


def test_zero_grad_clears_every_parameter():
    model = MLP(2, [3, 1], seed=0)
    optimizer = SGD(model.parameters(), lr=0.1)
    for p in model.parameters():
        p.grad = 1.5
    optimizer.zero_grad()
    assert all(p.grad == 0.0 for p in model.parameters())


@pytest.mark.torch
@pytest.mark.parametrize(("momentum", "weight_decay"), [(0.0, 0.0), (0.9, 0.0), (0.5, 0.01)])
def test_matches_torch_sgd_over_several_steps(momentum, weight_decay):
    torch = pytest.importorskip("torch")
    rng = random.Random(4)
    start = [rng.uniform(-1, 1) for _ in range(6)]
    ours = [Value(x) for x in start]
    theirs = torch.tensor(start, dtype=torch.float64, requires_grad=True)
    optimizer = SGD(ours, lr=0.05, momentum=momentum, weight_decay=weight_decay)
    reference = torch.optim.SGD([theirs], lr=0.05, momentum=momentum, weight_decay=weight_decay)
    for _ in range(5):
        grads = [rng.uniform(-2, 2) for _ in range(6)]
        for p, g in zip(ours, grads, strict=True):
            p.grad = g
        theirs.grad = torch.tensor(grads, dtype=torch.float64)
        optimizer.step()
        reference.step()
        for p, t in zip(ours, theirs.tolist(), strict=True):
            assert p.data == pytest.approx(t, abs=1e-14)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"lr": 0.0}, ValueError, r"^SGD: lr must be a finite number > 0, got 0.0$"),
        ({"lr": -0.1}, ValueError, r"lr must be a finite number > 0"),
        ({"lr": math.nan}, ValueError, "lr must be"),
        ({"lr": math.inf}, ValueError, "lr must be"),
        ({"lr": "0.1"}, TypeError, r"^SGD: lr must be a finite number > 0, got '0.1' \(str\)$"),
        ({"lr": True}, TypeError, "lr must be a finite number > 0, got True"),
        ({"lr": 0.1, "momentum": 1.0}, ValueError, r"momentum must be a number in \[0, 1\), got 1.0"),
        ({"lr": 0.1, "momentum": -0.5}, ValueError, r"momentum must be a number in \[0, 1\)"),
        ({"lr": 0.1, "momentum": None}, TypeError, r"momentum must be a number in \[0, 1\), got None"),
        ({"lr": 0.1, "weight_decay": -1e-3}, ValueError, r"weight_decay must be a finite number ≥ 0"),
    ],
)
def test_bad_hyperparameters_are_refused_by_name(kwargs, error, message):
    with pytest.raises(error, match=message):
        SGD([Value(1.0)], **kwargs)


def test_learning_rate_can_change_but_stays_valid():
    optimizer = SGD([Value(1.0)], lr=0.1)
    optimizer.lr = 0.01
    assert optimizer.lr == 0.01
    with pytest.raises(ValueError, match="lr must be"):
        optimizer.lr = 0
    assert optimizer.lr == 0.01


def test_bad_parameter_lists_are_refused():
    with pytest.raises(ValueError, match="parameters must be a non-empty iterable of Values, got an empty"):
        SGD([], lr=0.1)
    with pytest.raises(TypeError, match=r"parameter 1 must be a Value, got 2\.0"):
        SGD([Value(1.0), 2.0], lr=0.1)
    shared = Value(1.0, label="w")
    with pytest.raises(ValueError, match=r"parameter 1 \(w\) is listed twice"):
        SGD([shared, shared], lr=0.1)


def test_a_non_finite_update_changes_nothing():
    a, b = Value(1.0, label="a"), Value(2.0, label="b")
    optimizer = SGD([a, b], lr=0.1, momentum=0.9)
    a.grad, b.grad = 1.0, 1.0
    optimizer.step()
    state = (a.data, b.data, list(optimizer.velocities))
    a.grad, b.grad = 1.0, 0.0
    (b * 1e300 * 1e300).backward()  # the product overflows to inf, as floats do: so does b's gradient
    assert b.grad == math.inf
    with pytest.raises(FloatingPointError, match=r"parameter 1 \(b\) would become -inf"):
        optimizer.step()
    assert (a.data, b.data, list(optimizer.velocities)) == state


def test_a_velocity_that_overflows_is_named_as_such():
    a = Value(1.0, label="a")
    optimizer = SGD([a], lr=1e-300, momentum=0.9)
    a.grad = 1e308
    optimizer.step()
    state = (a.data, optimizer.velocities)
    with pytest.raises(FloatingPointError) as caught:
        optimizer.step()
    assert caught.match(
        r"^SGD\.step: the velocity of parameter 0 \(a\) would become inf: v ← μv \+ \(g \+ λw\) with "
        r"μ = 0\.9, v = 1e\+308, g = 1e\+308; no parameter was changed$"
    )
    assert (a.data, optimizer.velocities) == state


def test_a_step_that_overflows_names_the_learning_rate_and_the_velocity():
    a = Value(1e308, label="a")
    optimizer = SGD([a], lr=1e308)
    a.grad = -1.0
    with pytest.raises(FloatingPointError) as caught:
        optimizer.step()
    assert caught.match(
        r"^SGD\.step: parameter 0 \(a\) would become inf: w − αv with w = 1e\+308, α = 1e\+308, v = -1\.0; "
        r"no parameter was changed$"
    )
    assert a.data == 1e308 and optimizer.velocities == (0.0,)

"""MLP: seeded initialisation, state dicts, and whole-network gradients against numerical and torch."""

from __future__ import annotations

import math
import random

import pytest

from engine import gradcheck, numerical_grad, relative_error
from nn import MLP, binary_cross_entropy

SAMPLES = [[0.5, -1.2], [-0.3, 0.8], [1.5, 0.1], [-1.1, -0.7], [0.2, 0.4]]
LABELS = [1.0, 0.0, 1.0, 0.0, 1.0]


def hex_state(model: MLP) -> list[tuple[str, str]]:
    """Every parameter as (label, float.hex): equal lists mean equal to the bit."""
    return [(label, value.hex()) for label, value in model.state_dict().items()]


def cost(model: MLP):
    return binary_cross_entropy([model(x) for x in SAMPLES], LABELS)


# --- initialisation ---------------------------------------------------------------------------
def test_same_seed_gives_the_same_parameters_to_the_bit():
    assert hex_state(MLP(2, [16, 16, 1], seed=7)) == hex_state(MLP(2, [16, 16, 1], seed=7))


def test_different_seeds_give_different_parameters():
    first = MLP(2, [16, 16, 1], seed=1).state_dict()
    second = MLP(2, [16, 16, 1], seed=2).state_dict()
    assert first.keys() == second.keys()
    differing = sum(first[k] != second[k] for k in first if k.startswith("W"))
    assert differing == 2 * 16 + 16 * 16 + 16  # every weight differs; biases start at 0 in both


def test_initial_weights_are_gaussian_with_variance_gain_over_fan_in():
    # W[l]_i,j ~ N(0, gain/n[l−1]) drawn from random.Random(seed) in label order; b = 0.
    model = MLP(3, [2, 1], activation="relu", seed=5)
    rng = random.Random(5)
    expected_first = [rng.gauss(0.0, math.sqrt(2.0 / 3)) for _ in range(6)]  # He for relu
    expected_second = [rng.gauss(0.0, math.sqrt(1.0 / 2)) for _ in range(2)]  # LeCun for sigmoid
    state = model.state_dict()
    assert [state[f"W[1]_{i},{j}"] for i in range(2) for j in range(3)] == expected_first
    assert [state[f"W[2]_0,{j}"] for j in range(2)] == expected_second
    assert state["b[1]_0"] == state["b[1]_1"] == state["b[2]_0"] == 0.0


# --- state dicts ------------------------------------------------------------------------------
def test_state_dict_round_trip_and_order():
    source, target = MLP(2, [3, 1], seed=1), MLP(2, [3, 1], seed=2)
    target.load_state_dict(source.state_dict())
    assert hex_state(target) == hex_state(source)
    assert list(source.state_dict()) == [label for label, _ in source.named_parameters()]
    assert list(source.state_dict())[:3] == ["W[1]_0,0", "W[1]_0,1", "W[1]_1,0"]


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        (lambda s: s.pop("b[2]_0"), ValueError, r"missing 1: b\[2\]_0"),
        (lambda s: s.update({"W[9]_0,0": 1.0}), ValueError, r"unexpected 1: W\[9\]_0,0"),
        (lambda s: s.update({7: 1.0}), ValueError, r"unexpected 1: 7$"),
        (lambda s: s.update({"W[1]_0,0": "0.5"}), TypeError,
         r"^load_state_dict: parameter W\[1\]_0,0 must be a finite number, got '0.5' \(str\)$"),
        (lambda s: s.update({"W[1]_0,0": True}), TypeError, r"W\[1\]_0,0 must be a finite number, got True"),
        (lambda s: s.update({"W[1]_0,0": None}), TypeError, r"W\[1\]_0,0 must be a finite number, got None"),
        (lambda s: s.update({"b[1]_1": math.nan}), ValueError, r"b\[1\]_1 must be a finite number, got nan$"),
        (lambda s: s.update({"b[1]_1": -math.inf}), ValueError,
         r"b\[1\]_1 must be a finite number, got -inf"),
        (lambda s: s.update({"b[1]_1": 10**400}), ValueError,
         r"b\[1\]_1 must be a finite number, got an integer too large for a float"),
    ],
)
def test_load_state_dict_rejects_bad_states_and_changes_nothing(change, error, message):
    model = MLP(2, [3, 1], seed=1)
    before = hex_state(model)
    state = MLP(2, [3, 1], seed=9).state_dict()
    change(state)
    with pytest.raises(error, match=message):
        model.load_state_dict(state)
    assert hex_state(model) == before


def test_load_state_dict_needs_a_mapping():
    with pytest.raises(TypeError, match="mapping"):
        MLP(2, [1]).load_state_dict([("W[1]_0,0", 1.0)])


# --- gradients of a whole network --------------------------------------------------------------
@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "relu"])
def test_mlp_bce_gradients_match_central_differences(activation):
    model = MLP(2, [4, 3, 1], activation=activation, seed=3)
    params = model.parameters()
    for p in params:  # nonzero biases so every parameter matters
        p.data += 0.05 if p.label.startswith("b") else 0.0
    loss = cost(model)
    model.zero_grad()
    loss.backward()
    autograd = [p.grad for p in params]
    numerical = numerical_grad(lambda: cost(model), params, eps=1e-6)
    assert relative_error(autograd, numerical) < 1e-7
    for a, n in zip(autograd, numerical, strict=True):
        assert a == pytest.approx(n, rel=1e-5, abs=1e-8)
    # The functional path (engine.grad through gradcheck) agrees as well.
    report = gradcheck(lambda *_: cost(model), params)
    assert report.passed and report.relative_error < 1e-7


@pytest.mark.torch
@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "relu"])
def test_mlp_bce_loss_and_gradients_match_torch_float64(activation):
    torch = pytest.importorskip("torch")
    model = MLP(2, [5, 4, 1], activation=activation, seed=11)
    loss = cost(model)
    model.zero_grad()
    loss.backward()

    # The same network in torch, built from our parameters: Z[l] = A[l−1] W[l]ᵀ + b[l] (rows = samples).
    weights, biases = [], []
    for layer in model.layers:
        rows = [[w.data for w in n.w] for n in layer.neurons]
        weights.append(torch.tensor(rows, dtype=torch.float64, requires_grad=True))
        column = [n.b.data for n in layer.neurons]
        biases.append(torch.tensor(column, dtype=torch.float64, requires_grad=True))
    g = {"tanh": torch.tanh, "sigmoid": torch.sigmoid, "relu": torch.relu}[activation]
    a = torch.tensor(SAMPLES, dtype=torch.float64)
    for number, (w, b) in enumerate(zip(weights, biases, strict=True), start=1):
        z = a @ w.T + b
        a = torch.sigmoid(z) if number == len(weights) else g(z)
    torch_loss = torch.nn.functional.binary_cross_entropy(a[:, 0], torch.tensor(LABELS, dtype=torch.float64))
    torch_loss.backward()

    assert loss.data == pytest.approx(torch_loss.item(), rel=1e-13)
    for layer, w, b in zip(model.layers, weights, biases, strict=True):
        for i, neuron in enumerate(layer.neurons):
            assert neuron.b.grad == pytest.approx(b.grad[i].item(), rel=1e-10, abs=1e-15)
            for j, weight in enumerate(neuron.w):
                assert weight.grad == pytest.approx(w.grad[i, j].item(), rel=1e-10, abs=1e-15)

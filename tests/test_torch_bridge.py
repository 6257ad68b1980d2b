"""nn.to_torch: the same network in PyTorch float64 gives the engine's outputs and gradients; without
PyTorch it says how to install it."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import nn


def test_without_torch_the_error_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now fails as if it were not installed
    hint = r"nn\.to_torch needs PyTorch.*pip install 'chainrule\[torch\]'"
    with pytest.raises(ModuleNotFoundError, match=hint):
        nn.to_torch(nn.MLP(2, [3, 1]))
    with pytest.raises(ModuleNotFoundError, match=r"nn\.grads_from_torch needs PyTorch"):
        nn.grads_from_torch(object())


def test_a_non_model_is_a_type_error() -> None:
    with pytest.raises(TypeError, match=r"to_torch: model must be an nn\.MLP, got \[1, 2\] \(list\)"):
        nn.to_torch([1, 2])


def engine_cost_and_grads(model: nn.MLP, X: np.ndarray, y: np.ndarray) -> tuple[float, dict]:
    """The course's cost over the batch by the engine, and autograd's dW[l], db[l]."""
    cost = nn.binary_cross_entropy([model(row) for row in X.tolist()], y.tolist())
    model.zero_grad()
    cost.backward()
    return cost.data, nn.grads_from_model(model)


@pytest.mark.torch
@pytest.mark.parametrize("activation", ["tanh", "relu", "sigmoid", "linear"])
@pytest.mark.parametrize("sizes", [[1], [5, 1], [4, 3, 1]])
def test_outputs_cost_and_gradients_equal_the_engines(activation: str, sizes: list[int]) -> None:
    torch = pytest.importorskip("torch")
    model = nn.MLP(2, sizes, activation=activation, seed=len(sizes))
    X, y = nn.make_moons(12, noise=0.2, seed=3)
    before = torch.random.get_rng_state()
    net = nn.to_torch(model)
    assert torch.equal(before, torch.random.get_rng_state())  # making the net drew no random numbers
    names = []
    for index, layer in enumerate(model.layers, start=1):
        names += [f"layer{index}"] + ([] if layer.activation == "linear" else [f"g{index}"])
    assert [name for name, _ in net.named_children()] == names
    outputs = net(torch.tensor(X, dtype=torch.float64))
    assert outputs.dtype == torch.float64 and outputs.shape == (12, 1)
    assert np.allclose(outputs[:, 0].detach().numpy(), nn.predict_scores(model, X), rtol=1e-13, atol=1e-15)
    cost = torch.nn.functional.binary_cross_entropy(outputs[:, 0], torch.tensor(y, dtype=torch.float64))
    cost.backward()
    engine_cost, engine_grads = engine_cost_and_grads(model, X, y)
    assert cost.item() == pytest.approx(engine_cost, rel=1e-13)
    torch_grads = nn.grads_from_torch(net)
    assert list(torch_grads) == list(engine_grads)
    for key, expected in engine_grads.items():
        scale = np.max(np.abs(expected)) + 1e-300
        assert torch_grads[key].shape == expected.shape, key
        assert np.allclose(torch_grads[key], expected, rtol=0, atol=1e-12 * scale), key


@pytest.mark.torch
def test_the_copy_is_independent_and_grads_need_a_backward_pass() -> None:
    torch = pytest.importorskip("torch")
    model = nn.MLP(2, [3, 1])
    net = nn.to_torch(model)
    assert np.array_equal(net.layer1.weight.detach().numpy(), nn.params_from_model(model)["W[1]"])
    with pytest.raises(ValueError, match="layer1 has no gradient yet; call backward"):
        nn.grads_from_torch(net)
    with torch.no_grad():
        net.layer1.weight.add_(1.0)
    assert model.layers[0].neurons[0].w[0].data == nn.params_from_model(model)["W[1]"][0, 0]
    assert net.layer1.weight[0, 0].item() == pytest.approx(model.layers[0].neurons[0].w[0].data + 1.0)
    with pytest.raises(
        TypeError,
        match=r"^grads_from_torch: net must be the torch\.nn\.Sequential of nn\.to_torch, got MLP\(2-3-1",
    ):
        nn.grads_from_torch(model)


def test_grads_from_model_are_the_formulas_matrices() -> None:
    model = nn.MLP(3, [4, 2, 1], seed=2)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((5, 3))
    y = np.array([0.0, 1.0, 1.0, 0.0, 1.0])
    _, engine_grads = engine_cost_and_grads(model, X, y)
    formulas = nn.vectorized_backprop(nn.params_from_model(model), X.T, y)
    for key, matrix in engine_grads.items():
        assert np.allclose(matrix, formulas[key], rtol=1e-12, atol=1e-15), key
    with pytest.raises(TypeError, match=r"grads_from_model: model must be an nn\.MLP"):
        nn.grads_from_model("model")


@pytest.mark.torch
def test_a_nan_gradient_in_torch_is_refused_naming_the_entry() -> None:
    torch = pytest.importorskip("torch")
    net = nn.to_torch(nn.MLP(2, [3, 1], seed=0))
    cost = net(torch.tensor([[1.0, 2.0]], dtype=torch.float64)).sum()
    cost.backward()
    with torch.no_grad():
        net.layer2.weight.grad[0, 1] = float("nan")
    with pytest.raises(ValueError) as caught:
        nn.grads_from_torch(net)
    assert caught.match(
        r"^grads_from_torch: dW\[2\]\[0, 1\] is nan \(the gradient of layer2\.weight\); the torch backward "
        r"pass overflowed or met a nan: rescale the inputs or the cost$"
    )

"""nn.formulas: each hand-derived equation against autograd, the article's two routes against each other,
the vectorized backward pass against PyTorch float64, and clear errors for bad shapes."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from engine import Value, grad, linear
from nn import MLP, binary_cross_entropy, derivations, formulas
from nn.checks import check_batch

SETTINGS = settings(max_examples=40, deadline=None)
reals = st.floats(-6.0, 6.0, allow_nan=False)
labels = st.sampled_from([0.0, 1.0]) | st.floats(0.0, 1.0)


def random_batch(n_x: int, m: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n_x, m)), rng.integers(0, 2, size=(1, m)).astype(float)


# -- one neuron: the article's [1]–[6] -----------------------------------------------------------
@given(z=reals, y=labels)
@SETTINGS
def test_dL_da_and_sigmoid_prime_match_autograd(z: float, y: float) -> None:
    zv = Value(z)
    a = zv.sigmoid()
    cost = binary_cross_entropy([a], [y])
    auto_a, auto_z = grad(cost, [a, zv])
    assert formulas.dL_da(a.data, y) == pytest.approx(auto_a, rel=1e-12, abs=1e-15)
    assert formulas.sigmoid_prime(a.data) == pytest.approx(a.local_grads[0], rel=1e-15)
    assert formulas.dz_sigmoid_cross_entropy(a.data, y) == pytest.approx(auto_z, rel=1e-10, abs=1e-15)


def test_dL_da_by_hand_and_the_articles_ln_slip() -> None:
    a, y = 0.25, 1.0
    assert formulas.dL_da(a, y) == pytest.approx(-4.0)  # −y/a
    assert formulas.dL_da(a, 0.0) == pytest.approx(1.0 / 0.75)  # (1−y)/(1−a)
    assert -y / math.log(a) != pytest.approx(formulas.dL_da(a, y), rel=0.1)  # the slip is a different number
    # a zero-weight term is left out, as in nn.losses: a = 0 with y = 0 is finite
    assert formulas.dL_da(0.0, 0.0) == 1.0
    assert formulas.dL_da(1.0, 1.0) == -1.0


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "relu", "linear"])
def test_g_prime_matches_the_engines_local_derivative(name: str) -> None:
    zs = np.array([-2.5, -0.3, 0.4, 1.7])
    for z in zs:
        node = Value(float(z))
        out = {"sigmoid": node.sigmoid, "tanh": node.tanh, "relu": node.relu, "linear": lambda n=node: n}[
            name
        ]()
        expected = 1.0 if out is node else out.local_grads[0]
        assert formulas.g_prime(name, z) == pytest.approx(expected, rel=1e-15)
        assert formulas.activation(name, z) == pytest.approx(out.data, rel=1e-15)
    # the two derivative forms agree: from a (forward's A) and recomputed from z
    assert np.allclose(
        formulas.g_prime(name, zs, formulas.activation(name, zs)), formulas.g_prime(name, zs), rtol=1e-15
    )


def test_relu_prime_at_the_kink_is_zero_like_the_engine() -> None:
    assert formulas.relu_prime(0.0) == 0.0
    assert Value(0.0).relu().local_grads[0] == 0.0
    tanh_half = formulas.tanh_array(0.5)
    assert formulas.tanh_prime(tanh_half) == pytest.approx(1.0 / math.cosh(0.5) ** 2, rel=1e-14)
    assert np.array_equal(formulas.linear_prime(np.zeros((2, 3))), np.ones((2, 3)))


@given(
    x=st.lists(reals, min_size=1, max_size=4),
    w=st.lists(reals, min_size=4, max_size=4),
    b=reals,
    y=labels,
)
@SETTINGS
def test_chain_rule_route_equals_direct_route_equals_autograd(
    x: list[float], w: list[float], b: float, y: float
) -> None:
    w = w[: len(x)]
    weights, bias = [Value(v) for v in w], Value(b)
    z = linear(weights, x, bias)
    a = z.sigmoid()
    # Past |z| ≈ 25, a is within 1e−11 of 0 or 1: the course's form ln(1−a) loses digits there
    # (and is −∞ once a rounds to 1), which is why nn.losses switches to z. Keep to where both forms work.
    assume(abs(z.data) < 25.0)
    near = min(a.data, 1.0 - a.data)
    cost = binary_cross_entropy([a], [y])
    *auto_w, auto_b = grad(cost, [*weights, bias])
    xs = np.array(x)
    chain_w, direct_w, simple_w = (
        formulas.dw_chain_rule(xs, a.data, y),
        formulas.dw_direct(xs, z.data, y),
        formulas.dw_neuron(xs, a.data, y),
    )
    scale = max(1.0, float(np.max(np.abs(xs))))
    # [−y/a + (1−y)/(1−a)]·a(1−a) rounds to a few ε absolute, as does a − y; so compare absolutely.
    tolerance = 1e-15 * scale
    assert np.allclose(direct_w, simple_w, rtol=0, atol=tolerance)
    assert np.allclose(chain_w, simple_w, rtol=0, atol=tolerance)
    assert np.allclose(simple_w, auto_w, rtol=1e-10, atol=1e-15 * scale)
    assert formulas.db_direct(z.data, y) == pytest.approx(formulas.db_neuron(a.data, y), abs=1e-15)
    assert formulas.db_chain_rule(a.data, y) == pytest.approx(formulas.db_neuron(a.data, y), abs=tolerance)
    assert formulas.db_neuron(a.data, y) == pytest.approx(auto_b, rel=1e-10, abs=1e-15)
    assert formulas.dz_direct(z.data, y) == pytest.approx(
        formulas.dz_sigmoid_cross_entropy(a.data, y), abs=1e-15
    )
    # ln a and ln(1−a) from a rounded a carry an absolute error of ~ε/min(a, 1−a)
    assert formulas.loss_direct(z.data, y) == pytest.approx(
        float(formulas.loss(a.data, y)), rel=1e-13, abs=1e-15 / near
    )
    assert formulas.loss(a.data, y) == pytest.approx(cost.data, rel=1e-13, abs=1e-15 / near)


def test_dz_dw_is_x_as_the_linear_nodes_local_derivative() -> None:
    x = [0.5, -2.0, 3.0]
    z = linear([Value(0.1), Value(0.2), Value(0.3)], x, Value(0.0))
    assert list(formulas.dz_dw(x)) == list(z.local_grads[:3])


# -- the vectorized equations -----------------------------------------------------------------
def test_params_from_model_uses_the_course_shapes_and_labels() -> None:
    model = MLP(3, [4, 2, 1], activation="relu")
    params = formulas.params_from_model(model)
    assert (
        params["W[1]"].shape == (4, 3) and params["b[2]"].shape == (2, 1) and params["W[3]"].shape == (1, 2)
    )
    assert [params[f"g[{layer}]"] for layer in (1, 2, 3)] == ["relu", "relu", "sigmoid"]
    named = dict(model.named_parameters())
    assert params["W[2]"][1, 3] == named["W[2]_1,3"].data
    assert params["b[1]"][2, 0] == named["b[1]_2"].data
    params["W[1]"][0, 0] = 99.0  # a copy: the model is untouched
    assert named["W[1]_0,0"].data != 99.0


def test_backprop_shapes_and_the_forums_dz_previous_layer() -> None:
    model = MLP(3, [5, 4, 1], activation="tanh")
    params = formulas.params_from_model(model)
    x, y = random_batch(3, 7, seed=1)
    grads = formulas.vectorized_backprop(params, x, y)
    for layer, (rows, cols) in enumerate([(5, 3), (4, 5), (1, 4)], start=1):
        assert grads[f"dW[{layer}]"].shape == (rows, cols)
        assert grads[f"db[{layer}]"].shape == (rows, 1)
        assert grads[f"dZ[{layer}]"].shape == (rows, 7)
        assert grads[f"dA[{layer}]"].shape == (rows, 7)
    cache = formulas.forward(params, x)
    assert np.array_equal(grads["dZ[3]"], cache.A[3] - y)  # dZ[L] = A[L] − Y
    for layer in (3, 2):
        forum = formulas.dz_previous_layer(
            params[f"W[{layer}]"], grads[f"dZ[{layer}]"], formulas.g_prime("tanh", cache.Z[layer - 1])
        )
        assert np.allclose(forum, grads[f"dZ[{layer - 1}]"], rtol=1e-14, atol=0)
    # db is the mean over the columns, dW the mean of the outer products dz·aᵀ
    assert np.allclose(grads["db[2]"][:, 0], grads["dZ[2]"].mean(axis=1), rtol=1e-14)
    outer = sum(np.outer(grads["dZ[2]"][:, k], cache.A[1][:, k]) for k in range(7)) / 7
    assert np.allclose(grads["dW[2]"], outer, rtol=1e-13)


def test_vectorized_backprop_is_done_by_the_named_equations(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    for name in ("dz_sigmoid_cross_entropy", "dW", "db", "dA_prev", "dz_previous_layer"):
        equation = getattr(formulas, name)

        def spy(*args, _name=name, _equation=equation):
            calls.append(_name)
            return _equation(*args)

        monkeypatch.setattr(formulas, name, spy)
    x, y = random_batch(3, 4, seed=5)
    formulas.vectorized_backprop(formulas.params_from_model(MLP(3, [5, 4, 1])), x, y)
    # dz_previous_layer calls dA_prev itself (the module's own binding, so it counts here too)
    assert calls == [
        "dz_sigmoid_cross_entropy",
        "dW", "db", "dA_prev", "dz_previous_layer", "dA_prev",  # layer 3: dW[3], db[3], dA[2], dZ[2]
        "dW", "db", "dA_prev", "dz_previous_layer", "dA_prev",  # layer 2
        "dW", "db",  # layer 1
    ]


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu", "linear"])
@pytest.mark.parametrize("output", ["sigmoid", "tanh"])
def test_the_course_rules_give_vectorized_backprop_to_the_bit(activation: str, output: str) -> None:
    model = MLP(3, [4, 3, 1], activation=activation, output_activation=output, seed=3)
    for neuron in model.layers[-1].neurons:  # a tanh output inside (0, 1), where ln a is finite
        neuron.b.data = 0.6
        for w in neuron.w:
            w.data *= 0.05
    params = formulas.params_from_model(model)
    x, y = random_batch(3, 6, seed=4)
    plain = formulas.vectorized_backprop(params, x, y)
    wired = derivations.backprop_with_rules(params, x, y, rules="course")
    assert list(plain) == list(wired)
    for key in plain:
        assert np.array_equal(plain[key], wired[key]), key


def test_output_chain_rule_equals_the_simplified_a_minus_y() -> None:
    params = formulas.params_from_model(MLP(2, [3, 1]))
    x, y = random_batch(2, 9, seed=2)
    simplified = formulas.vectorized_backprop(params, x, y)
    chain = derivations.backprop_with_rules(params, x, y, rules="output_chain_rule")
    for key in simplified:
        assert np.allclose(chain[key], simplified[key], rtol=1e-12, atol=1e-15), key


def test_cross_entropy_cost_matches_the_engines_loss() -> None:
    a = np.array([[0.2, 0.9, 0.5]])
    y = np.array([[0.0, 1.0, 0.3]])
    auto = binary_cross_entropy([Value(v) for v in a[0]], y[0].tolist())
    assert formulas.cross_entropy_cost(a, y) == pytest.approx(auto.data, rel=1e-14)


# -- against PyTorch float64 --------------------------------------------------------------------
@pytest.mark.torch
@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu", "linear"])
@pytest.mark.parametrize("sizes", [[1], [3, 1], [4, 3, 1], [2, 5, 3, 1]])
def test_dW_db_equal_torch_float64(activation: str, sizes: list[int]) -> None:
    torch = pytest.importorskip("torch")
    model = MLP(3, sizes, activation=activation, seed=len(sizes))
    params = formulas.params_from_model(model)
    x, y = random_batch(3, 6, seed=len(sizes))
    grads = formulas.vectorized_backprop(params, x, y)
    functions = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu, "linear": lambda t: t}
    tensors = {
        key: torch.tensor(value, dtype=torch.float64, requires_grad=True)
        for key, value in params.items()
        if not key.startswith("g")
    }
    a = torch.tensor(x, dtype=torch.float64)
    for layer in range(1, len(sizes) + 1):
        a = functions[params[f"g[{layer}]"]](tensors[f"W[{layer}]"] @ a + tensors[f"b[{layer}]"])
    cost = torch.nn.functional.binary_cross_entropy(a, torch.tensor(y, dtype=torch.float64))
    cost.backward()
    for key, tensor in tensors.items():
        expected = tensor.grad.numpy()
        scale = np.max(np.abs(expected))
        assert np.allclose(grads["d" + key], expected, rtol=0, atol=1e-10 * scale + 1e-15), key


# -- errors name the shapes ---------------------------------------------------------------------
def test_batch_shape_errors_name_the_shapes() -> None:
    params = formulas.params_from_model(MLP(2, [3, 1]))
    x, y = random_batch(2, 5, seed=0)
    with pytest.raises(ValueError, match=r"X has shape \(5, 2\).*samples look like rows.*samples_as='rows'"):
        formulas.vectorized_backprop(params, x.T, y)
    with pytest.raises(ValueError, match=r"X has shape \(3, 5\).*n_x = 2"):
        formulas.vectorized_backprop(params, np.zeros((3, 5)), y)
    with pytest.raises(
        ValueError, match=r"X has m = 5 samples \(shape \(2, 5\)\) but Y has 4 \(shape \(1, 4\)\)"
    ):
        formulas.vectorized_backprop(params, x, y[:, :4])
    with pytest.raises(ValueError, match=r"Y must have shape \(1, 5\) or \(5,\).*got \(5, 1\)"):
        formulas.vectorized_backprop(params, x, y.T)
    with pytest.raises(ValueError, match=r"X must be 2-D.*shape \(5,\)"):
        formulas.vectorized_backprop(params, x[0], y)
    with pytest.raises(ValueError, match=r"labels must be in \[0, 1\]; Y\[0, 1\] = 2.0"):
        formulas.vectorized_backprop(params, x, np.array([[0.0, 2.0, 0.0, 1.0, 1.0]]))
    with pytest.raises(ValueError, match=r"non-finite value at X\[1, 3\]"):
        bad = x.copy()
        bad[1, 3] = np.nan
        formulas.vectorized_backprop(params, bad, y)
    with pytest.raises(ValueError, match=r"^backprop_with_rules: rules must be a BackpropRules or one of "
                                         r"'course', .*, got 'nope'$"):
        derivations.backprop_with_rules(params, x, y, rules="nope")


def test_rows_layout_is_the_transpose() -> None:
    x, y = random_batch(2, 4, seed=3)
    rows_x, rows_y = check_batch(x.T, y.T, 2, samples_as="rows")
    assert np.array_equal(rows_x, x) and np.array_equal(rows_y, y)
    with pytest.raises(ValueError, match="samples_as must be one of 'columns', 'rows', got 'cols'"):
        check_batch(x, y, 2, samples_as="cols")


def test_params_errors_name_the_keys_and_shapes() -> None:
    params = formulas.params_from_model(MLP(2, [3, 1]))
    x, y = random_batch(2, 4, seed=0)
    with pytest.raises(ValueError, match=r"W\[2\] has shape \(1, 4\) but layer 1 has 3 units"):
        formulas.vectorized_backprop({**params, "W[2]": np.zeros((1, 4))}, x, y)
    with pytest.raises(ValueError, match=r"b\[1\] must have shape \(3, 1\).*got \(3,\)"):
        formulas.vectorized_backprop({**params, "b[1]": np.zeros(3)}, x, y)
    with pytest.raises(ValueError, match=r"no 'g\[2\]'"):
        formulas.vectorized_backprop({k: v for k, v in params.items() if k != "g[2]"}, x, y)
    with pytest.raises(
        ValueError, match=r"^vectorized_backprop: params: g\[1\]: activation must be one of .*got 'softmax'$"
    ):
        formulas.vectorized_backprop({**params, "g[1]": "softmax"}, x, y)


def test_a_non_sigmoid_output_outside_0_1_is_a_clear_error() -> None:
    params = formulas.params_from_model(MLP(2, [3, 1], output_activation="relu"))
    params["b[2]"] = np.array([[-50.0]])  # relu output 0 everywhere
    x, _ = random_batch(2, 4, seed=0)
    with pytest.raises(ValueError, match=r"0 < a < 1.*'relu' gave A\[2\]\[0, 0\] = 0.0 with Y\[0, 0\] = 1.0"):
        formulas.vectorized_backprop(params, x, np.ones((1, 4)))
    # with y = 0 only ln(1 − a) counts, which is finite at a = 0
    grads = formulas.vectorized_backprop(params, x, np.zeros((1, 4)))
    assert np.array_equal(grads["dZ[2]"], np.zeros((1, 4)))  # relu'(z) = 0 for z < 0


def test_a_wrongly_shaped_formula_raises_naming_the_gradient() -> None:
    params = formulas.params_from_model(MLP(3, [4, 1]))
    x, y = random_batch(3, 5, seed=0)
    with pytest.raises(
        derivations.FormulaShapeError, match=r"dW\[2\] has shape \(1, 1\) but W\[2\] has shape \(1, 4\)"
    ):
        derivations.backprop_with_rules(params, x, y, rules="dW_uses_A_l")


def test_relu_prime_keeps_a_nan_as_nan() -> None:
    assert np.array_equal(formulas.relu_prime(np.array([np.nan, 2.0, -1.0, 0.0])),
                          np.array([np.nan, 1.0, 0.0, 0.0]), equal_nan=True)

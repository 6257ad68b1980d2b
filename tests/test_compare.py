"""nn.compare: autograd, the hand-derived formulas and central differences agree on random networks;
deliberately wrong formulas are flagged; bad shapes give clear errors; the demos run."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import engine
from engine import grad
from nn import ACTIVATIONS, MLP, binary_cross_entropy, derivations, formulas
from nn.compare import compare_gradients

ROOT = Path(__file__).resolve().parent.parent
HIDDEN = list(ACTIVATIONS)


def batch(n_x: int, m: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """X (n_x, m) from N(0, 1) and 0/1 labels with both classes when m ≥ 2."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, size=(1, m)).astype(float)
    if m >= 2:
        y[0, :2] = [0.0, 1.0]
    return rng.standard_normal((n_x, m)), y


def randomize_biases(model: MLP, seed: int) -> None:
    """Nonzero biases, so no relu pre-activation is exactly 0 behind dead units (the kink)."""
    rng = np.random.default_rng(seed + 1000)
    for layer in model.layers:
        for neuron in layer.neurons:
            neuron.b.data = float(rng.uniform(-0.5, 0.5))


def output_inside_0_1(model: MLP) -> None:
    """Small output weights and a bias of 0.6, so a tanh/relu/linear output lies in (0, 1)."""
    for neuron in model.layers[-1].neurons:
        for w in neuron.w:
            w.data *= 0.05
        neuron.b.data = 0.6


def outputs_and_kinks(model: MLP, x: np.ndarray) -> tuple[np.ndarray, float]:
    """A[L] and the smallest |z| of any relu unit (inf without relu), from the formulas' forward pass."""
    params = formulas.params_from_model(model)
    cache = formulas.forward(params, x)
    relu_z = [np.abs(cache.Z[layer]).min() for layer in range(1, cache.L + 1) if cache.g[layer] == "relu"]
    return cache.A[cache.L], min(relu_z, default=np.inf)


@st.composite
def networks(draw: st.DrawFn, max_depth: int = 4, max_width: int = 8, max_m: int = 16) -> tuple:
    depth = draw(st.integers(1, max_depth))
    sizes = [draw(st.integers(1, max_width)) for _ in range(depth - 1)] + [1]
    model = MLP(
        draw(st.integers(1, 4)),
        sizes,
        activation=draw(st.sampled_from(HIDDEN)),
        seed=draw(st.integers(0, 10_000)),
    )
    x, y = batch(model.nin, draw(st.integers(1, max_m)), seed=draw(st.integers(0, 10_000)))
    return model, x, y


# -- agreement on random networks ---------------------------------------------------------------
@given(networks())
@settings(max_examples=40, deadline=None)
def test_formulas_equal_autograd_on_random_networks(case: tuple) -> None:
    model, x, y = case
    a, _ = outputs_and_kinks(model, x)
    assume(np.all(np.minimum(a, 1.0 - a) > 1e-6))  # the saturated branch is tested on its own
    report = compare_gradients(model, x, y, numerical=False)
    assert report.formulas_passed, report.table(max_rows=10)
    assert [row.label for row in report.parameters] == [label for label, _ in model.named_parameters()]
    for summary in report.layers:
        assert summary.formula_error is not None and summary.formula_error <= 1e-10, summary
    autograd = np.array([row.autograd for row in report.parameters])
    formula = np.array([row.formula for row in report.parameters])
    assert np.max(np.abs(autograd - formula)) <= 1e-10 * np.max(np.abs(autograd)) + 1e-14


@given(networks(max_depth=3, max_width=4, max_m=6))
@settings(max_examples=15, deadline=None)
def test_autograd_and_formulas_equal_central_differences(case: tuple) -> None:
    model, x, y = case
    randomize_biases(model, seed=model.seed)
    a, closest_kink = outputs_and_kinks(model, x)
    assume(np.all(np.minimum(a, 1.0 - a) > 1e-6) and closest_kink > 1e-3)
    report = compare_gradients(model, x, y)
    assert report.passed and report.numerical_status == "pass", report.table(max_rows=10)
    for row in report.parameters:
        assert abs(row.formula - row.numerical) <= 1e-6 + 1e-5 * abs(row.numerical), row


@pytest.mark.parametrize("output", ["tanh", "relu", "linear"])
@pytest.mark.parametrize("hidden", HIDDEN)
def test_non_sigmoid_outputs_use_dA_times_g_prime(hidden: str, output: str) -> None:
    model = MLP(3, [4, 3, 1], activation=hidden, output_activation=output, seed=7)
    randomize_biases(model, seed=7)
    output_inside_0_1(model)
    x, y = batch(3, 6, seed=7)
    y[0, 2] = 0.3  # a soft label weighs both logs
    a, closest_kink = outputs_and_kinks(model, x)
    assert np.all((a > 0.0) & (a < 1.0)) and closest_kink > 1e-3
    report = compare_gradients(model, x, y)
    assert report.passed and report.numerical_status == "pass", report.table()


# -- deliberately wrong formulas --------------------------------------------------------------
TWO_ACTIVATIONS = {"activation": "tanh", "output_activation": "sigmoid"}


@pytest.mark.parametrize(
    "rules", ["dW_uses_A_l", "g_prime_of_layer_l", "missing_1_over_m", "dW_transpose_in_dA", "dA_uses_ln_a"]
)
def test_wrong_formulas_fail_while_autograd_matches_central_differences(rules: str) -> None:
    # square layers (1 unit each) so A[l]ᵀ in place of A[l−1]ᵀ still multiplies: a wrong value, not a shape
    model = MLP(1, [1, 1, 1], seed=3, **TWO_ACTIVATIONS)
    randomize_biases(model, seed=3)
    x, y = batch(1, 5, seed=3)
    report = compare_gradients(model, x, y, formulas=rules)
    assert report.formula_error is None
    assert not report.formulas_passed and not report.passed and not report
    assert report.numerical_status == "pass"  # autograd is right: it is the formula that is wrong
    assert report.verdict().startswith("FAIL: the formulas disagree with autograd")
    assert "NO formula" in str(report)
    assert report.failures()


def test_missing_1_over_m_is_off_by_exactly_m() -> None:
    model = MLP(2, [3, 1], **TWO_ACTIVATIONS)
    x, y = batch(2, 6, seed=4)
    report = compare_gradients(model, x, y, formulas="missing_1_over_m", numerical=False)
    for row in report.parameters:
        assert row.formula == pytest.approx(6 * row.autograd, rel=1e-12, abs=1e-15)
        assert not row.formula_ok or abs(row.autograd) < 1e-13
    # with one sample 1/m = 1, so the slip cannot show, and the report says so
    single = compare_gradients(model, x[:, :1], y[:, :1], formulas="missing_1_over_m", numerical=False)
    assert single.formulas_passed and any("m = 1" in note for note in single.notes)


def test_A_l_transpose_on_unequal_layers_is_a_shape_failure() -> None:
    model = MLP(3, [4, 1], **TWO_ACTIVATIONS)
    x, y = batch(3, 5, seed=5)
    report = compare_gradients(model, x, y, formulas="dW_uses_A_l")
    assert not report.passed and report.numerical_status == "pass"
    assert "dW[2] has shape (1, 1) but W[2] has shape (1, 4)" in report.formula_error
    assert report.verdict().startswith("FAIL: the formulas could not be evaluated")
    assert "Formula error: " in str(report)
    assert all(row.formula is None and not row.formula_ok for row in report.parameters)


def test_g_prime_slip_shows_only_where_activations_differ() -> None:
    x, y = batch(2, 5, seed=6)
    same = compare_gradients(MLP(2, [3, 1], activation="sigmoid"), x, y, formulas="g_prime_of_layer_l")
    assert same.passed  # g'[2] = g'[1] when both layers are sigmoid
    differ = compare_gradients(MLP(2, [3, 1], activation="tanh"), x, y, formulas="g_prime_of_layer_l")
    failing = differ.failures()
    assert "W[1]_0,0" in failing and "dZ[1]_0,0" in failing
    assert not any(label.startswith(("W[2]", "b[2]", "dZ[2]")) for label in failing)


def test_right_variants_and_custom_rules() -> None:
    model = MLP(2, [4, 1], **TWO_ACTIVATIONS)
    x, y = batch(2, 5, seed=8)
    assert compare_gradients(model, x, y, formulas="output_chain_rule", numerical=False).passed

    def db_with_the_sum_over_samples_forgotten(
        cache: formulas.ForwardPass, grads: formulas.Grads, layer: int
    ) -> np.ndarray:
        return grads[f"dZ[{layer}]"][:, :1]  # only the first sample's dz

    mine = derivations.variant("mine", "db = dZ[:, :1]", db=db_with_the_sum_over_samples_forgotten)
    assert mine.dw is derivations.COURSE_RULES.dw and not mine.correct
    report = compare_gradients(model, x, y, formulas=mine, numerical=False)
    assert report.rules.name == "mine"
    assert {row.label for row in report.parameters if not row.formula_ok} <= {
        f"b[{layer}]_{i}" for layer in (1, 2) for i in range(4)
    }
    assert not report.passed


# -- the intermediate dZ, dA ----------------------------------------------------------------
def test_intermediate_dZ_is_m_times_autograds_z_grad_and_a_minus_y() -> None:
    model = MLP(2, [3, 1], **TWO_ACTIVATIONS)
    x, y = batch(2, 4, seed=9)
    report = compare_gradients(model, x, y, numerical=False)
    rows = {row.label: row for row in report.intermediates}
    traces = [model.trace(list(column)) for column in x.T]
    outputs = [trace[-1][1][0] for trace in traces]
    cost = binary_cross_entropy(outputs, y[0].tolist())
    z_grads = grad(cost, [trace[-1][0][0] for trace in traces])
    for k, (a, z_grad) in enumerate(zip(outputs, z_grads, strict=True)):
        row = rows[f"dZ[2]_0,{k}"]
        assert row.autograd == pytest.approx(4 * z_grad, rel=1e-15)
        assert row.formula == pytest.approx(a.data - y[0, k], rel=1e-12)
        assert rows[f"dA[2]_0,{k}"].formula == pytest.approx(-y[0, k] / a.data + (1 - y[0, k]) / (1 - a.data))


def test_saturated_outputs_are_noted_and_still_compared() -> None:
    model = MLP(2, [3, 1], **TWO_ACTIVATIONS)
    model.layers[-1].neurons[0].b.data = 40.0  # σ(z) rounds to 1
    x, y = batch(2, 4, seed=10)
    report = compare_gradients(model, x, y)
    assert report.passed, report.table()
    assert any("binary_cross_entropy takes the loss from z" in note for note in report.notes)
    assert all(rows.autograd is None for rows in report.intermediates if rows.label.startswith("dA[2]"))
    text = json.dumps(report.to_dict(), allow_nan=False)  # the formula's dA[2] = 1/(1−a) is inf: None
    assert json.loads(text)["passed"] is True


def test_relu_on_its_kink_makes_central_differences_inconclusive() -> None:
    model = MLP(1, [1, 1], activation="relu")
    model.layers[0].neurons[0].w[0].data = 0.0  # z[1] = 0·x + 0 = 0 exactly: the kink
    x, y = batch(1, 4, seed=11)
    report = compare_gradients(model, x, y)
    assert report.formulas_passed and report.relu_kinks == 4
    assert report.numerical_status == "inconclusive" and report.passed
    assert "inconclusive" in report.verdict()
    assert any("straddle the kink" in note for note in report.notes)


def test_a_bad_central_difference_fails_the_numerical_check() -> None:
    model = MLP(2, [3, 1], **TWO_ACTIVATIONS)
    x, y = batch(2, 4, seed=12)
    report = compare_gradients(model, x, y, eps=0.5)  # far too coarse a step
    assert report.formulas_passed and report.numerical_status == "fail" and not report.passed
    assert "DISAGREES with central differences" in report.verdict()


# -- shapes, layout, errors ----------------------------------------------------------------
def test_rows_layout_gives_the_same_report() -> None:
    model = MLP(3, [2, 1])
    x, y = batch(3, 5, seed=13)
    columns = compare_gradients(model, x, y[0], numerical=False)
    rows = compare_gradients(model, x.T, y.T, samples_as="rows", numerical=False)
    assert [r.autograd for r in rows.parameters] == [r.autograd for r in columns.parameters]
    assert [r.formula for r in rows.parameters] == [r.formula for r in columns.parameters]


def test_shape_errors_name_the_shapes() -> None:
    model = MLP(3, [2, 1])
    x, y = batch(3, 5, seed=14)
    with pytest.raises(ValueError, match=r"compare_gradients: X has shape \(5, 3\).*samples_as='rows'"):
        compare_gradients(model, x.T, y)
    with pytest.raises(
        ValueError, match=r"X has m = 5 samples \(shape \(3, 5\)\) but Y has 6 \(shape \(1, 6\)\)"
    ):
        compare_gradients(model, x, np.zeros((1, 6)))
    with pytest.raises(ValueError, match=r"X has shape \(4, 5\), but the network takes n_x = 3"):
        compare_gradients(model, np.zeros((4, 5)), y)
    with pytest.raises(ValueError, match=r"one output unit.*n\[L\] = 2"):
        compare_gradients(MLP(3, [2, 2]), x, y)
    with pytest.raises(TypeError, match=r"must be an nn\.MLP"):
        compare_gradients(model.layers[0], x, y)
    with pytest.raises(ValueError, match=r"^compare_gradients: formulas must be a BackpropRules or one of"):
        compare_gradients(model, x, y, formulas="A[l]")


def test_grads_the_user_had_are_kept() -> None:
    model = MLP(2, [3, 1])
    for p in model.parameters():
        p.grad = 7.0
    compare_gradients(model, *batch(2, 3, seed=15))
    assert all(p.grad == 7.0 for p in model.parameters())


# -- the report as text and JSON -------------------------------------------------------------
def test_table_is_aligned_and_cut_to_max_rows_with_failures_first() -> None:
    model = MLP(2, [6, 1], **TWO_ACTIVATIONS)
    x, y = batch(2, 4, seed=16)
    report = compare_gradients(model, x, y, formulas="g_prime_of_layer_l", numerical=False)
    full = report.table(max_rows=None, intermediates=True).splitlines()
    start = next(i for i, line in enumerate(full) if line.startswith("parameter"))
    table = full[start : start + 2 + len(report.parameters)]
    # header, rule and every row line up up to the status word ("ok", "NO formula")
    assert len({len(line[: line.rindex("  ")]) for line in table if not line.startswith("-")}) == 1
    short = report.table(max_rows=3)
    assert "more rows; table(max_rows=None) shows every row" in short
    shown = [line.split()[0] for line in short.splitlines() if line.startswith(("W[", "b["))]
    assert shown == report.failures()[:3]  # every row shown is a failing one
    assert short.splitlines()[-1].startswith("Verdict: FAIL")
    assert repr(report) == str(report) == report.table()  # the prompt shows the table, not a dataclass dump


def test_to_dict_is_json_and_matches_the_rows() -> None:
    model = MLP(2, [3, 1])
    x, y = batch(2, 4, seed=17)
    report = compare_gradients(model, x, y)
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert data["passed"] is True and data["numerical_status"] == "pass" and data["m"] == 4
    assert data["rules"]["name"] == "course"
    assert [p["label"] for p in data["parameters"]] == [r.label for r in report.parameters]
    assert data["parameters"][0]["autograd"] == report.parameters[0].autograd
    assert data["tolerances"]["formula_rtol"] == 1e-10
    assert data["verdict"] == report.verdict()


# -- the demos ----------------------------------------------------------------------------------
def load_demo(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"demo_{name}", ROOT / "demos" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_compare_gradients_demo(capsys: pytest.CaptureFixture[str]) -> None:
    demo = load_demo("compare_gradients")
    assert demo.main([]) == 0
    out = capsys.readouterr().out
    assert "network 2-4-1 (tanh hidden, sigmoid output), m = 8 samples" in out
    assert out.strip().splitlines()[-1].startswith("Verdict: PASS: the formulas equal autograd")
    assert demo.main(["--depth", "3", "--width", "2", "--activation", "relu", "--m", "3", "--seed", "2"]) == 0
    assert demo.main(["--sizes", "3,1", "--m", "4", "--formulas", "missing_1_over_m", "--no-numerical"]) == 1
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("Verdict: FAIL")


def test_compare_gradients_demo_reports_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    demo = load_demo("compare_gradients")
    # a tanh output goes negative on some sample: the demo offers the sigmoid output only
    with pytest.raises(SystemExit):
        demo.main(["--output-activation", "tanh", "--m", "16"])
    assert "argument --output-activation: invalid choice: 'tanh'" in capsys.readouterr().err
    assert "sigmoid, the only choice" in _help(demo)
    with pytest.raises(SystemExit):
        demo.main(["--sizes", "3,2"])  # the last layer must have one unit


def test_seed_network_demo(capsys: pytest.CaptureFixture[str]) -> None:
    demo = load_demo("seed_network")
    assert demo.main([]) == 0
    out = capsys.readouterr().out
    assert "−y/ln(a)" in out and "[5] dw_1" in out
    assert out.strip().splitlines()[-1].startswith("Verdict: PASS")
    assert demo.main(["--y", "0.3", "--x", "2,-1,0.5", "--w", "0.1,0.2,-0.3", "--b", "0.2"]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("Verdict: PASS")


def test_compare_gradients_works_the_same_inside_a_users_no_grad_block() -> None:
    x, y = batch(2, 5, seed=7)
    expected = compare_gradients(MLP(2, [3, 1], seed=7), x, y)
    with engine.no_grad():
        report = compare_gradients(MLP(2, [3, 1], seed=7), x, y)
        assert not engine.is_grad_enabled()
    assert report.formulas_passed and report.numerical_passed
    assert [row.autograd for row in report.parameters] == [row.autograd for row in expected.parameters]


def test_a_sigmoid_output_rounded_to_1_makes_the_chain_rule_derivation_inconclusive_not_a_fail() -> None:
    import warnings

    from nn import make_moons

    x, y = make_moons(20, noise=0.1, seed=0)
    model = MLP(2, [4, 1], seed=0)
    for p in model.layers[-1].parameters():
        p.data = 30.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's inf · 0 warning does not leak
        report = compare_gradients(model, x.T, y, formulas="output_chain_rule")
    assert report.formula_status == "inconclusive" and not report.passed
    assert report.rounded_outputs == [(14, 1.0, 0.0)]
    assert report.verdict() == (
        "INCONCLUSIVE: the formulas give no finite value on 26 of 217 entries, because 1 sample(s) have a "
        "sigmoid output that rounds to exactly 0 or 1 (first: sample 14, a = 1.0, y = 0.0): their dA[L] is "
        "infinite in this derivation, and dZ[L] = dA[L] ∗ g'[L](Z[L]) is inf · 0; the 'course' formulas "
        "take dZ[L] = A[L] − Y, finite there; autograd equals central differences (relative error 5.0e-09)"
    )
    assert report.to_dict()["formula_status"] == "inconclusive"
    assert compare_gradients(model, x.T, y).formula_status == "pass"


def _help(demo) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        demo.parse_args(["--help"])
    return " ".join(out.getvalue().split())


def test_samples_as_rows_takes_y_of_shape_1_m_as_its_docstring_says() -> None:
    model = MLP(2, [3, 1], seed=0)
    x = np.random.default_rng(0).normal(size=(5, 2))
    y = np.array([0.0, 1.0, 1.0, 0.0, 1.0])
    expected = compare_gradients(model, x, y, samples_as="rows", numerical=False)
    for shape in ((1, 5), (5, 1)):
        report = compare_gradients(model, x, y.reshape(shape), samples_as="rows", numerical=False)
        assert report.passed and report.cost_autograd == expected.cost_autograd

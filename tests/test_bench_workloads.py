"""The benchmark's workloads compute the same numbers in every engine (small sizes, no timing).

A speed comparison is only worth something if every engine does the same work: here the
plain-float floor (hand-derived backward pass) and chainrule must agree on the W1 loss and
all 337 gradients, on the W2 chain's dx_n/dx_0 = 1.0001ⁿ, on W3's sum and on W4's
gradients; micrograd's adapter is checked the same way when micrograd is installed.
"""

from __future__ import annotations

import math

import pytest

from bench import chainrule_adapter, floor, run, workloads
from engine import topological_order

SAMPLES = 24  # a smaller moons set keeps these tests fast; the workload code is the same


@pytest.fixture(scope="module")
def data() -> tuple[list, list, list]:
    xs, ys = workloads.moons(SAMPLES)
    return xs, ys, workloads.initial_weights()


def _agree(a: list[float], b: list[float], tol: float = 1e-12) -> float:
    assert len(a) == len(b)
    worst = max(abs(x - y) for x, y in zip(a, b))
    assert worst <= tol, f"largest difference {worst!r}"
    return worst


def test_moons_data_is_seeded_and_balanced() -> None:
    xs, ys = workloads.moons(100)
    assert workloads.moons(100) == (xs, ys)
    assert len(xs) == 100 and all(len(x) == 2 for x in xs)
    assert sorted(set(ys)) == [0.0, 1.0] and sum(ys) == 50.0


def test_initial_weights_are_chainrules_mlp(data) -> None:
    _, _, weights = data
    assert [len(layer) for layer in weights] == list(workloads.LAYER_SIZES)
    assert [len(w) for w, _ in weights[1]] == [16] * 16
    model = chainrule_adapter.moons_model(weights)
    assert model.parameters()[0].label == "W[1]_0,0"
    assert model.parameters()[0].data == weights[0][0][0][0]
    assert model.num_parameters() == 2 * 16 + 16 + 16 * 16 + 16 + 16 + 1


def test_w1_floor_and_chainrule_agree_on_loss_and_every_gradient(data) -> None:
    xs, ys, weights = data
    loss_f, grads_f = floor.moons_gradients(floor.moons_model(weights), xs, ys)
    loss_c, grads_c = chainrule_adapter.moons_gradients(chainrule_adapter.moons_model(weights), xs, ys)
    assert len(grads_c) == 337
    assert loss_c == pytest.approx(loss_f, abs=1e-12)
    _agree(grads_f, grads_c)
    # The floor's dz[L] = (a − y)/m: the loss really is the mean cross-entropy.
    model = floor.moons_model(weights)
    assert 0.1 < loss_f < 5.0 and loss_f == floor.moons_step(model, xs, ys, 0.0)


def test_w1_sgd_steps_agree_and_lower_the_loss(data) -> None:
    xs, ys, weights = data
    f_model, c_model = floor.moons_model(weights), chainrule_adapter.moons_model(weights)
    f_losses = [floor.moons_step(f_model, xs, ys, workloads.LEARNING_RATE) for _ in range(4)]
    c_losses = [chainrule_adapter.moons_step(c_model, xs, ys, workloads.LEARNING_RATE) for _ in range(4)]
    _agree(f_losses, c_losses)
    assert f_losses[-1] < f_losses[0]
    # The updated parameters agree too (p ← p − lr·dp in both).
    flat_floor = [w for layer in f_model.layers for unit in layer for w in unit[0]]
    flat_chainrule = [w.data for layer in c_model.layers for n in layer.neurons for w in n.w]
    _agree(flat_floor, flat_chainrule)


@pytest.mark.parametrize("adapter", [floor, chainrule_adapter])
def test_w2_chain_matches_the_closed_form(adapter) -> None:
    n = 1500
    start = adapter.leaf(workloads.CHAIN_START)
    end = workloads.chain(start, n)
    grad = adapter.chain_gradient(start, end, n)
    value = end if isinstance(end, float) else end.data
    # x_n = (x_0 + c/(s−1))·sⁿ − c/(s−1) for x ← s·x + c; dx_n/dx_0 = sⁿ.
    s, c = workloads.CHAIN_SCALE, workloads.CHAIN_SHIFT
    fixed = c / (s - 1.0)
    assert value == pytest.approx((workloads.CHAIN_START + fixed) * s**n - fixed, rel=1e-9)
    assert grad == pytest.approx(s**n, rel=1e-9)


def test_w3_products_graph_counts_its_nodes_and_sums() -> None:
    xs_data, ys_data = workloads.pool(300, 0.1), workloads.pool(300, 0.7)
    xs = [chainrule_adapter.leaf(x) for x in xs_data]
    ys = [chainrule_adapter.leaf(y) for y in ys_data]
    root, nodes = chainrule_adapter.products_graph(xs, ys)
    assert nodes == 301 and len(root.parents) == 300
    assert all(p.parents[0] is x and p.parents[1] is y for p, x, y in zip(root.parents, xs, ys))
    assert root.data == pytest.approx(math.fsum(x * y for x, y in zip(xs_data, ys_data)), rel=1e-12)
    binary, nodes = chainrule_adapter.binary_products_graph(xs, ys)
    assert nodes == 600 and sum(1 for node in topological_order(binary) if node.parents) == 600
    assert binary.data == pytest.approx(root.data, rel=1e-12)


@pytest.mark.parametrize("ops", [1, 2, 9, 1001])
def test_w4_tree_sizes_and_gradients_agree(ops: int) -> None:
    products = (ops + 1) // 2
    pairs = workloads.tree_factor_indices(products)
    a_data, b_data = workloads.pool(workloads.LEAF_POOL, 0.1), workloads.pool(workloads.LEAF_POOL, 0.7)
    levels_f = workloads.op_tree(a_data, b_data, pairs)
    grad_a_f, grad_b_f = floor.op_tree_gradients(a_data, b_data, pairs, levels_f)
    a = [chainrule_adapter.leaf(x) for x in a_data]
    b = [chainrule_adapter.leaf(x) for x in b_data]
    levels_c = workloads.op_tree(a, b, pairs)
    grad_a_c, grad_b_c = chainrule_adapter.op_tree_gradients(a, b, pairs, levels_c)
    root = levels_c[-1][0]
    assert sum(1 for node in topological_order(root) if node.parents) == 2 * products - 1  # binary ops
    assert root.data == pytest.approx(levels_f[-1][0], rel=1e-12)
    _agree(grad_a_f, grad_a_c)
    _agree(grad_b_f, grad_b_c)
    # ∂S/∂a_i = Σ of the b_j it multiplies, by hand.
    expected = [0.0] * len(a_data)
    for i, j in pairs:
        expected[i] += b_data[j]
    _agree(expected, grad_a_f)


def test_run_worker_answers_every_task_and_the_report_renders(data) -> None:
    """run.py's worker and report code paths, in process, at toy sizes."""
    xs, ys, weights = data
    raw: dict = {"w1": {}, "w1_loss": {}, "w2": {"200": {}}, "w2_limit": {}, "w3": {}, "w4": {},
                 "unavailable": {}}
    for name in ("chainrule", "floor"):
        worker = run.Worker(name)
        worker.handle({"task": "setup", "xs": xs, "ys": ys, "weights": weights})
        for variant in run.W1_VARIANTS[name]:
            raw["w1"][f"{name}/{variant}"] = [worker.handle({"task": "w1", "variant": variant, "steps": 2})]
        for variant in run.VARIANTS[name]:
            key = f"{name}/{variant}"
            raw["w2"]["200"][key] = [worker.handle({"task": "w2", "variant": variant, "n": 200})]
            raw["w4"][key] = [worker.handle({"task": "w4", "variant": variant, "ops": 99})]
        raw["w1_loss"][name] = worker.handle({"task": "w1_loss", "steps": 2})
        for variant in run.W1_VARIANTS[name][2:] if name == "chainrule" else ():
            task = {"task": "w1_loss", "steps": 2, "variant": variant}
            raw["w1_loss"][f"{name}/{variant}"] = worker.handle(task)
        if name != "floor":
            raw["w3"][name] = worker.handle({"task": "w3", "n": 500})
            binary = {"task": "w3", "n": 500, "graph": "binary_products_graph"}
            raw["w3"][run.W3_BINARY] = worker.handle(binary)
            raw["w5_compile"] = worker.handle({"task": "w5_compile", "reps": 1})
    sizes = {**run.QUICK, "chain": (200,), "products": 500, "ops": 99}
    summary = run.summarize(raw, sizes)
    assert summary["w1_agreement"]["max_loss_difference"] <= 1e-12  # W1-user and W5 included
    assert set(summary["w1_agreement"]["loss_after_steps"]) == {
        "chainrule", "chainrule/user", "chainrule/compiled", "chainrule/compiled_numpy", "floor"}
    assert summary["w5_compile"]["per_sample"] > 0
    assert summary["w3"]["chainrule"]["nodes"] == 501 and summary["w3"][run.W3_BINARY]["nodes"] == 1000
    w3 = summary["w3"]
    assert w3[run.W3_BINARY]["value"] == pytest.approx(w3["chainrule"]["value"], rel=1e-12)
    w3_target = next(row for row in summary["targets"] if row["target"].startswith("W3"))
    worse = max(summary["w3"][k]["bytes_per_node"] for k in ("chainrule", run.W3_BINARY))
    assert w3_target["values"]["wall"] == worse
    assert summary["w2"]["200"]["chainrule/gc_paused"]["grad"] == pytest.approx(1.0001**200, rel=1e-12)
    assert summary["w4"]["floor/plain"]["ops"] == 99
    text = run.render(summary, {"date": "today", "python": "3", "implementation": "CPython", "cpu": "cpu",
                                "cores": 2, "load_average": None, "git_commit": "x", "micrograd": None},
                      sizes, quick=True)
    assert "| chainrule | gc_paused |" in text and "W1 within 3× of the plain-float floor" in text
    for row in ("| chainrule | W1-user: user |", "| chainrule | W5 per sample: compiled |",
                "W5 batched replay ≤ 0.15× the floor", "W1-user ≥ 10× faster than micrograd",
                "W5 trace + compile of the one-sample graph < 100 ms"):
        assert row in text


@pytest.fixture(scope="module")
def micrograd():
    """The micrograd adapter; micrograd itself is installed only in the bench venv (make bench)."""
    pytest.importorskip("micrograd", reason="micrograd is installed only in the bench venv (make bench)")
    from bench import micrograd_adapter

    return micrograd_adapter


class TestMicrograd:
    """micrograd 0.1.0 through the bench adapter (tanh, sigmoid and log added closure-style)."""

    def test_w1_loss_and_gradients_agree_with_the_floor(self, micrograd, data) -> None:
        xs, ys, weights = data
        loss_f, grads_f = floor.moons_gradients(floor.moons_model(weights), xs, ys)
        loss_m, grads_m = micrograd.moons_gradients(micrograd.moons_model(weights), xs, ys)
        assert loss_m == pytest.approx(loss_f, abs=1e-12)
        _agree(grads_f, grads_m)
        model = micrograd.moons_model(weights)
        f_model = floor.moons_model(weights)
        for _ in range(3):
            lm = micrograd.moons_step(model, xs, ys, workloads.LEARNING_RATE)
            lf = floor.moons_step(f_model, xs, ys, workloads.LEARNING_RATE)
            assert lm == pytest.approx(lf, abs=1e-12)

    def test_added_ops_have_the_right_derivatives(self, micrograd) -> None:
        from micrograd.engine import Value

        for op, derivative in (
            ("tanh", lambda z: 1 - math.tanh(z) ** 2),
            ("sigmoid", lambda z: math.exp(-z) / (1 + math.exp(-z)) ** 2),
            ("log", lambda z: 1 / z),
        ):
            z = Value(0.7)
            getattr(z, op)().backward()
            assert z.grad == pytest.approx(derivative(0.7), rel=1e-12), op

    def test_chain_fails_deep_and_agrees_shallow(self, micrograd) -> None:
        start = micrograd.leaf(workloads.CHAIN_START)
        end = workloads.chain(start, 100)
        expected = workloads.CHAIN_SCALE**100
        assert micrograd.chain_gradient(start, end, 100) == pytest.approx(expected, rel=1e-12)
        start = micrograd.leaf(workloads.CHAIN_START)
        with pytest.raises(RecursionError):
            micrograd.chain_gradient(start, workloads.chain(start, 2000), 2000)

    def test_w3_and_w4_agree(self, micrograd) -> None:
        xs = [micrograd.leaf(x) for x in workloads.pool(50, 0.1)]
        ys = [micrograd.leaf(y) for y in workloads.pool(50, 0.7)]
        root, nodes = micrograd.products_graph(xs, ys)
        assert nodes == 101
        assert root.data == pytest.approx(sum(x.data * y.data for x, y in zip(xs, ys)), rel=1e-12)
        pairs = workloads.tree_factor_indices(300)
        a_data, b_data = workloads.pool(workloads.LEAF_POOL, 0.1), workloads.pool(workloads.LEAF_POOL, 0.7)
        grads_f = floor.op_tree_gradients(a_data, b_data, pairs, workloads.op_tree(a_data, b_data, pairs))
        a = [micrograd.leaf(x) for x in a_data]
        b = [micrograd.leaf(x) for x in b_data]
        grads_m = micrograd.op_tree_gradients(a, b, pairs, workloads.op_tree(a, b, pairs))
        _agree(grads_f[0], grads_m[0])
        _agree(grads_f[1], grads_m[1])

"""Time chainrule against micrograd and the plain-float floor; print and save the table.

    python bench/run.py            # the full run (a few minutes)
    python bench/run.py --quick    # a smoke run: fewer repetitions, small sizes

Each engine runs in its own worker process (``--worker NAME``), started once and fed one
task at a time over a pipe; the repetitions are interleaved across engines (each rep runs
every engine once, in a rotated order), so a slow moment of a shared machine hits them
alike. Ratios are taken pair by pair, chainrule's rep k against the other engine's rep k,
and the median of those ratios is reported. Results go to ``bench/results/`` as markdown
and JSON (see bench/README.md for what each figure means).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make `bench`, `engine` and `nn` importable
    sys.path.insert(0, str(ROOT))

from bench import workloads  # noqa: E402

ENGINES = ("chainrule", "micrograd", "floor")
W3_BINARY = "chainrule, binary sum"  # W3 built as micrograd builds it: n binary additions
VARIANTS = {
    "chainrule": ("gc_paused", "gc_on"),
    "micrograd": ("gc_on", "gc_off"),
    "floor": ("plain",),
}
W1_VARIANTS = {**VARIANTS, "chainrule": ("gc_paused", "gc_on", "user", "compiled", "compiled_numpy")}
"""W1 also runs chainrule as a learner's own binary-op loop (W1-user) and compiled (W5)."""
VARIANT_TEXT = {
    "gc_paused": "inside engine.gc_paused()",
    "gc_on": "gc on",
    "gc_off": "gc disabled during the timed part",
    "plain": "",
    "user": "a learner's micrograd-style loop on chainrule Values, gc on (W1-user)",
    "compiled": "nn.MLP's step replayed per sample by engine.compile, gc on (W5)",
    "compiled_numpy": "the same trace replayed on numpy arrays of the batch, gc on (W5)",
}
ROW_NAMES = {"chainrule/user": "W1-user", "chainrule/compiled": "W5 per sample",
             "chainrule/compiled_numpy": "W5 batched"}

MICROGRAD_CHAIN_LIMIT = 10_000
"""Longer W2 chains are not built in micrograd: its recursive backward fails long before."""

FULL = {"reps": 5, "steps": 5, "chain": (10_000, 1_000_000), "big_reps": 3, "products": 200_000,
        "ops": 1_000_000}
QUICK = {"reps": 2, "steps": 2, "chain": (1_000, 10_000), "big_reps": 2, "products": 20_000,
         "ops": 100_000}


# ---------------------------------------------------------------------------
# Worker side: one process per engine, answering one JSON task per line.
# ---------------------------------------------------------------------------
def _adapter(name: str) -> Any:
    if name == "chainrule":
        from bench import chainrule_adapter as adapter
    elif name == "micrograd":
        from bench import micrograd_adapter as adapter
    elif name == "floor":
        from bench import floor as adapter
    else:
        raise ValueError(f"unknown engine {name!r}; choose one of {', '.join(ENGINES)}")
    return adapter


@contextlib.contextmanager
def _gc_regime(variant: str) -> Iterator[None]:
    """The garbage-collector setting a timing runs under (see VARIANT_TEXT)."""
    if variant == "gc_paused":
        from engine import gc_paused

        with gc_paused():
            yield
    elif variant == "gc_off":
        gc.disable()
        try:
            yield
        finally:
            gc.enable()
    else:
        yield


def _number(x: Any) -> float:
    return float(x if isinstance(x, float) else x.data)


class Laps:
    """Wall-clock and CPU time between marks, in ms.

    CPU time (``time.process_time``) counts this process's own work only: on a machine
    whose cores other processes share, it moves much less than wall-clock time.
    """

    def __init__(self) -> None:
        self.marks = [(time.perf_counter(), time.process_time())]

    def mark(self) -> None:
        self.marks.append((time.perf_counter(), time.process_time()))

    def ms(self, lap: int) -> tuple[float, float]:
        """(wall, cpu) of lap ``lap`` (0 = start to first mark)."""
        (w0, c0), (w1, c1) = self.marks[lap], self.marks[lap + 1]
        return (w1 - w0) * 1e3, (c1 - c0) * 1e3


class Worker:
    """Runs the workloads on one engine; ``handle`` answers one task."""

    def __init__(self, name: str) -> None:
        self.adapter = _adapter(name)
        self.xs: list = []
        self.ys: list = []
        self.weights: list = []

    def handle(self, task: dict) -> dict:
        kind = task.pop("task")
        handler: Callable[..., dict] = getattr(self, f"task_{kind}")
        gc.collect()  # every task starts from the same clean heap (untimed)
        try:
            return handler(**task)
        finally:
            gc.collect()

    def task_setup(self, xs: list, ys: list, weights: list) -> dict:
        self.xs, self.ys, self.weights = xs, ys, weights
        return {"python": sys.version.split()[0]}

    def _w1(self, variant: str, name: str) -> Callable:
        """The adapter's W1 function ``name`` for ``variant`` (``moons_step_user`` for "user", ...)."""
        return getattr(self.adapter, f"{name}_{variant}", None) or getattr(self.adapter, name)

    def task_w1(self, variant: str, steps: int) -> dict:
        """``steps`` SGD steps from the initial weights, each timed (ms)."""
        model = self._w1(variant, "moons_model")(self.weights)
        step = self._w1(variant, "moons_step")
        warm_up = getattr(self.adapter, f"moons_warm_up_{variant}", None)
        if warm_up is not None:  # e.g. W5's trace and compile, timed apart (task_w5_compile)
            warm_up(model, self.xs, self.ys)
        wall, cpu, losses = [], [], []
        for _ in range(steps):
            with _gc_regime(variant):
                laps = Laps()
                losses.append(step(model, self.xs, self.ys, workloads.LEARNING_RATE))
                laps.mark()
            wall_ms, cpu_ms = laps.ms(0)
            wall.append(wall_ms)
            cpu.append(cpu_ms)
            if variant == "gc_off":
                gc.collect()  # micrograd's cycles are collected between steps, outside the timing
        return {"ms": wall, "cpu_ms": cpu, "losses": losses}

    def task_w1_loss(self, steps: int, variant: str = "") -> dict:
        """Gradients at the initial weights, then L after ``steps`` SGD steps (untimed)."""
        make, gradients = self._w1(variant, "moons_model"), self._w1(variant, "moons_gradients")
        step = self._w1(variant, "moons_step")
        _, first_grads = gradients(make(self.weights), self.xs, self.ys)
        model = make(self.weights)
        for _ in range(steps):
            with _gc_regime("gc_off"):
                step(model, self.xs, self.ys, workloads.LEARNING_RATE)
            gc.collect()
        loss, _ = gradients(model, self.xs, self.ys)
        return {"loss": loss, "grads": first_grads}

    def task_w5_compile(self, reps: int) -> dict:
        """ms to trace W1's one-sample graph and write and compile its code (each form), ``reps`` times.

        ``per_sample``: the trace and the Wengert list (what the first call does);
        ``loop``: the per-sample replay over samples; ``batched``: the numpy code.
        """
        from engine.batched import batched_replay

        figures: dict[str, list] = {"per_sample": [], "loop": [], "batched": [], "cpu_per_sample": []}
        for _ in range(reps):
            cost = self.adapter.moons_model_compiled(self.weights)
            laps = Laps()
            g = cost.compiled(self.ys[0])
            g(*self.xs[0])
            laps.mark()
            g.paths[0].over_samples((True, True))
            laps.mark()
            batched_replay(g.paths[0], (True, True), "sum", True)
            laps.mark()
            figures["per_sample"].append(laps.ms(0)[0])
            figures["cpu_per_sample"].append(laps.ms(0)[1])
            figures["loop"].append(laps.ms(1)[0])
            figures["batched"].append(laps.ms(2)[0])
        return figures

    def task_w2(self, variant: str, n: int) -> dict:
        """The chain of n steps: forward, backward (and freeing, reported apart), in ms."""
        with _gc_regime(variant):
            laps = Laps()
            start = self.adapter.leaf(workloads.CHAIN_START)
            end = workloads.chain(start, n)
            laps.mark()
            try:
                grad = self.adapter.chain_gradient(start, end, n)
                error = None
            except RecursionError as exc:
                grad, error = None, f"RecursionError: {exc}"
            laps.mark()
            value = _number(end)
            del start, end
            laps.mark()
        return {**_fwd_bwd(laps), "free_ms": laps.ms(2)[0], "value": value, "grad": grad, "error": error}

    def task_w2_limit(self, upper: int) -> dict:
        """The longest chain whose backward succeeds (bisection up to ``upper`` steps)."""
        low, high = 0, upper
        while low < high:
            mid = (low + high + 1) // 2
            start = self.adapter.leaf(workloads.CHAIN_START)
            try:
                self.adapter.chain_gradient(start, workloads.chain(start, mid), mid)
                low = mid
            except RecursionError:
                high = mid - 1
        return {"max_steps": low, "recursion_limit": sys.getrecursionlimit()}

    def task_w3(self, n: int, graph: str = "products_graph") -> dict:
        """Bytes held by the graph of Σᵢ xᵢyᵢ (n products), and by its 2n leaves apart.

        ``graph`` names the adapter function that builds it (chainrule has two shapes).
        """
        x_data, y_data = workloads.pool(n, 0.1), workloads.pool(n, 0.7)
        gc.collect()
        gc.disable()
        tracemalloc.start()
        try:
            start = tracemalloc.get_traced_memory()[0]
            xs = [self.adapter.leaf(x) for x in x_data]
            ys = [self.adapter.leaf(y) for y in y_data]
            before = tracemalloc.get_traced_memory()[0]
            root, nodes = getattr(self.adapter, graph)(xs, ys)
            held = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
            gc.enable()
        # The two lists holding the leaves (8 bytes an item) are not the leaves' own memory.
        leaf_bytes = before - start - sys.getsizeof(xs) - sys.getsizeof(ys)
        return {"bytes": held, "nodes": nodes, "products": n, "leaves": 2 * n, "leaf_bytes": leaf_bytes,
                "value": _number(root)}

    def task_w4(self, variant: str, ops: int) -> dict:
        """``ops`` binary ops (products summed by a tree) and backward, timed in ms."""
        products = (ops + 1) // 2
        pairs = workloads.tree_factor_indices(products)
        a = [self.adapter.leaf(x) for x in workloads.pool(workloads.LEAF_POOL, 0.1)]
        b = [self.adapter.leaf(x) for x in workloads.pool(workloads.LEAF_POOL, 0.7)]
        with _gc_regime(variant):
            laps = Laps()
            levels = workloads.op_tree(a, b, pairs)
            laps.mark()
            grad_a, grad_b = self.adapter.op_tree_gradients(a, b, pairs, levels)
            laps.mark()
            value = _number(levels[-1][0])
            del levels
        return {"ops": 2 * products - 1, **_fwd_bwd(laps), "value": value,
                "grad_sum": sum(grad_a) + sum(grad_b)}


def _fwd_bwd(laps: Laps) -> dict:
    """Laps 0 and 1 as forward and backward times, wall and CPU."""
    (fw, fc), (bw, bc) = laps.ms(0), laps.ms(1)
    return {"forward_ms": fw, "backward_ms": bw, "forward_cpu_ms": fc, "backward_cpu_ms": bc}


def worker_main(name: str) -> None:
    """Answer tasks from stdin, one JSON object per line, until stdin closes."""
    try:
        worker: Worker | None = Worker(name)
        failure = None
    except ImportError as exc:
        worker, failure = None, f"{type(exc).__name__}: {exc}"
    for line in sys.stdin:
        if worker is None:
            answer: dict = {"unavailable": failure}
        else:
            answer = worker.handle(json.loads(line))
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


# ---------------------------------------------------------------------------
# Orchestrator side.
# ---------------------------------------------------------------------------
class Remote:
    """A worker process for one engine, started once."""

    def __init__(self, name: str) -> None:
        self.name = name
        path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
        env = dict(os.environ, PYTHONPATH=path)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.run", "--worker", name],
            cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        self.unavailable: str | None = None

    def ask(self, task: dict) -> dict:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps(task) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the {self.name} worker stopped (exit code {self.process.wait()})")
        answer = json.loads(line)
        self.unavailable = answer.get("unavailable")
        return answer

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait()


def _progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _skipped(name: str, task: dict, rep: int) -> str | None:
    """Why a run is left out, if it is: micrograd's W2 fails the same way every time."""
    if name != "micrograd" or task["task"] != "w2":
        return None
    if task["n"] > MICROGRAD_CHAIN_LIMIT:
        # Building millions of closures only to hit the same RecursionError.
        return f"not run: RecursionError already at {MICROGRAD_CHAIN_LIMIT:,} steps"
    return "its failure does not change from rep to rep" if rep > 0 else None


def measure(sizes: dict) -> dict:
    """Run every workload on every engine and variant; the raw results, per rep."""
    xs, ys = workloads.moons()
    weights = workloads.initial_weights()
    remotes = {name: Remote(name) for name in ENGINES}
    raw: dict = {"w1": {}, "w1_loss": {}, "w2": {}, "w2_limit": {}, "w3": {}, "w4": {}, "unavailable": {}}
    try:
        for name, remote in remotes.items():
            remote.ask({"task": "setup", "xs": xs, "ys": ys, "weights": weights})
            if remote.unavailable:
                raw["unavailable"][name] = remote.unavailable
                _progress(f"{name}: not available ({remote.unavailable}); its columns will be empty")
        live = [name for name in ENGINES if name not in raw["unavailable"]]

        def interleaved(results: dict, reps: int, task: dict, label: str, variants: dict = VARIANTS) -> None:
            """Each rep runs every engine and variant once, in an order rotated by one per rep."""
            runs = [(name, variant) for name in live for variant in variants[name]]
            for rep in range(reps):
                shift = rep % len(runs)
                for name, variant in runs[shift:] + runs[:shift]:
                    answers = results.setdefault(f"{name}/{variant}", [])
                    skipped = _skipped(name, task, rep)
                    if skipped:
                        answers.extend([{"error": skipped}] if rep == 0 else [])
                        continue
                    _progress(f"{label} rep {rep + 1}/{reps}: {name} ({variant})")
                    answers.append(remotes[name].ask({**task, "variant": variant}))

        interleaved(raw["w1"], sizes["reps"], {"task": "w1", "steps": sizes["steps"]}, "W1", W1_VARIANTS)
        for name in live:
            for variant in ("", *W1_VARIANTS[name][2:]) if name == "chainrule" else ("",):
                key = f"{name}/{variant}" if variant else name
                _progress(f"W1 loss after {workloads.LOSS_STEPS} steps: {key}")
                raw["w1_loss"][key] = remotes[name].ask(
                    {"task": "w1_loss", "steps": workloads.LOSS_STEPS, "variant": variant})
        if "chainrule" in live:
            _progress("W5: trace and compile W1's one-sample graph")
            raw["w5_compile"] = remotes["chainrule"].ask({"task": "w5_compile", "reps": sizes["reps"]})
        for n in sizes["chain"]:
            reps = sizes["reps"] if n <= 10_000 else sizes["big_reps"]
            interleaved(raw["w2"].setdefault(str(n), {}), reps, {"task": "w2", "n": n}, f"W2 n={n:,}")
        if "micrograd" in live:
            _progress("W2: micrograd's longest chain")
            raw["w2_limit"]["micrograd"] = remotes["micrograd"].ask({"task": "w2_limit", "upper": 5000})
        for name in live:
            if name != "floor":
                _progress(f"W3 memory: {name}")
                raw["w3"][name] = remotes[name].ask({"task": "w3", "n": sizes["products"]})
                if name == "chainrule":
                    raw["w3"][W3_BINARY] = remotes[name].ask(
                        {"task": "w3", "n": sizes["products"], "graph": "binary_products_graph"})
        interleaved(raw["w4"], sizes["big_reps"], {"task": "w4", "ops": sizes["ops"]}, "W4")
    finally:
        for remote in remotes.values():
            remote.close()
    return raw


# ---------------------------------------------------------------------------
# Summaries: figures, pairwise ratios, targets.
# ---------------------------------------------------------------------------
CLOCKS = {"wall": "", "cpu": "cpu_"}
"""The two clocks every timing is read on, and the prefix of their keys in a worker's answer."""

CHAINRULE_RUNS = ("chainrule/gc_paused", "chainrule/gc_on", "chainrule/user", "chainrule/compiled",
                  "chainrule/compiled_numpy")
OTHER_RUNS = ("micrograd/gc_on", "micrograd/gc_off", "floor/plain")
MAIN_RUN = "chainrule/gc_paused"


def _rep_ms(answer: dict, clock: str) -> float:
    """One rep's figure in ms: the median step (W1) or forward + backward (W2, W4)."""
    prefix = CLOCKS[clock]
    if f"{prefix}ms" in answer:
        return statistics.median(answer[f"{prefix}ms"])
    return answer[f"forward_{prefix}ms"] + answer[f"backward_{prefix}ms"]


def _pairwise(mine: list[float], theirs: list[float]) -> float | None:
    """Median of mine[k]/theirs[k] over the reps both have."""
    ratios = [a / b for a, b in zip(mine, theirs) if b]
    return statistics.median(ratios) if ratios else None


def _per_rep(results: dict, clock: str) -> dict[str, list[float]]:
    """Each run's per-rep figures on one clock, leaving out reps that failed."""
    return {run: [_rep_ms(a, clock) for a in answers if not a.get("error")]
            for run, answers in results.items()}


def _ratios(results: dict) -> dict:
    """chainrule's runs over each other run, pair by pair, on both clocks."""
    table: dict = {}
    for clock in CLOCKS:
        reps = _per_rep(results, clock)
        for mine in CHAINRULE_RUNS:
            for other in OTHER_RUNS:
                if reps.get(mine) and reps.get(other):
                    table.setdefault(f"{mine} : {other}", {})[clock] = _pairwise(reps[mine], reps[other])
    return table


def _median_or_none(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def summarize(raw: dict, sizes: dict) -> dict:
    """Figures per engine and variant on both clocks, and chainrule's ratios to each other run."""
    summary: dict = {"w1": {}, "w2": {}, "w3": {}, "w4": {}, "ratios": {}}
    for run, answers in raw["w1"].items():
        summary["w1"][run] = {f"{clock}_ms": statistics.median(_per_rep({run: answers}, clock)[run])
                              for clock in CLOCKS}
        summary["w1"][run]["reps_wall_ms"] = _per_rep({run: answers}, "wall")[run]
    summary["ratios"]["W1 moons step"] = _ratios(raw["w1"])
    losses = {name: answer["loss"] for name, answer in raw["w1_loss"].items()}
    grads = {name: answer["grads"] for name, answer in raw["w1_loss"].items()}
    names = list(losses)
    compile_ms = raw.get("w5_compile") or {}
    summary["w5_compile"] = {form: _median_or_none(compile_ms.get(form, [])) for form in
                             ("per_sample", "cpu_per_sample", "loop", "batched")}
    summary["w1_agreement"] = {
        "loss_after_steps": losses,
        "steps": workloads.LOSS_STEPS,
        "max_loss_difference": max((abs(losses[a] - losses[b]) for a in names for b in names), default=None),
        "max_initial_gradient_difference": max(
            (abs(x - y) for a in names for b in names for x, y in zip(grads[a], grads[b])), default=None
        ),
    }
    for n, results in raw["w2"].items():
        entry = {}
        for run, answers in results.items():
            good = [a for a in answers if not a.get("error")]
            failed = [a["error"] for a in answers if a.get("error")]
            entry[run] = {
                "forward_ms": _median_or_none([a["forward_ms"] for a in answers if "forward_ms" in a]),
                "backward_ms": _median_or_none([a["backward_ms"] for a in good]),
                "wall_ms": _median_or_none([_rep_ms(a, "wall") for a in good]),
                "cpu_ms": _median_or_none([_rep_ms(a, "cpu") for a in good]),
                "free_ms": _median_or_none([a["free_ms"] for a in good]),
                "error": failed[0] if failed else None,
                "grad": good[0]["grad"] if good else None,
                "value": answers[0].get("value"),
            }
        summary["w2"][n] = entry
        summary["ratios"][f"W2 chain n={int(n):,}"] = _ratios(results)
    summary["w2_limit"] = raw["w2_limit"]
    for name, answer in raw["w3"].items():
        summary["w3"][name] = {
            **answer,
            "bytes_per_node": answer["bytes"] / answer["nodes"],
            "bytes_per_product": answer["bytes"] / answer["products"],
            "bytes_per_node_with_leaves": (answer["bytes"] + answer["leaf_bytes"])
            / (answer["nodes"] + answer["leaves"]),
        }
    for run, answers in raw["w4"].items():
        ops = answers[0]["ops"]
        entry = {"ops": ops, "value": answers[0]["value"], "grad_sum": answers[0]["grad_sum"]}
        for clock in CLOCKS:
            ms = statistics.median(_per_rep({run: answers}, clock)[run])
            entry[f"{clock}_ms"] = ms
            entry[f"{clock}_ops_per_s"] = ops / (ms / 1e3)
        summary["w4"][run] = entry
    summary["ratios"]["W4 throughput (time)"] = _ratios(raw["w4"])
    summary["targets"] = _targets(summary, sizes)
    return summary


def _targets(summary: dict, sizes: dict) -> list[dict]:
    """The issue's targets for chainrule inside gc_paused, each on both clocks."""
    rows = []

    def add(name: str, values: dict, limit: float, lower_is_better: bool, unit: str) -> None:
        met = {clock: None if v is None else (v <= limit if lower_is_better else v >= limit)
               for clock, v in values.items()}
        rows.append({"target": name, "values": values, "limit": limit, "met": met, "unit": unit})

    def inverse(x: float | None) -> float | None:
        return None if x is None else 1 / x

    r1 = summary["ratios"]["W1 moons step"]
    vs = {other: r1.get(f"{MAIN_RUN} : {other}", {}) for other in OTHER_RUNS}
    add("W1 ≥ 10× faster than micrograd (gc on)",
        {c: inverse(vs["micrograd/gc_on"].get(c)) for c in CLOCKS}, 10, False, "× faster")
    add("W1 ≥ 1.5× faster than micrograd (gc off)",
        {c: inverse(vs["micrograd/gc_off"].get(c)) for c in CLOCKS}, 1.5, False, "× faster")
    add("W1 within 3× of the plain-float floor", {c: vs["floor/plain"].get(c) for c in CLOCKS}, 3, True,
        "× the floor's time")
    user = {other: r1.get(f"chainrule/user : {other}", {}) for other in OTHER_RUNS}
    add("W1-user ≥ 10× faster than micrograd (gc on), the learner's loop with gc on",
        {c: inverse(user["micrograd/gc_on"].get(c)) for c in CLOCKS}, 10, False, "× faster")
    for variant, limit, text in (("compiled", 1.0, "per-sample replay"),
                                 ("compiled_numpy", 0.15, "batched replay")):
        floor_ratio = r1.get(f"chainrule/{variant} : floor/plain", {})
        add(f"W5 {text} ≤ {limit}× the floor", {c: floor_ratio.get(c) for c in CLOCKS}, limit, True,
            "× the floor's time")
    traced = summary.get("w5_compile", {})
    add("W5 trace + compile of the one-sample graph < 100 ms",
        {"wall": traced.get("per_sample"), "cpu": traced.get("cpu_per_sample")}, 100, True, "ms")
    shapes = [summary["w3"][k]["bytes_per_node"] for k in ("chainrule", W3_BINARY) if k in summary["w3"]]
    per_node = max(shapes) if shapes else None  # the worse of chainrule's two graph shapes
    add("W3 ≤ 180 bytes per node (the worse graph shape)", {"wall": per_node, "cpu": per_node}, 180, True,
        "bytes per node")
    longest = str(max(sizes["chain"]))
    w2 = summary["w2"].get(longest, {}).get(MAIN_RUN) or {}
    add(f"W2 {int(longest):,}-step chain fwd+bwd ≤ 5 s",
        {c: w2.get(f"{c}_ms") and w2[f"{c}_ms"] / 1e3 for c in CLOCKS}, 5, True, "s")
    w4 = summary["w4"].get(MAIN_RUN) or {}
    add("W4 ≥ 10⁶ ops/s", {c: w4.get(f"{c}_ops_per_s") for c in CLOCKS}, 1e6, False, "ops/s")
    return rows


# ---------------------------------------------------------------------------
# Report.
# ---------------------------------------------------------------------------
def machine_info() -> dict:
    """What the numbers were measured on."""
    cpu = platform.processor() or ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    # Only the code measured counts: results and notes written beside it do not make the run dirty.
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", "engine", "nn",
                            "bench/*.py"], cwd=ROOT, capture_output=True, text=True)
    micrograd_version = subprocess.run(
        [sys.executable, "-c", "import importlib.metadata as m; print(m.version('micrograd'))"],
        capture_output=True, text=True,
    ).stdout.strip() or None
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "git_commit": commit.stdout.strip() + (" (with uncommitted changes)" if dirty.stdout.strip() else ""),
        "micrograd": micrograd_version,
    }


def _fmt(value: float | None, digits: int = 3) -> str:
    if value is None:
        return "—"
    return f"{value:,.{digits}g}" if abs(value) < 1000 else f"{value:,.0f}"


def _ratio_text(ratio: float | None) -> str:
    if ratio is None:
        return "—"
    return f"{ratio:.3g} ({1 / ratio:.3g}× faster)" if ratio < 1 else f"{ratio:.3g} ({ratio:.3g}× slower)"


def render(summary: dict, info: dict, sizes: dict, quick: bool) -> str:
    """The results as markdown."""
    out = [f"# chainrule benchmark{' (quick smoke run)' if quick else ''}", ""]
    out.append(f"{info['date']} · Python {info['python']} ({info['implementation']}) · {info['cpu']} · "
               f"{info['cores']} cores · load average at the end {info['load_average']} · "
               f"commit {info['git_commit']} · micrograd {info['micrograd'] or 'not installed'}")
    out.append("")
    out.append(f"One worker process per engine; {sizes['reps']} interleaved reps (W2 at its larger n and W4: "
               f"{sizes['big_reps']}); figures are medians over reps, ratios are medians of the per-rep "
               "ratios chainrule/other (below 1: chainrule is faster or smaller). Times are wall-clock, "
               "with CPU time (`time.process_time`) in parentheses: the machine's cores are shared, and "
               "CPU time counts only the engine's own work.")
    out.append("")
    out.append("Variants: chainrule *gc_paused* = the step inside `engine.gc_paused()` (what nn's "
               "training loop does); chainrule *gc_on* = nothing around the step (its `backward()` "
               "still pauses the collector for its own duration); micrograd *gc_off* = `gc.disable()` "
               "during the timed part, its cycles collected between steps outside the timing.")
    out.append("")

    out.append(f"## W1 — moons step: 2-16-16-1, {workloads.SAMPLES} samples, forward + backward + SGD "
               "update (ms per step)")
    out.append("")
    out.append("| engine | variant | ms/step wall (CPU) | per-rep medians, wall |")
    out.append("|---|---|---:|---|")
    for run, entry in summary["w1"].items():
        name, variant = run.split("/")
        row = f"{ROW_NAMES[run]}: " if run in ROW_NAMES else ""
        out.append(f"| {name} | {row}{variant} | {_fmt(entry['wall_ms'])} ({_fmt(entry['cpu_ms'])}) | "
                   f"{', '.join(_fmt(v) for v in entry['reps_wall_ms'])} |")
    out.append("")
    out.append("Variants: " + "; ".join(f"*{v}* = {VARIANT_TEXT[v]}" for v in W1_VARIANTS["chainrule"][2:])
               + ".")
    traced = summary.get("w5_compile") or {}
    if traced.get("per_sample") is not None:
        out.append("")
        wall, cpu = _fmt(traced["per_sample"]), _fmt(traced["cpu_per_sample"])
        out.append(f"W5: tracing W1's one-sample graph (one target's cost) and writing and compiling its "
                   f"Wengert list takes {wall} ms wall ({cpu} ms CPU), median; the loop over samples "
                   f"{_fmt(traced['loop'])} ms more, the batched numpy code {_fmt(traced['batched'])} ms. "
                   "Each is done once per target value (0 and 1).")
    agreement = summary["w1_agreement"]
    out.append("")
    out.append(f"Loss after {agreement['steps']} steps: " + ", ".join(
        f"{name} {loss!r}" for name, loss in agreement["loss_after_steps"].items())
        + f"; max difference {_fmt(agreement['max_loss_difference'])}; max difference of the 337 initial "
        f"gradients {_fmt(agreement['max_initial_gradient_difference'])}.")
    out.append("")

    out.append("## W2 — deep chain x ← x·1.0001 + 0.0001 (2 nodes per step), forward + backward")
    out.append("")
    out.append("| steps | engine | variant | forward ms | backward ms | fwd+bwd ms wall (CPU) | freeing ms | "
               "result |")
    out.append("|---:|---|---|---:|---:|---:|---:|---|")
    for n, entry in summary["w2"].items():
        for run, figures in entry.items():
            name, variant = run.split("/")
            result = figures["error"] or f"dx/dx₀ = {figures['grad']:.6g}"
            out.append(f"| {int(n):,} | {name} | {variant} | {_fmt(figures['forward_ms'])} | "
                       f"{_fmt(figures['backward_ms'])} | "
                       f"{_fmt(figures['wall_ms'])} ({_fmt(figures['cpu_ms'])}) | "
                       f"{_fmt(figures['free_ms'])} | {result[:80]} |")
    limit = summary["w2_limit"].get("micrograd")
    if limit:
        out.append("")
        out.append(f"micrograd's longest chain whose backward works: {limit['max_steps']} steps "
                   f"(recursion limit {limit['recursion_limit']}).")
    out.append("")

    out.append(f"## W3 — memory: Σ of {sizes['products']:,} products xᵢ·yᵢ (tracemalloc)")
    out.append("")
    out.append("A *node* is a Value created while building the graph (the products and the sum: one "
               "n-ary node in chainrule's `sum_values`, n binary additions in micrograd and in "
               f"*{W3_BINARY}*, which is Python's `sum` over chainrule Values); the 2n leaves xᵢ, yᵢ are "
               "made before and not counted. *Bytes* = memory traced by tracemalloc that is still held "
               "once the graph is built, with only the root kept: the nodes, their floats, tuples, sets "
               "and closures. The target is judged on this figure, for the worse of chainrule's two "
               "shapes; the last column counts the leaves too (their Values and floats) as nodes.")
    out.append("")
    out.append("| engine | nodes | bytes | bytes/node | bytes/product | bytes/node, leaves included |")
    out.append("|---|---:|---:|---:|---:|---:|")
    for name, entry in summary["w3"].items():
        out.append(f"| {name} | {entry['nodes']:,} | {entry['bytes']:,} | {entry['bytes_per_node']:.1f} | "
                   f"{entry['bytes_per_product']:.1f} | {entry['bytes_per_node_with_leaves']:.1f} |")
    if "micrograd" in summary["w3"]:
        theirs = summary["w3"]["micrograd"]["bytes_per_node"]
        ratios = [f"{name} {summary['w3'][name]['bytes_per_node'] / theirs:.3g}"
                  for name in ("chainrule", W3_BINARY) if name in summary["w3"]]
        out.append("")
        out.append(f"Bytes per node, chainrule/micrograd: {'; '.join(ratios)}.")
    out.append("")

    out.append("## W4 — throughput: products summed by a binary tree, forward + backward")
    out.append("")
    out.append("| engine | variant | binary ops | ms wall (CPU) | ops/s wall (CPU) |")
    out.append("|---|---|---:|---:|---:|")
    for run, entry in summary["w4"].items():
        name, variant = run.split("/")
        out.append(f"| {name} | {variant} | {entry['ops']:,} | {_fmt(entry['wall_ms'])} "
                   f"({_fmt(entry['cpu_ms'])}) | {entry['wall_ops_per_s']:,.0f} "
                   f"({entry['cpu_ops_per_s']:,.0f}) |")
    out.append("")

    out.append("## Ratios chainrule / other, time, pair by pair in this run: wall (CPU)")
    out.append("")
    out.append("| workload | chainrule variant | vs micrograd gc on | vs micrograd gc off | vs floor |")
    out.append("|---|---|---|---|---|")
    for key, table in summary["ratios"].items():
        for mine in CHAINRULE_RUNS:
            cells = [table.get(f"{mine} : {other}") for other in OTHER_RUNS]
            if any(cells):
                texts = [f"{_ratio_text(c['wall'])} ({_fmt(c['cpu'])})" if c else "—" for c in cells]
                out.append(f"| {key} | {mine.split('/')[1]} | " + " | ".join(texts) + " |")
    out.append("")

    previous = summary.get("previous")
    if previous:
        out.append(f"## Against the previous run ({previous['commit']}): chainrule gc_paused ÷ floor, CPU")
        out.append("")
        out.append("The machine's speed drifts between runs; each run's ratio to its own floor does not.")
        out.append("")
        out.append("| workload | previous run | this run |")
        out.append("|---|---:|---:|")
        for key, before in previous["ratios"].items():
            now = summary["ratios"].get(key, {}).get(f"{MAIN_RUN} : floor/plain", {}).get("cpu")
            out.append(f"| {key} | {_fmt(before)} | {_fmt(now)} |")
        out.append("")

    out.append("## Targets (chainrule inside gc_paused, and the W1-user and W5 rows)")
    out.append("")
    out.append("| target | measured, wall | met | measured, CPU | met |")
    out.append("|---|---|---|---|---|")
    for row in summary["targets"]:
        cells = []
        for clock in CLOCKS:
            met = {True: "yes", False: "**no**", None: "—"}[row["met"][clock]]
            cells += [f"{_fmt(row['values'][clock])} {row['unit']}", met]
        out.append(f"| {row['target']} | " + " | ".join(cells) + " |")
    out.append("")
    return "\n".join(out)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _previous_ratios(path: Path) -> dict | None:
    """The previous run's chainrule gc_paused ÷ floor ratios (CPU), to show no row got slower."""
    try:
        previous = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    ratios = {key: table.get(f"{MAIN_RUN} : floor/plain", {}).get("cpu")
              for key, table in previous.get("summary", {}).get("ratios", {}).items()}
    return {"commit": previous.get("machine", {}).get("git_commit", "?"),
            "ratios": {key: value for key, value in ratios.items() if value is not None}}


def main(argv: list[str] | None = None) -> None:
    """Command line: run the benchmark (or, with --worker, serve one engine)."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer repetitions and small sizes (smoke run)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results",
                        help="folder for the markdown and JSON results")
    parser.add_argument("--worker", choices=ENGINES, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker_main(args.worker)
        return
    sizes = QUICK if args.quick else FULL
    stem = "quick" if args.quick else "latest"
    previous = _previous_ratios(args.out / f"{stem}.json")
    started = time.perf_counter()
    raw = measure(sizes)
    summary = summarize(raw, sizes)
    summary["previous"] = previous
    info = machine_info()
    info["wall_s"] = round(time.perf_counter() - started, 1)
    text = render(summary, info, sizes, args.quick)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    _write_atomic(args.out / f"{stem}.md", text)
    _write_atomic(args.out / f"{stem}.json", json.dumps(
        {"machine": info, "sizes": sizes, "summary": summary, "raw": raw}, indent=1, default=str))
    _progress(f"wrote {args.out / (stem + '.md')} and .json ({info['wall_s']} s)")


if __name__ == "__main__":
    main()

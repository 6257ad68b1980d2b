"""Autograd, the hand-derived formulas and central differences, side by side, parameter by parameter.

``compare_gradients(model, X, Y)`` differentiates the course's cost

    J = −1/m Σᵢ [y⁽ⁱ⁾ ln a⁽ⁱ⁾ + (1−y⁽ⁱ⁾) ln(1−a⁽ⁱ⁾)]

three ways on the same batch: (1) the scalar engine's reverse mode over
``nn.binary_cross_entropy`` of the model's outputs, (2) the vectorized numpy
formulas of ``nn.derivations.backprop_with_rules`` (dZ[L] = A[L] − Y, dW[l] = 1/m dZ[l] A[l−1]ᵀ, ...),
(3) central differences (``engine.numerical_grad``). It also lines up the
intermediate dZ[l] and dA[l] of autograd and of the formulas.

Convention for dZ and dA: the course's dZ[l] = ∂ℒ/∂Z[l] is per sample (no 1/m);
autograd differentiates J, so a z node's ``grad`` is ∂J/∂z = dZ/m. The report
shows autograd's value multiplied by m, so both columns are the course's dZ.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from engine import Value, enable_grad, gc_paused, grad, numerical_grad, relative_error
from engine.checks import check_bool, check_instance, check_int, check_real
from nn.checks import check_batch, check_output_domain
from nn.derivations import BackpropRules, FormulaShapeError, backprop_with_rules, resolve_rules
from nn.formulas import ForwardPass, Grads, cross_entropy_cost, forward, loss_direct, params_from_model
from nn.losses import SATURATION, binary_cross_entropy, loss_taken_from_z
from nn.module import MLP

FORMULA_RTOL = 1e-10
"""Autograd vs formulas: |a − f| ≤ FORMULA_RTOL·(largest |gradient| of the group) + FORMULA_ATOL."""
FORMULA_ATOL = 1e-14
NUMERICAL_ATOL = 1e-6
"""Autograd vs central differences, as ``engine.gradcheck``: |a − n| ≤ NUMERICAL_ATOL + NUMERICAL_RTOL·|n|."""
NUMERICAL_RTOL = 1e-5
KINK_MARGIN = 1e-4
"""A relu unit with |z| below this may have its kink straddled by central differences (noted)."""


@dataclass
class GradientRow:
    """One gradient entry (a parameter, or an entry of dZ[l] / dA[l]) computed up to three ways."""

    label: str
    layer: int
    autograd: float | None
    formula: float | None
    numerical: float | None = None
    formula_ok: bool = False
    numerical_ok: bool | None = None
    abs_formula: float | None = field(init=False)
    rel_formula: float | None = field(init=False)
    abs_numerical: float | None = field(init=False)
    rel_numerical: float | None = field(init=False)

    def __post_init__(self) -> None:
        self.abs_formula, self.rel_formula = _differences(self.autograd, self.formula)
        self.abs_numerical, self.rel_numerical = _differences(self.autograd, self.numerical)

    @property
    def ok(self) -> bool:
        """True when the formula agrees with autograd and (if checked) autograd with central differences."""
        return self.formula_ok and self.numerical_ok is not False


@dataclass
class GroupSummary:
    """One layer's parameters W[l], b[l] (or its dZ[l] / dA[l]): the course's relative errors and verdicts."""

    layer: int
    quantity: str
    count: int
    formula_error: float | None
    numerical_error: float | None
    formula_numerical_error: float | None
    formula_ok: bool
    numerical_ok: bool | None


@dataclass(repr=False)
class GradientReport:
    """What ``compare_gradients`` found: per-layer summaries, per-entry rows, notes and the verdict.

    ``parameters`` are labelled like the model's parameters (``W[l]_i,j``,
    ``b[l]_i``); ``intermediates`` are ``dZ[l]_i,k`` / ``dA[l]_i,k`` (unit i,
    sample k). ``str(report)`` and ``repr(report)`` are the table, ``report.table(max_rows=None,
    intermediates=True)`` shows every row, ``to_dict()`` is JSON-serialisable,
    ``bool(report)`` is the verdict.

    Central differences are not a derivative at relu's kink: when autograd
    disagrees with them and some relu unit has |z| < KINK_MARGIN (e.g. z = 0
    exactly, a zero bias behind dead units), ``numerical_status`` is
    "inconclusive" rather than "fail", and the verdict says so.
    """

    network: str
    m: int
    rules: BackpropRules
    cost_autograd: float
    cost_formulas: float | None
    parameters: list[GradientRow]
    intermediates: list[GradientRow]
    layers: list[GroupSummary]
    tolerances: dict[str, float]
    notes: list[str]
    formula_error: str | None = None
    numerical_checked: bool = True
    relu_kinks: int = 0
    rounded_outputs: list[tuple[int, float, float]] = field(default_factory=list)
    """(sample k, a, y) where the formulas' dZ[L] is not finite because the sigmoid output a rounded to
    exactly 0 or 1 (this derivation's dA[L] is infinite there); the "course" formulas take dZ = A − Y."""

    @property
    def formula_status(self) -> str:
        """"pass", "fail", or "inconclusive": the formulas give no finite value on some entries only
        because a sigmoid output rounded to 0 or 1 (``rounded_outputs``), and agree everywhere else."""
        if self.formulas_passed:
            return "pass"
        if self.formula_error is None and self.rounded_outputs and all(
            row.formula is None or not math.isfinite(row.formula)
            for row in self.parameters + self.intermediates if not row.formula_ok
        ):
            return "inconclusive"
        return "fail"

    @property
    def formulas_passed(self) -> bool:
        """The formulas equal autograd on every parameter and every dZ / dA entry."""
        rows = self.parameters + self.intermediates
        return self.formula_error is None and all(row.formula_ok for row in rows)

    @property
    def numerical_passed(self) -> bool | None:
        """Autograd equals central differences on every parameter (None when not checked)."""
        if not self.numerical_checked:
            return None
        return all(row.numerical_ok for row in self.parameters)

    @property
    def numerical_status(self) -> str:
        """"pass", "fail", "inconclusive" (a mismatch with relu units on their kink) or "not run"."""
        if self.numerical_passed is None:
            return "not run"
        if self.numerical_passed:
            return "pass"
        return "inconclusive" if self.relu_kinks else "fail"

    @property
    def passed(self) -> bool:
        """The formulas equal autograd, and autograd does not fail against central differences
        (False when the formulas' comparison is inconclusive: it did not pass)."""
        return self.formulas_passed and self.numerical_status != "fail"

    def __bool__(self) -> bool:
        return self.passed

    def failures(self) -> list[str]:
        """Labels of the entries that failed a check, in order."""
        return [row.label for row in self.parameters + self.intermediates if not row.ok]

    def verdict(self) -> str:
        """One line: PASS or FAIL, and why."""
        numerical = self._numerical_phrase()
        if self.formula_error is not None:
            return f"FAIL: the formulas could not be evaluated ({self.formula_error}); {numerical}"
        if not self.formulas_passed:
            bad = [row for row in self.parameters + self.intermediates if not row.formula_ok]
            first = bad[0]
            total = len(self.parameters) + len(self.intermediates)
            if self.formula_status == "inconclusive":
                k, a, y = self.rounded_outputs[0]
                return (
                    f"INCONCLUSIVE: the formulas give no finite value on {len(bad)} of {total} entries, "
                    f"because {len(self.rounded_outputs)} sample(s) have a sigmoid output that rounds to "
                    f"exactly 0 or 1 (first: sample {k}, a = {a!r}, y = {y!r}): their dA[L] is infinite in "
                    f"this derivation, and dZ[L] = dA[L] ∗ g'[L](Z[L]) is inf · 0; the 'course' formulas "
                    f"take dZ[L] = A[L] − Y, finite there; {numerical}"
                )
            return (
                f"FAIL: the formulas disagree with autograd on {len(bad)} of {total} entries "
                f"(first {first.label}: autograd {_number(first.autograd)}, "
                f"formula {_number(first.formula)}); "
                f"{numerical}"
            )
        worst = max((g.formula_error or 0.0 for g in self.layers), default=0.0)
        verdict = "PASS" if self.passed else "FAIL"
        return f"{verdict}: the formulas equal autograd (largest relative error {worst:.1e}); {numerical}"

    def _numerical_phrase(self) -> str:
        if not self.numerical_checked:
            return "central differences not computed"
        errors = [g.numerical_error or 0.0 for g in self.layers if g.quantity.startswith("W")]
        worst = max(errors, default=0.0)
        if self.numerical_passed:
            return f"autograd equals central differences (relative error {worst:.1e})"
        bad = sum(1 for row in self.parameters if not row.numerical_ok)
        if self.relu_kinks:
            return (
                f"central differences differ on {bad} parameters, inconclusive: {self.relu_kinks} relu "
                f"unit(s) sit on their kink (|z| < {KINK_MARGIN:g}), where there is no derivative"
            )
        return f"autograd DISAGREES with central differences on {bad} parameters (relative error {worst:.1e})"

    def table(self, max_rows: int | None = 40, intermediates: bool = False) -> str:
        """The report as aligned text: summaries per layer, then parameter rows (and dZ / dA rows).

        At most ``max_rows`` rows per section (None: all); when rows are cut,
        every failing row is shown first, then the others in order.
        """
        if max_rows is not None:
            max_rows = check_int("GradientReport.table", "max_rows", max_rows, minimum=0,
                                 hint="or None for every row")
        intermediates = check_bool("GradientReport.table", "intermediates", intermediates)
        lines = [
            f"Gradient check: network {self.network}, m = {self.m} samples, formulas {self.rules.name!r}"
            + ("" if self.rules.correct else " (a deliberately WRONG variant)"),
            *_wrap_at_commas(self.rules.description, width=100, indent="  "),
            f"J = −1/m Σ[y ln a + (1−y) ln(1−a)]:  autograd {self.cost_autograd:.12g},  "
            f"formulas {_number(self.cost_formulas, '.12g')}",
            "",
            "Per layer, the course's relative error ‖g−g̃‖/(‖g‖+‖g̃‖):",
        ]
        header = (
            f"{'layer':>5}  {'quantity':<10} {'n':>4}  {'autograd~formula':>16}  {'autograd~numerical':>18}  "
            f"{'formula~numerical':>17}  {'formulas':>8}  {'gradcheck':>9}"
        )
        lines += [header, "-" * len(header)]
        for g in self.layers:
            lines.append(
                f"{g.layer:>5}  {g.quantity:<10} {g.count:>4}  {_number(g.formula_error, '.1e'):>16}  "
                f"{_number(g.numerical_error, '.1e'):>18}  {_number(g.formula_numerical_error, '.1e'):>17}  "
                f"{_flag(g.formula_ok):>8}  {_flag(g.numerical_ok):>9}"
            )
        lines += ["", *self._rows_table("parameter", self.parameters, max_rows)]
        if intermediates:
            lines += ["", *self._rows_table("dZ / dA (m·∂J/∂·)", self.intermediates, max_rows)]
        lines += ["", *self._footer()]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()

    __repr__ = __str__  # a bare compare_gradients(...) at the prompt shows the table

    def _rows_table(self, title: str, rows: list[GradientRow], max_rows: int | None) -> list[str]:
        header = (
            f"{title:<17} {'autograd':>17} {'formula':>17} {'numerical':>17} {'|a−f|':>8} {'rel':>8} "
            f"{'|a−n|':>8} {'rel':>8}  ok"
        )
        lines = [header, "-" * len(header)]
        shown = _pick_rows(rows, max_rows)
        for row in shown:
            status = "ok" if row.ok else ("NO formula" if not row.formula_ok else "NO numerical")
            lines.append(
                f"{row.label:<17} {_number(row.autograd, '.10g'):>17} {_number(row.formula, '.10g'):>17} "
                f"{_number(row.numerical, '.10g'):>17} {_number(row.abs_formula, '.1e'):>8} "
                f"{_number(row.rel_formula, '.1e'):>8} {_number(row.abs_numerical, '.1e'):>8} "
                f"{_number(row.rel_numerical, '.1e'):>8}  {status}"
            )
        if len(shown) < len(rows):
            lines.append(
                f"... {len(rows) - len(shown)} more rows, all ok; table(max_rows=None) shows every row"
                if all(row.ok for row in rows if row not in shown)
                else f"... {len(rows) - len(shown)} more rows; table(max_rows=None) shows every row"
            )
        return lines

    def _footer(self) -> list[str]:
        t = self.tolerances
        lines = [
            f"Tolerances: autograd vs formulas |a−f| ≤ {t['formula_rtol']:g}·max|g| (per layer and quantity) "
            f"+ {t['formula_atol']:g};",
            f"  autograd vs central differences (eps {t['eps']:g}) |a−n| ≤ {t['numerical_atol']:g} + "
            f"{t['numerical_rtol']:g}·|n| (as engine.gradcheck);",
            "  the course's reading of the relative error: < 1e−7 right, > 1e−3 almost certainly a bug.",
            "dZ[l], dA[l] are the course's per-sample ∂ℒ/∂Z, ∂ℒ/∂A; autograd's z.grad is ∂J/∂z = dZ/m, "
            "shown multiplied by m.",
        ]
        if self.formula_error is not None:
            lines.append(f"Formula error: {self.formula_error}")
        lines += [f"Note: {note}" for note in self.notes]
        lines.append(f"Verdict: {self.verdict()}")
        return lines

    def to_dict(self) -> dict[str, Any]:
        """Everything in the report as plain JSON types (nan and inf become None)."""
        return _json_safe(
            {
                "network": self.network,
                "m": self.m,
                "rules": {
                    "name": self.rules.name,
                    "description": self.rules.description,
                    "correct": self.rules.correct,
                },
                "cost": {"autograd": self.cost_autograd, "formulas": self.cost_formulas},
                "tolerances": dict(self.tolerances),
                "layers": [asdict(g) for g in self.layers],
                "parameters": [asdict(row) for row in self.parameters],
                "intermediates": [asdict(row) for row in self.intermediates],
                "notes": list(self.notes),
                "formula_error": self.formula_error,
                "formulas_passed": self.formulas_passed,
                "numerical_passed": self.numerical_passed,
                "numerical_status": self.numerical_status,
                "formula_status": self.formula_status,
                "rounded_outputs": [list(entry) for entry in self.rounded_outputs],
                "relu_kinks": self.relu_kinks,
                "passed": self.passed,
                "verdict": self.verdict(),
            }
        )


def compare_gradients(
    model: MLP,
    X: ArrayLike,
    Y: ArrayLike,
    *,
    samples_as: str = "columns",
    formulas: str | BackpropRules = "course",
    numerical: bool = True,
    eps: float = 1e-6,
    rtol: float = FORMULA_RTOL,
    atol: float = FORMULA_ATOL,
    numerical_atol: float = NUMERICAL_ATOL,
    numerical_rtol: float = NUMERICAL_RTOL,
) -> GradientReport:
    """dJ/dW[l], dJ/db[l] by autograd, by the hand-derived formulas and by central differences.

    ``X`` has shape (n_x, m) — columns are samples, as in the course — or
    (m, n_x) with ``samples_as="rows"``; ``Y`` has shape (1, m) or (m,), labels
    in [0, 1]. The model needs one output unit (the cost is the binary
    cross-entropy). ``formulas`` names the backprop wiring (``nn.derivations.RULES``,
    e.g. a deliberately wrong ``"missing_1_over_m"``) or is a ``BackpropRules``.

    An entry's formula passes when |a − f| ≤ rtol·s + atol, with s the largest
    |gradient| of its group (a layer's parameters, its dZ, its dA) — rounding is
    relative to the group, so a gradient that is tiny by cancellation does not
    fail. Autograd passes against central differences when
    |a − n| ≤ numerical_atol + numerical_rtol·|n|. The model's ``.grad``s are
    left as they were. Central differences cost 2·(number of parameters)
    forward passes over the batch; ``numerical=False`` skips them.
    """
    _check_model(model)
    chosen = resolve_rules(formulas, "compare_gradients", "formulas")
    numerical = check_bool("compare_gradients", "numerical", numerical)
    tolerances = {
        "formula_rtol": check_real("compare_gradients", "rtol", rtol, minimum=0.0),
        "formula_atol": check_real("compare_gradients", "atol", atol, minimum=0.0),
        "eps": check_real("compare_gradients", "eps", eps, above=0.0),
        "numerical_atol": check_real("compare_gradients", "numerical_atol", numerical_atol, minimum=0.0),
        "numerical_rtol": check_real("compare_gradients", "numerical_rtol", numerical_rtol, minimum=0.0),
    }
    x, y = check_batch(X, Y, model.nin, samples_as=samples_as, caller="compare_gradients")
    cache = forward(params_from_model(model), x)
    check_output_domain(cache.A[cache.L], y, model.output_activation, cache.L, caller="compare_gradients")
    auto = _by_autograd(model, x, y)
    by_formulas = _by_formulas(model, x, y, chosen)
    central = _central_differences(model, x, y, tolerances["eps"]) if numerical else None
    parameters, parameter_summaries = _parameter_rows(model, auto, by_formulas, central, tolerances)
    intermediates, intermediate_summaries = _intermediate_rows(model, auto, by_formulas, tolerances)
    kinks = _relu_kinks(model, by_formulas.cache)
    return GradientReport(
        network=_describe(model), m=x.shape[1], rules=chosen, cost_autograd=auto.cost.data,
        cost_formulas=by_formulas.cost, parameters=parameters, intermediates=intermediates,
        layers=parameter_summaries + intermediate_summaries, tolerances=tolerances,
        notes=_notes(kinks, auto.saturated, x.shape[1], auto.outputs), formula_error=by_formulas.error,
        numerical_checked=numerical, relu_kinks=sum(kinks.values()), rounded_outputs=by_formulas.rounded,
    )


def _check_model(model: MLP) -> None:
    """An nn.MLP with one output unit (the binary cross-entropy's a), else TypeError / ValueError."""
    check_instance("compare_gradients", "model", model, MLP, "an nn.MLP")
    if model.sizes[-1] != 1:
        raise ValueError(
            f"compare_gradients: the binary cross-entropy needs one output unit; the model's last layer "
            f"has n[L] = {model.sizes[-1]}"
        )


class _Autograd(NamedTuple):
    """Autograd's side: J, ∂J/∂(parameter) in ``named_parameters`` order, ∂J/∂Z[l], ∂J/∂A[l] as (n[l], m)."""

    cost: Value
    parameters: list[float]
    z_grads: dict[int, np.ndarray]
    a_grads: dict[int, np.ndarray]
    outputs: list[Value]
    saturated: list[int]
    """Samples whose sigmoid output is within SATURATION of 0 or 1 (the loss took their z)."""


class _Formulas(NamedTuple):
    """The formulas' side: their gradients (None when a rule failed, with the error), J, the forward cache."""

    grads: Grads | None
    error: str | None
    cost: float
    cache: ForwardPass
    rounded: list[tuple[int, float, float]]
    """(k, a, y) of the samples whose dZ[L] is not finite while their sigmoid output a is exactly 0 or 1."""


def _by_autograd(model: MLP, x: np.ndarray, y: np.ndarray) -> _Autograd:
    """J and every gradient autograd gives, from one graph over the batch (no ``.grad`` is written).

    The graph is recorded even inside a user's ``no_grad()`` block (``enable_grad``).
    """
    named = model.named_parameters()
    samples, labels = _samples(x, y)
    with gc_paused(), enable_grad():
        traces = [model.trace(sample) for sample in samples]
        outputs = [trace[-1][1][0] for trace in traces]
        cost = binary_cross_entropy(outputs, labels)
        z_nodes = [node for trace in traces for zs, _ in trace for node in zs]
        a_nodes = [node for trace in traces for _, activations in trace for node in activations]
        gradients = grad(cost, [p for _, p in named] + z_nodes + a_nodes)
    m, count = len(samples), len(named)
    saturated = [k for k, a in enumerate(outputs) if loss_taken_from_z(a)]
    return _Autograd(
        cost, gradients[:count], _per_layer(gradients[count : count + len(z_nodes)], model, m),
        _per_layer(gradients[count + len(z_nodes) :], model, m), outputs, saturated,
    )


def _by_formulas(model: MLP, x: np.ndarray, y: np.ndarray, rules: BackpropRules) -> _Formulas:
    """The hand-derived gradients wired by ``rules``, and J from the formulas' own forward pass."""
    params = params_from_model(model)
    grads, error = None, None
    try:
        with np.errstate(all="ignore"):  # inf · 0 where a rounded to 0 or 1: reported, not warned
            grads = backprop_with_rules(params, x, y, rules)
    except FormulaShapeError as failure:
        error = str(failure)
    cache = forward(params, x)
    last = cache.L
    rounded = []
    if grads is not None and model.output_activation == "sigmoid":
        a = cache.A[last][0]
        not_finite = ~np.isfinite(np.asarray(grads[f"dZ[{last}]"], dtype=float)[0])
        if not_finite.any() and np.all((a[not_finite] == 0.0) | (a[not_finite] == 1.0)):
            rounded = [(int(k), float(a[k]), float(y[0, k])) for k in np.flatnonzero(not_finite)]
    if model.output_activation == "sigmoid":  # the article's direct form, finite even where a rounds to 1
        cost = float(np.mean(loss_direct(cache.Z[last], y)))
    else:
        cost = cross_entropy_cost(cache.A[last], y)
    return _Formulas(grads, error, cost, cache, rounded)


def _central_differences(model: MLP, x: np.ndarray, y: np.ndarray, eps: float) -> list[float]:
    """(J(p + ε) − J(p − ε))/2ε for every parameter p, by ``engine.numerical_grad``."""
    samples, labels = _samples(x, y)

    def batch_cost() -> Value:
        return binary_cross_entropy([model(sample) for sample in samples], labels)

    return numerical_grad(batch_cost, model.parameters(), eps)


def _parameter_rows(
    model: MLP, auto: _Autograd, by_formulas: _Formulas, central: list[float] | None,
    tolerances: dict[str, float],
) -> tuple[list[GradientRow], list[GroupSummary]]:
    """One row per parameter and one summary per layer's W[l], b[l]: autograd, formula, central difference."""
    named = model.named_parameters()
    numerical = central if central is not None else [None] * len(named)
    rows: list[GradientRow] = []
    summaries: list[GroupSummary] = []
    position = 0
    for index, layer in enumerate(model.layers, start=1):
        count = layer.nin * layer.nout + layer.nout
        here = slice(position, position + count)
        formula: list[float | None] = [None] * count
        if by_formulas.grads is not None:
            formula = by_formulas.grads[f"dW[{index}]"].ravel().tolist()
            formula += by_formulas.grads[f"db[{index}]"].ravel().tolist()
        layer_rows, summary = _group(
            index, f"W[{index}],b[{index}]", [label for label, _ in named[here]], auto.parameters[here],
            formula, numerical[here], tolerances, central is not None,
        )
        rows += layer_rows
        summaries.append(summary)
        position += count
    return rows, summaries


def _intermediate_rows(
    model: MLP, auto: _Autograd, by_formulas: _Formulas, tolerances: dict[str, float]
) -> tuple[list[GradientRow], list[GroupSummary]]:
    """One row per entry of dZ[l] and dA[l] (unit i, sample k) and one summary per matrix.

    Autograd holds ∂J/∂Z = dZ/m, so its values are multiplied by m to read as the course's dZ.
    """
    m, last = by_formulas.cache.m, len(model.layers)
    grads = by_formulas.grads
    rows: list[GradientRow] = []
    summaries: list[GroupSummary] = []
    for kind, autograd in (("dZ", auto.z_grads), ("dA", auto.a_grads)):
        for index in range(1, last + 1):
            values = autograd[index] * m
            if kind == "dA" and index == last:
                values[0, auto.saturated] = np.nan  # the loss took z there: the a node is not in the graph
            key = f"{kind}[{index}]"
            formula = grads[key] if grads is not None and key in grads else np.full(values.shape, np.nan)
            labels = [f"{key}_{i},{k}" for i in range(values.shape[0]) for k in range(m)]
            matrix_rows, summary = _group(
                index, key, labels, _floats_or_none(values), _floats_or_none(formula),
                [None] * values.size, tolerances, False,
            )
            rows += matrix_rows
            summaries.append(summary)
    return rows, summaries


def _relu_kinks(model: MLP, cache: ForwardPass) -> dict[int, int]:
    """For each relu layer l, how many of its pre-activations Z[l] lie within KINK_MARGIN of the kink."""
    return {
        index: int(np.sum(np.abs(cache.Z[index]) < KINK_MARGIN))
        for index, layer in enumerate(model.layers, start=1)
        if layer.activation == "relu"
    }


def _samples(x: np.ndarray, y: np.ndarray) -> tuple[list[list[float]], list[float]]:
    """The batch as the engine takes it: one list of numbers per sample (column of X), and the labels."""
    return [column.tolist() for column in x.T], y[0].tolist()


def _group(
    layer: int, quantity: str, labels: Sequence[str], autograd: Sequence[float | None],
    formula: Sequence[float | None], numerical: Sequence[float | None], tolerances: dict[str, float],
    numerical_checked: bool,
) -> tuple[list[GradientRow], GroupSummary]:
    """Rows and the summary for one group of entries (a layer's parameters, its dZ or its dA)."""
    present = [(a, f) for a, f in zip(autograd, formula, strict=True) if a is not None and f is not None]
    scale = max((max(abs(a), abs(f)) for a, f in present if math.isfinite(f)), default=0.0)
    bound = tolerances["formula_rtol"] * scale + tolerances["formula_atol"]
    rows = []
    for label, a, f, n in zip(labels, autograd, formula, numerical, strict=True):
        formula_ok = a is None or (f is not None and math.isfinite(f) and abs(a - f) <= bound)
        numerical_ok = None
        if numerical_checked and a is not None and n is not None:
            numerical_ok = abs(a - n) <= tolerances["numerical_atol"] + tolerances["numerical_rtol"] * abs(n)
        rows.append(GradientRow(label, layer, a, f, n, formula_ok, numerical_ok))
    compared = [r for r in rows if r.autograd is not None]
    formula_error = numerical_error = formula_numerical_error = None
    if compared and all(r.formula is not None for r in compared):
        formula_error = relative_error([r.autograd for r in compared], [r.formula for r in compared])
    if numerical_checked and compared:
        numerical_error = relative_error([r.autograd for r in compared], [r.numerical for r in compared])
        if formula_error is not None:
            formula_numerical_error = relative_error(
                [r.formula for r in compared], [r.numerical for r in compared]
            )
    summary = GroupSummary(
        layer, quantity, len(compared), formula_error, numerical_error, formula_numerical_error,
        all(r.formula_ok for r in rows),
        all(r.numerical_ok for r in rows if r.numerical_ok is not None) if numerical_checked else None,
    )
    return rows, summary


def _per_layer(values: Sequence[float], model: MLP, m: int) -> dict[int, np.ndarray]:
    """Per-sample node gradients (sample-major, unit within layer) as {l: array (n[l], m)}."""
    widths = model.sizes
    per_sample = sum(widths)
    table = np.asarray(values, dtype=float).reshape(m, per_sample)
    out, start = {}, 0
    for layer_index, width in enumerate(widths, start=1):
        out[layer_index] = table[:, start : start + width].T.copy()
        start += width
    return out


def _notes(kinks: dict[int, int], saturated: list[int], m: int, outputs: list[Value]) -> list[str]:
    """What makes a comparison less telling on this batch: saturation, relu kinks, m = 1."""
    notes = []
    if saturated:
        shown = ", ".join(f"{k} (a = {outputs[k].data:.17g})" for k in saturated[:5])
        notes.append(
            f"{len(saturated)} sample(s) have a sigmoid output within {SATURATION:g} of 0 or 1: {shown}. "
            "binary_cross_entropy takes the loss from z there, so autograd has no dA[L] for them "
            "(shown —), and a − y carries an absolute rounding of ~1e−16, large relative to a tiny dZ."
        )
    for layer_index, near in kinks.items():
        if near:
            notes.append(
                f"layer {layer_index} has {near} relu pre-activation(s) with |z| < {KINK_MARGIN:g}: central "
                "differences may straddle the kink, where autograd and the formulas take relu'(0) = 0; "
                "a numerical disagreement there is expected."
            )
    if m == 1:
        notes.append("m = 1: a missing 1/m cannot show; use m ≥ 2 to test it.")
    return notes


def _wrap_at_commas(text: str, width: int, indent: str) -> list[str]:
    """``text`` on lines of at most ``width`` characters, broken only after ", " (formulas stay whole)."""
    lines: list[str] = []
    for part in text.split(", "):
        if lines and len(lines[-1]) + 2 + len(part) <= width:
            lines[-1] += ", " + part
        else:
            if lines:
                lines[-1] += ","
            lines.append(indent + part)
    return lines


def _describe(model: MLP) -> str:
    widths = "-".join(str(w) for w in [model.nin, *model.sizes])
    if len(model.sizes) == 1:
        return f"{widths} ({model.output_activation} output)"
    return f"{widths} ({model.activation} hidden, {model.output_activation} output)"


def _differences(a: float | None, b: float | None) -> tuple[float | None, float | None]:
    """|a − b| and |a − b|/max(|a|, |b|) (0 when both are 0); None when either is missing."""
    if a is None or b is None:
        return None, None
    difference = abs(a - b)
    scale = max(abs(a), abs(b))
    return difference, (difference / scale if scale > 0.0 else 0.0)


def _floats_or_none(array: np.ndarray) -> list[float | None]:
    return [None if math.isnan(v) else float(v) for v in np.asarray(array, dtype=float).ravel()]


def _pick_rows(rows: list[GradientRow], max_rows: int | None) -> list[GradientRow]:
    """All rows, or at most ``max_rows``: the failing ones first, then the rest, shown in order."""
    if max_rows is None or len(rows) <= max_rows:
        return rows
    failing = [i for i, row in enumerate(rows) if not row.ok][:max_rows]
    rest = [i for i, row in enumerate(rows) if row.ok][: max_rows - len(failing)]
    return [rows[i] for i in sorted(failing + rest)]


def _number(value: float | None, spec: str = ".6g") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return format(value, spec)


def _flag(value: bool | None) -> str:
    return "—" if value is None else ("ok" if value else "FAIL")


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value

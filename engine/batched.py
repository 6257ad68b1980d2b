"""The batched replay: one trace of ``engine.compile`` evaluated on numpy arrays of m samples at once.

The per-sample Wengert list, run with an array of m numbers in each per-sample
variable, computes all m samples in one pass; parameters are single numbers shared
by every sample, and their gradients add up over the samples. Fused, it is the
course's vectorized form: the ``linear`` nodes of one layer (one per unit, all
reading the same inputs) become one matrix product, and the activations applied
to each of them one array operation,

    Z1 = W1 @ A0 + b1                       Z[1] = W[1]A[0] + b[1]
    A1 = tanh(Z1)                           A[1] = g(Z[1])
    ...
    dZ1 = dA1 * (1.0 - A1 * A1)           dZ[1] = dA[1] ∗ g′(Z[1])
    dW1 = 1 / m * dZ1 @ A0.T                dW[1] = 1/m dZ[1] A[0]ᵀ
    db1 = 1 / m * np.sum(dZ1, axis=1, keepdims=True)
    dA0 = W1.T @ dZ1                        dA[0] = W[1]ᵀ dZ[1]

with a sample per column. Only the fusion knows that a layer of ``linear`` nodes
is a matrix product (Z = WA + b, so dW = dZ Aᵀ, dA = Wᵀ dZ, db = Σ dZ); every
other line is written from the op definitions, as in the per-sample code.

numpy is imported here only, so ``import engine`` does not need it.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from engine.checks import short_repr
from engine.compiled import (
    BranchChangedError,
    CompiledFunction,
    Identifiers,
    Line,
    Path,
    Samples,
    Symbols,
    Trace,
    TraceError,
    chain_rule_terms,
    comment,
    forward_note,
    function_from_source,
    noted,
    op_namespace,
    times,
    undecided_error,
    wrapped,
    write_op,
    written,
)
from engine.explain import ACTIVATIONS, d
from engine.notation import ATOM
from engine.symbolic import Expression, derivative_formulas
from engine.value import OPS, Op

_LINEAR = OPS["linear"]


# ---------------------------------------------------------------------------
# The ops on arrays
# ---------------------------------------------------------------------------
def _sigmoid(z: np.ndarray) -> np.ndarray:
    # The engine's stable form elementwise: 1 − e/(1 + e) with e = e⁻ᶻ for z ≥ 0, e/(1 + e) with e = eᶻ below.
    e = np.exp(-np.abs(z))
    return np.where(z >= 0.0, 1.0 - e / (1.0 + e), e / (1.0 + e))


_BUILT_IN_ARRAY_FORMS: dict[str, Callable[..., Any]] = {
    # The built-in ops have no array_forward yet (engine/value.py); their numpy forms, each the
    # op's forward elementwise (tests/test_compiled.py checks every one against it).
    "exp": np.exp,
    "log": np.log,
    "tanh": np.tanh,
    "sigmoid": _sigmoid,
    "relu": lambda z: np.where(z > 0.0, z, 0.0),
    "step": lambda z: np.where(z > 0.0, 1.0, 0.0),
}


def array_form(op: Op) -> Callable[..., Any]:
    """``op``'s forward on arrays: its ``array_forward``, the numpy form of a built-in, else
    its forward applied element by element."""
    if op.array_forward is not None:
        return op.array_forward
    if op.name in _BUILT_IN_ARRAY_FORMS:
        return _BUILT_IN_ARRAY_FORMS[op.name]
    return np.vectorize(op.forward, otypes=[float])


class _WrongArrayFormError(Exception):
    """A user's ``array_forward`` disagrees with the op's forward (not a ValueError: never a fallback)."""


ARRAY_FORM_RTOL = 1e-9
"""How far an op's ``array_forward`` may be from its forward, relative: rounding only."""


def checked_array_form(op: Op) -> Callable[..., Any]:
    """``array_form(op)``; a user's ``array_forward`` is compared with the op's forward element by
    element on the first arrays it gets (the batch's own numbers), raising if they differ."""
    form = array_form(op)
    if op.array_forward is None:
        return form
    unchecked = [True]

    def checked(*inputs: Any) -> Any:
        result = form(*inputs)
        if unchecked[0]:
            _compare_array_form(op, inputs, result)
            unchecked[0] = False
        return result

    return checked


def _compare_array_form(op: Op, inputs: Sequence[Any], result: Any) -> None:
    arrays = np.broadcast_arrays(*(np.asarray(x, dtype=float) for x in inputs))
    shape = arrays[0].shape if arrays else ()
    try:
        given = np.broadcast_to(np.asarray(result, dtype=float), shape)
    except (TypeError, ValueError):
        raise _WrongArrayFormError(
            f"engine.compile: the array_forward of op {op.name!r} returned {short_repr(result)} for "
            f"inputs of shape {shape}: it must return one number per element, its forward elementwise"
        ) from None
    for position in np.ndindex(shape):
        numbers = [float(a[position]) for a in arrays]
        try:
            expected = float(op.forward(*numbers))
        except (ArithmeticError, ValueError, TypeError):
            continue  # outside the op's domain: the batch falls back and the engine says why
        mine = float(given[position])
        if math.isfinite(expected) and not abs(mine - expected) <= ARRAY_FORM_RTOL * abs(expected):
            raise _WrongArrayFormError(
                f"engine.compile: the array_forward of op {op.name!r} gives {mine!r} at "
                f"{', '.join(map(repr, numbers))}, its forward {expected!r}: array_forward must be the "
                f"forward on arrays (fix it in define_op({op.name!r}, ...), or leave it out)"
            )


def _rule_on_arrays(op: Op) -> Callable[..., tuple]:
    """``op.local_grads`` element by element, for a rule that cannot run on symbols."""
    def one(*numbers: float) -> tuple:
        return tuple(0.0 if g is None else float(g) for g in op.local_grads(*numbers))

    return lambda *arrays: tuple(np.asarray(x, dtype=float) for x in np.vectorize(one)(*arrays))


def _stack(*rows: Any) -> np.ndarray:
    """Rows of m numbers (or single numbers, repeated) as one (rows, m) matrix."""
    return np.stack(np.broadcast_arrays(*rows))


def _changed(test: Callable, values: Any, outcome: bool) -> Any:
    """For each sample, did the decision ``test`` come out other than ``outcome``?"""
    try:
        decided = np.asarray(test(values), dtype=bool)
        if decided.shape != np.shape(values):
            raise ValueError
    except (TypeError, ValueError):  # a test written for one number at a time
        decided = np.array([bool(test(x)) for x in np.ravel(values)], dtype=bool).reshape(np.shape(values))
    return decided != outcome


def _namespace(trace: Trace) -> dict[str, Any]:
    """What the batched code calls: numpy, its helpers, and the ops and rules on arrays."""
    helpers = {"np": np, "stack": _stack, "_changed": _changed}  # names define_op refuses (CODE_NAMES)
    return {**helpers, **op_namespace(trace, checked_array_form, _rule_on_arrays)}


# ---------------------------------------------------------------------------
# Fusion: a layer's linear nodes, and what is applied to each of them
# ---------------------------------------------------------------------------
@dataclasses.dataclass(eq=False)
class Unit:
    """A line of the batched code: one node (``kind`` "node"), or a fused group of nodes.

    "layer": ``linear`` nodes reading the same inputs, Z = W·In + b (a row per node);
    "map": the same op applied to each row of ``source`` (A = g(Z)).
    """

    kind: str
    rows: list[int]
    name: str = ""
    source: Unit | None = None
    weights: list[list[int]] = dataclasses.field(default_factory=list)
    biases: list[int] = dataclasses.field(default_factory=list)
    inputs: list[int] = dataclasses.field(default_factory=list)
    weight_name: str = ""
    bias_name: str = ""
    input_name: str = ""
    adjoint: str = ""
    """The identifier of the unit's adjoint (``dZ1``)."""
    weight_adjoint: str = ""
    bias_adjoint: str = ""
    input_adjoint: str = ""


_WEIGHT = re.compile(r"^([A-Za-z])\[([0-9]+)\]_[0-9]+,[0-9]+$")
_BIAS = re.compile(r"^([A-Za-z])\[([0-9]+)\]_[0-9]+$")


def _layers(trace: Trace, shared: set[int], varies: list[bool]) -> list[Unit]:
    """Groups of per-sample ``linear`` nodes with the same inputs, shared weights and bias."""
    groups: dict[tuple, Unit] = {}
    for k, step in enumerate(trace.steps):
        if step.op is not _LINEAR or not varies[k]:
            continue
        n = (len(step.inputs) - 1) // 2
        weights, inputs, bias = list(step.inputs[:n]), list(step.inputs[n : 2 * n]), step.inputs[-1]
        if not all(type(w) is int and w in shared for w in [*weights, bias]):
            continue
        unit = groups.setdefault(tuple(inputs), Unit("layer", [], inputs=inputs))
        unit.rows.append(k)
        unit.weights.append(weights)
        unit.biases.append(bias)
    return list(groups.values())


def _maps(trace: Trace, source: Unit, consumers: dict[int, list[int]], taken: set[int]) -> Unit | None:
    """The nodes applying one same op (and number operand) to every row of ``source``, as a unit."""
    def form(k: int) -> tuple | None:
        step = trace.steps[k]
        values = [x for x in step.inputs if type(x) is int]
        if step.op is None or len(values) != 1 or step.op is _LINEAR or step.op.arity is None:
            return None
        if _map_rule(step.op, step.inputs, "out", "source") is None:
            return None  # a rule that cannot be written over matrices: the nodes stay apart
        return (step.op, tuple(x if type(x) is not int else None for x in step.inputs))

    first = [k for k in consumers.get(source.rows[0], ()) if k not in taken and form(k) is not None]
    for candidate in first:
        wanted = form(candidate)
        rows = [candidate]
        for row in source.rows[1:]:
            match = next((k for k in consumers.get(row, ()) if k not in taken and form(k) == wanted), None)
            if match is None:
                break
            rows.append(match)
        else:
            return Unit("map", rows, source=source)
    return None


def _units(trace: Trace, shared: set[int], varies: list[bool], fuse: bool) -> list[Unit]:
    """Every op node in a unit (fused where it can be), the units in an order where each comes
    after the units it reads."""
    fused: list[Unit] = []
    taken: set[int] = set()
    if fuse:
        consumers: dict[int, list[int]] = {}
        for k, step in enumerate(trace.steps):
            for x in step.inputs:
                if type(x) is int:
                    consumers.setdefault(x, []).append(k)
        for layer in _layers(trace, shared, varies):
            fused.append(layer)
            taken.update(layer.rows)
            activation = _maps(trace, layer, consumers, taken)  # A = g(Z), the course's next line
            if activation is not None:
                fused.append(activation)
                taken.update(activation.rows)
    units = fused + [Unit("node", [k]) for k, step in enumerate(trace.steps)
                     if step.op is not None and k not in taken]
    # The steps are parents first, and a unit reads only steps before its first row (a layer's rows
    # share their inputs; a map's rows each read a row of its layer): by first row is a
    # topological order.
    return sorted(units, key=lambda unit: min(unit.rows))


# ---------------------------------------------------------------------------
# Writing the batched code
# ---------------------------------------------------------------------------
@dataclasses.dataclass
class BatchedReplay:
    """The numpy code of one trace for one pattern of per-sample arguments, and how to call it."""

    source: str
    function: Callable
    calling: _Calling

    def run(self, path: Path, samples: Samples, columns: list, seeds: np.ndarray, indices: np.ndarray,
            result: _Result) -> None:
        """Replay samples ``indices`` and add their values and gradients to ``result``."""
        calling = self.calling
        shared = np.empty(calling.width)
        shared[: len(path.trace.shared)] = path.shared_data()
        for j, position in calling.fixed_arguments:
            shared[position] = columns[j]
        everyone = indices.size == samples.m
        arguments = [(c if everyone else c[indices]) if flag else c
                     for c, flag in zip(columns, samples.per_sample)]
        matrices = [shared[index] if kind == "W" else shared[index][:, None]
                    for kind, index in calling.matrices]
        alone = [float(x) for x in shared[calling.alone]]
        with np.errstate(divide="raise", over="raise", invalid="raise", under="ignore"):
            values, gradients = self.function(*arguments, *matrices, *alone, samples.m,
                                              seeds if everyone else seeds[indices])
            if not (all(np.isfinite(v).all() for v in values)
                    and all(np.isfinite(x).all() for x in gradients)):
                raise _NotFiniteError
        for j, v in enumerate(values):
            result.values[j, indices] = v
        for (kind, slot), gradient in zip(calling.targets, gradients):
            if kind == "row":
                result.per_sample[slot][indices] = gradient
            elif kind == "total":
                result.totals[slot] += float(np.sum(gradient))
            else:
                np.add.at(result.totals, slot, np.reshape(gradient, slot.shape))


def _nodes(count: int, op: str) -> str:
    return f"{count} {op} node{'s' if count != 1 else ''}"


class _Writer:
    def __init__(self, trace: Trace, per_sample: Sequence[bool], reduce: str, fuse: bool) -> None:
        self.trace = trace
        self.steps = trace.steps
        self.reduce = reduce
        self.varying_arguments = varying = {k for j, k in enumerate(trace.arguments) if per_sample[j]}
        shared = {k for k, step in enumerate(self.steps) if step.op is None and k not in varying}
        self.units = _units(trace, shared, trace.depends_on(varying), fuse)
        self.owner = {row: unit for unit in self.units for row in unit.rows}
        self.namespace = _namespace(trace)
        reserved = {step.name for step in self.steps} | set(trace.adjoints.values()) | set(self.namespace)
        self.identifiers = Identifiers(reserved | {trace.function_name})
        self.count = self.identifiers.claim("m", "m")
        """The sample count's identifier: ``m`` (the nodes' names avoid it), unless an op is named m."""
        self._name_units()
        self.read_one_by_one = self._steps_read_one_by_one()  # after _name_units, which sets unit.source

    # -- names: the course's where the labels give them
    def _name_units(self) -> None:
        claim = self.identifiers.claim
        for unit in self.units:
            if unit.kind == "layer":
                layer = self._layer_number(unit)
                unit.name = claim(f"Z{layer}" if layer else None, f"Z_{unit.rows[0]}")
                unit.weight_name = claim(f"W{layer}" if layer else None, f"W_{unit.rows[0]}")
                unit.bias_name = claim(f"b{layer}" if layer else None, f"b_{unit.rows[0]}")
                source = self._source_of_inputs(unit)
                if source is None:
                    previous = f"A{int(layer) - 1}" if layer else None
                    unit.input_name = claim(previous, f"In_{unit.rows[0]}")
                else:
                    unit.source = source
                    unit.input_name = source.name
            elif unit.kind == "map":
                layer = self._layer_number(unit.source)  # type: ignore[arg-type]
                op = self.steps[unit.rows[0]].op
                course = f"A{layer}" if layer and op is not None and op.name in ACTIVATIONS else None
                unit.name = claim(course, f"G_{unit.rows[0]}")
        for unit in self.units:  # then the adjoints: dZ1, dW1, db1, dA0
            if unit.kind != "node":
                unit.adjoint = claim("d" + unit.name, "d_" + unit.name)
            if unit.kind == "layer":
                unit.weight_adjoint = claim("d" + unit.weight_name, "d_" + unit.weight_name)
                unit.bias_adjoint = claim("d" + unit.bias_name, "d_" + unit.bias_name)
                if unit.source is None:
                    unit.input_adjoint = claim("d" + unit.input_name, "d_" + unit.input_name)

    def _layer_number(self, unit: Unit) -> str:
        """``1`` when the weights are labelled W[1]_i,j and the biases b[1]_i (one letter, one layer)."""
        found = set()
        for row_weights, bias in zip(unit.weights, unit.biases):
            for w in row_weights:
                match = _WEIGHT.match(self.steps[w].label)
                found.add(match.group(2) if match else None)
            match = _BIAS.match(self.steps[bias].label)
            found.add(match.group(2) if match else None)
        return found.pop() if len(found) == 1 and None not in found else ""

    def _source_of_inputs(self, unit: Unit) -> Unit | None:
        """The unit whose rows, in order, are exactly this layer's inputs (the previous A), if any."""
        owner = self.owner.get(unit.inputs[0])
        if owner is not None and owner is not unit and owner.rows == unit.inputs:
            return owner
        return None

    # -- forward
    def forward(self) -> list[Line]:
        """The forward lines, each recorded decision checked on every sample after its node."""
        code = Symbols(self.steps, "code")
        text = Symbols(self.steps, "text")
        decisions = self.trace.decisions
        lines: list[Line] = []
        for unit in self.units:
            if unit.kind == "node":
                k = unit.rows[0]
                step = self.steps[k]
                lines.append(Line(f"{step.name} = {code.forward(k)}", forward_note(step, text.forward(k))))
            elif unit.kind == "layer":
                if unit.source is None:
                    rows = ", ".join(self.steps[x].name for x in unit.inputs)
                    lines.append(Line(f"{unit.input_name} = stack({rows})",
                                      f"{unit.input_name}: the layer's inputs, a sample per column"))
                lines.append(Line(
                    f"{unit.name} = {unit.weight_name} @ {unit.input_name} + {unit.bias_name}",
                    f"Z = W·A + b: {_nodes(len(unit.rows), 'linear')} at once   [linear]",
                ))
            else:
                step = self.steps[unit.rows[0]]
                operands = [(unit.source.name, ATOM) if type(x) is int else code.operand(x)  # type: ignore[union-attr]
                            for x in step.inputs]
                lines.append(Line(f"{unit.name} = {write_op(step.op, operands, 'code')}",  # type: ignore[arg-type]
                                  f"{_nodes(len(unit.rows), step.op.name)} at once   [{step.op.name}]"))  # type: ignore[union-attr]
            for position, row in enumerate(unit.rows):
                if unit.kind != "node" and row in self.read_one_by_one:
                    lines.append(Line(f"{self.steps[row].name} = {unit.name}[{position}]",
                                      comment(self.steps[row].text)))
                lines += [self._decision(b) for b in decisions.get(row, ())]
        leaves = [b for k, step in enumerate(self.steps) if step.op is None for b in decisions.get(k, ())]
        return [self._decision(b) for b in leaves] + lines  # a decision on an input: checked first

    def _decision(self, b: int) -> Line:
        """The line marking the samples whose decision ``b`` comes out other than when traced."""
        step, _, outcome, description = self.trace.branches[b]
        name, text = self.steps[step].name, self.steps[step].text
        return Line(
            f"_off = _off | _changed(_test{b}, {name}, {outcome})",
            comment(f"branch_on({text}), sample by sample: {description}? {'yes' if outcome else 'no'}, "
                    "when traced"),
        )

    def _steps_read_one_by_one(self) -> set[int]:
        """The steps some line reads as numbers of their own (not only as entries of W, b or a matrix):
        the outputs, the nodes decisions are taken on, the inputs of unfused nodes and of stacked layers."""
        alone = set(self.trace.outputs) | {step for step, _, _, _ in self.trace.branches}
        for unit in self.units:
            if unit.kind == "node":
                alone.update(x for x in self.steps[unit.rows[0]].inputs if type(x) is int)
            elif unit.kind == "layer" and unit.source is None:
                alone.update(unit.inputs)
        return alone

    # -- backward
    def backward(self, seed: str) -> tuple[list[Line], list[tuple[str, Any, str]], set[str]]:
        """The backward lines from ``seed`` (the root's adjoint, given); the matrix gradients
        (kind, leaf steps, name); the adjoints assigned."""
        trace, steps = self.trace, self.steps
        code = Symbols(steps, "code")
        text = Symbols(steps, "text")
        needed = trace.needs_adjoint()
        assigned: set[str] = {seed}
        lines: list[Line] = []
        matrix_gradients: list[tuple[str, Any, str]] = []
        mean = self.reduce == "mean"

        def add(target: str, term: str, note: str) -> None:
            if term == "0.0" and target in assigned:
                return
            if target in assigned:
                lines.append(Line(f"{target} = {target} + {term}", note))
            else:
                assigned.add(target)
                lines.append(Line(f"{target} = {term}", note))

        for unit in reversed(self.units):
            if not any(needed[row] for row in unit.rows):
                continue
            if unit.kind == "node":
                k = unit.rows[0]
                step = steps[k]
                if trace.adjoints[k] not in assigned:
                    continue  # the root does not depend on it
                rule_call, terms = chain_rule_terms(trace, k, needed, code, text)
                if rule_call:
                    lines.append(Line(rule_call, comment(f"{step.op.name}'s rule on the numbers")))  # type: ignore[union-attr]
                for x, term, partial in terms:
                    add(trace.adjoints[x], term, comment(f"{partial}   [{step.op.name}]"))  # type: ignore[union-attr]
                continue
            # A fused unit: its adjoint is the matrix contributions plus its rows' own.
            adjoint = unit.adjoint
            rows = [trace.adjoints[row] if trace.adjoints[row] in assigned else "0.0" for row in unit.rows]
            if any(r != "0.0" for r in rows):
                add(adjoint, f"stack({', '.join(rows)})", "the rows' adjoints from the lines that read them")
            if adjoint not in assigned:
                continue
            if unit.kind == "map":
                source = unit.source
                step = steps[unit.rows[0]]
                local = self._map_derivative(unit)
                term = written(times(Expression(adjoint, precedence=ATOM), local), "code")
                note = f"{source.adjoint} = {adjoint} ∗ {step.op.name}′ elementwise   [{step.op.formula}]"  # type: ignore[union-attr]
                add(source.adjoint, term, comment(note))  # type: ignore[union-attr]
                continue
            # A layer: Z = W·In + b.
            scale = f"1 / {self.count} * " if mean else ""
            weight_steps = np.array(unit.weights, dtype=np.int64)
            bias_steps = np.array(unit.biases, dtype=np.int64)
            if any(needed[w] for row in unit.weights for w in row):
                lines.append(Line(f"{unit.weight_adjoint} = {scale}{adjoint} @ {unit.input_name}.T",
                                  f"dW = {'1/m ' if mean else ''}dZ·Aᵀ: xⱼ·dz summed over the samples"))
                matrix_gradients.append(("W", weight_steps, unit.weight_adjoint))
            if any(needed[b] for b in unit.biases):
                lines.append(Line(f"{unit.bias_adjoint} = {scale}np.sum({adjoint}, axis=1, keepdims=True)",
                                  f"db = {'1/m ' if mean else ''}Σ dZ over the samples"))
                matrix_gradients.append(("b", bias_steps, unit.bias_adjoint))
            if any(needed[x] for x in unit.inputs):
                term = f"{unit.weight_name}.T @ {adjoint}"
                note = "dA = Wᵀ·dZ   [linear]"
                if unit.source is not None:
                    add(unit.source.adjoint, term, note)
                else:
                    lines.append(Line(f"{unit.input_adjoint} = {term}", note))
                    for position, x in enumerate(unit.inputs):
                        if needed[x]:
                            row = f"{unit.input_adjoint}[{position}]"
                            add(trace.adjoints[x], row, comment(d(steps[x].text)))
        return lines, matrix_gradients, assigned

    def _map_derivative(self, unit: Unit) -> Any:
        """The op's local derivative written over the matrices (out = the unit, input = its source)."""
        step = self.steps[unit.rows[0]]
        return _map_rule(step.op, step.inputs, unit.name, unit.source.name)  # type: ignore[arg-type, union-attr]


def _map_rule(op: Op, inputs: tuple, out: str, source: str) -> Any:
    """∂out/∂source of ``out = op(source, number operands)``, written over names (None if it cannot be)."""
    symbols = [Expression(source, precedence=ATOM) if type(x) is int else Expression.constant(x)
               for x in inputs]
    formulas = derivative_formulas(op, Expression(out, precedence=ATOM), symbols)
    if formulas is None:
        return None
    local = formulas[next(k for k, x in enumerate(inputs) if type(x) is int)]
    try:
        written(local, "code")
    except (TypeError, ValueError, AttributeError):
        return None
    return local


def batched_replay(path: Path, per_sample: tuple[bool, ...], reduce: str, fuse: bool) -> BatchedReplay:
    """The numpy code of ``path``'s trace (made once per pattern of per-sample arguments)."""
    key = (per_sample, reduce, fuse)
    made = path.batched.get(key)
    if made is None:
        made = path.batched[key] = _write(path.trace, per_sample, reduce, fuse)
    return made


def _write(trace: Trace, per_sample: tuple[bool, ...], reduce: str, fuse: bool) -> BatchedReplay:
    writer = _Writer(trace, per_sample, reduce, fuse)
    steps = trace.steps
    root = trace.outputs[0]
    seed = trace.adjoints[root]
    forward = writer.forward()
    backward, matrices, assigned = writer.backward(seed)
    read_alone = [k for k in trace.shared if k in writer.read_one_by_one]
    layers = [unit for unit in writer.units if unit.kind == "layer"]
    matrix_inputs: list[tuple[str, Any]] = []
    for unit in layers:
        matrix_inputs.append(("W", np.array(unit.weights, dtype=np.int64)))
        matrix_inputs.append(("b", np.array(unit.biases, dtype=np.int64)))
    parameters = [steps[k].name for k in trace.arguments]
    parameters += [name for unit in layers for name in (unit.weight_name, unit.bias_name)]
    parameters += [steps[k].name for k in read_alone] + [writer.count, seed]
    title = writer.identifiers.claim(f"{trace.function_name}_batch", "f_batch")  # hides nothing it calls
    out = wrapped(f"def {title}(", parameters, "):", "")
    out.append("    # forward: every per-sample variable holds m samples (a row of m numbers, or a matrix")
    out.append("    # with a sample per column); parameters are single numbers or matrices shared by all")
    if trace.branches:
        out.append("    _off = False")
    out += noted(forward, "    ")
    if trace.branches:
        out.append("    if np.any(_off):  # some samples take another path: they are replayed apart")
        out.append("        raise _BranchChangedError(-1, _off)")
    out.append(f"    # backward: d<name> = ∂{steps[root].text}/∂<name> for each sample; shared gradients"
               f" {'averaged' if reduce == 'mean' else 'summed'} over the m samples")
    out += noted(backward, "    ")
    targets: list[tuple[str, Any]] = []
    returned: list[str] = []
    scale = f"1 / {writer.count} * " if reduce == "mean" else ""
    for k in trace.wanted():  # leaves only in W and b get theirs from dW and db below
        adjoint = trace.adjoints[k]
        if k in writer.varying_arguments:
            returned.append(f"{scale}{adjoint}" if adjoint in assigned else f"np.zeros({writer.count})")
        elif adjoint in assigned:
            returned.append(f"{scale}np.sum({adjoint})")
        else:
            continue
        targets.append(("step", k))
    for kind, indices, name in matrices:
        returned.append(name)
        targets.append((kind, indices))
    values = ", ".join(steps[k].name for k in trace.outputs)
    out += wrapped(f"    return ({values},), (", returned, ",)" if len(returned) == 1 else ")", "    ")
    source = "\n".join(out) + "\n"
    function = function_from_source(source, title, writer.namespace, f"{trace.function_name} batched")
    return BatchedReplay(source, function, _Calling(trace, per_sample, matrix_inputs, read_alone, targets))


# ---------------------------------------------------------------------------
# Running it
# ---------------------------------------------------------------------------
class _NotFiniteError(Exception):
    """The batched replay gave nan or inf somewhere: the per-sample replay (or the engine) decides."""


class _Result:
    """A batch's values and gradients, filled path by path: values (outputs × m), per-sample
    gradients (one row of m per per-sample argument), totals (one per result slot)."""

    def __init__(self, samples: Samples, outputs: int) -> None:
        self.values = np.zeros((outputs, samples.m))
        self.per_sample = {j: np.zeros(samples.m) for j, flag in enumerate(samples.per_sample) if flag}
        self.totals = np.zeros(samples.arity + len(samples.g.parameters) + 1)  # the last: leaves not wanted

    def add_lists(self, indices: list[int], result: tuple[list, list]) -> None:
        """Samples done by the per-sample replay (``Samples.run_over_samples``'s lists)."""
        values, gradients = result
        for i in indices:
            self.values[:, i] = values[i]
        for j, gradient in enumerate(gradients):
            if j in self.per_sample:
                self.per_sample[j][indices] = np.asarray(gradient)[indices]
            else:
                self.totals[j] += gradient

    def public(self) -> tuple[Any, tuple]:
        """What ``g.batch`` returns: the values (an array of m, or one per output), then the gradients."""
        values = self.values[0] if len(self.values) == 1 else tuple(self.values)
        gradients = [self.per_sample[j] if j in self.per_sample else float(self.totals[j])
                     for j in range(len(self.totals) - 1)]
        return values, tuple(gradients)


def run_batched(samples: Samples, fuse: bool) -> tuple[Any, tuple]:
    """``g.batch``: each path's batched code on the samples left; the samples whose recorded
    decisions come out otherwise go to the next path (a new trace when none is left)."""
    g = samples.g
    g.drop_stale_paths()
    remaining = np.arange(samples.m)
    flags = tuple(samples.per_sample)
    columns = [np.asarray(c, dtype=float) if flag else c for c, flag in zip(samples.columns, flags)]
    seeds = np.asarray(samples.seeds, dtype=float)
    try:
        return _run_paths(g, samples, fuse, flags, columns, seeds, remaining)
    except _WrongArrayFormError as wrong:
        raise TraceError(str(wrong)) from None


def _run_paths(g: CompiledFunction, samples: Samples, fuse: bool, flags: tuple[bool, ...], columns: list,
               seeds: np.ndarray, remaining: np.ndarray) -> tuple[Any, tuple]:
    """``run_batched``'s loop over the paths."""
    result: _Result | None = None
    k = 0
    while remaining.size:
        fresh = k >= len(g.paths)
        path = g.add_path(samples.sample(int(remaining[0]))) if fresh else g.paths[k]
        k += 1
        if result is None:
            result = _Result(samples, len(path.trace.outputs))
        replay = batched_replay(path, flags, samples.reduce, fuse)
        try:
            try:
                replay.run(path, samples, columns, seeds, remaining, result)
                left = remaining[:0]
            except BranchChangedError as changed:
                off = np.broadcast_to(np.asarray(changed.samples, dtype=bool), remaining.shape)
                if not off.all():
                    replay.run(path, samples, columns, seeds, remaining[~off], result)
                left = remaining[off]
        # BranchChangedError here: the samples kept decided otherwise on the same numbers (a test
        # not written for arrays, or not of the number alone): per sample, which says which
        except (_NotFiniteError, ArithmeticError, ValueError, TypeError, BranchChangedError):
            indices = remaining.tolist()  # per sample, and the engine where the replay fails
            result.add_lists(indices, samples.run_over_samples(indices))
            break
        if fresh and left.size and left[0] == remaining[0]:
            raise undecided_error(g.name)
        remaining = left
    return result.public()  # type: ignore[union-attr]


class _Calling:
    """How a ``BatchedReplay`` is called and read, worked out once: positions of the shared
    numbers in W and b, and where each returned gradient goes.

    ``matrix_inputs``: for each matrix the function takes after the arguments, ("W", (k, n) leaf
    steps) or ("b", (k,)); ``scalar_inputs``: the shared leaves it takes one by one (after the
    matrices); ``gradient_targets``: what each returned gradient is, ("step", k), ("W", (k, n)
    steps) or ("b", (k,) steps).
    """

    def __init__(self, trace: Trace, per_sample: Sequence[bool], matrix_inputs: list[tuple[str, Any]],
                 scalar_inputs: list[int], gradient_targets: list[tuple[str, Any]]) -> None:
        position = {k: j for j, k in enumerate(trace.shared)}
        for j, k in enumerate(trace.arguments):
            if not per_sample[j]:
                position[k] = len(position)
        self.width = len(position)
        self.fixed_arguments = [(j, position[k]) for j, k in enumerate(trace.arguments) if not per_sample[j]]
        """(argument, its place among the shared numbers) for each argument that is one number for all."""
        self.matrices = [(kind, _positions(position, steps)) for kind, steps in matrix_inputs]
        self.alone = [position[k] for k in scalar_inputs]
        dummy = len(trace.arguments) + len(trace.parameters)
        slots = trace.slots
        self.targets = []
        for kind, target in gradient_targets:
            if kind == "step":
                j = trace.arguments.index(target) if target in trace.arguments else None
                self.targets.append(("row" if j is not None and per_sample[j] else "total", slots[target]))
            else:
                self.targets.append(("matrix", np.vectorize(lambda k: slots.get(k, dummy))(target)))


def _positions(position: dict[int, int], steps: np.ndarray) -> np.ndarray:
    return np.vectorize(position.__getitem__, otypes=[np.int64])(steps)

"""``engine.compile(f)``: a graph written as straight-line Python (the Wengert list), then replayed.

Reverse mode is classically taught as an evaluation trace: one line per intermediate
value going forward, one line per adjoint coming back. ``compile(f)`` runs ``f`` once
with the engine (the *trace*) and writes the graph it built as Python, from the ops'
own definitions only:

- a forward line per node is the op's notation in code style: ``z = b + w * x``;
- a backward line per edge is upstream × the op's local derivative, the derivative
  written by running the op's ``local_grads`` rule on symbols (``engine.symbolic``):
  ``dz = da * (a * (1.0 - a))``. A rule that cannot run on symbols (a user's rule
  calling ``math.cos``) is called on the numbers at run time instead.

The replay runs that code on floats: no node is made, so a step costs about what the
same arithmetic written by hand costs. ``g.source`` is the code, for people to read.

**The limit: one trace is one path through ``f``.** An ``if`` on a Value's ``.data``
is decided once, while tracing, and the replay takes the same path for every input.
What can be detected is detected: ``branch_on(value, test, ...)`` (used by
``nn.binary_cross_entropy`` and ``nn.softplus``) records such a decision, the replay
checks it each time and traces the other path when it changes; ``g.retrace(...)``
traces again at given inputs and raises ``TraceError`` if the graph differs (ops,
wiring or number operands); ``compile(f, check=True)`` compares every call with the
engine. A replay whose arithmetic fails or gives nan/inf hands the inputs to the
engine, which raises its own clear error (or gives its numbers).
"""

from __future__ import annotations

import builtins
import dataclasses
import functools
import inspect
import itertools
import keyword
import linecache
import operator
import re
import threading
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from engine.checks import (
    CODE_NAMES,
    as_number,
    check_bool,
    check_choice,
    check_int,
    check_real,
    check_sequence,
    describe,
    fail,
    short_repr,
)
from engine.explain import NodeNames, d
from engine.modes import enable_grad
from engine.notation import ATOM, format_number, number, write
from engine.symbolic import Expression, derivative_formulas, name_precedence
from engine.value import OPS, Op, Value, chain_rule, topological_order

MAX_PATHS = 8
"""How many different paths (traces) through its recorded branches a compiled function may take."""


class TraceError(ValueError):
    """The replay cannot stand for the engine here: ``f`` builds another graph, or gives other numbers."""


def undecided_error(name: str) -> TraceError:
    """The error for a fresh trace whose recorded decisions fail at the very numbers it was made at."""
    return TraceError(
        f"engine.compile: {name}'s decisions (branch_on) come out otherwise when replayed on the very "
        "numbers they were traced at: a test that is not a function of the number alone?"
    )


class BranchChangedError(Exception):
    """Raised by generated code when a decision recorded by ``branch_on`` comes out differently.

    ``samples`` is, in a batched replay, the boolean mask of the samples that took another path.
    """

    def __init__(self, branch: int, samples: Any = None) -> None:
        super().__init__(branch)
        self.branch = branch
        self.samples = samples


# ---------------------------------------------------------------------------
# Decisions on numbers: branch_on
# ---------------------------------------------------------------------------
class Branch(NamedTuple):
    """A decision ``f`` took on a node's number while it was traced."""

    node: Value
    test: Callable[[Any], Any]
    outcome: bool
    description: str


_recording = threading.local()  # .branches: the list a trace in this thread records into, or None


def branch_on(value: Value, test: Callable[[float], Any], description: str) -> bool:
    """``test(value.data)`` as a bool, for code that takes a decision on a node's number.

    Outside ``engine.compile`` this is just the test. While ``compile`` traces, the
    decision is recorded, and the replay checks it on its own numbers each time:
    when it comes out otherwise, the other path is traced (it never silently
    follows the traced one). Write ``test`` with comparisons and ``&``/``|`` (not
    ``and``/``or``/``min``) so that it also works elementwise on numpy arrays, for
    the batched replay. ``description`` says what is decided, for ``g.source``.

    >>> from engine import Value
    >>> z = Value(2.0)
    >>> branch_on(z, lambda z: z > 0.0, "z > 0")
    True
    """
    if not isinstance(value, Value):
        fail(TypeError, "branch_on", "value", "a Value", describe(value))
    if not callable(test):
        fail(TypeError, "branch_on", "test", "a function of the node's number", describe(test))
    answer = test(value.data)
    try:
        outcome = bool(answer)
    except (TypeError, ValueError):  # numpy's "truth value of an array is ambiguous"
        raise TypeError(
            f"branch_on: test must return one truth value (True or False) for the number "
            f"{value.data!r} ({description}), got {describe(answer)}"
        ) from None
    branches = getattr(_recording, "branches", None)
    if branches is not None:
        branches.append(Branch(value, test, outcome, str(description)))
    return outcome


# ---------------------------------------------------------------------------
# The trace: a graph as a list of steps
# ---------------------------------------------------------------------------
@dataclasses.dataclass(eq=False)
class Step:
    """One node of a trace: a leaf, or ``op`` applied to earlier steps and number operands."""

    op: Op | None
    inputs: tuple
    """Per op input, as written: an ``int`` (an earlier step) or a ``float`` (a number operand)."""
    name: str
    """The node's identifier in the generated code."""
    text: str
    """The node's name for people (its label, a course name such as ``z[1]_0``, or a short formula)."""
    label: str
    leaf: Value | None = None
    """For a parameter or captured leaf: the Value whose ``data`` each call reads."""


@dataclasses.dataclass(eq=False)
class Trace:
    """A traced graph: its steps in forward order, which are inputs, outputs and recorded branches."""

    steps: list[Step]
    arguments: tuple[int, ...]
    """The step of each argument of ``f``."""
    parameters: tuple[int | None, ...]
    """The step of each declared parameter (None: the graph does not use it)."""
    shared: tuple[int, ...]
    """The leaves that are not arguments (parameters and captured Values), in forward order."""
    outputs: tuple[int, ...]
    """The steps ``f`` returned; the first is differentiated."""
    backward: tuple[int, ...]
    """The root's graph in the engine's backward order (root first)."""
    branches: tuple[tuple[int, Callable, bool, str], ...]
    """(step, test, outcome when traced, description) of each recorded decision."""
    function_name: str
    """The generated function's name: ``f``'s own, unless that would hide a name its code calls."""
    adjoints: dict[int, str]
    """The identifier of each node's adjoint ∂root/∂node."""

    def split_wanted(self, per_sample: Sequence[bool]) -> tuple[list[int], list[int]]:
        """The wanted leaves split for a replay over samples: (per-sample arguments, the rest,
        whose gradients are summed over the samples), each in ``wanted()`` order."""
        varying = {k for j, k in enumerate(self.arguments) if per_sample[j]}
        wanted = self.wanted()
        return [k for k in wanted if k in varying], [k for k in wanted if k not in varying]

    @functools.cached_property
    def decisions(self) -> dict[int, list[int]]:
        """The recorded decisions taken on each step: step → indices into ``branches``."""
        decisions: dict[int, list[int]] = {}
        for b, (step, _, _, _) in enumerate(self.branches):
            decisions.setdefault(step, []).append(b)
        return decisions

    @functools.cached_property
    def in_root_graph(self) -> frozenset[int]:
        """The steps the root depends on (its own graph)."""
        return frozenset(self.backward)

    def signature(self) -> list[tuple]:
        """What must stay the same for the replay to stand for ``f``: ops, wiring, number operands."""
        kinds = {step: ("argument", k) for k, step in enumerate(self.arguments)}
        rows: list[tuple] = []
        for k, step in enumerate(self.steps):
            if step.op is not None:
                rows.append(("op", step.op, step.inputs))
            elif k in kinds:
                rows.append(kinds[k])
            else:
                rows.append(("leaf", step.leaf))
        return rows

    def wanted(self) -> list[int]:
        """The leaves whose gradients a call returns: the arguments, then the parameters in the graph."""
        return [*self.arguments, *(p for p in self.parameters if p is not None)]

    @functools.cached_property
    def slots(self) -> dict[int, int]:
        """Each wanted leaf's place in a result: step → position (the arguments, then the parameters)."""
        slots = {step: j for j, step in enumerate(self.arguments)}
        for q, step in enumerate(self.parameters):
            if step is not None:
                slots[step] = len(self.arguments) + q
        return slots

    def needs_adjoint(self) -> list[bool]:
        """For each step: does some wanted leaf lie below it (so its adjoint is worth computing)?"""
        return self.depends_on(self.wanted())

    def depends_on(self, leaves: Iterable[int]) -> list[bool]:
        """For each step: is it one of ``leaves``, or computed from one of them?"""
        found = [False] * len(self.steps)
        for k in leaves:
            found[k] = True
        for k, step in enumerate(self.steps):
            if step.op is not None:
                found[k] = any(type(x) is int and found[x] for x in step.inputs)
        return found


def _trace(
    f: Callable[..., Any], numbers: Sequence[float], argument_names: Sequence[str],
    parameters: Sequence[Value], reserved: set[str], function_name: str,
) -> Trace:
    """Run ``f`` with the engine on leaves holding ``numbers``; the graph it builds, as a ``Trace``."""
    arguments, outputs, recorded = _run(f, numbers, argument_names, function_name)
    # The generated function's own name must not hide an op it calls (def sigmoid(...) calling sigmoid).
    code_name = Identifiers(reserved).claim(function_name, "f")
    # Forward order: the root's graph, then what else is computed or passed (other outputs, nodes
    # decisions were taken on, unused arguments and parameters); parents first, left to right.
    roots = [*outputs, *(branch.node for branch in recorded), *arguments, *parameters]
    built_before = _built_before(f, numbers, argument_names, function_name, roots, set(arguments))
    engine_graph = topological_order(outputs[0])
    _check_nothing_wanted_below(built_before, engine_graph, parameters, function_name)
    order = _parents_first(roots, built_before)
    index = {node: k for k, node in enumerate(order)}
    backward = [node for node in engine_graph if node in index]  # the engine's order, cut below constants
    in_root_graph = set(backward)
    argument_set = set(arguments)
    steps = _steps(order, index, argument_set, built_before, reserved, code_name)
    adjoints = _adjoint_names(steps, reserved | {code_name})
    present = [p for p in parameters if p in in_root_graph]
    not_captured = argument_set | set(present)
    captured = [node for node in order
                if (node.op is None or node in built_before) and node not in not_captured]
    return Trace(
        steps=steps,
        arguments=tuple(index[a] for a in arguments),
        parameters=tuple(index[p] if p in in_root_graph else None for p in parameters),
        shared=tuple(index[node] for node in [*present, *captured]),
        outputs=tuple(index[node] for node in outputs),
        backward=tuple(index[node] for node in backward),
        branches=tuple((index[b.node], b.test, b.outcome, b.description) for b in recorded),
        function_name=code_name,
        adjoints=adjoints,
    )


def _run(f: Callable[..., Any], numbers: Sequence[float], argument_names: Sequence[str],
         function_name: str) -> tuple[list[Value], tuple[Value, ...], list[Branch]]:
    """``f`` run with the engine on new leaves holding ``numbers``: the leaves, its outputs, its decisions."""
    arguments = [Value(x, label=name) for x, name in zip(numbers, argument_names)]
    previous = getattr(_recording, "branches", None)
    _recording.branches = recorded = []
    try:
        with enable_grad():
            result = f(*arguments)
    finally:
        _recording.branches = previous
    return arguments, _outputs(result, function_name), recorded


def _built_before(f: Callable[..., Any], numbers: Sequence[float], argument_names: Sequence[str],
                  function_name: str, roots: Sequence[Value], arguments: set[Value]) -> set[Value]:
    """The op nodes of the graph that ``f`` did not build but reads (captured): constants of ``f``.

    The engine keeps such a node's number from when it was built, whatever its leaves hold
    now, so the replay reads its number instead of recomputing it. A node computed from an
    argument was built by ``f``; for the others, ``f`` is run once more: the nodes it builds are
    new objects, the captured ones the same.
    """
    order = _parents_first(roots)
    from_arguments = set(arguments)
    for node in order:
        if any(parent in from_arguments for parent in node.parents):
            from_arguments.add(node)
    candidates = {node for node in order if node.op is not None and node not in from_arguments}
    if not candidates:
        return set()
    _, outputs, recorded = _run(f, numbers, argument_names, function_name)
    again = _parents_first([*outputs, *(branch.node for branch in recorded)])
    return candidates.intersection(again)


def _check_nothing_wanted_below(built_before: set[Value], engine_graph: Sequence[Value],
                                parameters: Sequence[Value], function_name: str) -> None:
    """A TraceError if a parameter's gradient flows through a node ``f`` did not build: the replay
    reads that node's number and cannot give the engine's gradient through it."""
    wanted = {p: k for k, p in enumerate(parameters)}
    for node in engine_graph:
        if node not in built_before:
            continue
        for below in _parents_first([node])[:-1]:
            if below in wanted:
                raise TraceError(
                    f"engine.compile: {function_name} reads a node built before it ran ({node!r}), "
                    f"and parameters[{wanted[below]}] ({below!r}) lies below it: the engine keeps "
                    "that node's number from when it was built, and a replay cannot follow the gradient "
                    f"through it; build the node inside {function_name} (or compute it from its leaves there)"
                )


def _parents_first(roots: Sequence[Value], stop: set[Value] | frozenset[Value] = frozenset()) -> list[Value]:
    """Every node below ``roots``, each after its parents, parents taken left to right (so a
    layer's units come in their order: the forward lines read as the network is written); the
    nodes in ``stop`` without what is below them."""
    order: list[Value] = []
    seen: set[Value] = set()
    for root in roots:
        if root in seen:
            continue
        seen.add(root)
        stack = [(root, iter(() if root in stop else root.parents))]
        while stack:
            node, parents = stack[-1]
            for parent in parents:
                if parent not in seen:
                    seen.add(parent)
                    stack.append((parent, iter(() if parent in stop else parent.parents)))
                    break
            else:
                stack.pop()
                order.append(node)
    return order


def _outputs(result: Any, function_name: str) -> tuple[Value, ...]:
    """``f``'s result as a tuple of Values (the first is differentiated), or a clear TypeError."""
    values = result if isinstance(result, (tuple, list)) else (result,)
    if not values or not all(isinstance(v, Value) for v in values):
        raise TypeError(
            f"engine.compile: {function_name} must return a Value (or a tuple of Values, the first "
            f"differentiated), got {describe(result)}"
        )
    return tuple(values)


# ---------------------------------------------------------------------------
# Names: identifiers for code, names for people
# ---------------------------------------------------------------------------
_COURSE_NAME = re.compile(r"^([A-Za-z])\[([0-9]+)\]_([0-9]+)(?:,([0-9]+))?$")
_BUILTIN_NAMES = frozenset(dir(builtins))


def usable_identifier(text: str) -> bool:
    """True if ``text`` can name a variable of generated code as it stands.

    A Python identifier made of letters, digits and ``_`` only (``t·1`` is an identifier
    too, but reads as a product), not a keyword, a builtin or an internal ``_name``,
    and one Python would not rewrite (identifiers are NFKC-normalised: ``ﬁ`` is ``fi``).
    """
    return (
        text.isidentifier() and all(c.isalnum() or c == "_" for c in text)
        and not keyword.iskeyword(text) and text not in _BUILTIN_NAMES
        and not text.startswith("_") and unicodedata.normalize("NFKC", text) == text
    )


def identifier_from_label(label: str) -> str | None:
    """An identifier read from a label, or None: the label itself if usable, ``W1_0_2`` for the
    course's ``W[1]_0,2`` (built from the letter and the digits alone: a label never becomes code)."""
    if usable_identifier(label):
        return label
    match = _COURSE_NAME.match(label)
    if match is None:
        return None
    return "_".join([match.group(1) + match.group(2), *(g for g in match.groups()[2:] if g is not None)])


class Identifiers:
    """Hands out unique identifiers, never one of ``reserved``: ``W1_0_0``, then ``W1_0_0_2``, ..."""

    def __init__(self, reserved: Iterable[str]) -> None:
        self.taken = set(reserved)

    def claim(self, wanted: str | None, fallback: str) -> str:
        """``wanted`` if it is a usable identifier, else ``fallback``; numbered if already taken."""
        base = wanted if wanted is not None and usable_identifier(wanted) else fallback
        name, copy = base, 1
        while name in self.taken:
            copy += 1
            name = f"{base}_{copy}"
        self.taken.add(name)
        return name


def _steps(
    order: list[Value], index: dict[Value, int], arguments: set[Value], built_before: set[Value],
    reserved: set[str], function_name: str,
) -> list[Step]:
    texts = _names_for_people(order)
    identifiers = Identifiers(reserved | {function_name})
    steps = []
    for k, node in enumerate(order):
        text = comment(texts[k])  # a name for people is only ever shown in comments: printable
        if node.op is None and not node.label and node not in arguments:
            text = format_number(node.data)  # a number f wrapped as a leaf (linear's x): shown as it was
        course = text.split("#")[0] if _COURSE_NAME.match(text.split("#")[0]) else ""
        name = identifiers.claim(identifier_from_label(node.label) or identifier_from_label(course), f"t{k}")
        if node in built_before:  # a constant of f: read, not recomputed
            steps.append(Step(None, (), name, text, node.label, node))
            continue
        inputs = tuple(index[x] if isinstance(x, Value) else float(x) for x in node.inputs)
        shared_leaf = node if node.op is None and node not in arguments else None
        steps.append(Step(node.op, inputs, name, text, node.label, shared_leaf))
    return steps


def _names_for_people(order: list[Value]) -> list[str]:
    """Each node's name in explanations (``engine.explain``'s names): label, course name, short formula."""
    names = NodeNames({id(node): k for k, node in enumerate(order)})
    names.name_all(order)
    return [names(node) for node in order]


def _adjoint_names(steps: list[Step], reserved: set[str]) -> dict[int, str]:
    identifiers = Identifiers(reserved | {step.name for step in steps})
    return {k: identifiers.claim("d" + step.name, "d_" + step.name) for k, step in enumerate(steps)}


def comment(text: str) -> str:
    """``text`` safe inside a ``#`` comment: as it is if printable, else its repr (no line breaks)."""
    return text if text.isprintable() else repr(text)


# ---------------------------------------------------------------------------
# Writing ops and derivatives
# ---------------------------------------------------------------------------
def write_op(op: Op, operands: Sequence[tuple[str, int]], style: str) -> str:
    """``op`` applied to written operands, in its notation (``style`` "code" or "text")."""
    return write(op.notation, operands, style)[0]  # type: ignore[arg-type]


def op_function_names(op: Op) -> tuple[str, ...]:
    """The names by which written code calls ``op``: its notation's function name, and its own name."""
    names = [op.name]
    if op.notation.kind == "call" and op.notation.code.isidentifier():
        names.insert(0, op.notation.code)
    return tuple(names)


class Symbols:
    """Each step as a symbol of ``engine.symbolic``, in one style: its identifier in code, its name in text.

    A name for people may be a formula (``1−a``): in text it is bracketed where
    needed, while in code every name is an identifier, an atom.
    """

    def __init__(self, steps: Sequence[Step], style: str) -> None:
        self.steps = steps
        self.style = style

    def name(self, k: int) -> tuple[str, int]:
        """Step ``k`` as an operand: (written form, precedence)."""
        if self.style == "code":
            return self.steps[k].name, ATOM
        text = self.steps[k].text
        return text, name_precedence(text)

    def operand(self, x: int | float) -> tuple[str, int]:
        """Step ``x``, or a number operand, as an operand: (written form, precedence)."""
        return self.name(x) if type(x) is int else number(x, self.style)  # type: ignore[arg-type]

    def symbol(self, x: int | float) -> Expression:
        """Step ``x``, or a number operand, as a symbol."""
        if type(x) is not int:
            return Expression.constant(x)  # type: ignore[arg-type]
        text, precedence = self.name(x)
        return Expression(text, text, precedence=precedence)

    def forward(self, k: int) -> str:
        """Step ``k``'s op written over its operands: ``b + w * x`` (code), ``w·x+b`` (text)."""
        step = self.steps[k]
        return write_op(step.op, [self.operand(x) for x in step.inputs], self.style)  # type: ignore[arg-type]

    def local_derivatives(self, k: int) -> tuple | None:
        """The op's rule run on this step's symbols (None if the rule cannot be written)."""
        step = self.steps[k]
        inputs = [self.symbol(x) for x in step.inputs]
        formulas = derivative_formulas(step.op, self.symbol(k), inputs)  # type: ignore[arg-type]
        if formulas is None:
            return None
        try:
            for slot, x in enumerate(step.inputs):
                if type(x) is int:
                    written(formulas[slot], self.style)
        except (TypeError, ValueError, AttributeError):  # a rule whose expression cannot be written
            return None
        return formulas


def written(x: Any, style: str) -> str:
    """An expression, or a plain number, as written code or text."""
    if isinstance(x, Expression):
        return x.write(style)  # type: ignore[arg-type]
    if x is None or isinstance(x, bool) or not isinstance(x, (int, float)):
        raise TypeError(f"not a derivative: {short_repr(x)}")
    return number(float(x), style)[0]  # type: ignore[arg-type]


def times(upstream: Expression, local: Any) -> Any:
    """upstream × local, as the engine computes it (``x·1`` is written ``x``, ``x·0`` is ``0``)."""
    return upstream * local


# ---------------------------------------------------------------------------
# The per-sample code
# ---------------------------------------------------------------------------
class Line(NamedTuple):
    """One statement of generated code, with its comment."""

    code: str
    note: str = ""
    target: int | None = None
    """For a backward contribution: the step whose adjoint it adds to."""
    first: bool = False
    """For a backward contribution: the first one (an assignment, not a ``+=``)."""
    expression: str = ""
    """For a backward contribution: the term added."""


def forward_lines(trace: Trace) -> list[Line | int]:
    """A line per op node in forward order; after a node a decision was taken on, that
    decision's index (each replay writes its own check there)."""
    code, text = Symbols(trace.steps, "code"), Symbols(trace.steps, "text")
    lines: list[Line | int] = []
    for k, step in enumerate(trace.steps):
        if step.op is not None:
            lines.append(Line(f"{step.name} = {code.forward(k)}", forward_note(step, text.forward(k))))
        lines.extend(trace.decisions.get(k, ()))
    return lines


def forward_note(step: Step, formula: str) -> str:
    """The comment of a forward line: the node's name for people, the op's formula, the op."""
    note = formula if formula == step.text else f"{step.text} = {formula}"
    return comment(f"{note}   [{step.op.name}]")  # type: ignore[union-attr]


def backward_lines(trace: Trace) -> list[Line]:
    """The chain rule, node by node from the root: d<parent> (+)= d<node> × ∂node/∂parent.

    In the engine's backward order, each parent's contributions arrive in the
    same order as in ``engine.backward``, so the sums are the same sums.
    """
    steps = trace.steps
    code, text = Symbols(steps, "code"), Symbols(steps, "text")
    needed = trace.needs_adjoint()
    assigned: set[int] = set()
    lines: list[Line] = []
    for k in trace.backward:
        step = steps[k]
        if step.op is None or not needed[k]:
            continue
        rule_call, terms = chain_rule_terms(trace, k, needed, code, text)
        if rule_call:
            lines.append(Line(rule_call, comment(f"{step.op.name}'s rule on the numbers (it cannot run on "
                                                 f"symbols): {step.op.formula}")))
        for x, term, partial in terms:
            first = x not in assigned
            if term == "0.0" and not first:
                continue  # adds nothing
            assigned.add(x)
            lines.append(Line(
                f"{trace.adjoints[x]} {'=' if first else '+='} {term}",
                comment(f"{partial}   [{step.op.name}: {step.op.formula}]"),
                target=x, first=first, expression=term,
            ))
    return lines


class AdjointTerm(NamedTuple):
    """What a node adds to the adjoint of one of its inputs."""

    target: int
    """The input's step."""
    code: str
    """upstream × local, as code: ``da * (a * (1.0 - a))``."""
    partial: str
    """∂node/∂input for the comment, with its formula where the rule runs on names: ``∂a/∂z = a(1−a)``."""


def chain_rule_terms(trace: Trace, k: int, needed: Sequence[bool], code: Symbols, text: Symbols
                     ) -> tuple[str, list[AdjointTerm]]:
    """Node ``k``'s terms of the chain rule, one per input that needs its adjoint, the local
    derivative written by running the op's rule on names; and, for a rule that cannot run on
    names, the statement that runs it on the numbers first ('' otherwise)."""
    step = trace.steps[k]
    upstream = Expression(trace.adjoints[k], precedence=ATOM)
    formulas = code.local_derivatives(k)
    texts = text.local_derivatives(k) if formulas is not None else None
    rule_result = f"_local{k}"
    rule_call = ""
    if formulas is None:  # the rule runs on the numbers, at run time
        arguments = ", ".join([step.name, *(code.operand(x)[0] for x in step.inputs)])
        rule_call = f"{rule_result} = _rule_{step.op.name}({arguments})"  # type: ignore[union-attr]
    terms = []
    for slot, x in enumerate(step.inputs):
        if type(x) is not int or not needed[x]:
            continue
        partial = f"{d(step.text, '∂')}/{d(trace.steps[x].text, '∂')}"
        if formulas is None:
            term = f"{trace.adjoints[k]} * {rule_result}[{slot}]"
        else:
            term = written(times(upstream, formulas[slot]), "code")
            if texts is not None:
                partial += f" = {written(texts[slot], 'text')}"
        terms.append(AdjointTerm(x, term, partial))
    return rule_call, terms


def noted(lines: Iterable[Line], indent: str, width: int = 44) -> list[str]:
    """Lines of code with their comments lined up."""
    out = []
    for line in lines:
        if not line.note:
            out.append(indent + line.code)
        else:
            out.append(f"{indent}{line.code.ljust(width)}  # {line.note}")
    return out


def wrapped(head: str, items: Sequence[str], tail: str, indent: str, width: int = 100) -> list[str]:
    """``head item, item, ... tail`` on as many lines as it takes, continuation lines indented."""
    lines, current = [], head
    for k, item in enumerate(items):
        piece = item + (", " if k < len(items) - 1 else "")
        if len(current) + len(piece) > width and current.strip() not in (head.strip(), ""):
            lines.append(current.rstrip())
            current = indent + "    "
        current += piece
    lines.append(current + tail)
    return lines


def _branch_check(trace: Trace, b: int, failure: str) -> Line:
    step, _, outcome, description = trace.branches[b]
    name = trace.steps[step].name
    condition = f"not _test{b}({name})" if outcome else f"_test{b}({name})"
    return Line(
        f"if {condition}: {failure}",
        comment(f"branch_on({trace.steps[step].text}): {description}? "
                f"{'yes' if outcome else 'no'}, when traced"),
    )


def per_sample_source(trace: Trace) -> str:
    """The Wengert list: ``def f(arguments, parameters, d<root>=1.0)``, forward lines, backward lines."""
    steps = trace.steps
    root = trace.outputs[0]
    seed = trace.adjoints[root]
    parameters = [steps[k].name for k in (*trace.arguments, *trace.shared)]
    out = wrapped(f"def {trace.function_name}(", [*parameters, f"{seed}=1.0"], "):", "")
    out.append("    # forward: one line per node, each the op's notation     [op]")
    forward = [
        _branch_check(trace, item, f"raise _BranchChangedError({item})") if isinstance(item, int) else item
        for item in forward_lines(trace)
    ]
    out += noted(forward, "    ")
    out.append(f"    # backward: d<name> = ∂{steps[root].text}/∂<name>, upstream × local, from the root back")
    out += noted(backward_lines(trace), "    ")
    values = ", ".join(steps[k].name for k in trace.outputs)
    gradients = [trace_gradient(trace, k) for k in trace.wanted()]
    out += wrapped(f"    return ({values},), (", gradients, ",)" if len(gradients) == 1 else ")", "    ")
    return "\n".join(out) + "\n"


def trace_gradient(trace: Trace, k: int) -> str:
    """The written gradient of leaf ``k``: its adjoint, or 0.0 if the root does not depend on it."""
    return trace.adjoints[k] if k in trace.in_root_graph else "0.0"


def samples_source(trace: Trace, per_sample: Sequence[bool]) -> str:
    """The per-sample replay over many samples: the Wengert list in a loop, shared gradients summed.

    ``per_sample[j]`` says whether argument j changes from sample to sample (else it
    is one number for all). Returns ``def _over_samples(shared..., _samples)`` →
    (values, per-sample gradients, summed gradients, indices of samples whose
    recorded decisions came out otherwise: they are skipped, for another path).
    """
    steps = trace.steps
    root = trace.outputs[0]
    varying, summed = trace.split_wanted(per_sample)
    fixed = [k for j, k in enumerate(trace.arguments) if not per_sample[j]] + list(trace.shared)
    summed_set = set(summed)
    out = wrapped("def _over_samples(", [steps[k].name for k in fixed] + ["_samples"], "):", "")
    for k in summed:
        if trace_gradient(trace, k) != "0.0":
            out.append(f"    {trace.adjoints[k]} = 0.0")
    out.append("    _values, _gradients, _skipped = [], [], []")
    # The seed is d<root>; when f returns a leaf shared by all samples, d<root> is a sum instead.
    seed = "_seed" if root in summed_set else trace.adjoints[root]
    names = [steps[k].name for j, k in enumerate(trace.arguments) if per_sample[j]] + [seed]
    out.append(f"    for _i, ({', '.join(names)},) in enumerate(_samples):")
    body: list[Line] = []
    if root in summed_set:
        body.append(Line(f"{trace.adjoints[root]} += _seed", "f returns a leaf shared by every sample"))
    for item in forward_lines(trace):
        skip = "_skipped.append(_i); continue"
        body.append(_branch_check(trace, item, skip) if isinstance(item, int) else item)
    for line in backward_lines(trace):
        if line.target in summed_set and line.first:
            line = line._replace(code=f"{trace.adjoints[line.target]} += {line.expression}")
        body.append(line)
    out += noted(body, "        ")
    values = ", ".join(steps[k].name for k in trace.outputs)
    out.append(f"        _values.append(({values},))")
    if varying:
        out.append(f"        _gradients.append(({', '.join(trace_gradient(trace, k) for k in varying)},))")
    totals = [trace_gradient(trace, k) for k in summed]
    out += wrapped("    return _values, _gradients, (", totals, ",), _skipped" if len(totals) == 1
                    else "), _skipped", "    ")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------
# Turning generated text into a function
# ---------------------------------------------------------------------------
_sources = itertools.count(1)


def function_from_source(source: str, name: str, namespace: dict[str, Any], title: str) -> Callable:
    """Compile generated ``source`` and return its function ``name``.

    The source is this module's own output: identifiers it generated, op
    notations, number literals written with ``repr``, labels and formulas only
    inside comments (made printable first, so none can end its comment). It is
    registered with ``linecache`` so a traceback shows the generated line.
    """
    filename = f"<engine.compile {title} #{next(_sources)}>"
    code = builtins.compile(source, filename, "exec")
    unknown = sorted(_global_names(code) - namespace.keys() - _BUILTIN_NAMES - _ATTRIBUTES)
    if unknown:
        raise TraceError(
            f"engine.compile: the generated code of {title} uses {', '.join(unknown)}, which no op "
            "definition provides (an op whose notation's code form calls another function?)"
        )
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    scope = dict(namespace)
    exec(code, scope)  # noqa: S102 - our own generated code (see the docstring), never user text
    return scope[name]


_ATTRIBUTES = frozenset(("append", "T", "sum", "any", "zeros"))
"""The attributes generated code reads: ``_values.append``, ``A0.T``, ``np.sum``, ``np.any``, ``np.zeros``."""


def _global_names(module: Any) -> set[str]:
    """The names the functions defined in a module's code read that are not their own variables.

    A function's ``co_names`` holds its global names and the attributes it reads;
    generated code reads only the attributes in ``_ATTRIBUTES``.
    """
    functions = [c for c in module.co_consts if hasattr(c, "co_names")]
    return set().union(*(f.co_names for f in functions))


def op_namespace(trace: Trace, forward_of: Callable[[Op], Callable], rule_of: Callable[[Op], Callable]
                 ) -> dict[str, Any]:
    """What generated code calls: each op's ``forward_of(op)`` by its names (derivative formulas
    call other ops, e.g. relu's calls step), ``rule_of(op)`` for the rules that run on numbers,
    the branch tests. On floats (``float_namespace``) or on numpy arrays (``engine.batched``)."""
    namespace: dict[str, Any] = {"_BranchChangedError": BranchChangedError}
    for op in [*OPS.values(), *traced_ops(trace)]:  # the traced ops last: an op redefined since is theirs
        for name in op_function_names(op):
            namespace[name] = forward_of(op)
    for op in traced_ops(trace):
        namespace[f"_rule_{op.name}"] = rule_of(op)
    for b, (_, test, _, _) in enumerate(trace.branches):
        namespace[f"_test{b}"] = test
    return namespace


def float_namespace(trace: Trace) -> dict[str, Any]:
    """What the per-sample code calls: each op's own forward, and its own rule."""
    return op_namespace(trace, operator.attrgetter("forward"), operator.attrgetter("local_grads"))


def traced_ops(trace: Trace) -> list[Op]:
    """The ops the trace's nodes were made by, each once."""
    return list({id(step.op): step.op for step in trace.steps if step.op is not None}.values())


CODE_OWN_NAMES = frozenset((*CODE_NAMES, "m"))
"""The names generated code uses for itself besides the ops' and ``_``-names: numpy and the batched
replay's ``stack`` (``define_op`` refuses them as op names: ``CODE_NAMES``), and its sample count
``m`` (``1 / m * dZ1 @ A0.T``), which is renamed when an op takes it."""


def reserved_names() -> set[str]:
    """Names the identifiers made for nodes, arguments and parameters must avoid: every op's
    function names, and the names the generated code uses for itself (``CODE_OWN_NAMES``), so that
    no variable of the generated code hides something it calls or another of its variables."""
    return {name for op in OPS.values() for name in op_function_names(op)} | CODE_OWN_NAMES


# ---------------------------------------------------------------------------
# The compiled function
# ---------------------------------------------------------------------------
class Path:
    """One trace of ``f`` and the functions generated from it (a function may take several paths)."""

    def __init__(self, trace: Trace) -> None:
        self.trace = trace
        self.source = per_sample_source(trace)
        self.namespace = float_namespace(trace)
        name = trace.function_name
        self.replay = function_from_source(self.source, name, self.namespace, name)
        self._over_samples: dict[tuple[bool, ...], Callable] = {}
        self.batched: dict[tuple, Any] = {}
        """The numpy replays made from this trace (``engine.batched``), by what they were made for."""
        self._shared_leaves = [trace.steps[k].leaf for k in trace.shared]
        self._registered = [op for op in traced_ops(trace) if OPS.get(op.name) is op]
        """The traced ops that were ``engine.OPS``'s when traced (f may look them up by name)."""

    def redefined_op(self) -> str | None:
        """The name of an op this trace used that ``define_op`` has redefined since (else None)."""
        for op in self._registered:
            if OPS.get(op.name) is not op:
                return op.name
        return None

    def shared_data(self) -> list[float]:
        """The current numbers of the parameters and captured leaves, in the order the code takes them."""
        return list(map(_DATA, self._shared_leaves))

    def over_samples(self, per_sample: tuple[bool, ...]) -> Callable:
        """The generated loop over samples for this pattern of per-sample arguments (made once)."""
        function = self._over_samples.get(per_sample)
        if function is None:
            source = samples_source(self.trace, per_sample)
            function = function_from_source(source, "_over_samples", self.namespace,
                                            f"{self.trace.function_name} over samples")
            self._over_samples[per_sample] = function
        return function


def all_finite(values: Iterable[Any]) -> bool:
    """True if every item is a finite float (a nan or an inf anywhere makes the sum non-finite)."""
    total = 0.0
    for x in values:
        if type(x) is not float:
            return False
        total += x
    return total - total == 0.0


_DATA = operator.attrgetter("data")
_MISSING = object()  # an argument not given yet
_OTHER_PATH = object()  # a replay's recorded decision came out otherwise: try another path


class CompiledFunction:
    """``f`` traced once and written as straight-line Python: ``g(*numbers) -> (value, gradients)``.

    Made by ``engine.compile(f)``. The first call traces ``f``; every call then runs the
    generated code. ``gradients`` holds ∂value/∂argument for each argument of ``f``,
    then ∂value/∂parameter for each of ``parameters``. ``g.source`` is the code.
    """

    def __init__(self, f: Callable[..., Any], parameters: Iterable[Value] = (), check: bool = False) -> None:
        if not callable(f):
            fail(TypeError, "engine.compile", "f", "a function of Values", describe(f))
        self.parameters = _parameter_list(parameters)
        self.check_each_call = check_flag(check, "check")
        self.function = f
        self.name = _function_name(f)
        self.argument_names, self.arity, self.defaulted = _argument_names(f)
        self.paths: list[Path] = []
        """The traces made so far, each with its generated code (several if a recorded decision changed)."""
        self._lock = threading.Lock()

    # -- what a learner reads
    @property
    def source(self) -> str:
        """The Wengert list of the first trace: forward lines, then backward lines, as Python."""
        return self.first_path("source").source

    @property
    def sources(self) -> tuple[str, ...]:
        """One Wengert list per path traced (more than one when a recorded decision changed)."""
        return tuple(path.source for path in self.paths)

    @property
    def trace(self) -> Trace:
        """The first trace: its steps, inputs and outputs."""
        return self.first_path("trace").trace

    def __repr__(self) -> str:
        if not self.paths:
            return f"<compiled {self.name}: not traced yet>"
        nodes = sum(step.op is not None for step in self.paths[0].trace.steps)
        return f"<compiled {self.name}: {len(self.paths)} path(s), {nodes} nodes in the first>"

    # -- one sample
    def __call__(self, *numbers: Any, gradient: Any = 1.0, **named: Any) -> tuple[Any, tuple[float, ...]]:
        """(value, gradients) of ``f`` at ``numbers``: the value ``f`` returns (a tuple of values if
        it returns several), and ∂value/∂x for each argument, then for each parameter."""
        data = self.numbers(self.by_position(numbers, named))
        seed = as_number(gradient, f"{self.name}: gradient")
        if self.check_each_call:
            self.retrace(*data)
            replayed = self.call(data, seed)
            _compare(self.name, replayed, self.engine(data, seed), 1e-9, 1e-12)
            return replayed
        return self.call(data, seed)

    def drop_stale_paths(self) -> None:
        """Forget the traces made with an op ``define_op`` has redefined since (a notebook cell run
        again): ``f`` calls the new definition now, so the next replay traces it again."""
        if any(path.redefined_op() is not None for path in self.paths):
            with self._lock:
                self.paths = [path for path in self.paths if path.redefined_op() is None]

    def call(self, data: list[float], seed: float) -> tuple[Any, tuple[float, ...]]:
        """``__call__`` on checked numbers: the first path whose decisions hold, else a new trace."""
        self.drop_stale_paths()
        for path in list(self.paths):
            result = self._replay(path, data, seed)
            if result is not _OTHER_PATH:
                return result  # type: ignore[return-value]
        path = self.add_path(data)
        result = self._replay(path, data, seed)
        if result is _OTHER_PATH:
            raise undecided_error(self.name)
        return result  # type: ignore[return-value]

    def _replay(self, path: Path, data: list[float], seed: float) -> Any:
        try:
            values, gradients = path.replay(*data, *path.shared_data(), seed)
        except BranchChangedError:
            return _OTHER_PATH
        except (ArithmeticError, ValueError, TypeError):
            return self.engine(data, seed)  # the engine raises its own clear error, or gives its numbers
        if not (all_finite(values) and all_finite(gradients)):
            return self.engine(data, seed)
        return self.result(values), self._with_absent_parameters(path, gradients)

    def add_path(self, data: Sequence[float]) -> Path:
        """Trace ``f`` at ``data`` and keep the new path (a recorded decision came out otherwise)."""
        with self._lock:
            if len(self.paths) >= MAX_PATHS:
                raise TraceError(
                    f"engine.compile: {self.name} took more than {MAX_PATHS} different paths through "
                    "its decisions on numbers (branch_on); its control flow depends on the data too "
                    "much to replay: use the engine"
                )
            path = Path(self.trace_at(data))
            self.paths.append(path)
            return path

    def trace_at(self, data: Sequence[float]) -> Trace:
        """A fresh trace of ``f`` at ``data`` (kept nowhere)."""
        return _trace(self.function, data, self.argument_names, self.parameters, reserved_names(), self.name)

    def engine(self, data: Sequence[float], seed: float) -> tuple[Any, tuple[float, ...]]:
        """The engine's own result at ``data``: ``f`` on Values, then the chain rule."""
        arguments = [Value(x, label=name) for x, name in zip(data, self.argument_names)]
        with enable_grad():
            outputs = _outputs(self.function(*arguments), self.name)
        gradients = chain_rule(outputs[0], seed)
        values = tuple(v.data for v in outputs)
        return self.result(values), tuple(gradients.get(v, 0.0) for v in [*arguments, *self.parameters])

    def _with_absent_parameters(self, path: Path, gradients: tuple) -> tuple[float, ...]:
        if None not in path.trace.parameters:
            return gradients
        present = iter(gradients[self.arity:])
        tail = [0.0 if k is None else next(present) for k in path.trace.parameters]
        return (*gradients[: self.arity], *tail)

    @staticmethod
    def result(values: Sequence[Any]) -> Any:
        """What a call returns as its value: the value, or the tuple of values if ``f`` returns several."""
        return values[0] if len(values) == 1 else tuple(values)

    def numbers(self, numbers: Sequence[Any]) -> list[float]:
        """The arguments as floats, checked (a TypeError or ValueError naming the argument)."""
        self.fix_arity(len(numbers))
        return [
            as_number(x, f"{self.name}: argument {k} ({name})")
            for k, (x, name) in enumerate(zip(numbers, self.argument_names))
        ]

    def by_position(self, given: Sequence[Any], named: dict[str, Any]) -> Sequence[Any]:
        """The arguments in ``f``'s order: ``given`` by position, then those ``named`` by keyword."""
        if not named:
            return given
        names = self.argument_names
        if self.arity is None and not self.paths:
            raise TypeError(
                f"{self.name}: takes its arguments (*{names[0]}) by position, got {', '.join(named)}="
            )
        arguments: list[Any] = list(given) + [_MISSING] * max(0, len(names) - len(given))
        for name, value in named.items():
            if name in self.defaulted:
                raise TypeError(
                    f"{self.name}: engine.compile traces only the arguments without a default "
                    f"({', '.join(names)}); {name} keeps its default"
                )
            if name not in names:
                raise TypeError(
                    f"{self.name}: no argument named {name!r} (its arguments: {', '.join(names)})"
                )
            k = names.index(name)
            if arguments[k] is not _MISSING:
                raise TypeError(f"{self.name}: argument {k} ({name}) given twice, by position and by name")
            arguments[k] = value
        missing = [name for name, value in zip(names, arguments) if value is _MISSING]
        if missing:
            plural = "s" if len(missing) > 1 else ""
            raise TypeError(f"{self.name}: missing argument{plural} {', '.join(missing)}")
        return arguments

    def fix_arity(self, count: int) -> None:
        """Check the number of arguments (the first call fixes it for ``f(*args)``)."""
        if self.arity is None:
            if count == 0:
                raise TypeError(f"{self.name}: give at least one number")
            self.arity = count
            self.argument_names = [f"{self.argument_names[0]}_{k}" for k in range(count)]
        elif count != self.arity:
            defaults = ""
            if self.defaulted and count > self.arity:
                kept = ", ".join(self.defaulted)
                defaults = (
                    f"; engine.compile traces only the arguments without a default ({kept} "
                    f"{'keeps its default' if len(self.defaulted) == 1 else 'keep their defaults'}): to vary "
                    "them, compile a "
                    f"function that takes them without one, e.g. lambda {', '.join(self.argument_names)}, "
                    f"{', '.join(self.defaulted)}: {self.name}(...)"
                )
            raise TypeError(
                f"{self.name}: takes {self.arity} argument{'s' if self.arity != 1 else ''} "
                f"({', '.join(self.argument_names)}), got {count}{defaults}"
            )

    def first_path(self, what: str) -> Path:
        """The first trace, or a clear error if there is none yet."""
        if not self.paths:
            example = ", ".join("1.0" for _ in self.argument_names) if self.arity is not None else "1.0, ..."
            raise TraceError(
                f"{self.name}.{what}: nothing is traced yet; call it once (the first call traces "
                f"{self.name} with the engine), e.g. {self.name}({example})"
            )
        redefined = self.paths[0].redefined_op()
        if redefined is not None:
            raise TraceError(
                f"{self.name}.{what}: the op {redefined!r} was redefined (define_op) since {self.name} was "
                f"traced; call {self.name}(...) to trace it again with the new definition"
            )
        return self.paths[0]

    # -- many samples
    def over_samples(self, *arguments: Any, gradient: Any = 1.0, reduce: str = "sum", **named: Any
                     ) -> tuple[list, tuple]:
        """The per-sample replay over m samples, in one generated loop.

        Each argument is a number (the same for every sample) or a sequence of m
        numbers (one per sample). Returns (values, gradients): the m values (each
        a tuple if ``f`` returns several), and for each argument then each
        parameter, the gradient of J = Σᵢ valueᵢ (``reduce="mean"``: J = 1/m Σᵢ):
        a list of m numbers for a per-sample argument, one number for the others
        (their contributions summed over the samples). ``gradient`` seeds each
        sample's backward pass (a number, or m numbers).
        """
        samples = Samples(self, self.by_position(arguments, named), gradient, reduce)
        return samples.finish(samples.run_over_samples())

    def batch(self, *arguments: Any, gradient: Any = 1.0, reduce: str = "sum", fuse: bool = True,
              **named: Any) -> tuple:
        """The same trace evaluated with numpy arrays of m samples at once (``engine.batched``).

        Arguments, ``gradient`` and ``reduce`` as in ``over_samples``; values and
        per-sample gradients come back as numpy arrays of m. With ``fuse`` (the
        default) each layer's ``linear`` nodes become one matrix product,
        Z[l] = W[l] A[l−1] + b[l] (see ``batch_source``).
        """
        from engine.batched import run_batched

        samples = Samples(self, self.by_position(arguments, named), gradient, reduce)
        return run_batched(samples, check_flag(fuse, "fuse"))

    def batch_source(self, per_sample: Iterable[int | str] | None = None, reduce: str = "sum",
                     fuse: bool = True) -> str:
        """The numpy code ``batch`` runs when the arguments ``per_sample`` (positions or names; default:
        all) are arrays of samples and the others single numbers."""
        from engine.batched import batched_replay

        path = self.first_path("batch_source")
        flags = _per_sample_flags(self, per_sample)
        return batched_replay(path, flags, check_reduce(reduce), check_flag(fuse, "fuse")).source

    # -- checks
    def check(self, *numbers: Any, rtol: float = 1e-9, atol: float = 1e-12, **named: Any) -> ReplayCheck:
        """Compare the replay with the engine at ``numbers``: the graph, the value, every gradient.

        Raises ``TraceError`` naming what differs (another graph, or a number off
        by more than atol + rtol·|engine's|); else returns the largest differences.
        """
        data = self.numbers(self.by_position(numbers, named))
        rtol = check_real(f"{self.name}.check", "rtol", rtol, minimum=0.0)
        atol = check_real(f"{self.name}.check", "atol", atol, minimum=0.0)
        self.retrace(*data)
        return _compare(self.name, self.call(data, 1.0), self.engine(data, 1.0), rtol, atol)

    def retrace(self, *numbers: Any, **named: Any) -> None:
        """Trace ``f`` again at ``numbers`` and raise ``TraceError`` if it builds another graph.

        Another graph means ``f``'s control flow, or a number operand, depends on
        the numbers (an ``if`` on ``.data``, a constant made from ``.data``): the
        replay, which follows the traced graph, would be wrong at these inputs.
        Decisions recorded with ``branch_on`` are not differences: each path of
        theirs is traced when first met.
        """
        data = self.numbers(self.by_position(numbers, named))
        self.drop_stale_paths()
        fresh = self.trace_at(data)
        if not self.paths:
            with self._lock:
                self.paths.append(Path(fresh))
            return
        differences = [_difference(path.trace, fresh) for path in self.paths]
        if all(differences):
            if fresh.branches and all(_decided_otherwise(path.trace, fresh) for path in self.paths):
                self.add_path(data)  # a new path through recorded decisions: legitimate
                return
            raise TraceError(
                f"engine.compile: {self.name} builds another graph at {data} than when traced: "
                f"{differences[0]}; the replay follows the traced graph and would be wrong here: take "
                "the decision with engine.branch_on (each path is then traced), or use the engine"
            )


def _decided_otherwise(old: Trace, new: Trace) -> bool:
    """True if the two traces took some recorded decision differently (so their graphs may differ)."""
    return [outcome for _, _, outcome, _ in old.branches] != [outcome for _, _, outcome, _ in new.branches]


class Samples:
    """The arguments of a call over m samples, checked: which change per sample, their numbers, the seeds."""

    def __init__(self, g: CompiledFunction, arguments: Sequence[Any], gradient: Any, reduce: str) -> None:
        g.fix_arity(len(arguments))
        self.g = g
        self.reduce = check_reduce(reduce)
        self.columns: list[Any] = []
        self.per_sample: list[bool] = []
        m = None
        for k, (argument, name) in enumerate(zip(arguments, g.argument_names)):
            where = f"{g.name}: argument {k} ({name})"
            if _is_sequence(argument):
                column = _numbers_of(argument, where)
                m = _same_count(m, len(column), where)
                self.columns.append(column)
                self.per_sample.append(True)
            else:
                self.columns.append(as_number(argument, where))
                self.per_sample.append(False)
        seeds = None
        if _is_sequence(gradient):
            seeds = _numbers_of(gradient, f"{g.name}: gradient")
            m = _same_count(m, len(seeds), f"{g.name}: gradient")
        else:
            seed = as_number(gradient, f"{g.name}: gradient")
        if m is None:
            raise ValueError(
                f"{g.name}: give at least one argument as a sequence of samples (one number per sample); "
                f"for one sample, call {g.name}(...) itself"
            )
        if m == 0:
            raise ValueError(f"{g.name}: no samples (the sequences are empty)")
        self.m = m
        self.arity = len(self.columns)
        self.seeds = seeds if seeds is not None else [seed] * m
        """Each sample's seed as given (the batched code applies 1/m itself for ``reduce="mean"``)."""
        scale = 1.0 / m if self.reduce == "mean" else 1.0
        self.scaled_seeds = [s * scale for s in self.seeds] if scale != 1.0 else self.seeds
        """The seeds of J = Σ (or 1/m Σ) of the values: what the per-sample replay starts from."""

    def sample(self, i: int) -> list[float]:
        """Sample i's arguments."""
        return [column[i] if flag else column for column, flag in zip(self.columns, self.per_sample)]

    def new_result(self) -> tuple[list, list]:
        """Values and gradients to fill: per-sample lists where arguments vary, totals elsewhere."""
        gradients: list = [[0.0] * self.m if flag else 0.0 for flag in self.per_sample]
        gradients += [0.0] * len(self.g.parameters)
        return [None] * self.m, gradients

    def add_many(self, result: tuple[list, list], indices: Sequence[int], values: Sequence[Sequence[float]],
                 per_sample: dict[int, Sequence[float]], totals: dict[int, float]) -> None:
        """Samples ``indices`` done: ``values[j]`` lists output j for each; ``per_sample`` maps a
        result slot to each sample's gradient; ``totals`` a slot to the sum over these samples."""
        for position, i in enumerate(indices):
            result[0][i] = tuple(column[position] for column in values)
        for slot, column in per_sample.items():
            target = result[1][slot]
            for position, i in enumerate(indices):
                target[i] = column[position]
        for slot, total in totals.items():
            result[1][slot] += total

    def by_call(self, result: tuple[list, list], indices: Iterable[int]) -> None:
        """Samples replayed one at a time through ``g.call`` (the engine wherever the replay fails)."""
        for i in indices:
            values, gradients = self.g.call(self.sample(i), self.scaled_seeds[i])
            result[0][i] = values if isinstance(values, tuple) else (values,)
            for j, gradient in enumerate(gradients):
                if j < self.arity and self.per_sample[j]:
                    result[1][j][i] = gradient
                else:
                    result[1][j] += gradient

    def run_over_samples(self, indices: Sequence[int] | None = None,
                         result: tuple[list, list] | None = None) -> tuple[list, list]:
        """Each path's generated loop on the samples left; the samples it skips (a recorded
        decision came out otherwise) go to the next path, or to a new trace when none is left."""
        self.g.drop_stale_paths()
        result = self.new_result() if result is None else result
        remaining = list(range(self.m)) if indices is None else list(indices)
        flags = tuple(self.per_sample)
        fixed = [c for c, flag in zip(self.columns, flags) if not flag]
        varying = [c for c, flag in zip(self.columns, flags) if flag]
        k = 0
        while remaining:
            fresh = k >= len(self.g.paths)
            path = self.g.add_path(self.sample(remaining[0])) if fresh else self.g.paths[k]
            k += 1
            rows = zip(*([column[i] for i in remaining] for column in varying),
                       [self.scaled_seeds[i] for i in remaining])
            replay = path.over_samples(flags)
            try:
                values, gradients, totals, skipped = replay(*fixed, *path.shared_data(), rows)
            except (ArithmeticError, ValueError, TypeError):
                self.by_call(result, remaining)  # the engine raises its own error, or gives its numbers
                break
            if not (all(map(all_finite, values)) and all(map(all_finite, gradients)) and all_finite(totals)):
                self.by_call(result, remaining)
                break
            skipped_set = set(skipped)
            done = [i for position, i in enumerate(remaining) if position not in skipped_set]
            slots = path.trace.slots
            varying_steps, summed_steps = path.trace.split_wanted(flags)
            columns = list(zip(*gradients)) if varying_steps else []
            self.add_many(result, done, list(zip(*values)) if values else [],
                          {slots[s]: column for s, column in zip(varying_steps, columns)},
                          {slots[s]: total for s, total in zip(summed_steps, totals)})
            left = [remaining[position] for position in skipped]
            if fresh and left and left[0] == remaining[0]:
                raise undecided_error(self.g.name)
            remaining = left
        return result

    def finish(self, result: tuple[list, list]) -> tuple[list, tuple]:
        """The public form of ``over_samples``'s result (``batch`` makes its own: ``engine.batched``)."""
        values, gradients = result
        return [self.g.result(v) for v in values], tuple(gradients)


def _is_sequence(x: Any) -> bool:
    if isinstance(x, (str, bytes, Value)):
        return False
    shape = getattr(x, "shape", None)
    if shape is not None:
        return len(shape) >= 1
    return isinstance(x, Sequence) or (isinstance(x, Iterable) and not isinstance(x, (int, float)))


def _numbers_of(x: Any, where: str) -> list[float]:
    """A sequence of one number per sample as a list of finite floats (checked item by item only
    when the quick test fails, so that the error names the item)."""
    if isinstance(x, (set, frozenset, Mapping)):
        kind = "a dict (its keys?)" if isinstance(x, Mapping) else "a set, which has no order"
        raise TypeError(f"{where}: one number per sample, in order (a list or an array); got {kind}: "
                        f"{short_repr(x)}")
    shape = getattr(x, "shape", None)
    if shape is not None and len(shape) != 1:
        raise ValueError(f"{where}: one number per sample, a 1-D sequence; got an array of shape {shape}")
    items = x.tolist() if hasattr(x, "tolist") else list(x)
    if all_finite(items):
        return items
    return [as_number(item, f"{where}[{i}]") for i, item in enumerate(items)]


def _same_count(m: int | None, count: int, where: str) -> int:
    if m is not None and count != m:
        raise ValueError(f"{where}: {count} samples, but the arguments before it have {m}")
    return count


class ReplayCheck(NamedTuple):
    """What ``g.check(...)`` found: the largest differences from the engine."""

    value_difference: float
    gradient_difference: float


def _compare(name: str, replayed: tuple, engine: tuple, rtol: float, atol: float) -> ReplayCheck:
    def as_tuple(x: Any) -> tuple:
        return x if isinstance(x, tuple) else (x,)

    worst = []
    for what, mine, theirs in (("value", as_tuple(replayed[0]), as_tuple(engine[0])),
                               ("gradient", replayed[1], engine[1])):
        largest = 0.0
        for k, (a, b) in enumerate(zip(mine, theirs)):
            difference = abs(a - b)
            if not difference <= atol + rtol * abs(b):
                raise TraceError(
                    f"engine.compile: {name}'s replay gives {what} {k} = {a!r}, the engine {b!r} "
                    f"(difference {difference:.3g}); the replay does not stand for {name} here"
                )
            largest = max(largest, difference)
        worst.append(largest)
    return ReplayCheck(*worst)


def _difference(old: Trace, new: Trace) -> str:
    """What differs between two traces' graphs, in words ('' if nothing does)."""
    a, b = old.signature(), new.signature()
    if len(a) != len(b) or old.outputs != new.outputs:
        return f"{len(b)} nodes here, {len(a)} when traced (an `if` on .data, or a loop as long as a number?)"
    for k, (x, y) in enumerate(zip(a, b)):
        step = old.steps[k]
        if x[0] == "leaf" and y[0] == "leaf" and x[1] is not y[1]:
            if x[1].data == y[1].data:
                continue  # a leaf f makes afresh each time, holding the same number
            return (f"leaf {step.name} ({step.text}) holds {y[1].data!r} here, {x[1].data!r} when "
                    "traced (f makes it from numbers, e.g. Value(x.data))")
        if x[0] == "op" == y[0] and x[1] is not y[1] and x[1].name == y[1].name:
            return (f"node {step.name} ({step.text}) uses op {x[1].name!r} as defined when traced, and "
                    f"another definition of {x[1].name!r} here: the op was redefined (define_op) since; "
                    "compile f again")
        if x[0] != y[0] or (x[0] == "op" and (x[1] is not y[1] or x[2] != y[2])):
            return (f"node {step.name} ({step.text}) is {_describe_row(y, new)} here, "
                    f"{_describe_row(x, old)} when traced (an `if` on .data, or a number operand "
                    "computed from .data?)")
    return ""


def _describe_row(row: tuple, trace: Trace) -> str:
    if row[0] != "op":
        return "a leaf" if row[0] == "leaf" else f"argument {row[1]}"
    inputs = ", ".join(trace.steps[x].name if type(x) is int else repr(x) for x in row[2])
    return f"{row[1].name}({inputs})"


# ---------------------------------------------------------------------------
# Checked arguments
# ---------------------------------------------------------------------------
def check_flag(value: object, name: str = "check") -> bool:
    """``engine.compile``'s switches (``check``, ``fuse``): True or False."""
    return check_bool("engine.compile", name, value)


def check_reduce(reduce: object) -> str:
    """How the gradients over samples add up: ``"sum"`` (J = Σᵢ valueᵢ) or ``"mean"`` (J = 1/m Σᵢ)."""
    return check_choice("engine.compile", "reduce", reduce, ("sum", "mean"))


def _parameter_list(parameters: Iterable[Value]) -> tuple[Value, ...]:
    if isinstance(parameters, Value) or not isinstance(parameters, Iterable) or isinstance(parameters, str):
        raise TypeError(
            f"engine.compile: parameters must be a list of leaf Values (e.g. model.parameters()), "
            f"got {describe(parameters)}"
        )
    listed = tuple(parameters)
    seen: set[Value] = set()
    for k, p in enumerate(listed):
        if not isinstance(p, Value):
            raise TypeError(f"engine.compile: parameters[{k}] must be a Value, got {describe(p)}")
        if p.op is not None:
            raise ValueError(
                f"engine.compile: parameters[{k}] is not a leaf (op {p.op.name!r}); parameters are the "
                "leaves f reads besides its arguments, e.g. model.parameters()"
            )
        if p in seen:
            raise ValueError(f"engine.compile: parameters[{k}] ({p!r}) is listed twice")
        seen.add(p)
    return listed


def _function_name(f: Callable) -> str:
    name = getattr(f, "__name__", "")
    return name if isinstance(name, str) and usable_identifier(name) else "f"


def _argument_names(f: Callable) -> tuple[list[str], int | None, list[str]]:
    """The names of ``f``'s positional parameters without a default (None as the count if it takes
    ``*args``), and the names of those with one (never traced: they keep their defaults)."""
    try:
        signature = inspect.signature(f)
    except (TypeError, ValueError):
        return ["x"], None, []
    names: list[str] = []
    defaulted: list[str] = []
    for parameter in signature.parameters.values():
        if parameter.kind is inspect.Parameter.VAR_POSITIONAL:
            return [parameter.name if usable_identifier(parameter.name) else "x"], None, []
        if parameter.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD):
            if parameter.default is not inspect.Parameter.empty or defaulted:
                defaulted.append(parameter.name)
                continue
            names.append(parameter.name if usable_identifier(parameter.name) else f"x{len(names)}")
    return names, len(names), defaulted


def _per_sample_flags(g: CompiledFunction, per_sample: Iterable[int | str] | None) -> tuple[bool, ...]:
    """Which arguments are arrays of samples: ``per_sample`` names them by position or by name."""
    names = g.argument_names
    if per_sample is None:
        return (True,) * len(names)
    function = f"{g.name}.batch_source"
    one = isinstance(per_sample, str) or not hasattr(per_sample, "__len__")  # a single position or name
    items = [per_sample] if one else check_sequence(function, "per_sample", per_sample, of="arguments")
    flags = [False] * len(names)
    for k, item in enumerate(items):
        where = "per_sample" if one else f"per_sample[{k}]"
        if isinstance(item, str):
            flags[names.index(check_choice(function, where, item, names))] = True
        else:
            position = check_int(function, where, item, minimum=0, maximum=len(names) - 1,
                                 hint=f"an argument's position, or its name ({', '.join(names)})")
            flags[position] = True
    return tuple(flags)


def compile(
    f: Callable[..., Value], *, parameters: Iterable[Value] = (), check: bool = False,
) -> CompiledFunction:
    """Trace ``f`` (a function of Values returning a Value) and replay it as straight-line Python.

    ``g = compile(f)``; ``value, gradients = g(*numbers)``: the first call traces
    ``f`` with the engine, every call runs the generated code (``g.source``).
    ``gradients`` are ∂value/∂argument for each argument, then for each of
    ``parameters``: leaves ``f`` reads besides its arguments (a model's weights),
    whose current ``data`` each call uses. Other leaves ``f`` reads are used the
    same way, without a gradient. ``f`` may return several Values: all their
    values come back, the gradients are those of the first. A node ``f`` reads but did
    not build (``z0 = y0 * 2`` made outside) is a constant of ``f``, as the engine sees
    it: its number is read, not recomputed (a parameter below it is refused). ``check=True``
    compares every call with the engine (slow; for finding where a replay and
    the engine part). See the module docstring for the limit: one trace is one
    path through ``f``.

    >>> g = compile(lambda w, b: (w * 1.5 + b).sigmoid())
    >>> value, (dw, db) = g(0.8, -0.4)
    >>> round(value, 4), round(dw, 4), round(db, 4)
    (0.69, 0.3209, 0.2139)
    """
    return CompiledFunction(f, parameters, check)


__all__ = ["Branch", "BranchChangedError", "CompiledFunction", "ReplayCheck", "TraceError",
           "branch_on", "compile"]

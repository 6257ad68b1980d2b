"""Random expression DAGs for differential fuzzing of the engine (hypothesis strategies).

An ``Expression`` is a straight-line program: leaves x0..x{n−1}, then steps, each
one *form* (an engine op written one way: ``a * c``, ``c * a``, ``a ** b``, ...)
applied to earlier nodes, so a node can feed many later ones (shared
subexpressions). ``replay`` runs the program on anything with Value's operators
and methods: engine Values, PyTorch tensors, and the ``Interval`` below, so the
engine, the oracle and the domain guard all read the same program.

Domains are proved, not hoped for. While a program is drawn, every node carries
an ``Interval`` that contains its value for every leaf within ``RADIUS`` of the
drawn point (RADIUS is 5× the largest step a test nudges a leaf by, so every
nudged evaluation stays inside). A form is emitted only where those intervals prove, with a margin:
log and Value-exponent bases positive; divisors and negative-power bases away
from 0; exp and Value exponents bounded; relu inputs one sign (no kink to step
over, so central differences are valid); every result within ``CAP``. Where the
drawn operands fail, guards built from engine ops repair them (c + u², e^tanh u,
σ(u) + c, tanh u), so the guards are fuzzed too.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from hypothesis import settings
from hypothesis import strategies as st

import engine

RADIUS = 1e-5
"""Half-width of the box around the drawn leaves over which every domain condition is proved."""
CAP = 1e4
"""Largest |value| a node may take: keeps rounding error, and so central differences, meaningful."""
MARGIN = 0.05
"""Distance from 0 required of log arguments, divisors and fractional-power bases."""
BOUND = 3.0
"""Largest |argument| of exp and of a Value exponent (e³ ≈ 20)."""
KINK_MARGIN = 1e-9
"""relu needs its input this far from 0 on the whole box (beyond any rounding of the interval)."""
MAX_DEPTH = 30
"""No node, the root included, lies more than this many ops above a leaf."""
_RESERVE = 6  # ops a step may add above its operands: squash, 3 guard ops, the op, the root sum


# ---------------------------------------------------------------------------
# Intervals: the domain guard's arithmetic.
# ---------------------------------------------------------------------------
def _exp(x: float) -> float:
    return math.exp(x) if x < 709.0 else math.inf


def _pow(base: float, exponent: float) -> float:
    try:
        return math.pow(base, exponent)
    except OverflowError:
        return math.inf


class Interval:
    """[lo, hi], closed under the engine's ops: contains op(x) for every x in the operands."""

    __slots__ = ("hi", "lo")

    def __init__(self, lo: float, hi: float) -> None:
        self.lo, self.hi = lo, hi

    def __repr__(self) -> str:
        return f"[{self.lo:.6g}, {self.hi:.6g}]"

    def within(self, bound: float) -> bool:
        """True when the interval lies in [−bound, bound] (false for nan or infinite ends)."""
        return -bound <= self.lo and self.hi <= bound

    def away_from_zero(self, margin: float) -> bool:
        """True when every point is at least ``margin`` from 0."""
        return self.lo >= margin or self.hi <= -margin

    def __add__(self, other: Interval | float) -> Interval:
        o = _interval(other)
        return Interval(self.lo + o.lo, self.hi + o.hi)

    __radd__ = __add__

    def __neg__(self) -> Interval:
        return Interval(-self.hi, -self.lo)

    def __sub__(self, other: Interval | float) -> Interval:
        return self + -_interval(other)

    def __rsub__(self, other: float) -> Interval:
        return _interval(other) - self

    def __mul__(self, other: Interval | float) -> Interval:
        if other is self:  # u·u ≥ 0: what makes the guard c + u² provably positive
            squares = (self.lo * self.lo, self.hi * self.hi)
            low = 0.0 if self.lo <= 0.0 <= self.hi else min(squares)
            return Interval(low, max(squares))
        o = _interval(other)
        products = (self.lo * o.lo, self.lo * o.hi, self.hi * o.lo, self.hi * o.hi)
        return Interval(min(products), max(products))

    __rmul__ = __mul__

    def __truediv__(self, other: Interval | float) -> Interval:
        o = _interval(other)
        if o.lo <= 0.0 <= o.hi:
            return EVERYTHING
        return self * Interval(1.0 / o.hi, 1.0 / o.lo)

    def __rtruediv__(self, other: float) -> Interval:
        return _interval(other) / self

    def __pow__(self, other: Interval | float) -> Interval:
        if isinstance(other, Interval):  # aᵇ = e^(b·ln a)
            return (other * self.log()).exp()
        n = float(other)
        if self.lo <= 0.0 and not n.is_integer():
            return EVERYTHING
        if n < 0.0 and self.lo <= 0.0 <= self.hi:
            return EVERYTHING
        candidates = [_pow(self.lo, n), _pow(self.hi, n)]
        if self.lo < 0.0 < self.hi:  # an even power's minimum is inside
            candidates.append(0.0 if n != 0.0 else 1.0)
        return Interval(min(candidates), max(candidates))

    def __rpow__(self, other: float) -> Interval:
        if other <= 0.0:
            return EVERYTHING
        ends = (_pow(other, self.lo), _pow(other, self.hi))
        return Interval(min(ends), max(ends))

    def exp(self) -> Interval:
        return Interval(_exp(self.lo), _exp(self.hi))

    def log(self) -> Interval:
        if self.lo <= 0.0:
            return EVERYTHING
        return Interval(math.log(self.lo), math.log(self.hi))

    def sigmoid(self) -> Interval:
        # σ(z) = (1 + tanh(z/2))/2: monotone and overflow-free.
        return Interval(0.5 * (1.0 + math.tanh(self.lo / 2)), 0.5 * (1.0 + math.tanh(self.hi / 2)))

    def tanh(self) -> Interval:
        return Interval(math.tanh(self.lo), math.tanh(self.hi))

    def relu(self) -> Interval:
        return Interval(max(self.lo, 0.0), max(self.hi, 0.0))

    def step(self) -> Interval:
        return Interval(float(self.lo > 0.0), float(self.hi > 0.0))


EVERYTHING = Interval(-math.inf, math.inf)


def _interval(x: Interval | float) -> Interval:
    return x if isinstance(x, Interval) else Interval(float(x), float(x))


# ---------------------------------------------------------------------------
# Forms: each engine op, written every way a user can write it.
# ---------------------------------------------------------------------------
class Backend(NamedTuple):
    """How a number type spells the engine's two n-ary ops, the step function, and a ** b with b a node."""

    linear: Callable[[Sequence, Sequence, Any], Any]
    sum_values: Callable[[Sequence], Any]
    step: Callable[[Any], Any]
    power: Callable[[Any, Any], Any] = operator.pow


def linear_by_hand(weights: Sequence, inputs: Sequence, bias: Any) -> Any:
    """z = b + Σᵢ wᵢxᵢ with binary ops, summed in ``engine.linear``'s order."""
    z = bias
    for w, x in zip(weights, inputs, strict=True):
        z = z + w * x
    return z


def sum_by_hand(terms: Sequence) -> Any:
    """Σ aᵢ with binary ops, in ``engine.sum_values``'s order."""
    total = terms[0]
    for term in terms[1:]:
        total = total + term
    return total


def step_by_hand(x: Any) -> Any:
    """1 where x > 0, else 0, with slope 0: an Interval's, or a tensor's (kept in the graph by + 0·x)."""
    if isinstance(x, Interval):
        return x.step()
    return (x > 0).to(x.dtype) + 0.0 * x


ENGINE = Backend(engine.linear, engine.sum_values, engine.OPS["step"])
"""Build the expression from engine Values, n-ary ops as single nodes."""
BY_HAND = Backend(linear_by_hand, sum_by_hand, step_by_hand)
"""Build it from anything with + and * (PyTorch tensors, Intervals)."""


def _linear(args: Sequence, backend: Backend) -> Any:
    k = (len(args) - 1) // 2
    return backend.linear(args[:k], args[k : 2 * k], args[-1])


# Consts a user might write: small integers as well as floats.
_ANY_CONST = st.one_of(st.integers(-3, 3), st.floats(-3.0, 3.0))
_NONZERO_CONST = st.one_of(st.sampled_from([-2, -1, 1, 2]), st.floats(0.1, 3.0), st.floats(-3.0, -0.1))
_EXPONENTS = st.one_of(
    st.sampled_from([2, 3, 1, 0, -1, -2, 0.5, 1.5, -0.5, 2.5, 1 / 3]), st.floats(-3.0, 3.0)
)
_POSITIVE_BASES = st.one_of(st.sampled_from([2, 0.5, math.e, 1]), st.floats(0.1, 4.0))


class Form(NamedTuple):
    """One way to write an engine op: its OPS name, operand count (None: variadic), const, text."""

    op: str
    arity: int | None
    const: st.SearchStrategy | None
    text: str
    apply: Callable[[Sequence, Any, Backend], Any]


FORMS: dict[str, Form] = {
    "add": Form("add", 2, None, "{0} + {1}", lambda a, c, b: a[0] + a[1]),
    "add_const": Form("add", 1, _ANY_CONST, "{0} + {c}", lambda a, c, b: a[0] + c),
    "radd_const": Form("add", 1, _ANY_CONST, "{c} + {0}", lambda a, c, b: c + a[0]),
    "sub": Form("sub", 2, None, "{0} - {1}", lambda a, c, b: a[0] - a[1]),
    "sub_const": Form("sub", 1, _ANY_CONST, "{0} - {c}", lambda a, c, b: a[0] - c),
    "rsub_const": Form("sub", 1, _ANY_CONST, "{c} - {0}", lambda a, c, b: c - a[0]),
    "mul": Form("mul", 2, None, "{0} * {1}", lambda a, c, b: a[0] * a[1]),
    "mul_const": Form("mul", 1, _ANY_CONST, "{0} * {c}", lambda a, c, b: a[0] * c),
    "rmul_const": Form("mul", 1, _ANY_CONST, "{c} * {0}", lambda a, c, b: c * a[0]),
    "div": Form("div", 2, None, "{0} / {1}", lambda a, c, b: a[0] / a[1]),
    "div_const": Form("div", 1, _NONZERO_CONST, "{0} / {c}", lambda a, c, b: a[0] / c),
    "rdiv_const": Form("div", 1, _ANY_CONST, "{c} / {0}", lambda a, c, b: c / a[0]),
    "pow": Form("pow", 2, None, "{0} ** {1}", lambda a, c, b: b.power(a[0], a[1])),
    "pow_const": Form("power", 1, _EXPONENTS, "{0} ** {c}", lambda a, c, b: a[0] ** c),
    "rpow_const": Form("pow", 1, _POSITIVE_BASES, "{c} ** {0}", lambda a, c, b: c ** a[0]),
    "neg": Form("neg", 1, None, "-{0}", lambda a, c, b: -a[0]),
    "exp": Form("exp", 1, None, "exp({0})", lambda a, c, b: a[0].exp()),
    "log": Form("log", 1, None, "log({0})", lambda a, c, b: a[0].log()),
    "sigmoid": Form("sigmoid", 1, None, "sigmoid({0})", lambda a, c, b: a[0].sigmoid()),
    "tanh": Form("tanh", 1, None, "tanh({0})", lambda a, c, b: a[0].tanh()),
    "relu": Form("relu", 1, None, "relu({0})", lambda a, c, b: a[0].relu()),
    "step": Form("step", 1, None, "step({0})", lambda a, c, b: b.step(a[0])),
    "linear": Form("linear", None, None, "linear({args})", lambda a, c, b: _linear(a, b)),
    "sum": Form("sum", None, None, "sum_values({args})", lambda a, c, b: b.sum_values(a)),
}
"""Every form the generator draws; together they cover every op in ``engine.OPS``."""


def _requirement(form: str, position: int, const: Any) -> str:
    """What operand ``position`` of ``form`` must satisfy: its domain, with a margin."""
    if form == "log" or (form == "pow" and position == 0):
        return "positive"
    if form in ("exp", "rpow_const") or (form == "pow" and position == 1):
        return "bounded"
    if (form == "div" and position == 1) or form == "rdiv_const":
        return "nonzero"
    if form == "pow_const":
        if not float(const).is_integer():
            return "positive"
        return "nonzero" if const < 0 else "any"
    if form in ("relu", "step"):
        return "one_sign"
    return "any"


def _satisfies(interval: Interval, requirement: str) -> bool:
    if requirement == "positive":
        return interval.lo >= MARGIN and interval.within(CAP)
    if requirement == "nonzero":
        return interval.away_from_zero(MARGIN) and interval.within(CAP)
    if requirement == "bounded":
        return interval.within(BOUND)
    if requirement == "one_sign":
        return interval.away_from_zero(KINK_MARGIN)
    return True


# ---------------------------------------------------------------------------
# Expressions and their generator.
# ---------------------------------------------------------------------------
class Step(NamedTuple):
    """One node of the program: ``FORMS[form]`` applied to earlier nodes ``args`` (and ``const``)."""

    form: str
    args: tuple[int, ...]
    const: Any = None


class Expression:
    """A random program over leaves; ``expression(*values)`` rebuilds it from those values.

    Node i < len(leaves) is leaf i; node len(leaves) + j is ``steps[j]``; the
    output is the last node.
    """

    __slots__ = ("leaves", "steps")

    def __init__(self, leaves: tuple[float, ...], steps: tuple[Step, ...]) -> None:
        self.leaves, self.steps = leaves, steps

    def __call__(self, *values: Any) -> Any:
        """The output built from engine Values (one per leaf), n-ary ops as single nodes."""
        return replay(self, values, ENGINE)

    def leaf_values(self) -> list[engine.Value]:
        """Fresh leaf Values at the drawn point, labelled x0, x1, ..."""
        return [engine.Value(x, label=f"x{i}") for i, x in enumerate(self.leaves)]

    def depths(self) -> list[int]:
        """Ops between each node and the leaves (0 for a leaf)."""
        depths = [0] * len(self.leaves)
        for step in self.steps:
            depths.append(1 + max(depths[i] for i in step.args))
        return depths

    def __repr__(self) -> str:
        names = [f"x{i}" for i in range(len(self.leaves))]
        names += [f"v{j}" for j in range(len(self.steps))]
        lines = [f"x{i} = {x!r}" for i, x in enumerate(self.leaves)]
        for j, step in enumerate(self.steps):
            args = [names[i] for i in step.args]
            text = FORMS[step.form].text.format(*args, c=repr(step.const), args=", ".join(args))
            lines.append(f"v{j} = {text}")
        return "Expression(\n    " + "\n    ".join(lines) + "\n)"


def replay(expression: Expression, values: Sequence, backend: Backend = ENGINE) -> Any:
    """Evaluate ``expression`` with ``values`` at its leaves; n-ary ops spelled by ``backend``."""
    if len(values) != len(expression.leaves):
        raise ValueError(f"expression has {len(expression.leaves)} leaves, got {len(values)} values")
    nodes = list(values)
    for step in expression.steps:
        nodes.append(FORMS[step.form].apply([nodes[i] for i in step.args], step.const, backend))
    return nodes[-1]


class _Builder:
    """Grows a program step by step, keeping each node's interval and depth."""

    def __init__(self, leaves: list[float]) -> None:
        self.leaves = leaves
        self.steps: list[Step] = []
        self.intervals = [Interval(x - RADIUS, x + RADIUS) for x in leaves]
        self.depths = [0] * len(leaves)

    def append(self, form: str, args: tuple[int, ...], const: Any = None) -> int:
        interval = FORMS[form].apply([self.intervals[i] for i in args], const, BY_HAND)
        self.steps.append(Step(form, args, const))
        self.intervals.append(interval)
        self.depths.append(1 + max(self.depths[i] for i in args))
        return len(self.intervals) - 1

    def pick(self, draw: st.DrawFn) -> int:
        """An earlier node shallow enough to build on; shrinks towards the newest (deep chains)."""
        eligible = [i for i, d in enumerate(self.depths) if d <= MAX_DEPTH - _RESERVE]
        # Mostly one of the newest three nodes (deep graphs), else any (sharing across the graph).
        reach = 3 if draw(st.integers(0, 3)) else len(eligible)
        return eligible[-1 - draw(st.integers(0, min(reach, len(eligible)) - 1))]

    def positive(self, draw: st.DrawFn, u: int) -> int:
        """A node ≥ 0.1 everywhere built on ``u``: c + u², e^tanh u or σ(u) + c (c ≥ 0.1)."""
        guard = draw(st.sampled_from(["square", "exp_tanh", "sigmoid"]))
        c = draw(st.floats(0.1, 2.0))
        if guard == "square" and self.intervals[u].within(50.0):
            return self.append("radd_const", (self.append("mul", (u, u)),), c)
        if guard == "sigmoid":
            return self.append("add_const", (self.append("sigmoid", (u,)),), c)
        return self.append("exp", (self.append("tanh", (u,)),))

    def guard(self, draw: st.DrawFn, u: int, requirement: str) -> int:
        """``u`` itself if it meets ``requirement``, else a guard node built on it that does."""
        if _satisfies(self.intervals[u], requirement):
            return u
        if requirement == "bounded":
            return self.append("tanh", (u,))
        guarded = self.positive(draw, u)
        if requirement != "positive" and draw(st.booleans()):
            guarded = self.append("neg", (guarded,))  # negative: nonzero, and relu's other side
        return guarded

    def emit(self, draw: st.DrawFn, form: str) -> None:
        """Append ``form`` on drawn operands, guarded into its domain; tanh if nothing fits."""
        spec = FORMS[form]
        if form == "linear":
            arity = 2 * draw(st.integers(1, 3)) + 1
        elif form == "sum":
            arity = draw(st.integers(1, 4))
        else:
            arity = spec.arity
        operands = [self.pick(draw) for _ in range(arity)]
        const = draw(spec.const) if spec.const is not None else None
        for squash in (False, True):
            args = [self.append("tanh", (u,)) if squash else u for u in operands]
            args = tuple(
                self.guard(draw, u, _requirement(form, position, const)) for position, u in enumerate(args)
            )
            if spec.apply([self.intervals[i] for i in args], const, BY_HAND).within(CAP):
                self.append(form, args, const)
                return
        self.append("tanh", (operands[0],))  # unreachable in practice; kept as a safe fallback

    def finish(self) -> Expression:
        """The program whose output is the sum of every node nothing else uses (all nodes count)."""
        used = {i for step in self.steps for i in step.args}
        sinks = tuple(i for i in range(len(self.intervals)) if i not in used)
        if len(sinks) > 1 or sinks[0] < len(self.leaves):
            self.append("sum", sinks)
        return Expression(tuple(self.leaves), tuple(self.steps))


LEAF_VALUES = st.floats(-3.0, 3.0, allow_nan=False, allow_infinity=False)


@st.composite
def expressions(draw: st.DrawFn, max_steps: int = 50, required: str | None = None) -> Expression:
    """A random Expression: 1–5 leaves, up to ``max_steps`` drawn forms (plus their guards).

    ``required`` names a form emitted first, so a test can insist on one op.
    """
    leaves = draw(st.lists(LEAF_VALUES, min_size=1, max_size=5))
    builder = _Builder(leaves)
    if required is not None:
        builder.emit(draw, required)
    for _ in range(draw(st.integers(0, max_steps))):
        builder.emit(draw, draw(st.sampled_from(sorted(FORMS))))
    return builder.finish()


def fuzz_settings(examples: int, share: float = 1.0) -> settings:
    """``examples`` per test in the normal suite; in ``make fuzz``, ``share`` of the profile's count.

    ``make fuzz`` runs pytest with ``--hypothesis-profile=fuzz`` (see conftest.py);
    a test parametrized n ways passes ``share=1/n`` so the campaign stays its size.
    """
    if settings.get_current_profile_name() == "fuzz":
        return settings(max_examples=max(1, round(settings.default.max_examples * share)), deadline=None)
    return settings(max_examples=examples, deadline=None)

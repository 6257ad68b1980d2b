"""Value: one scalar node of a computation graph, and the ops that build graphs.

A node keeps its number (``data``), its gradient (``grad``), its parents and the
local derivatives ∂out/∂parent, computed when the node is made. It keeps no
closure over itself, so a graph has no reference cycles and is freed as soon as
nothing refers to its output (see DESIGN.md: cycles are what make micrograd slow).

Every op is an ``Op`` record: its name, the symbol drawn for it, its local
derivative written in the course's notation, and ``local_grads``, the one
function that computes ∂out/∂input. That function is called with floats when the
node is made, and with ``Value``s when a gradient must itself be differentiable
(``engine.grad(..., create_graph=True)``), so each formula is written once.
"""

from __future__ import annotations

import math
import numbers
import operator
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import NamedTuple

Number = int | float


class DomainError(ValueError):
    """An op got an input outside its domain: log of 0, division by 0, exp overflow, ..."""


# ---------------------------------------------------------------------------
# Global modes. Each op checks one flag, so the common case costs one lookup.
# ---------------------------------------------------------------------------
_grad_enabled = True
_anomaly_checks = False
_plain_mode = True  # True while grad is enabled and anomaly checks are off


def _update_plain_mode() -> None:
    global _plain_mode
    _plain_mode = _grad_enabled and not _anomaly_checks


def is_grad_enabled() -> bool:
    """True unless inside ``no_grad()``: ops record their parents and local derivatives."""
    return _grad_enabled


@contextmanager
def _mode(name: str, value: bool) -> Iterator[None]:
    """Set the module switch ``name`` (a global above) inside the block, restoring it after."""
    previous = globals()[name]
    globals()[name] = value
    _update_plain_mode()
    try:
        yield
    finally:
        globals()[name] = previous
        _update_plain_mode()


def no_grad() -> AbstractContextManager[None]:
    """Build no graph inside this block: results are leaves with no parents.

    Use it for predictions and plots, where no gradient is needed; it is much
    faster and keeps no memory alive. Not thread-safe (one global switch).
    """
    return _mode("_grad_enabled", False)


def enable_grad() -> AbstractContextManager[None]:
    """Record graphs again inside a ``no_grad()`` block (used by ``grad(create_graph=True)``)."""
    return _mode("_grad_enabled", True)


class AnomalyError(FloatingPointError):
    """Raised inside ``detect_anomaly()`` by the first op whose result is nan or inf."""


def detect_anomaly() -> AbstractContextManager[None]:
    """Check every op's result inside this block; raise ``AnomalyError`` at the first nan or inf.

    The message names the op, its inputs (with their labels), its local
    derivatives and the formula that made it, written over the labels of the
    nodes that led to it, e.g. ``(tanh(a * 2.0) + a) * b``. Like PyTorch's
    ``torch.autograd.detect_anomaly`` (forward only: backward is not checked).
    """
    return _mode("_anomaly_checks", True)


# ---------------------------------------------------------------------------
# Ops: one record per op, with its derivative rule.
# ---------------------------------------------------------------------------
class Op(NamedTuple):
    """One primitive: how it is named and drawn, and its local derivatives.

    ``local_grads(out, *inputs)`` returns ∂out/∂input for each input that is a
    ``Value``; ``inputs`` are in the order the op is written, a number operand
    sitting where it was written (``const_first`` says it stood on the left).
    """

    name: str
    symbol: str
    derivative: str
    local_grads: Callable[..., tuple]
    const_first: bool = False


# Local derivatives that are constants are shared tuples: no allocation per node.
_ONES = (1.0, 1.0)
_PLUS_MINUS = (1.0, -1.0)
_UNIT = (1.0,)
_MINUS_UNIT = (-1.0,)


def _relu_slope(out: object) -> float:
    # relu'(z) = 1 if z > 0 else 0 (0 at z = 0, as in PyTorch); a constant, so no graph.
    return 1.0 if float(out.data if isinstance(out, Value) else out) > 0.0 else 0.0  # type: ignore[attr-defined]


def _ln(a: object) -> object:
    # ln a for a float (a number) or a Value (a node), so one rule serves both.
    return a.log() if isinstance(a, Value) else math.log(a)  # type: ignore[attr-defined]


def _linear_grads(out: object, *inputs: object) -> tuple:
    # inputs = w_1..w_n, x_1..x_n, b: ∂z/∂w_i = x_i, ∂z/∂x_i = w_i, ∂z/∂b = 1.
    n = (len(inputs) - 1) // 2
    return (*inputs[n : 2 * n], *inputs[:n], 1.0)


ADD = Op("add", "+", "∂(a+b)/∂a = 1, ∂(a+b)/∂b = 1", lambda out, a, b: _ONES)
ADD_CONST = Op("add_const", "+", "∂(a+c)/∂a = 1", lambda out, a, c: _UNIT)
SUB = Op("sub", "-", "∂(a−b)/∂a = 1, ∂(a−b)/∂b = −1", lambda out, a, b: _PLUS_MINUS)
SUB_CONST = Op("sub_const", "-", "∂(a−c)/∂a = 1", lambda out, a, c: _UNIT)
RSUB_CONST = Op("rsub_const", "-", "∂(c−a)/∂a = −1", lambda out, c, a: _MINUS_UNIT, const_first=True)
MUL = Op("mul", "*", "∂(a·b)/∂a = b, ∂(a·b)/∂b = a", lambda out, a, b: (b, a))
MUL_CONST = Op("mul_const", "*", "∂(a·c)/∂a = c", lambda out, a, c: (c,))
DIV = Op("div", "/", "∂(a/b)/∂a = 1/b, ∂(a/b)/∂b = −a/b²", lambda out, a, b: (1.0 / b, -out / b))
DIV_CONST = Op("div_const", "/", "∂(a/c)/∂a = 1/c", lambda out, a, c: (1.0 / c,))
RDIV_CONST = Op(
    "rdiv_const", "/", "∂(c/a)/∂a = −c/a²", lambda out, c, a: (-out / a,), const_first=True
)
POW = Op(
    "pow", "**", "∂(aᵇ)/∂a = b·aᵇ⁻¹, ∂(aᵇ)/∂b = aᵇ·ln a",
    lambda out, a, b: (b * a ** (b - 1.0), out * _ln(a)),
)
POW_CONST = Op(
    "pow_const", "**", "∂(aⁿ)/∂a = n·aⁿ⁻¹",
    # a⁰ = 1 is constant: its derivative is 0 even at a = 0, where n·aⁿ⁻¹ would divide by zero.
    lambda out, a, n: (n * a ** (n - 1.0) if n else 0.0,),
)
RPOW_CONST = Op(
    "rpow_const", "**", "∂(cᵃ)/∂a = cᵃ·ln c", lambda out, c, a: (out * math.log(c),),
    const_first=True,
)
NEG = Op("neg", "neg", "∂(−a)/∂a = −1", lambda out, a: _MINUS_UNIT)
EXP = Op("exp", "exp", "∂eᶻ/∂z = eᶻ", lambda out, z: (out,))
LOG = Op("log", "log", "∂(ln a)/∂a = 1/a", lambda out, a: (1.0 / a,))
SIGMOID = Op("sigmoid", "sigmoid", "σ'(z) = a(1−a)", lambda out, z: (out * (1.0 - out),))
TANH = Op("tanh", "tanh", "tanh'(z) = 1−a²", lambda out, z: (1.0 - out * out,))
RELU = Op("relu", "relu", "relu'(z) = 1 if z > 0 else 0", lambda out, z: (_relu_slope(out),))
LINEAR = Op("linear", "linear", "∂z/∂wᵢ = xᵢ, ∂z/∂xᵢ = wᵢ, ∂z/∂b = 1", _linear_grads)
SUM = Op("sum", "sum", "∂(Σ aᵢ)/∂aᵢ = 1", lambda out, *terms: (1.0,) * len(terms))

OPS: dict[str, Op] = {
    op.name: op
    for op in (
        ADD, ADD_CONST, SUB, SUB_CONST, RSUB_CONST, MUL, MUL_CONST, DIV, DIV_CONST, RDIV_CONST,
        POW, POW_CONST, RPOW_CONST, NEG, EXP, LOG, SIGMOID, TANH, RELU, LINEAR, SUM,
    )
}
"""Every primitive by name: the registry that maps each op to its local derivatives."""

_NO_PARENTS: tuple = ()
_EXP_LIMIT = math.log(1.7976931348623157e308)  # exp overflows float past ln(max float) ≈ 709.78
_LOG_LIMIT = math.nextafter(1 / 1.7976931348623157e308, 1.0)  # smallest a with 1/a finite, ≈ 5.6e-309


def _describe(value: object) -> str:
    """How an offending input is named in an error: its number and, if any, its label."""
    if isinstance(value, Value):
        return f"{value.data!r}" + (f" (label {value.label!r})" if value.label else "")
    return repr(value)


def _as_number(value: object, op: str) -> float:
    """A number operand as a finite float, or an error that names the op and the value."""
    if type(value) is float:  # the common case first: the ABC check below costs ~0.6 µs
        number = value
    elif isinstance(value, numbers.Real):  # int, bool, Fraction, numpy scalars
        try:
            number = float(value)
        except OverflowError:
            raise ValueError(
                f"{op}: an integer of {len(str(abs(value)))} digits is too large for a float (max ≈ 1.8e308)"
            ) from None
    elif getattr(value, "shape", None) is not None:
        raise TypeError(
            f"{op}: a Value holds one number, got an array of shape {value.shape}; "  # type: ignore[attr-defined]
            "combine Values element by element, e.g. [v * x for x in array]"
        )
    else:
        raise TypeError(
            f"{op}: expected a real number (int, float, numpy scalar) or a Value, got {value!r} "
            f"({type(value).__name__})"
        )
    if not math.isfinite(number):
        raise ValueError(
            f"{op}: got {number!r}; numbers must be finite, since nan and inf would make every "
            "gradient downstream meaningless"
        )
    return number


def _check_data(data: object) -> float:
    """Validate what a user puts in a Value: a finite real number."""
    if isinstance(data, Value):
        raise TypeError("Value(Value(...)): pass the number, e.g. Value(v.data), or use v itself")
    return _as_number(data, "Value")


class Value:
    """A scalar in a computation graph: ``data``, ``grad``, and how it was made.

    >>> x = Value(2.0, label="x")
    >>> y = (x * 3 + 1).sigmoid()
    >>> y.backward()
    >>> round(x.grad, 6)  # dy/dx = 3·a(1−a)
    0.002731
    """

    __slots__ = ("_const", "_local_grads", "_op", "_parents", "data", "grad", "label")

    repr_digits = 4
    """Significant digits shown by ``repr``; the full float stays in ``data``."""

    __array_ufunc__ = None  # numpy defers to our reflected ops, which explain arrays clearly

    def __init__(self, data: Number, label: str = "") -> None:
        """A leaf: a number you give (an input, a weight), checked to be a finite real."""
        self.data = _check_data(data)
        self.grad = 0.0
        self.label = label
        self._op = None
        self._parents = _NO_PARENTS
        self._local_grads = _NO_PARENTS
        self._const = None

    # -- what the node is -------------------------------------------------
    @property
    def op(self) -> str:
        """The symbol of the op that made this node ('' for a leaf)."""
        return self._op.symbol if self._op is not None else ""

    @property
    def parents(self) -> tuple[Value, ...]:
        """The inputs of the op that made this node, in order (``a + a`` lists ``a`` twice)."""
        return self._parents

    @property
    def local_grads(self) -> tuple[float, ...]:
        """∂self/∂parent for each parent, as floats.

        Most nodes store them when made. A product a·b and a sum of more than two
        terms store none: their derivatives are the parents' own numbers (b, a) or
        ones, so ``backward`` reads those directly and they are computed here only
        when asked for (64 bytes saved per product). So a product's derivatives are
        its parents' ``data`` as it is when ``backward`` runs: change a parameter's
        ``data`` after ``backward`` (as an optimizer step does), not between the
        forward pass and ``backward``.
        """
        if self._local_grads is None:
            return self._op.local_grads(self.data, *(p.data for p in self._parents))
        return self._local_grads

    @property
    def const(self) -> float | None:
        """The number operand of ops such as ``x * 2`` or ``1 - x`` (None otherwise)."""
        return self._const

    def __repr__(self) -> str:
        digits = self.repr_digits
        text = f"Value(data={self.data:.{digits}g}, grad={self.grad:.{digits}g}"
        if self._op is not None:
            text += f", op={self._op.symbol!r}"
        if self.label:
            text += f", label={self.label!r}"
        return text + ")"

    def __float__(self) -> float:
        return self.data

    def __bool__(self) -> bool:
        # micrograd's Value is always true, so `if loss:` or `x or default` silently misbehave.
        raise TypeError(
            f"bool(Value): a Value has no truth value ({_describe(self)}); test its number, "
            "e.g. `if v.data > 0:`, or use `if v is not None:`"
        )

    # -- arithmetic: forward and local derivatives side by side ------------
    def __add__(self, other: Value | Number) -> Value:
        """a + b; ∂/∂a = 1, ∂/∂b = 1."""
        if isinstance(other, Value):
            return _result(self.data + other.data, ADD, (self, other), _ONES)
        c = _as_number(other, "+")
        return _result(self.data + c, ADD_CONST, (self,), _UNIT, c)

    __radd__ = __add__

    def __sub__(self, other: Value | Number) -> Value:
        """a − b; ∂/∂a = 1, ∂/∂b = −1."""
        if isinstance(other, Value):
            return _result(self.data - other.data, SUB, (self, other), _PLUS_MINUS)
        c = _as_number(other, "-")
        return _result(self.data - c, SUB_CONST, (self,), _UNIT, c)

    def __rsub__(self, other: Number) -> Value:
        """c − a; ∂/∂a = −1."""
        c = _as_number(other, "-")
        return _result(c - self.data, RSUB_CONST, (self,), _MINUS_UNIT, c)

    def __mul__(self, other: Value | Number) -> Value:
        """a · b; ∂/∂a = b, ∂/∂b = a."""
        if isinstance(other, Value):
            # No stored derivatives: they are (b, a), the parents' data (see local_grads).
            return _result(self.data * other.data, MUL, (self, other), None)
        c = _as_number(other, "*")
        out = self.data * c
        return _result(out, MUL_CONST, (self,), MUL_CONST.local_grads(out, self.data, c), c)

    __rmul__ = __mul__

    def __truediv__(self, other: Value | Number) -> Value:
        """a / b; ∂/∂a = 1/b, ∂/∂b = −a/b²."""
        if isinstance(other, Value):
            b = other.data
            if b == 0.0:
                raise DomainError(f"division by zero: {_describe(self)} / {_describe(other)}")
            out = self.data / b
            return _result(out, DIV, (self, other), DIV.local_grads(out, self.data, b))
        c = _as_number(other, "/")
        if c == 0.0:
            raise DomainError(f"division by zero: {_describe(self)} / {c!r}")
        out = self.data / c
        return _result(out, DIV_CONST, (self,), DIV_CONST.local_grads(out, self.data, c), c)

    def __rtruediv__(self, other: Number) -> Value:
        """c / a; ∂/∂a = −c/a²."""
        c = _as_number(other, "/")
        if self.data == 0.0:
            raise DomainError(f"division by zero: {c!r} / {_describe(self)}")
        out = c / self.data
        return _result(out, RDIV_CONST, (self,), RDIV_CONST.local_grads(out, c, self.data), c)

    def __pow__(self, other: Value | Number) -> Value:
        """aⁿ; ∂/∂a = n·aⁿ⁻¹ (and ∂/∂n = aⁿ·ln a when the exponent is a Value)."""
        if isinstance(other, Value):
            if self.data <= 0.0:
                raise DomainError(
                    f"**: a Value exponent needs a base > 0 (∂(aᵇ)/∂b = aᵇ·ln a), got base "
                    f"{_describe(self)}; use a number exponent, e.g. x ** 2"
                )
            out = _checked_pow(self.data, other.data, self)
            local = _pow_local_grads(POW, out, self.data, other.data, self)
            return _result(out, POW, (self, other), local)
        n = _as_number(other, "**")
        out = _checked_pow(self.data, n, self)
        if self.data == 0.0 and 0.0 < n < 1.0:
            if _grad_enabled:
                raise DomainError(
                    f"**: the derivative n·aⁿ⁻¹ of a ** {n!r} is infinite at a = 0 "
                    f"({_describe(self)}); under no_grad() the value alone is computed"
                )
            return Value(out)
        return _result(out, POW_CONST, (self,), _pow_local_grads(POW_CONST, out, self.data, n, self), n)

    def __rpow__(self, other: Number) -> Value:
        """cᵃ for a number c > 0; ∂/∂a = cᵃ·ln c."""
        c = _as_number(other, "**")
        if c <= 0.0:
            raise DomainError(
                f"**: a number raised to a Value needs a base > 0 (∂(cᵃ)/∂a = cᵃ·ln c), got "
                f"{c!r} ** {_describe(self)}"
            )
        out = _checked_pow(c, self.data, self)
        return _result(out, RPOW_CONST, (self,), RPOW_CONST.local_grads(out, c, self.data), c)

    def __neg__(self) -> Value:
        """−a; ∂/∂a = −1."""
        return _result(-self.data, NEG, (self,), _MINUS_UNIT)

    def __pos__(self) -> Value:
        return self

    # -- functions -----------------------------------------------------------
    def exp(self) -> Value:
        """eᶻ; ∂/∂z = eᶻ."""
        z = self.data
        if z > _EXP_LIMIT:
            raise DomainError(f"exp: exp({_describe(self)}) overflows float (largest finite: z ≈ 709.78)")
        out = math.exp(z)
        return _result(out, EXP, (self,), EXP.local_grads(out, z))

    def log(self) -> Value:
        """ln a for a > 0; ∂/∂a = 1/a."""
        a = self.data
        if a < _LOG_LIMIT:
            if a <= 0.0:
                raise DomainError(f"log: needs an input > 0, got {_describe(self)}")
            raise DomainError(
                f"log: the derivative 1/a overflows float for a < 5.6e-309, got {_describe(self)}"
            )
        out = math.log(a)
        return _result(out, LOG, (self,), LOG.local_grads(out, a))

    def sigmoid(self) -> Value:
        """a = σ(z) = 1/(1 + e⁻ᶻ); σ'(z) = a(1 − a). Stable for any z (no overflow)."""
        a = _sigmoid(self.data)
        return _result(a, SIGMOID, (self,), SIGMOID.local_grads(a, self.data))

    def tanh(self) -> Value:
        """a = tanh(z); tanh'(z) = 1 − a²."""
        a = math.tanh(self.data)
        return _result(a, TANH, (self,), TANH.local_grads(a, self.data))

    def relu(self) -> Value:
        """a = max(0, z); relu'(z) = 1 if z > 0 else 0."""
        out = self.data if self.data > 0.0 else 0.0
        return _result(out, RELU, (self,), RELU.local_grads(out, self.data))

    # -- gradients -----------------------------------------------------------
    def backward(self, gradient: float = 1.0) -> None:
        """Backpropagate from this node: add ∂self/∂v to ``v.grad`` for every node v.

        Gradients accumulate, as in PyTorch: call ``zero_grad`` between steps.
        Runs without recursion, so a graph of any depth works.
        """
        from engine.backprop import backward

        backward(self, gradient)

    def zero_grad(self) -> None:
        """Set this node's gradient to 0 (``engine.zero_grad(root)`` clears a whole graph)."""
        self.grad = 0.0

    def explain(self, wrt: Value | None = None, **options: int) -> str:
        """The chain rule from this node back, step by step with numbers (``engine.explain``)."""
        from engine.explain import explain

        return explain(self, wrt, **options)


_blank_value = object.__new__  # a Value with its slots unset: __init__ is for numbers a user gives


def _result(
    data: float, op: Op, parents: tuple, local_grads: tuple | None, const: float | None = None
) -> Value:
    """The node an op returns: ``op`` applied to ``parents`` (and the number ``const``) gave ``data``.

    ``local_grads`` holds ∂data/∂parent for each parent (None for a product or a
    wide sum, see ``Value.local_grads``). Under ``no_grad()`` the node keeps no
    parents; under ``detect_anomaly()`` a nan or inf raises here. Made without
    calling ``Value.__init__``, whose checks are for numbers a user gives: Python's
    call of ``__init__`` costs more than the slot stores (``a * b`` 358 → 326 ns).
    """
    if not _plain_mode:
        parents, local_grads = _special_mode_node(data, op, parents, local_grads, const)
        if not parents:
            op = const = None  # type: ignore[assignment]
    node = _blank_value(Value)
    node.data = data
    node.grad = 0.0
    node.label = ""
    node._op = op
    node._parents = parents
    node._local_grads = local_grads
    node._const = const
    return node


def _sigmoid(z: float) -> float:
    # σ(z) = 1 − e⁻ᶻ/(1 + e⁻ᶻ) for z ≥ 0, and eᶻ/(1 + eᶻ) for z < 0: exp never overflows, and
    # near 1 the result is correctly rounded (1/(1 + e⁻ᶻ) gives 1.0 from z ≈ 36.7, where σ < 1 still).
    if z >= 0.0:
        e = math.exp(-z)
        return 1.0 - e / (1.0 + e)
    e = math.exp(z)
    return e / (1.0 + e)


def _checked_pow(base: float, exponent: float, value: Value) -> float:
    """baseᵉˣᵖᵒⁿᵉⁿᵗ as a real float, or a DomainError that says which case failed."""
    if base == 0.0 and exponent < 0.0:
        raise DomainError(f"**: 0 ** {exponent!r} is a division by zero ({_describe(value)})")
    if base < 0.0 and not float(exponent).is_integer():
        raise DomainError(
            f"**: a negative base to a fractional power is not real: {base!r} ** {exponent!r} "
            f"({_describe(value)})"
        )
    try:
        return math.pow(base, exponent)
    except OverflowError:
        raise DomainError(f"**: {base!r} ** {exponent!r} overflows float ({_describe(value)})") from None


def _pow_local_grads(op: Op, out: float, base: float, exponent: float, value: Value) -> tuple:
    """``op.local_grads`` of a power; a derivative past float range is a DomainError, as the power is."""
    try:
        return op.local_grads(out, base, exponent)
    except OverflowError:  # float ** raises where * and / would give inf
        raise DomainError(
            f"**: the derivative of {base!r} ** {exponent!r} overflows float ({_describe(value)})"
        ) from None


def _special_mode_node(
    data: float, op: Op, parents: tuple, local_grads: tuple | None, const: float | None
) -> tuple[tuple, tuple]:
    """The parents and local derivatives a node keeps under no_grad or detect_anomaly."""
    if _anomaly_checks and not (
        math.isfinite(data) and (local_grads is None or all(map(math.isfinite, local_grads)))
    ):
        inputs = _inputs_as_written(op, parents, const)
        if local_grads is None:  # a product or a wide sum: its derivatives are read from the parents
            local_grads = op.local_grads(data, *(p.data for p in parents))
        named = ", ".join(_describe(x) if isinstance(x, Value) else f"constant {x!r}" for x in inputs)
        result = f"{data!r} with a non-finite local derivative" if math.isfinite(data) else f"{data!r}"
        raise AnomalyError(
            f"detect_anomaly: op {op.name!r} gave {result} computing {_formula(op, inputs)}; "
            f"inputs [{named}], local derivatives {local_grads!r}"
        )
    if not _grad_enabled:
        return _NO_PARENTS, _NO_PARENTS
    return parents, local_grads


def _inputs_as_written(op: Op, parents: tuple, const: float | None) -> tuple:
    """An op's inputs in the order they were written: a number operand where it stood."""
    if const is None:
        return parents
    return (const, *parents) if op.const_first else (*parents, const)


_INFIX = frozenset(("+", "-", "*", "/", "**"))


def _formula(op: Op, inputs: tuple, budget: int = 12) -> str:
    """How ``op`` applied to ``inputs`` reads, over labels and numbers: ``(tanh(a * 2) + a) * b``.

    The walk back stops at labelled nodes and leaves; past ``budget`` ops the
    rest reads ``…``. For error messages: it says where a bad number came from.
    """
    left = [budget]

    def write(op: Op, inputs: tuple) -> str:
        if op.symbol in _INFIX and len(inputs) == 2:
            return f"{term(inputs[0], True)} {op.symbol} {term(inputs[1], True)}"
        if op.name == "neg":
            return f"-{term(inputs[0], True)}"
        if op.name == "linear":  # inputs: w₁..wₙ, x₁..xₙ, b
            n = (len(inputs) - 1) // 2
            pairs = zip(inputs[:n], inputs[n:-1], strict=True)
            products = [f"{term(w, True)} * {term(x, True)}" for w, x in pairs]
            return " + ".join([*products, term(inputs[-1], True)])
        return f"{op.name}({', '.join(term(x, False) for x in inputs)})"

    def term(x: object, operand: bool) -> str:
        if not isinstance(x, Value):
            return repr(x)
        if x.label:
            return x.label
        if x._op is None:
            return f"{x.data:.4g}"
        if left[0] <= 0:
            return "…"
        left[0] -= 1
        text = write(x._op, _inputs_as_written(x._op, x._parents, x._const))
        infix = x._op.symbol in _INFIX or x._op.name in ("neg", "linear")
        return f"({text})" if operand and infix else text

    return write(op, inputs)


# ---------------------------------------------------------------------------
# Functional forms, accepting numbers as well as Values.
# ---------------------------------------------------------------------------
def _lift(x: Value | Number) -> Value:
    return x if isinstance(x, Value) else Value(x)


def exp(x: Value | Number) -> Value:
    """eˣ as a Value (a number is wrapped first)."""
    return _lift(x).exp()


def log(x: Value | Number) -> Value:
    """ln x as a Value, for x > 0."""
    return _lift(x).log()


def sigmoid(x: Value | Number) -> Value:
    """σ(x) = 1/(1 + e⁻ˣ) as a Value."""
    return _lift(x).sigmoid()


def tanh(x: Value | Number) -> Value:
    """tanh(x) as a Value."""
    return _lift(x).tanh()


def relu(x: Value | Number) -> Value:
    """max(0, x) as a Value."""
    return _lift(x).relu()


def linear(weights: Iterable[Value], inputs: Iterable[Value | Number], bias: Value | Number) -> Value:
    """z = Σᵢ wᵢxᵢ + b as one node: ∂z/∂wᵢ = xᵢ, ∂z/∂xᵢ = wᵢ, ∂z/∂b = 1.

    One n-ary node instead of 2n binary ones is both the learner's picture of a
    neuron and far cheaper. Number inputs (and a number bias) are wrapped as leaf
    Values; the weights must be Values.
    """
    return linear_layer([weights], inputs, [bias])[0]


def linear_layer(
    weight_rows: Iterable[Iterable[Value]], inputs: Iterable[Value | Number], biases: Iterable[Value | Number]
) -> list[Value]:
    """Z[l] = W[l]·A[l−1] + b[l] for one sample: zᵢ = Σⱼ Wᵢⱼxⱼ + bᵢ, one ``linear`` node per row.

    The same nodes as ``[linear(w, inputs, b) for w, b in zip(weight_rows, biases)]``,
    made about twice as fast: the inputs are checked and read once for all rows.

    >>> w = [[Value(1.0), Value(2.0)], [Value(-1.0), Value(0.5)]]
    >>> [z.data for z in linear_layer(w, [3.0, 4.0], [Value(0.5), Value(0.0)])]
    [11.5, -1.0]
    """
    inputs = tuple(inputs)
    # One pass reads the numbers and checks the types; only a list holding
    # something else than Values goes through _checked_operands.
    x_data = [x.data for x in inputs if type(x) is Value]
    if len(x_data) != len(inputs):
        inputs = _checked_operands(inputs)
        x_data = [x.data for x in inputs]
    weight_rows, biases = list(weight_rows), list(biases)
    if len(weight_rows) != len(biases):
        raise ValueError(f"linear: {len(weight_rows)} rows of weights but {len(biases)} biases")
    nodes = []
    for weights, bias in zip(weight_rows, biases):
        weights = tuple(weights)
        w_data = [w.data for w in weights if type(w) is Value]
        if len(w_data) != len(weights) or type(bias) is not Value:
            weights = _checked_operands(weights, numbers_allowed=False)
            w_data = [w.data for w in weights]
            bias = _checked_operands((bias,))[0]
        if len(weights) != len(inputs):
            raise ValueError(f"linear: {len(weights)} weights but {len(inputs)} inputs")
        z = sum(map(operator.mul, w_data, x_data), bias.data)
        # (x..., w..., 1) is LINEAR.local_grads written out: calling the rule costs ~0.5 µs a neuron.
        nodes.append(_result(z, LINEAR, (*weights, *inputs, bias), (*x_data, *w_data, 1.0)))
    return nodes


def _checked_operands(operands: tuple, numbers_allowed: bool = True) -> tuple[Value, ...]:
    """linear's operands with numbers wrapped as leaves, or a TypeError naming the bad weight."""
    checked = []
    for v in operands:
        if isinstance(v, Value):
            checked.append(v)
        elif numbers_allowed:
            checked.append(Value(v))
        else:
            raise TypeError(
                f"linear: weights must be Values (the parameters to learn), got {v!r} "
                f"({type(v).__name__}); wrap a number as Value(w)"
            )
    return tuple(checked)


def sum_values(terms: Iterable[Value | Number]) -> Value:
    """Σ aᵢ as one node (∂/∂aᵢ = 1); numbers among the terms are wrapped as leaves."""
    terms = tuple(t if isinstance(t, Value) else Value(t) for t in terms)
    if not terms:
        raise ValueError("sum_values: no terms to add")
    total = 0.0
    for t in terms:
        total += t.data
    # Past two terms the ones are not stored: backward adds upstream to each term (see local_grads).
    ones = SUM.local_grads(total, *terms) if len(terms) <= 2 else None
    return _result(total, SUM, terms, ones)

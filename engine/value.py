"""Value: one number in a computation graph, the ops that build graphs, and backpropagation.

Read it in this order: (1) what a node is, ``Value``; (2) how an op is defined,
``define_op``: its forward, its local derivatives and their formula in one
place; (3) the built-in ops, each a few lines; (4) backpropagation: the
topological order, then the chain rule. Below that, (5) how an op is applied:
the checks on the way and the fast paths (the same rules, inlined for speed).
Input checks and error messages live in ``engine/checks.py``; per-thread modes
(``no_grad``, ``detect_anomaly``) in ``engine/modes.py``.

A node keeps its number, its gradient, its parents and the local derivatives
∂node/∂parent, computed when it is made. It keeps no closure over itself, so a
graph has no reference cycles and is freed as soon as nothing refers to its output.
"""

from __future__ import annotations

import dataclasses
import math
import operator
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from engine import modes
from engine.checks import (
    AnomalyError,
    as_label,
    as_number,
    as_tuple,
    check_definition,
    check_gradient,
    check_node,
    checked_forward,
    checked_local_grads,
    comparison_error,
    describe,
    describe_operand,
    short_repr,
)
from engine.notation import (
    LINEAR_NOTATION,
    SUM_NOTATION,
    Notation,
    Precedence,
    call,
    infix,
    linear_parts,
    prefix,
    template,
)

Number = int | float


# ---------------------------------------------------------------------------
# 1. What a node is
# ---------------------------------------------------------------------------
def _unordered(symbol: str) -> Callable[[Value, object], bool]:
    def compare(self: Value, other: object) -> bool:
        raise comparison_error(symbol, self, other)

    return compare


class Value:
    """A scalar in a computation graph: ``data``, ``grad``, and the op and parents that made it.

    >>> x = Value(2.0, label="x")
    >>> y = (x * 3 + 1).sigmoid()
    >>> y.backward()
    >>> round(x.grad, 6)  # dy/dx = 3·a(1−a)
    0.002731
    """

    __slots__ = ("_const", "_data", "_grad", "_label", "_local_grads", "_op", "_parents")

    repr_digits = 4
    """Significant digits shown by ``repr``; the full float stays in ``data``."""

    __array_ufunc__ = None  # numpy defers to our reflected ops, which explain arrays clearly

    def __init__(self, data: Number, label: str = "") -> None:
        """A leaf: a number you give (an input, a weight), checked to be a finite real."""
        self._data = as_number(data, "Value")
        self._grad = 0.0
        self._label = as_label(label, "Value")
        self._op: Op | None = None
        self._parents: tuple[Value, ...] = ()
        self._local_grads: tuple[float, ...] | None = ()
        self._const: float | None = None

    # What a user may set is checked on assignment: no nan, string or None gets into a graph.
    @property
    def data(self) -> float:
        """The number this node holds."""
        return self._data

    @data.setter
    def data(self, value: Number) -> None:
        self._data = as_number(value, "Value.data")

    @property
    def grad(self) -> float:
        """∂root/∂self, added by each ``root.backward()`` (gradients accumulate; 0.0 at first)."""
        return self._grad

    @grad.setter
    def grad(self, value: Number) -> None:
        self._grad = as_number(value, "Value.grad")

    @property
    def label(self) -> str:
        """A name for this node in drawings, explanations and messages ('' for none)."""
        return self._label

    @label.setter
    def label(self, value: str) -> None:
        self._label = as_label(value, "Value.label")

    @property
    def op(self) -> Op | None:
        """The op that made this node, with its name, formula and rules (None for a leaf)."""
        return None if self._op is None else self._op.definition

    @property
    def parents(self) -> tuple[Value, ...]:
        """The Values the op was applied to, in order (``a + a`` lists ``a`` twice)."""
        return self._parents

    @property
    def const(self) -> float | None:
        """The number operand of ops such as ``x * 2`` or ``1 - x`` (None otherwise)."""
        return self._const

    @property
    def inputs(self) -> tuple[Value | float, ...]:
        """The op's inputs as written: ``(x, 2.0)`` for ``x * 2``, ``(1.0, a)`` for ``1 - a``."""
        op = self._op
        return self._parents if op is None else op.inputs_as_written(self._parents, self._const)

    @property
    def local_grads(self) -> tuple[float, ...]:
        """∂self/∂parent for each parent, as floats: the op's rule at this node's numbers.

        A product a·b and a sum keep none (they are the parents' numbers b, a, or
        ones; 64 bytes saved a product): they are read from the parents when asked
        for, so change a parameter's ``data`` after ``backward`` (as an optimizer
        step does), not between the forward pass and ``backward``.
        """
        if self._local_grads is None:
            return self._op.local_grads(self._data, *(p._data for p in self._parents))  # type: ignore[union-attr]
        return self._local_grads

    def __repr__(self) -> str:
        digits = self.repr_digits
        text = f"Value(data={_float_text(self._data, digits)}, grad={_float_text(self._grad, digits)}"
        if self._op is not None:
            text += f", op={self._op.name!r}"
        if self._label:
            text += f", label={short_repr(self._label)}"
        return text + ")"

    def __deepcopy__(self, memo: dict) -> Value:
        """A copy of this node's whole graph, parents first, without recursion (copy.deepcopy's own
        walk recursed through the parents and stopped near 100 nodes deep)."""
        for node in reversed(_search(self)[0]):
            if id(node) not in memo:
                twin = _new_value(type(node))
                twin._data, twin._grad, twin._label = node._data, node._grad, node._label
                twin._op, twin._const, twin._local_grads = node._op, node._const, node._local_grads
                twin._parents = tuple(memo[id(parent)] for parent in node._parents)
                memo[id(node)] = twin
        return memo[id(self)]

    def __float__(self) -> float:
        return self._data

    def __bool__(self) -> bool:
        # micrograd's Value is always true, so `if loss:` or `x or default` silently misbehave.
        raise TypeError(
            f"bool(Value): a Value has no truth value ({describe_operand(self)}); test its number, "
            "e.g. `if v.data > 0:`, or use `if v is not None:`"
        )

    # No order: v < 3 would compare nodes, not numbers. == stays identity, so Values are dict keys.
    __lt__, __le__, __gt__, __ge__ = (_unordered(symbol) for symbol in ("<", "<=", ">", ">="))

    # -- operators: each applies its op (section 3); _binary and _unary are what calling an op on
    # Values does (section 5). + and * with a Value or a float are inlined: the two hottest ops.
    def __add__(self, other: Value | Number) -> Value:
        if type(other) is Value:
            out = self._data + other._data
            if out == out:  # nan (inf − inf) takes the general path, which refuses it
                return _node(out, ADD, (self, other), _ADD_LOCAL_GRADS)
        elif type(other) is float and other - other == 0.0:
            out = self._data + other
            if out == out:
                return _node(out, _ADD_NUMBER, (self,), _ADD_NUMBER_LOCAL_GRADS, other)
        return _binary(ADD, self, other)

    def __mul__(self, other: Value | Number) -> Value:
        if type(other) is Value:
            out = self._data * other._data
            if out == out:
                return _node(out, MUL, (self, other), None)  # MUL keeps no local grads: (b, a)
        elif type(other) is float and other - other == 0.0:
            out = self._data * other
            if out == out:
                return _node(out, _MUL_NUMBER, (self,), (other,), other)  # ∂(x·c)/∂x = c
        return _binary(MUL, self, other)

    def __radd__(self, other: Number) -> Value:
        return _binary(ADD, other, self)

    def __rmul__(self, other: Number) -> Value:
        return _binary(MUL, other, self)

    def __sub__(self, other: Value | Number) -> Value:
        return _binary(SUB, self, other)

    def __rsub__(self, other: Number) -> Value:
        return _binary(SUB, other, self)

    def __truediv__(self, other: Value | Number) -> Value:
        return _binary(DIV, self, other)

    def __rtruediv__(self, other: Number) -> Value:
        return _binary(DIV, other, self)

    def __pow__(self, other: Value | Number) -> Value:
        """aⁿ for a number n (op ``power``), aᵇ for a Value b (op ``pow``)."""
        return _binary(POW if isinstance(other, Value) else POWER, self, other)

    def __rpow__(self, other: Number) -> Value:
        return _binary(POW, other, self)

    def __neg__(self) -> Value:
        return _unary(NEG, self)

    def __pos__(self) -> Value:
        return self

    def exp(self) -> Value:
        """eᶻ (op ``exp``)."""
        return _unary(EXP, self)

    def log(self) -> Value:
        """ln a (op ``log``)."""
        return _unary(LOG, self)

    def sigmoid(self) -> Value:
        """a = σ(z) = 1/(1 + e⁻ᶻ) (op ``sigmoid``)."""
        return _unary(SIGMOID, self)

    def tanh(self) -> Value:
        """a = tanh(z) (op ``tanh``)."""
        return _unary(TANH, self)

    def relu(self) -> Value:
        """a = max(0, z) (op ``relu``)."""
        return _unary(RELU, self)

    # -- gradients ------------------------------------------------------------
    def backward(self, gradient: Number = 1.0) -> None:
        """Add ∂self/∂v to ``v.grad`` for every node v below this one (see ``engine.backward``)."""
        backward(self, gradient)

    def zero_grad(self) -> None:
        """Set ``grad`` to 0 on this node and every node below it (its whole graph)."""
        zero_grad(self)

    def explain(self, wrt: Value | None = None, **options: int) -> str:
        """The chain rule from this node back, step by step with numbers (``engine.explain``)."""
        from engine.explain import explain

        return explain(self, wrt, **options)


def _float_text(x: float, digits: int) -> str:
    """``x`` with ``digits`` significant digits, always reading as a float (``2.0``, not ``2``)."""
    try:
        text = f"{x:.{digits}g}"
    except (TypeError, ValueError):  # Value.repr_digits set to something else than a count: repr stays total
        return repr(x)
    return text if any(c in text for c in ".ein") else text + ".0"


# ---------------------------------------------------------------------------
# 2. How an op is defined
# ---------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True, eq=False)
class Op:
    """One primitive, defined once: everything backward, ``grad``, draw, explain and compile read.

    ``forward(*inputs)`` computes the number. ``local_grads(out, *inputs)``
    returns ∂out/∂input for each input, as a tuple; it is called with floats when
    a node is made, with Values for ``grad(..., create_graph=True)``, and with
    symbols to write the derivative as text or code (``engine.symbolic``), so
    each rule is written once. ``formula`` is that rule in the course's
    notation, for people. A number among the inputs of a unary or binary op is a
    constant: it is stored with the node, and its derivative is not kept.
    """

    name: str
    symbol: str
    forward: Callable[..., float]
    local_grads: Callable[..., tuple]
    formula: str
    arity: int | None
    """How many inputs (None: any number, e.g. ``sum``)."""
    input_names: tuple[str, ...]
    """The inputs' names in ``local_grads`` (``("a", "b")``), used in messages and formulas."""
    notation: Notation
    """How the op is written as text (``a·b``) and as Python code (``a * b``)."""
    domain: Callable[..., str | None] | None = None
    """``domain(*inputs)`` says why inputs are refused (``"needs an input > 0"``), None if they are fine."""
    float_overflow: bool = False
    """True for + − · / and sums: a result too large for a float is inf, as with Python floats."""
    keeps_local_grads: bool = True
    """False: a node whose inputs are all Values stores none; they are recomputed from the parents."""
    array_forward: Callable[..., Any] | None = None
    """``forward`` on numpy arrays, for the batched replay of ``engine.compile``."""
    const_slot: int | None = None
    """Set on the form of a binary op with a number operand: where the number stands."""
    definition: Op = dataclasses.field(default=None, repr=False)  # type: ignore[assignment]
    with_constant: tuple[Op, ...] = dataclasses.field(default=(), repr=False)

    def __post_init__(self) -> None:
        if self.definition is None:
            object.__setattr__(self, "definition", self)

    def __call__(self, *inputs: Any) -> Any:
        """Apply the op: a Value node if any input is a Value, else the plain number.

        ``EXP(2.0)`` is the float e², ``EXP(Value(2.0))`` a node of the graph.
        """
        if len(inputs) == 1 and self.arity == 1:
            x = inputs[0]
            if type(x) is float and x - x == 0.0 and self.domain is None:  # a rule on floats: relu's STEP(z)
                try:
                    out = self.forward(x)
                except (ArithmeticError, ValueError):
                    out = None  # _apply below raises the DomainError that names the op
                if type(out) is float and out - out == 0.0:
                    return out
            elif isinstance(x, Value):
                return _unary(self, x)
        if len(inputs) == 2 and self.arity == 2 and any(isinstance(x, Value) for x in inputs):
            return _binary(self, *inputs)
        return _apply(self, inputs)

    def inputs_as_written(self, parents: Sequence[Value], const: float | None) -> tuple:
        """The inputs as written: ``parents`` with the number operand ``const`` back in its slot."""
        if self.const_slot is None:
            return tuple(parents)
        inputs: list[Value | float | None] = list(parents)
        inputs.insert(self.const_slot, const)
        return tuple(inputs)

    def __repr__(self) -> str:
        where = "" if self.const_slot is None else f", a number operand in slot {self.const_slot}"
        return f"<op {self.name}{where}: {self.formula}>"

    def __copy__(self) -> Op:
        return self  # an op is one definition: copies of a graph share it

    def __deepcopy__(self, memo: dict) -> Op:
        return self

    def __reduce__(self) -> tuple:
        definition = self.definition
        return (_registered_op, (definition.name, self.const_slot, definition.formula, definition.arity))


OPS: dict[str, Op] = {}
"""Every op by name, built-in and user-defined: the registry each tool reads the rules from."""

_BUILT_IN: set[str] = set()


def define_op(
    name: str,
    *,
    forward: Callable[..., float],
    local_grads: Callable[..., tuple],
    formula: str,
    symbol: str | None = None,
    notation: Notation | None = None,
    domain: Callable[..., str | None] | None = None,
    arity: int | None = None,
    array_forward: Callable[..., Any] | None = None,
    float_overflow: bool = False,
    keeps_local_grads: bool = True,
) -> Op:
    """A new op from its forward, its local derivatives and their formula; returns the op (callable).

    >>> import math
    >>> sin = define_op("sin", forward=math.sin, local_grads=lambda out, a: (cos(a),),
    ...                 formula="∂(sin a)/∂a = cos a")
    >>> cos = define_op("cos", forward=math.cos, local_grads=lambda out, a: (-sin(a),),
    ...                 formula="∂(cos a)/∂a = −sin a")
    >>> x = Value(0.5)
    >>> y = sin(x); y.backward(); x.grad == math.cos(0.5)
    True

    ``local_grads(out, *inputs)`` gets the op's result and its inputs and
    returns one derivative per input; write it with operators and ops (``cos``,
    ``engine.exp``, ...) rather than ``math`` functions, so it also works on Values
    (second derivatives) and on symbols (its formula in explanations and
    compiled code). Its parameter names name the inputs; ``lambda out, *terms``
    makes an op of any number of inputs. ``domain(*inputs)`` may return the
    reason an input is refused. Defining a name again replaces a user-defined op;
    the built-in ops cannot be replaced.
    """
    input_names, arity = check_definition(
        name, forward, local_grads, formula, arity, _BUILT_IN, symbol=symbol, notation=notation,
        domain=domain, array_forward=array_forward, float_overflow=float_overflow,
        keeps_local_grads=keeps_local_grads,
    )
    symbol = name if symbol is None else symbol
    op = Op(
        name, symbol, forward, local_grads, formula, arity, input_names,
        notation if notation is not None else call(symbol, name),
        domain, float_overflow, keeps_local_grads, array_forward,
    )
    if arity == 2:  # the forms with a number operand, e.g. x * 2 (slot 1) and 1 - x (slot 0)
        forms = tuple(dataclasses.replace(op, const_slot=k, definition=op) for k in (0, 1))
        object.__setattr__(op, "with_constant", forms)
    OPS[name] = op
    return op


# ---------------------------------------------------------------------------
# 3. The built-in ops, each defined once
# ---------------------------------------------------------------------------
_EXP_LIMIT = math.log(1.7976931348623157e308)  # exp overflows a float past ln(max float) ≈ 709.78


def _stable_sigmoid(z: float) -> float:
    # 1 − e⁻ᶻ/(1 + e⁻ᶻ) for z ≥ 0, eᶻ/(1 + eᶻ) for z < 0: exp never overflows, and near 1 the
    # result is correctly rounded (1/(1 + e⁻ᶻ) rounds to 1.0 from z ≈ 36.7, where σ < 1 still).
    if z >= 0.0:
        e = math.exp(-z)
        return 1.0 - e / (1.0 + e)
    e = math.exp(z)
    return e / (1.0 + e)


def _built_in(name: str, **definition: Any) -> Op:
    """An op defined with ``define_op``, as a user's is, then marked built in (not redefinable)."""
    op = define_op(name, **definition)
    _BUILT_IN.add(name)
    return op


def _power_domain(a: float, n: float) -> str | None:
    if a == 0.0 and n < 0.0:
        return "0 to a negative power is a division by zero"
    if a < 0.0 and not float(n).is_integer():
        return "a negative base to a fractional power is not real; for the real root write -((-x) ** n)"
    return None


ADD = _built_in(
    "add", symbol="+", notation=infix("+", "+", Precedence.SUM), float_overflow=True,
    forward=operator.add,
    local_grads=lambda out, a, b: (1.0, 1.0),
    formula="∂(a + b)/∂a = 1, ∂(a + b)/∂b = 1",
)
SUB = _built_in(
    "sub", symbol="−", notation=infix("−", "-", Precedence.SUM), float_overflow=True,
    forward=operator.sub,
    local_grads=lambda out, a, b: (1.0, -1.0),
    formula="∂(a − b)/∂a = 1, ∂(a − b)/∂b = −1",
)
MUL = _built_in(
    "mul", symbol="·", notation=infix("·", "*", Precedence.PRODUCT), float_overflow=True,
    keeps_local_grads=False,  # (b, a) are the parents' own numbers: read at backward, 64 bytes saved
    forward=operator.mul,
    local_grads=lambda out, a, b: (b, a),
    formula="∂(a·b)/∂a = b, ∂(a·b)/∂b = a",
)
DIV = _built_in(
    "div", symbol="/", notation=infix("/", "/", Precedence.PRODUCT), float_overflow=True,
    forward=operator.truediv,  # b = 0 raises ZeroDivisionError: reported as "division by zero"
    local_grads=lambda out, a, b: (1.0 / b, -out / b),  # −out/b = −a/b², without squaring b
    formula="∂(a/b)/∂a = 1/b, ∂(a/b)/∂b = −a/b²",
)
NEG = _built_in(
    "neg", symbol="−", notation=prefix("−", "-"), float_overflow=True,
    forward=operator.neg,
    local_grads=lambda out, a: (-1.0,),
    formula="∂(−a)/∂a = −1",
)
POWER = _built_in(
    "power", symbol="^", notation=infix("^", "**", Precedence.POWER, right_associative=True),
    domain=_power_domain,
    forward=math.pow,
    # n is a number, never differentiated (x ** y with a Value y is op pow); a⁰ = 1 has slope 0.
    local_grads=lambda out, a, n: (n * a ** (n - 1) if n else 0.0, None),
    formula="∂(aⁿ)/∂a = n·aⁿ⁻¹",
)
POW = _built_in(
    "pow", symbol="^", notation=infix("^", "**", Precedence.POWER, right_associative=True),
    domain=lambda a, b: None if a > 0.0 else (
        "with a Value exponent the base must be > 0, since ∂(aᵇ)/∂b = aᵇ·ln a; for a number exponent "
        "write x ** 2"
    ),
    forward=math.pow,
    # b·aᵇ/a is b·aᵇ⁻¹ written so that, for 10 ** x (a number base: its slope is not kept), the
    # unused slope overflows to inf instead of raising as 10.0 ** 307.5 would.
    local_grads=lambda out, a, b: (b * out / a, out * LOG(a)),
    formula="∂(aᵇ)/∂a = b·aᵇ⁻¹, ∂(aᵇ)/∂b = aᵇ·ln a",
)
EXP = _built_in(
    "exp", notation=call("exp", "exp"),
    domain=lambda z: "overflows float (largest finite: z ≈ 709.78)" if z > _EXP_LIMIT else None,
    forward=math.exp,
    local_grads=lambda out, z: (out,),
    formula="∂eᶻ/∂z = eᶻ",
)
LOG = _built_in(
    "log", symbol="ln", notation=call("ln ", "log"),
    domain=lambda a: None if a > 0.0 else "needs an input > 0",
    forward=math.log,
    local_grads=lambda out, a: (1.0 / a,),
    formula="∂(ln a)/∂a = 1/a",
)
SIGMOID = _built_in(
    "sigmoid", symbol="σ", notation=call("σ", "sigmoid"),
    forward=_stable_sigmoid,
    local_grads=lambda out, z: (out * (1.0 - out),),
    formula="σ'(z) = a(1 − a), where a = σ(z)",
)
TANH = _built_in(
    "tanh",
    forward=math.tanh,
    local_grads=lambda out, z: (1.0 - out * out,),
    formula="tanh'(z) = 1 − a², where a = tanh(z)",
)
STEP = _built_in(
    "step", notation=template("1 if {0} > 0 else 0", "step({0})"),
    forward=lambda z: 1.0 if z > 0.0 else 0.0,
    local_grads=lambda out, z: (0.0,),
    formula="step(z) = 1 if z > 0 else 0; step'(z) = 0",
)
RELU = _built_in(
    "relu",
    forward=lambda z: z if z > 0.0 else 0.0,
    local_grads=lambda out, z: (STEP(z),),  # 0 at z = 0, as in PyTorch
    formula="relu'(z) = 1 if z > 0 else 0",
)
SUM_OP = _built_in(
    "sum", symbol="Σ", notation=SUM_NOTATION, float_overflow=True,
    keeps_local_grads=False,  # all ones: backward adds the upstream gradient to each term
    forward=lambda *terms: _total(terms),
    local_grads=lambda out, *terms: (1.0,) * len(terms),
    formula="∂(Σ aᵢ)/∂aᵢ = 1",
)
LINEAR = _built_in(
    "linear", notation=LINEAR_NOTATION, float_overflow=True,
    domain=lambda *inputs: None if len(inputs) % 2 else (
        "takes weights w₁..wₙ, inputs x₁..xₙ and a bias b (an odd number of inputs)"
    ),
    forward=lambda *inputs: _weighted_sum(inputs),  # inputs: w₁..wₙ, x₁..xₙ, b
    local_grads=lambda out, *inputs: _linear_local_grads(inputs),
    formula="z = Σ wᵢxᵢ + b: ∂z/∂wᵢ = xᵢ, ∂z/∂xᵢ = wᵢ, ∂z/∂b = 1",
)

# What the inlined operators store, taken from the definitions (tested equal to applying the ops):
_ADD_LOCAL_GRADS = ADD.local_grads(0.0, 0.0, 0.0)  # the constant (1, 1), shared by every sum node
_ADD_NUMBER, _MUL_NUMBER = ADD.with_constant[1], MUL.with_constant[1]  # x + c, x · c
_ADD_NUMBER_LOCAL_GRADS = (_ADD_LOCAL_GRADS[0],)
BUILT_IN_OPS: tuple[str, ...] = tuple(OPS)
"""The names of the built-in ops, in the order they are defined above."""


def _total(terms: Sequence[float]) -> float:
    total = 0.0
    for term in terms:  # left to right, as the floats would be added by hand
        total += term
    return total


def _weighted_sum(inputs: Sequence[float]) -> float:
    weights, xs, bias = linear_parts(inputs)
    return sum(map(operator.mul, weights, xs), bias)


def _linear_local_grads(inputs: Sequence[Any]) -> tuple:
    weights, xs, _ = linear_parts(inputs)  # ∂z/∂wᵢ = xᵢ, ∂z/∂xᵢ = wᵢ, ∂z/∂b = 1
    return (*xs, *weights, 1.0)


exp, log, sigmoid, tanh, relu = EXP, LOG, SIGMOID, TANH, RELU


def linear(weights: Iterable[Value], inputs: Iterable[Value | Number], bias: Value | Number) -> Value:
    """z = Σᵢ wᵢxᵢ + b as one node (op ``linear``): ∂z/∂wᵢ = xᵢ, ∂z/∂xᵢ = wᵢ, ∂z/∂b = 1.

    One n-ary node instead of 2n binary ones is both the learner's picture of a
    neuron and far cheaper. Number inputs (and a number bias) are wrapped as leaf
    Values; the weights must be Values.
    """
    return linear_layer([weights], inputs, [bias])[0]


def sum_values(terms: Iterable[Value | Number]) -> Value:
    """Σ aᵢ as one node (op ``sum``, ∂/∂aᵢ = 1); numbers among the terms are wrapped as leaves."""
    terms = as_tuple(terms, "sum_values", "terms")
    if not terms:
        raise ValueError("sum_values: no terms to add")
    return SUM_OP(*(
        t if isinstance(t, Value) else Value(as_number(t, f"sum_values: terms[{k}]"))
        for k, t in enumerate(terms)
    ))


# ---------------------------------------------------------------------------
# 4. Backpropagation: the topological order, then the chain rule
# ---------------------------------------------------------------------------
def topological_order(root: Value) -> list[Value]:
    """Every node ``root`` depends on, ``root`` first, each node before its parents.

    This is the order backpropagation visits nodes in: when a node is reached,
    every path from ``root`` to it has already added its share to its gradient.
    Found without recursion (a chain of a million nodes works); deterministic.
    """
    check_node(root, "topological_order")
    return _search(root)[0]


def _search(root: Value) -> tuple[list[Value], dict[Value, float]]:
    """Depth-first search from ``root``: the topological order, and each node found mapped to 0.0.

    The dict is the search's record of what it has found and then the chain
    rule's table of gradients: working state that lives in this call, never in
    the nodes, so an interrupted call or another thread leaves no mark behind. A
    ``None`` on the stack says the node below it has had all its parents placed.
    """
    order: list[Value] = []
    found: dict[Value, float] = {}
    stack: list[Value | None] = [root]
    push, pop, place = stack.append, stack.pop, order.append
    while stack:
        node = pop()
        if node is None:  # all parents of the node below are placed: place it
            place(pop())  # type: ignore[arg-type]
        elif node not in found:
            found[node] = 0.0
            push(node)
            push(None)
            for parent in node._parents:
                if parent not in found:
                    push(parent)
    order.reverse()
    return order, found


def chain_rule(root: Value, gradient: Number = 1.0, *, caller: str = "chain_rule") -> dict[Value, float]:
    """∂root/∂v for every node v below ``root`` (times ``gradient``), as a new dict; no node changes.

    For each node in topological order, each parent receives upstream × local:

        dL/dparent += dL/dnode · ∂node/∂parent

    ``caller`` names the function in error messages (``grad`` calls this).
    """
    check_node(root, caller)
    gradient = check_gradient(gradient, caller)
    order, gradients = _search(root)
    _propagate(order, gradients, gradient)
    _check_gradients(caller, order, gradients)
    return gradients


def _propagate(order: list[Value], gradients: dict[Value, float], gradient: float) -> None:
    gradients[order[0]] = gradient
    for node in order:
        upstream = gradients[node]
        parents = node._parents
        if upstream == 0.0 or not parents:  # adds nothing (and 0 × an inf slope would be nan)
            continue
        local = node._local_grads
        if local is None:  # the op keeps none (its definition says so): the product and the sum
            op = node._op
            if op is MUL:  # MUL's rule (b, a) inlined (tested equal)
                a, b = parents
                gradients[a] += b._data * upstream
                gradients[b] += a._data * upstream
                continue
            if op is SUM_OP:  # all ones
                for parent in parents:
                    gradients[parent] += upstream
                continue
            local = op.local_grads(node._data, *(p._data for p in parents))  # type: ignore[union-attr]
        if len(parents) == 1:  # the common shapes unrolled: the same sums, no zip
            gradients[parents[0]] += local[0] * upstream
        elif len(parents) == 2:
            a, b = parents
            gradients[a] += local[0] * upstream
            gradients[b] += local[1] * upstream
        else:
            for parent, local_grad in zip(parents, local):
                gradients[parent] += local_grad * upstream


# Commits and zero_grad from several threads happen one after another. Re-entrant, for the reason
# given at engine.modes._lock.
_grads_lock = threading.RLock()


def backward(root: Value, gradient: Number = 1.0) -> None:
    """Add ∂root/∂v (times ``gradient``) to ``v.grad`` for every node v below ``root``.

    Gradients accumulate as in PyTorch: calling it twice gives twice the
    gradients on every node, intermediate ones included. The gradients are
    computed in this call's own storage and reach the nodes in one final commit:
    interrupted (Ctrl-C) or failing, it leaves every ``grad`` as it was, and
    backward calls in several threads on graphs that share parameters add up
    exactly, as if run one after the other. After a graph of 10,000 nodes or more
    the garbage collector is relaxed until its next collection (see
    ``engine.modes.relax_collector``).
    """
    check_node(root, "backward")
    gradient = check_gradient(gradient, "backward")
    with modes.gc_paused():
        order, gradients = _search(root)
        _propagate(order, gradients, gradient)
        _check_gradients("backward", order, gradients)
        _commit(list(gradients), gradients.values(), add=True)
    modes.relax_collector(len(order))  # the next big graph is built without the collector's walks


def zero_grad(nodes: Value | Iterable[Value]) -> None:
    """Set ``grad`` to 0 on a Value's whole graph, or on each Value of an iterable (all or none)."""
    if isinstance(nodes, Value):
        targets = _search(nodes)[0]
    else:
        targets = list(as_tuple(nodes, "zero_grad", "nodes", "Values"))
        _check_nodes(targets, "zero_grad")
    _commit(targets, [0.0] * len(targets), add=False)


def set_grads(nodes: Iterable[Value], grads: Iterable[Number]) -> None:
    """Set ``nodes[k].grad = grads[k]`` for every k, all or none: e.g. gradients computed elsewhere.

    Every node and number is checked before any ``grad`` changes, and the stores
    are one commit, like ``backward``'s (Ctrl-C and other threads see all or none).
    """
    if isinstance(nodes, (set, frozenset, dict)):  # no order: each number would land on any node
        raise TypeError(
            f"set_grads: nodes must be in an order that matches grads (a list or tuple), got a "
            f"{type(nodes).__name__}; no gradient was changed"
        )
    targets = list(as_tuple(nodes, "set_grads", "nodes", "Values"))
    _check_nodes(targets, "set_grads")
    if len({id(node) for node in targets}) != len(targets):
        raise ValueError("set_grads: a node is given twice (one grad each); no gradient was changed")
    numbers = as_tuple(grads, "set_grads", "grads", "numbers")
    if len(numbers) != len(targets):
        raise ValueError(
            f"set_grads: {len(targets)} nodes but {len(numbers)} gradients; no gradient was changed"
        )
    values = [  # a finite float (numpy's too) as it is; anything else checked, naming its place
        float(g) if isinstance(g, float) and math.isfinite(g) else as_number(g, f"set_grads: grads[{k}]")
        for k, g in enumerate(numbers)
    ]
    _commit(targets, values, add=False)


def _check_nodes(nodes: list[Value], function: str) -> None:
    """Every item a Value, or a TypeError naming the first that is not (the quick test first)."""
    if not all(type(node) is Value for node in nodes):
        for k, node in enumerate(nodes):
            check_node(node, function, f"nodes[{k}]", hint="no gradient was changed")


def _commit(nodes: list[Value], values: Iterable[float], add: bool) -> None:
    """Set each node's ``grad`` to its value (``grad + value`` when ``add``): all or none.

    Ctrl-C is held until the stores are done; any other exception in between puts
    every ``grad`` back. Under the lock, concurrent commits happen one after another.
    """
    with modes.interrupts_deferred(), _grads_lock:
        previous = [node._grad for node in nodes]
        # may fail (e.g. a value that is not a number): nothing has changed yet
        new = [old + added for old, added in zip(previous, values)] if add else list(values)
        try:
            for node, value in zip(nodes, new):
                node._grad = value
        except BaseException:
            for node, value in zip(nodes, previous):
                node._grad = value
            raise


def _check_gradients(function: str, order: list[Value], gradients: dict[Value, float]) -> None:
    """No gradient is nan (an inf gradient times a slope of 0, or inf − inf), and under
    detect_anomaly none is inf: else AnomalyError names the first such node, before any commit."""
    anomaly_mode = modes.active and modes.anomaly_checks_enabled()
    total = sum(gradients.values())  # nan if a gradient is (or if +inf and −inf meet: then all is well)
    if anomaly_mode or total != total:
        for node in order:
            found = gradients[node]
            if found != found or (anomaly_mode and not math.isfinite(found)):
                from engine.symbolic import backward_anomaly_message

                caller = "detect_anomaly" if anomaly_mode else function
                raise AnomalyError(backward_anomaly_message(caller, node, order, gradients))


# ---------------------------------------------------------------------------
# 5. How an op is applied: the checks on the way, and the fast paths
# ---------------------------------------------------------------------------
def _unary(op: Op, a: Value) -> Value:
    """``op`` on one Value. When everything is ordinary (no domain to check, no mode on, a finite
    float and one finite derivative) the node is made at once; otherwise ``_make`` checks each step."""
    x = a._data
    if op.domain is None and op.keeps_local_grads and not modes.active:
        try:
            out = op.forward(x)
            (slope,) = local_grads = op.local_grads(out, x)
        except (ArithmeticError, ValueError, TypeError):
            pass
        else:
            ordinary = type(out) is type(slope) is float and type(local_grads) is tuple
            if ordinary and out - out == slope - slope == 0.0:
                return _node(out, op, (a,), local_grads)
    return _make(op, op, (a,), None, (x,), (a,))


def _binary(op: Op, a: Value | Number, b: Value | Number) -> Value:
    """``op`` on two inputs, at least one a Value; a number operand becomes the node's constant."""
    if isinstance(a, Value):
        x = a._data
        if isinstance(b, Value):
            y, form, parents, const = b._data, op, (a, b), None
        elif type(b) is float and b - b == 0.0:  # the common number operand, checked inline
            y = const = b
            form, parents = op.with_constant[1], (a,)
        elif _is_symbol(b):
            return _apply(op, (a, b))  # a symbol: the expression is written, not computed
        else:
            y = const = as_number(b, op.name)
            form, parents = op.with_constant[1], (a,)
    elif _is_symbol(a):
        return _apply(op, (a, b))
    else:
        x = const = a if type(a) is float and a - a == 0.0 else as_number(a, op.name)
        y, form, parents = b._data, op.with_constant[0], (b,)  # type: ignore[union-attr]
    if not modes.active:
        try:  # anything unusual (a refusal, a failure, a non-float) is judged by the careful path
            if op.domain is not None and op.domain(x, y) is not None:
                raise ValueError
            out = op.forward(x, y)
            if const is not None:
                local_grads = op.local_grads(out, x, y)
                slope = local_grads[1 - form.const_slot]  # the Value's slot
                ordinary = type(out) is type(slope) is float and type(local_grads) is tuple
                if ordinary and len(local_grads) == 2 and out - out == slope - slope == 0.0:
                    return _node(out, form, parents, (slope,), const)
            elif not op.keeps_local_grads:
                if type(out) is float and out - out == 0.0:
                    return _node(out, form, parents, None)
            else:
                slope_a, slope_b = local_grads = op.local_grads(out, x, y)
                if type(out) is type(slope_a) is type(slope_b) is float and type(local_grads) is tuple \
                        and out - out == slope_a - slope_a == slope_b - slope_b == 0.0:
                    return _node(out, form, parents, local_grads)
        except Exception:  # noqa: S110 - the careful path below says what went wrong
            pass
    return _make(op, form, parents, const, (x, y), _as_used(a, b, x, y))


def _make(
    op: Op, form: Op, parents: tuple, const: float | None, data: Sequence[float], inputs: Sequence[Any]
) -> Value:
    """The careful path of every op: each step checked, with a message naming the op and its inputs."""
    out = checked_forward(op, data, inputs)
    if modes.active and not modes.is_grad_enabled() and not modes.anomaly_checks_enabled():
        return _node(out, None, (), ())  # no graph: the value alone, no local derivatives
    if const is None and not op.keeps_local_grads:
        return _node(out, form, parents, None)
    return _node(out, form, parents, checked_local_grads(op, out, data, inputs), const)


def _is_symbol(x: Any) -> bool:
    """A symbol of engine.symbolic, which writes an op instead of computing it: its class has
    ``apply_op`` (asked of the class, so a mock answering every attribute is not one)."""
    return callable(getattr(type(x), "apply_op", None))


def _as_used(a: Any, b: Any, x: float, y: float) -> tuple:
    """The inputs as the op used them, for messages: a number operand as the float it became."""
    return (a if isinstance(a, Value) else x, b if isinstance(b, Value) else y)


def _apply(op: Op, inputs: tuple) -> Any:
    """``op`` on any inputs: a node if one is a Value, else a float (or, given symbols, an expression)."""
    if op.arity is not None and len(inputs) != op.arity:
        raise TypeError(f"{op.name}: takes {op.arity} input{'s' if op.arity > 1 else ''}, got {len(inputs)}")
    if not inputs:
        raise TypeError(f"{op.name}: needs at least one input")
    if any(isinstance(x, Value) for x in inputs):
        if op.arity == 1:
            return _unary(op, inputs[0])
        if op.arity == 2:
            return _binary(op, *inputs)
        inputs = tuple(x if isinstance(x, Value) else Value(as_number(x, op.name)) for x in inputs)
        return _make(op, op, inputs, None, [x._data for x in inputs], inputs)
    for x in inputs:  # a symbol (engine.symbolic) writes the op instead of computing it
        if _is_symbol(x):
            return x.apply_op(op, inputs)
    numbers = [as_number(x, op.name) for x in inputs]
    return checked_forward(op, numbers, numbers)


_new_value = object.__new__  # a Value with its slots unset: __init__ is for numbers a user gives


def _node(
    data: float, op: Op | None, parents: tuple, local_grads: tuple | None, const: float | None = None
) -> Value:
    """The node an op returns. Made without ``Value.__init__``, whose checks are for user numbers."""
    if modes.active:  # some thread is in no_grad or detect_anomaly: this thread's modes decide
        op, parents, local_grads, const = _in_thread_modes(data, op, parents, local_grads, const)
    node = _new_value(Value)
    node._data = data
    node._grad = 0.0
    node._label = ""
    node._op = op
    node._parents = parents
    node._local_grads = local_grads
    node._const = const
    return node


def _in_thread_modes(
    data: float, op: Op | None, parents: tuple, local_grads: tuple | None, const: float | None
) -> tuple:
    """What a node keeps under this thread's modes: nothing under no_grad; checked under detect_anomaly."""
    if op is not None and modes.anomaly_checks_enabled():
        if local_grads is None:
            local_grads_now = op.local_grads(data, *(p._data for p in parents))
        else:
            local_grads_now = local_grads
        if not (math.isfinite(data) and all(map(math.isfinite, local_grads_now))):
            from engine.symbolic import anomaly_message

            raise AnomalyError(anomaly_message(op, parents, const, data, local_grads_now))
    if not modes.is_grad_enabled():
        return None, (), (), None
    return op, parents, local_grads, const


def linear_layer(
    weight_rows: Iterable[Iterable[Value]], inputs: Iterable[Value | Number], biases: Iterable[Value | Number]
) -> list[Value]:
    """Z[l] = W[l]·A[l−1] + b[l] for one sample: zᵢ = Σⱼ Wᵢⱼxⱼ + bᵢ, one ``linear`` node per row.

    The same nodes as ``[linear(w, inputs, b) for w, b in zip(weight_rows, biases)]``,
    made about twice as fast: the inputs are checked and read once for all rows,
    and LINEAR's local derivatives (x₁..xₙ, w₁..wₙ, 1) are written out (tested equal).

    >>> w = [[Value(1.0), Value(2.0)], [Value(-1.0), Value(0.5)]]
    >>> [z.data for z in linear_layer(w, [3.0, 4.0], [Value(0.5), Value(0.0)])]
    [11.5, -1.0]
    """
    inputs = as_tuple(inputs, "linear", "inputs")
    x_data = [x._data for x in inputs if type(x) is Value]  # reads and checks in one pass
    if len(x_data) != len(inputs):
        inputs = _linear_operands(inputs, "inputs", numbers_allowed=True)
        x_data = [x._data for x in inputs]
    weight_rows = as_tuple(weight_rows, "linear", "weight rows", "rows of Values")
    biases = as_tuple(biases, "linear", "biases")
    if len(weight_rows) != len(biases):
        raise ValueError(f"linear: {len(weight_rows)} rows of weights but {len(biases)} biases")
    nodes = []
    for weights, bias in zip(weight_rows, biases):
        weights = as_tuple(weights, "linear", "weights", "Values")
        w_data = [w._data for w in weights if type(w) is Value]
        if len(w_data) != len(weights) or type(bias) is not Value:
            weights = _linear_operands(weights, "weights", numbers_allowed=False)
            (bias,) = _linear_operands((bias,), "bias", numbers_allowed=True)
            w_data = [w._data for w in weights]
        if len(weights) != len(inputs):
            raise ValueError(f"linear: {len(weights)} weights but {len(inputs)} inputs")
        z = sum(map(operator.mul, w_data, x_data), bias._data)
        parents = (*weights, *inputs, bias)
        if z != z:  # nan (inf − inf, 0·inf): the careful path refuses it, naming the op and inputs
            nodes.append(_make(LINEAR, LINEAR, parents, None, [*w_data, *x_data, bias._data], parents))
        else:
            nodes.append(_node(z, LINEAR, parents, (*x_data, *w_data, 1.0)))
    return nodes


def _linear_operands(operands: tuple, what: str, numbers_allowed: bool) -> tuple[Value, ...]:
    """linear's operands with numbers wrapped as leaves, or a TypeError naming the bad one."""
    checked = []
    for k, v in enumerate(operands):
        if isinstance(v, Value):
            checked.append(v)
        elif numbers_allowed:
            checked.append(Value(as_number(v, f"linear: {what}" + (f"[{k}]" if what != "bias" else ""))))
        else:
            raise TypeError(
                f"linear: weights must be Values (the parameters to learn), got {describe(v)} at "
                f"weights[{k}]; wrap a number as Value(w)"
            )
    return tuple(checked)


def _inputs_text(arity: int | None) -> str:
    return "any number of inputs" if arity is None else f"{arity} input{'s' if arity != 1 else ''}"


def _registered_op(
    name: str, const_slot: int | None, formula: str | None = None, arity: int | None = None
) -> Op:
    """The op named ``name`` (its form with a number operand in ``const_slot``): how ops unpickle.

    The op must be defined here as it was when pickled (its formula says so): a node whose op
    is missing or was redefined since would carry numbers its op no longer explains.
    """
    op = OPS.get(name)
    if op is None:
        raise ValueError(
            f"a pickled Value's op {name!r} is not defined here: define it with engine.define_op "
            "(the same rule) before loading"
        )
    if formula is not None and (op.formula, op.arity) != (formula, arity):
        raise ValueError(
            f"a pickled Value's op {name!r} was redefined since it was pickled: it was {formula!r} "
            f"({_inputs_text(arity)}), now {op.formula!r} ({_inputs_text(op.arity)}); define it as it "
            "was before loading"
        )
    if const_slot is not None and len(op.with_constant) <= const_slot:
        raise ValueError(f"a pickled Value's op {name!r} had a number operand, which it now cannot have")
    return op if const_slot is None else op.with_constant[const_slot]

"""Formulas from the ops' own rules: each local derivative written as text or as Python code.

An ``Expression`` stands for a named quantity. Given to an op's ``local_grads``
instead of numbers, it records the arithmetic and the ops the rule applies, so
``SIGMOID.local_grads(a, z)`` gives ``a·(1 − a)`` (text) and ``a * (1 - a)``
(code): the derivative is written from the one definition that also computes
it. Explanations, drawings, anomaly messages and the compiled Wengert list use
this module to write ops and derivatives.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

from engine.checks import check_str
from engine.notation import Precedence, Style, number, readable, write
from engine.value import ADD, DIV, MUL, NEG, POW, POWER, SUB, Op, Value

_SIMPLE_NAME = re.compile(r"^[\w\[\],.#′'₀-₉…]+$")
_FUNCTION = re.compile(r"^[^\W\d]\w*$|^σ$")  # exp, tanh, σ, a user's sin: a call f(...) is an atom


def name_precedence(name: str) -> int:
    """How tightly a node's name binds inside a formula: ``a``, ``σ(z)``: atoms; ``x·y``: a product;
    ``1−a``: a sum; read from the operators left once every bracketed part is removed."""
    superscript = any(c in name for c in "⁰¹²³⁴⁵⁶⁷⁸⁹")
    if _SIMPLE_NAME.match(name) and not name.startswith("-") and not superscript:
        return Precedence.ATOM
    outside = _top_level(name)
    if outside is None:
        return Precedence.SUM  # unbalanced brackets: always bracket it
    head = name[: name.index("(")] if "(" in name else ""
    if outside.endswith("()") and outside.count("(") == 1 and _FUNCTION.match(head):
        return Precedence.ATOM
    if " if " in outside:
        return Precedence.CONDITIONAL  # a conditional binds loosest: bracketed wherever it stands
    body = outside[1:] if outside.startswith(("−", "-")) else outside
    if any(symbol in body for symbol in ("+", "−")):
        return Precedence.SUM
    if any(symbol in body for symbol in ("·", "/")):
        return Precedence.PRODUCT
    if outside.startswith(("−", "-")) or outside.startswith("ln "):
        return Precedence.SIGN  # −a, ln a: a factor as they stand (1·ln a), bracketed under a power
    return Precedence.POWER if "^" in outside or superscript else Precedence.ATOM


def _top_level(text: str) -> str | None:
    """``text`` with the inside of every bracket removed (``ln(1−a)·b`` → ``ln()·b``); None if unbalanced."""
    depth, kept = 0, []
    for char in text:
        if char == ")":
            depth -= 1
            if depth < 0:
                return None
        if depth == 0:
            kept.append(char)
        if char == "(":
            depth += 1
    return "".join(kept) if depth == 0 else None


class Expression:
    """A quantity named ``text`` in formulas and ``code`` in Python, or an op applied to expressions.

    A constant (``Expression.constant(3.0)``) also knows its ``value``: arithmetic
    on constants is folded (``n − 1`` with n = 3 writes ``2``), while ops such as
    ``ln`` keep their form (``ln 2``, not ``0.6931``).
    """

    __slots__ = ("code", "inputs", "op", "precedence", "text", "value")

    def __init__(self, text: str = "", code: str | None = None, *, op: Op | None = None,
                 inputs: tuple = (), precedence: int | None = None, value: float | None = None) -> None:
        self.text = check_str("Expression", "text", text)
        self.code = text if code is None else check_str("Expression", "code", code)
        self.op = op
        self.inputs = inputs
        self.precedence = name_precedence(text) if precedence is None else precedence
        self.value = value

    @classmethod
    def constant(cls, x: float, digits: int = 4) -> Expression:
        """A number operand: written with ``digits`` significant digits, exact in code."""
        text, precedence = number(x, "text", digits)
        return cls(text, number(x, "code")[0], precedence=precedence, value=float(x))

    def __bool__(self) -> bool:
        if self.value is None:  # a rule that branches on an unknown cannot be written as one formula
            raise TypeError(f"the truth of {self.write()!r} is not known")
        return bool(self.value)

    def apply_op(self, op: Op, inputs: tuple) -> Expression | float:
        """What an op does with expressions: write itself over them (simplifying x·1, x¹, x + 0)."""
        return _simplified(op, inputs)

    def write(self, style: Style = "text", digits: int = 4) -> str:
        """The expression as a formula (``text``) or as Python (``code``)."""
        return _write(self, style, digits)[0]

    def __repr__(self) -> str:
        return f"Expression({self.write()!r})"

    # Arithmetic applies the ops, exactly as on Values; Op.__call__ hands them back to apply_op.
    def __add__(self, other: Any) -> Any:
        return ADD(self, other)

    def __radd__(self, other: Any) -> Any:
        return ADD(other, self)

    def __sub__(self, other: Any) -> Any:
        return SUB(self, other)

    def __rsub__(self, other: Any) -> Any:
        return SUB(other, self)

    def __mul__(self, other: Any) -> Any:
        return MUL(self, other)

    def __rmul__(self, other: Any) -> Any:
        return MUL(other, self)

    def __truediv__(self, other: Any) -> Any:
        return DIV(self, other)

    def __rtruediv__(self, other: Any) -> Any:
        return DIV(other, self)

    def __pow__(self, other: Any) -> Any:
        return (POWER if _known(other) is not None else POW)(self, other)

    def __rpow__(self, other: Any) -> Any:
        return POW(other, self)

    def __neg__(self) -> Any:
        return NEG(self)


_FOLDED = (ADD, SUB, MUL, NEG, POWER)  # not DIV: 1/4 shows the rule better than 0.25


def _known(x: Any) -> float | None:
    """The number ``x`` stands for, if known (a number or a constant expression)."""
    if isinstance(x, Expression):
        return x.value
    return float(x) if isinstance(x, (int, float)) else None


def _simplified(op: Op, inputs: tuple) -> Expression | float:
    op = op.definition
    known = [_known(x) for x in inputs]
    if op in _FOLDED and None not in known:
        return Expression.constant(op.forward(*known))
    if len(inputs) == 2:
        (a, b), (ka, kb) = inputs, known
        if op is MUL and 1.0 in (ka, kb):
            return b if ka == 1.0 else a
        if op is MUL and 0.0 in (ka, kb):
            return 0.0
        if op is ADD and 0.0 in (ka, kb):
            return b if ka == 0.0 else a
        if (op is SUB and kb == 0.0) or (op is DIV and kb == 1.0) or (op is POWER and kb == 1.0):
            return a
    return Expression(op=op, inputs=tuple(inputs))


def _write(x: Any, style: Style, digits: int) -> tuple[str, int]:
    if not isinstance(x, Expression):
        return number(x, style, digits)
    if x.value is not None and x.op is None and style == "text":
        return number(x.value, style, digits)
    if x.op is None:
        return (x.text if style == "text" else x.code), x.precedence
    operands = [_write(operand, style, digits) for operand in x.inputs]
    if style == "text" and x.op is MUL and x.inputs[0] is x.inputs[1]:  # out·out reads out² (code: out * out)
        return write(POWER.notation, [operands[0], ("2", Precedence.ATOM)], style)
    return write(x.op.notation, operands, style)


def derivative_formulas(op: Op, out: Expression, inputs: Sequence[Any]) -> tuple[Any, ...] | None:
    """``op``'s local derivatives as expressions over ``out`` and ``inputs`` (None if its rule
    cannot run on symbols, e.g. it calls ``math`` functions: then only its numbers are shown)."""
    try:
        formulas = op.definition.local_grads(out, *inputs)
    except Exception:  # a user's rule written for floats only
        return None
    return formulas if isinstance(formulas, tuple) and len(formulas) == len(inputs) else None


def written_over_labels(op: Op, inputs: Sequence[Any], budget: int = 12) -> str:
    """How ``op`` applied to ``inputs`` reads, over labels and numbers: ``(tanh(a * 2.0) + a) * b``.

    The walk back stops at labelled nodes and leaves; past ``budget`` ops the
    rest reads ``…``. For error messages: it says where a bad number came from.
    """
    left = [budget]

    def operand(x: Any) -> tuple[str, int]:
        if not isinstance(x, Value):
            return repr(x), Precedence.ATOM if x >= 0 else Precedence.SIGN
        if x.label:  # as the views show it: line breaks as spaces, a long label cut
            label = readable(x.label)
            return label, name_precedence(label)
        if x.op is None:
            return f"{x.data:.4g}", Precedence.ATOM if x.data >= 0 else Precedence.SIGN
        if left[0] <= 0:
            return "…", Precedence.ATOM
        left[0] -= 1
        return write(x.op.notation, [operand(y) for y in x.inputs], "code")

    return write(op.definition.notation, [operand(x) for x in inputs], "code")[0]


def anomaly_message(op: Op, parents: Sequence[Value], const: float | None, out: float,
                    local_grads: Sequence[float]) -> str:
    """The ``detect_anomaly`` message for an op whose result or local derivative is nan or inf."""
    from engine.checks import describe_operand

    inputs = op.inputs_as_written(parents, const)
    named = ", ".join(describe_operand(x) if isinstance(x, Value) else f"constant {x!r}" for x in inputs)
    result = f"{out!r} with a non-finite local derivative" if math.isfinite(out) else f"{out!r}"
    return (
        f"detect_anomaly: op {op.name!r} gave {result} computing {written_over_labels(op, inputs)}; "
        f"inputs [{named}], local derivatives {tuple(local_grads)!r} ({op.formula})"
    )


def backward_anomaly_message(
    function: str, node: Value, order: Sequence[Value], gradients: dict[Value, float]
) -> str:
    """The message for a backward pass whose gradient at ``node`` overflowed (under detect_anomaly)
    or is nan (always refused): ``function`` heads it."""
    from engine.checks import describe_operand

    terms = []
    for consumer in order:
        for parent, local in zip(consumer.parents, consumer.local_grads):
            if parent is node:
                terms.append(
                    f"{gradients[consumer]!r} · {local!r} through op {consumer.op.name!r}"  # type: ignore[union-attr]
                )
    found = gradients[node]
    what = "overflows" if found == found else "is not a number (inf · 0, or inf − inf)"
    return (
        f"{function}: the chain rule gave the gradient {found!r} at {describe_operand(node)} "
        f"(made by {written_over_labels(node.op, node.inputs) if node.op else 'a leaf'}): the sum of "
        f"upstream × local over the ops that use it, {' + '.join(terms[:6]) or 'none'}, {what}; "
        "no grad was changed. Rescale the loss or the inputs"
    )

"""How an op is written: as a formula for people (``a·(1 − a)``) and as Python code (``a * (1 - a)``).

Each op's definition carries a ``Notation``. ``write`` puts an op's operands into
it, adding brackets only where precedence needs them. The explanations, the
drawings and the compiled Wengert list all write ops through here, so an op is
written the same way everywhere. This module imports nothing from the engine but
its argument checks (``engine.checks``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Literal, TypeVar

from engine.checks import check_choice, check_instance, check_int, check_real, short_repr

Style = Literal["text", "code"]

class Precedence(IntEnum):
    """How tightly a written expression binds, in Python's own order: an operand whose precedence
    is below what its place needs is bracketed."""

    CONDITIONAL = 0
    SUM = 1
    PRODUCT = 2
    SIGN = 3
    POWER = 4
    ATOM = 5


SUM, PRODUCT, SIGN, POWER, ATOM = (
    Precedence.SUM, Precedence.PRODUCT, Precedence.SIGN, Precedence.POWER, Precedence.ATOM
)

_SUPERSCRIPTS = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")


@dataclass(frozen=True)
class Notation:
    """How an op is written, in formulas (``text``) and in Python (``code``).

    ``kind`` is ``"infix"`` (``a + b``), ``"prefix"`` (``−a``), ``"call"``
    (``σ(z)``, ``ln a``), ``"sum"`` (``a + b + c``), ``"linear"``
    (``w₁·x₁ + w₂·x₂ + b``) or ``"template"`` (``text`` and ``code`` are
    format strings over the operands, e.g. ``1 if {0} > 0 else 0``); ``text``
    and ``code`` are the symbols or names written, ``precedence`` how tightly
    the whole binds. Text is compact, as in the course: ``1−a``, ``a(1−a)``.
    """

    kind: str
    text: str
    code: str
    precedence: int = ATOM
    right_associative: bool = False


def infix(text: str, code: str, precedence: int, *, right_associative: bool = False) -> Notation:
    """A binary operator written between its operands: ``a·b`` / ``a * b``."""
    return Notation("infix", text, code, precedence, right_associative)


def prefix(text: str, code: str) -> Notation:
    """A sign written before its operand: ``−a`` / ``-a``."""
    return Notation("prefix", text, code, SIGN)


def call(text: str, code: str) -> Notation:
    """A function: ``σ(z)`` / ``sigmoid(z)``.

    A text ending in a space (``"ln "``) takes a bare atom: ``ln a``, ``ln(1−a)``.
    """
    return Notation("call", text, code, ATOM)


def template(text: str, code: str, precedence: int = Precedence.CONDITIONAL) -> Notation:
    """Any other form: ``text``/``code`` are format strings over the operands (``{0}``)."""
    return Notation("template", text, code, precedence)


T = TypeVar("T")

MAX_DIGITS = 17
"""The most significant digits a number is written with: 17 tell any two floats apart."""
LABEL_LIMIT = 40
"""Longer labels are cut (with …) wherever a name is shown."""


def readable(label: str) -> str:
    """A label as a name: control and invisible characters as spaces, cut to 40 characters with …."""
    text = "".join(char if char.isprintable() else " " for char in label)
    return text if len(text) <= LABEL_LIMIT else text[: LABEL_LIMIT - 1] + "…"


SUM_NOTATION = Notation("sum", "+", "+", SUM)
LINEAR_NOTATION = Notation("linear", "·", "*", SUM)


def linear_parts(inputs: Sequence[T]) -> tuple[Sequence[T], Sequence[T], T]:
    """The inputs of op ``linear`` (z = Σ wᵢxᵢ + b) as laid out: (w₁..wₙ, x₁..xₙ, b)."""
    n = (len(inputs) - 1) // 2
    return inputs[:n], inputs[n : 2 * n], inputs[-1]


KINDS = ("infix", "prefix", "call", "sum", "template", "linear")
"""The kinds of notation ``write`` knows."""

STYLES = ("text", "code")
"""How an expression is written: as a formula for people, or as Python code."""


def write(notation: Notation, operands: Sequence[tuple[str, int]], style: Style = "text") -> tuple[str, int]:
    """The expression ``notation`` makes of ``operands`` ((written form, precedence) pairs).

    Returns the written expression and its precedence, ready to be an operand in turn.
    """
    check_instance("write", "notation", notation, Notation, "an engine.notation.Notation")
    check_choice("write", "style", style, STYLES)
    try:
        return _write(notation, operands, style)
    except (AttributeError, IndexError, TypeError, ValueError):
        check_choice("write", "notation.kind", notation.kind, KINDS)
        raise TypeError(
            f"write: operands must be (text, precedence) pairs, as many as the {notation.kind} notation "
            f"takes, got {short_repr(operands)}"
        ) from None


def _write(notation: Notation, operands: Sequence[tuple[str, int]], style: Style) -> tuple[str, int]:
    symbol = notation.text if style == "text" else notation.code
    kind = notation.kind
    if kind == "infix":
        (left, left_precedence), (right, right_precedence) = operands
        p = notation.precedence
        left_needs, right_needs = (p + 1, p) if notation.right_associative else (p, p + 1)
        left = _bracketed(left, left_precedence, left_needs)
        if symbol == "^" and right.isdigit():  # a² rather than a^2
            return left + right.translate(_SUPERSCRIPTS), p
        right = _bracketed(right, right_precedence, right_needs)
        if style == "code":
            return f"{left} {symbol} {right}", p
        if right.startswith(("-", "−")):  # 1.2+(−0.4), a·(−b): a sign right after an operator reads badly
            right = f"({right})"
        implicit = symbol == "·" and left_precedence == ATOM and not left[0].isdigit()
        if implicit and right_precedence < right_needs:
            return f"{left}{right}", p  # a(1−a): the course's implicit product (not 2(…), read as a call)
        return f"{left}{symbol}{right}", p
    if kind == "prefix":
        (operand, precedence), = operands
        return symbol + _bracketed(operand, precedence, SIGN + 1), SIGN
    if kind == "call":
        if symbol.endswith(" ") and len(operands) == 1:  # ln a, ln(1 − a)
            operand, precedence = operands[0]
            return symbol.rstrip() + (f" {operand}" if precedence >= ATOM else f"({operand})"), ATOM
        return f"{symbol}({', '.join(text for text, _ in operands)})", ATOM
    if kind == "sum":
        joiner = "+" if style == "text" else " + "
        return joiner.join(_bracketed(text, p, SUM + 1) for text, p in operands), SUM
    if kind == "template":
        return symbol.format(*(_bracketed(text, p, SUM) for text, p in operands)), notation.precedence
    if kind == "linear":
        weights, xs, (bias_text, bias_precedence) = linear_parts(operands)
        times, plus = ("·", "+") if style == "text" else (" * ", " + ")
        products = [
            _bracketed(w, wp, PRODUCT) + times + _bracketed(x, xp, PRODUCT + 1)
            for (w, wp), (x, xp) in zip(weights, xs)
        ]
        bias = _bracketed(bias_text, bias_precedence, SUM + 1)
        if style == "code":  # b + w₁x₁ + …: the order the engine adds them in, so a replay is exact
            return plus.join([bias, *products]), SUM
        return plus.join([*products, bias]), SUM
    raise ValueError(f"unknown notation kind {kind!r}")


def number(x: float, style: Style = "text", digits: int = 4) -> tuple[str, int]:
    """A number as an operand: ``repr`` in code (exact), ``digits`` significant digits in text."""
    check_real("number", "x", x, finite=False)
    check_choice("number", "style", style, STYLES)
    check_int("number", "digits", digits, minimum=1, maximum=MAX_DIGITS)
    if style == "code":
        text = repr(float(x))
    else:
        text = format_number(x, digits).replace("-", "−", 1) if x < 0 else format_number(x, digits)
    return text, (SIGN if text.startswith(("-", "−")) else ATOM)


def format_number(x: float, digits: int = 4) -> str:
    """``x`` to ``digits`` significant digits (``0.1966``, ``-1.606``, ``2``, ``1.2e-08``)."""
    return f"{x + 0.0:.{digits}g}"  # + 0.0 turns -0.0 into 0.0


def _bracketed(text: str, precedence: int, needed: int) -> str:
    return text if precedence >= needed else f"({text})"

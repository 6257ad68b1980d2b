"""Input checks and error messages: what a Value and an op accept, and how a refusal reads.

Kept out of the core (``engine/value.py``) so that the core reads as the math.
Every message names the op or function and the offending value.
"""

from __future__ import annotations

import math
import numbers
import reprlib
from typing import Any


class DomainError(ValueError):
    """An op got an input outside its domain: log of 0, division by 0, exp overflow, ..."""


class AnomalyError(FloatingPointError):
    """Raised inside ``detect_anomaly()`` by the first op whose result or local derivative is nan or inf."""


_short = reprlib.Repr()
_short.maxstring = 60
_short.maxother = 60


def short_repr(value: object) -> str:
    """``repr(value)``, shortened for a message (long strings and containers are cut with ``...``)."""
    try:
        return _short.repr(value)
    except Exception:  # a broken __repr__ must not hide the real error
        return f"<{type(value).__name__} object>"


def describe(value: object) -> str:
    """How an input is named in a message: its number and, if any, its label (``2.0 (label 'x')``)."""
    data = getattr(value, "_data", None)
    if type(data) is float:  # a Value (checks.py does not import Value: the core imports checks)
        label = getattr(value, "_label", "")
        return repr(data) + (f" (label {short_repr(label)})" if label else "")
    return short_repr(value)


def type_name(value: object) -> str:
    """``float``, ``str``, ``numpy.float32``: the type as a reader would write it."""
    kind = type(value)
    package = kind.__module__.split(".")[0]
    return kind.__qualname__ if package in ("builtins", "engine", "nn") else f"{package}.{kind.__qualname__}"


def as_number(value: Any, where: str) -> float:
    """A number operand or ``data`` as a finite float, or an error naming ``where`` and the value.

    Accepted: int, float, bool (as 1.0 or 0.0, so ``z * (z.data > 0)`` works),
    ``fractions.Fraction``, numpy integer, float and bool scalars (and 0-d arrays
    of them). Refused with ``TypeError``: complex, strings, None, arrays, Values
    where a number is meant; with ``ValueError``: nan, inf, an integer too large
    for a float.
    """
    # The common case first: the checks in _real_as_float cost ~0.6 µs.
    number = value if type(value) is float else _real_as_float(value, where)
    if number - number != 0.0:  # nan or ±inf
        raise ValueError(
            f"{where}: got {number!r}; numbers must be finite, since nan and inf would make every "
            "gradient downstream meaningless"
        )
    return number


def _real_as_float(value: Any, where: str) -> float:
    if hasattr(value, "_data") and hasattr(value, "_parents"):
        raise TypeError(f"{where}: expected a number, got a Value ({describe(value)}); pass v.data")
    shape = getattr(value, "shape", None)
    if shape is not None and shape != ():
        raise TypeError(
            f"{where}: a Value holds one number, got an array of shape {shape}; "
            "combine Values element by element, e.g. [v * x for x in array]"
        )
    if shape == () and not isinstance(value, numbers.Real) and hasattr(value, "item"):
        item = value.item()  # a numpy 0-d array or scalar: judge the Python number it holds
        if not isinstance(item, numbers.Real):
            raise TypeError(_expected_number(where, value))
        value = item
    if not isinstance(value, numbers.Real):
        raise TypeError(_expected_number(where, value))
    try:
        return float(value)
    except OverflowError:
        digits = int(abs(int(value)).bit_length() * math.log10(2)) + 1
        raise ValueError(
            f"{where}: an integer of about {digits:,} digits is too large for a float (max ≈ 1.8e308)"
        ) from None


def _expected_number(where: str, value: object) -> str:
    return (
        f"{where}: expected a real number (int, float, numpy scalar), got {short_repr(value)} "
        f"({type_name(value)})"
    )


def as_label(value: object, where: str) -> str:
    """A node's label: a string (any length; drawings shorten long ones)."""
    if not isinstance(value, str):
        raise TypeError(
            f"{where}: a label must be a string, got {short_repr(value)} ({type_name(value)}); "
            f"e.g. label=str(x)"
        )
    return value


def comparison_error(symbol: str, left: object, right: object) -> TypeError:
    """What ``v < 3`` says: a Value has no order; compare the numbers it holds."""
    example = short_repr(right) if isinstance(right, (int, float)) else "other.data"
    return TypeError(
        f"'{symbol}' is not defined between {type_name(left)} and {type_name(right)}: a Value is a node of "
        f"a graph, not a number; compare the numbers it holds, e.g. v.data {symbol} {example}"
    )

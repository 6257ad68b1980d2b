"""Input checks and error messages, shared by ``engine`` and ``nn``: one rule, one message shape.

Two parts: the argument checks of public functions (below), and what an op or a
Value accepts as a number, with the errors ops raise (``DomainError``,
``AnomalyError``; further down). Kept out of the core (``engine/value.py``) so
the core reads as the math.

Every public call checks its arguments before it changes anything. These small
functions do the checking so that the same mistake gets the same answer in every
function: ``TypeError`` when the argument has the wrong type (a string where a
number goes, ``True`` where an integer goes), ``ValueError`` when it has the right
type but a wrong value (a negative count, nan). The message reads

    <function>: <argument> must be <what is expected>, got <the value>[; <hint>]

naming the public function the user called, the argument, and the offending
value (shortened with ``reprlib``, so a huge list or string stays readable).
Each check returns the value in the form the caller should keep (``int``,
``float``, ``list``...), so a check is also the conversion.

``bool`` is refused wherever a number is expected: ``True`` is an ``int`` to
Python, but ``MLP(2, [3], seed=True)`` or ``make_moons(n_samples=True)`` is a
mistake, not a request for 1.
"""

from __future__ import annotations

import inspect
import keyword
import math
import numbers
import os
import reprlib
import sys
from collections.abc import Iterable, Mapping, Sequence, Set
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeGuard

if TYPE_CHECKING:  # the core imports this module: Value is looked up at run time only when needed
    from engine.value import Value

_SHORT = reprlib.Repr()
_SHORT.maxstring = 60
_SHORT.maxother = 60
_SHORT.maxlist = _SHORT.maxtuple = _SHORT.maxdict = _SHORT.maxset = 8

SEED_LIMIT = 2**64
"""Seeds are integers in [0, 2⁶⁴): ``random.Random`` and ``numpy.random.default_rng`` take them alike
(numpy refuses negative ones) and a model file stores them exactly."""


def short_repr(value: object) -> str:
    """``repr(value)`` shortened for an error message; never raises, whatever the value."""
    try:
        return _SHORT.repr(value)
    except Exception:  # a broken __repr__ must not hide the real error
        if isinstance(value, int):  # past Python's 4,300-digit limit for int → str
            return f"an integer of more than {_int_digit_limit():,} digits"
        return f"<{type(value).__name__} object>"


def describe(value: object) -> str:
    """The value and its type, for a ``TypeError`` message: ``'abc' (str)``, ``None (NoneType)``."""
    return f"{short_repr(value)} ({type(value).__name__})"


def fail(
    error: type[Exception], function: str, name: str, expected: str, got: str, hint: str = ""
) -> NoReturn:
    """Raise ``error`` with the shared message shape.

    ``function`` is the public function the user called; an empty string leaves
    the head out, for callers that add their own (``load_model`` puts the file
    name there).
    """
    head = f"{function}: " if function else ""
    tail = f"; {hint}" if hint else ""
    raise error(f"{head}{name} must be {expected}, got {got}{tail}")


def check_int(
    function: str, name: str, value: object, *, minimum: int | None = None, maximum: int | None = None,
    hint: str = "", limit: str = "",
) -> int:
    """An integer (Python or numpy, not bool) in [minimum, maximum], returned as an ``int``.

    ``limit`` names a maximum that is a safety limit rather than part of the
    meaning (``"MAX_SAMPLES"``): only a value above it is told about it.

    >>> check_int("make_moons", "n_samples", 5, minimum=2)
    5
    >>> check_int("make_moons", "n_samples", 2.5, minimum=2)
    Traceback (most recent call last):
    TypeError: make_moons: n_samples must be an integer ≥ 2, got 2.5 (float)
    """
    expected = "an integer" + _bounds_text(minimum, None if limit else maximum)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        fail(TypeError, function, name, expected, describe(value), hint)
    number = int(value)
    if limit and maximum is not None and number > maximum:
        fail(ValueError, function, name, f"at most {limit} = {maximum:,}", short_repr(value), hint)
    if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
        fail(ValueError, function, name, expected, short_repr(value), hint)
    return number


def check_real(
    function: str,
    name: str,
    value: object,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    above: float | None = None,
    below: float | None = None,
    hint: str = "",
    finite: bool = True,
) -> float:
    """A finite real number (int, float, Fraction, numpy scalar; not bool), returned as a ``float``.

    ``minimum``/``maximum`` are inclusive bounds, ``above``/``below`` exclusive ones.
    nan, ±inf and an integer too large for a float are wrong values (``ValueError``);
    with ``finite=False`` (and no bounds) any real number is taken, nan and ±inf too.

    >>> check_real("SGD", "momentum", 0.9, minimum=0.0, below=1.0)
    0.9
    >>> check_real("SGD", "lr", -1, above=0.0)
    Traceback (most recent call last):
    ValueError: SGD: lr must be a finite number > 0, got -1
    """
    expected = _interval_text(minimum, maximum, above, below) if finite else "a number"
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or _is_time(value):
        fail(TypeError, function, name, expected, describe(value), hint)
    try:
        number = float(value)
    except OverflowError:
        fail(ValueError, function, name, expected, "an integer too large for a float (max ≈ 1.8e308)", hint)
    if not finite:
        return number
    if not (
        math.isfinite(number)
        and (minimum is None or number >= minimum)
        and (maximum is None or number <= maximum)
        and (above is None or number > above)
        and (below is None or number < below)
    ):
        fail(ValueError, function, name, expected, short_repr(value), hint)
    return number


def check_bool(function: str, name: str, value: object) -> bool:
    """``True`` or ``False`` (a numpy bool too), returned as a ``bool``; 0, 1 and "yes" are refused."""
    if isinstance(value, bool) or _is_numpy_bool(value):
        return bool(value)
    fail(TypeError, function, name, "True or False", describe(value))


def check_str(function: str, name: str, value: object, *, nonempty: bool = False, hint: str = "") -> str:
    """A ``str`` (non-empty when ``nonempty``)."""
    expected = "a non-empty string" if nonempty else "a string"
    if not isinstance(value, str):
        fail(TypeError, function, name, expected, describe(value), hint)
    if nonempty and not value:
        fail(ValueError, function, name, expected, "''", hint)
    return value


def check_choice(function: str, name: str, value: object, choices: Iterable[str]) -> str:
    """The element of ``choices`` equal to ``value``: a non-string is a ``TypeError``, an unknown name a
    ``ValueError``.

    The element of ``choices`` is returned, not ``value``: a ``str`` subclass (``np.str_``, or one
    with its own ``__eq__``) is compared as its plain text, and what the caller stores is a plain
    ``str`` (it saves to JSON and prints as the name it is).

    >>> check_choice("MLP", "activation", "softmax", ["tanh", "relu"])
    Traceback (most recent call last):
    ValueError: MLP: activation must be one of 'tanh', 'relu', got 'softmax'
    """
    names = list(choices)
    if type(value) is str and value in names:  # the common case: a plain str is its own match
        return value
    expected = "one of " + ", ".join(map(repr, names))
    if not isinstance(value, str):
        fail(TypeError, function, name, expected, describe(value))
    plain = str.__str__(value)  # the text alone, as an exact str: no subclass's __eq__ or __hash__
    for choice in names:
        if type(choice) is str and choice == plain:
            return choice
    fail(ValueError, function, name, expected, short_repr(value))


def check_sequence(
    function: str, name: str, value: object, *, of: str, min_length: int = 0, hint: str = ""
) -> list[Any]:
    """A list, tuple, range or 1-D array (of ``of``, said in the message), returned as a new ``list``.

    Strings, mappings, sets, iterators and scalars are ``TypeError``s (a set has no
    order, an iterator would be used up); an array of 2 or more dimensions or fewer
    than ``min_length`` items is a ``ValueError``. The items are not checked here:
    check each one with its own rule, naming it ``name[i]``.
    """
    if min_length == 1:
        expected = f"a non-empty list of {of}"
    elif min_length > 1:
        expected = f"a list of at least {min_length} {of}"
    else:
        expected = f"a list of {of}"
    ndim = getattr(value, "ndim", None)
    indexable = hasattr(value, "__getitem__") and hasattr(value, "__len__") and ndim != 0
    if not indexable or isinstance(value, (str, bytes, bytearray, Mapping, Set)):
        fail(TypeError, function, name, expected, describe(value), hint)
    if ndim is not None and ndim != 1:
        shape = getattr(value, "shape", "?")
        fail(ValueError, function, name, expected, f"an array of shape {shape}", hint)
    items = list(value)  # type: ignore[call-overload]
    if len(items) < min_length:
        fail(ValueError, function, name, expected, short_repr(value), hint)
    return items


def check_seed(function: str, value: object, name: str = "seed") -> int:
    """A random seed: an integer in [0, 2⁶⁴), the same rule for models, datasets and shuffles."""
    return check_int(function, name, value, minimum=0, maximum=SEED_LIMIT - 1, hint="e.g. seed=0")


def check_instance(function: str, name: str, value: object, kind: type, expected: str, hint: str = "") -> Any:
    """``value`` itself when it is a ``kind``, else a ``TypeError`` saying ``expected``."""
    if not isinstance(value, kind):
        fail(TypeError, function, name, expected, describe(value), hint)
    return value


def check_callable(function: str, name: str, value: object, expected: str = "a function") -> Any:
    """``value`` itself when it can be called, else a ``TypeError`` saying ``expected``."""
    if not callable(value):
        fail(TypeError, function, name, expected, describe(value))
    return value


def check_path(function: str, name: str, value: object) -> Path:
    """A file name: a non-empty ``str`` or ``os.PathLike`` (e.g. ``pathlib.Path``), returned as a ``Path``."""
    expected = "a file name (str or pathlib.Path)"
    if not isinstance(value, (str, os.PathLike)):
        fail(TypeError, function, name, expected, describe(value))
    text = os.fspath(value)
    if not isinstance(text, str):  # an os.PathLike of bytes
        fail(TypeError, function, name, expected, describe(value))
    if not text:
        fail(ValueError, function, name, expected, "''")
    if "\0" in text:
        fail(ValueError, function, name, expected, f"{short_repr(text)}, which holds a NUL character")
    return Path(text)


def _bounds_text(minimum: float | None, maximum: float | None) -> str:
    if minimum is not None and maximum is not None:
        return f" from {_number_text(minimum)} to {_number_text(maximum)}"
    if minimum is not None:
        return f" ≥ {_number_text(minimum)}"
    if maximum is not None:
        return f" ≤ {_number_text(maximum)}"
    return ""


def _interval_text(
    minimum: float | None, maximum: float | None, above: float | None, below: float | None
) -> str:
    low = f"[{minimum:g}" if minimum is not None else f"({above:g}" if above is not None else None
    high = f"{maximum:g}]" if maximum is not None else f"{below:g})" if below is not None else None
    if low is not None and high is not None:
        return f"a number in {low}, {high}"
    if low is not None:
        return f"a finite number {'≥' if minimum is not None else '>'} {low[1:]}"
    if high is not None:
        return f"a finite number {'≤' if maximum is not None else '<'} {high[:-1]}"
    return "a finite number"


def _number_text(number: float) -> str:
    """Bounds as a person writes them: 18446744073709551615 reads better as 2**64 − 1."""
    if number == SEED_LIMIT - 1:
        return "2**64 − 1"
    return f"{number:g}" if isinstance(number, float) else f"{number:,}"


def _int_digit_limit() -> int:
    return sys.get_int_max_str_digits() if hasattr(sys, "get_int_max_str_digits") else 4300


def _is_numpy_bool(value: object) -> bool:
    # Read by name so that engine does not import numpy just for this check.
    return type(value).__module__ == "numpy" and type(value).__name__ in ("bool_", "bool")


# ---------------------------------------------------------------------------
# What ops and Values accept as numbers, and the errors ops raise
# ---------------------------------------------------------------------------
class DomainError(ValueError):
    """An op got an input outside its domain: log of 0, division by 0, exp overflow, ..."""


class AnomalyError(FloatingPointError):
    """Raised inside ``detect_anomaly()`` by the first op whose result or local derivative is nan or inf."""


def describe_operand(value: object) -> str:
    """How an op's input is named in a message: its number and, if any, its label (``2.0 (label 'x')``)."""
    if _is_value(value):
        return repr(value.data) + (f" (label {short_repr(value.label)})" if value.label else "")
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


def _is_time(value: Any) -> bool:
    """A numpy time (timedelta64, datetime64, or a 0-d array of one), which numpy counts as an integer."""
    return hasattr(type(value), "dtype") and getattr(getattr(value, "dtype", None), "kind", "") in ("m", "M")


def _is_masked(value: Any) -> bool:
    """np.ma.masked, or a 0-d masked array whose one entry is masked: a missing value."""
    if type(value).__name__ not in ("MaskedConstant", "MaskedArray"):  # by name: no numpy import here
        return False
    return getattr(value, "shape", None) == () and bool(getattr(value, "mask", False))


def _real_as_float(value: Any, where: str) -> float:
    if _is_time(value):
        raise TypeError(_expected_number(where, value) + "; a time is not a number: convert it, e.g. "
                        "t / np.timedelta64(1, 's') for seconds")
    if _is_masked(value):  # float() would read the hidden number (0.0 for np.ma.masked)
        raise ValueError(f"{where}: got a masked (missing) value; fill it first, e.g. array.filled(0.0)")
    # an array's class has .shape (asked of the class: a mock answers every attribute)
    shape = getattr(value, "shape", None) if hasattr(type(value), "shape") else None
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
        if _is_value(value):  # asked only here, off the path of the numbers that pass
            raise TypeError(
                f"{where}: expected a number, got a Value ({describe_operand(value)}); pass v.data"
            )
        raise TypeError(_expected_number(where, value))
    try:
        return float(value)
    except OverflowError:
        digits = int(abs(int(value)).bit_length() * math.log10(2)) + 1
        what = "an integer" if isinstance(value, numbers.Integral) else "a number"  # e.g. a Fraction
        raise ValueError(
            f"{where}: {what} of about {digits:,} digits is too large for a float (max ≈ 1.8e308)"
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


# ---------------------------------------------------------------------------
# The careful path of an op (engine/value.py takes it when anything is unusual)
# ---------------------------------------------------------------------------
def checked_forward(op: Any, data: Sequence[float], inputs: Sequence[Any]) -> float:
    """``op.forward(*data)`` as a float: refused with a DomainError outside the op's domain, when it
    fails, or when it is not finite (inf is allowed only where floats give it: + − · / and sums)."""
    if op.domain is not None:
        reason = _domain_reason(op, data, inputs)
        if reason is not None:
            raise DomainError(f"{op.name}: {reason}, got {named_inputs(op, inputs)}")
    try:
        out = op.forward(*data)
    except (ArithmeticError, ValueError) as error:
        raise DomainError(f"{op.name}: {_failure(error)}, got {named_inputs(op, inputs)}") from None
    if isinstance(out, complex):  # e.g. a ** 0.5 at a < 0 in Python: the input is outside the domain
        raise DomainError(f"{op.name}: the result {out!r} is not real, got {named_inputs(op, inputs)}")
    if type(out) is not float:
        out = _as_result(op, out, "forward")
    if out - out != 0.0 and not (op.float_overflow and out == out):  # nan, or inf where floats give none
        raise DomainError(f"{op.name}: the result {out!r} is not finite, got {named_inputs(op, inputs)}")
    return out


def _domain_reason(op: Any, data: Sequence[float], inputs: Sequence[Any]) -> str | None:
    """Why ``op.domain`` refuses these inputs (None: it does not); a domain that fails or returns
    something else than None or a str is a bad definition, said so with the inputs."""
    try:
        reason = op.domain(*data)
    except Exception as error:  # any failure of the user's rule is reported as such
        raise TypeError(
            f"{op.name}: the op's domain raised {type(error).__name__}: {error} at "
            f"{named_inputs(op, inputs)}; fix the domain given to define_op({op.name!r})"
        ) from error
    if reason is None or isinstance(reason, str):
        return reason or None  # '' says nothing is wrong, as None does
    raise TypeError(
        f"{op.name}: the op's domain must return None (the inputs are fine) or the reason they are "
        f"refused (a str), got {short_repr(reason)} at {named_inputs(op, inputs)}; fix the domain "
        f"given to define_op({op.name!r})"
    )


def checked_local_grads(op: Any, out: float, data: Sequence[float], inputs: Sequence[Any]) -> tuple:
    """``op.local_grads(out, *data)`` for the inputs that are Values, each a finite float.

    A derivative that is not finite where the result is raises a DomainError naming
    the op, its formula and its inputs; a rule that returns the wrong number of
    derivatives, or something else than numbers, a TypeError (a bad definition).
    """
    try:
        local_grads = op.local_grads(out, *data)
    except (ArithmeticError, ValueError) as error:
        detail = "it overflows float" if isinstance(error, OverflowError) else _failure(error)
        raise _derivative_error(op, inputs, f" ({detail})") from None
    if type(local_grads) is not tuple or len(local_grads) != len(inputs):
        count = f"{len(inputs)} derivative{'s' if len(inputs) > 1 else ''}"
        raise TypeError(
            f"{op.name}: the op's local_grads must return a tuple of {count} (one per input), got "
            f"{short_repr(local_grads)}; fix the local_grads given to define_op({op.name!r})"
        )
    kept = []
    for name, x, derivative in zip(_input_labels(op, inputs), inputs, local_grads):
        if not _is_value(x):
            continue
        if derivative is None:  # the op's rule says this input must be a number (power's n)
            raise TypeError(f"{op.name}: {name} must be a number here, got a Value ({describe_operand(x)})")
        if type(derivative) is not float:
            derivative = _as_result(op, derivative, "local_grads")
        if derivative - derivative != 0.0 and out - out == 0.0:  # a finite result whose slope is not
            raise _derivative_error(op, inputs, "")
        kept.append(derivative)
    return tuple(kept)


def named_inputs(op: Any, inputs: Sequence[Any]) -> str:
    """``a = 2.0 (label 'x'), b = 0.0``: the inputs under the names of the op's rule."""
    if _named_by_rule(op, inputs):
        return ", ".join(f"{name} = {describe_operand(x)}" for name, x in zip(op.input_names, inputs))
    return ", ".join(describe_operand(x) for x in inputs[:6]) + (", ..." if len(inputs) > 6 else "")


def _input_labels(op: Any, inputs: Sequence[Any]) -> list[str]:
    if _named_by_rule(op, inputs):
        return [f"input {name}" for name in op.input_names]
    return [f"input {k}" for k in range(len(inputs))]


def _named_by_rule(op: Any, inputs: Sequence[Any]) -> bool:
    """Whether the op's rule names these inputs one by one (not so for an op of any arity, like sum,
    nor for one whose local_grads takes ``*inputs`` with an arity given)."""
    return op.arity is not None and len(op.input_names) == len(inputs)


def _is_value(x: object) -> TypeGuard[Value]:
    from engine.value import Value  # the core imports this module: look Value up when needed

    return isinstance(x, Value)


def _as_result(op: Any, number: object, part: str) -> float:
    """A number an op's ``forward`` or ``local_grads`` returned, as a float (a clear TypeError if not)."""
    if isinstance(number, bool) or _is_value(number) or not isinstance(number, numbers.Real):
        raise TypeError(
            f"{op.name}: {part} returned {short_repr(number)}, not a number; given floats it must "
            "return floats (write it with operators and ops such as engine.exp, not math on Values)"
        )
    try:
        return float(number)
    except OverflowError:  # an int past float range: as good as inf, judged by the caller
        return math.inf


def _failure(error: Exception) -> str:
    """What a failing forward or derivative computation says, in words (not errno tuples)."""
    if isinstance(error, ZeroDivisionError) and "float division" in str(error):
        return "division by zero"
    if isinstance(error, OverflowError):
        return "the result overflows float (largest finite ≈ 1.8e308)"
    if str(error) == "math domain error":
        return "not defined for these inputs (math domain error)"
    return str(error)


def _derivative_error(op: Any, inputs: Sequence[Any], detail: str) -> DomainError:
    return DomainError(
        f"{op.name}: the local derivative is not finite here ({op.formula}), got {named_inputs(op, inputs)}"
        f"{detail}; under no_grad() the value alone is computed"
    )


CODE_NAMES = ("np", "stack")
"""Names the code written by ``engine.compile`` uses for its own helpers (numpy, the batched
replay's ``stack``), besides names starting with ``_``: an op of that name would be shadowed."""


def check_definition(
    name: object,
    forward: object,
    local_grads: object,
    formula: object,
    arity: object,
    built_in: Iterable[str],
    *,
    symbol: object = None,
    notation: object = None,
    domain: object = None,
    array_forward: object = None,
    float_overflow: object = False,
    keeps_local_grads: object = True,
) -> tuple[tuple[str, ...], int | None]:
    """``define_op``'s arguments checked; returns the input names and the arity.

    The names are read from ``local_grads``'s parameters (``lambda out, a, b`` →
    ``("a", "b")``, arity 2; ``lambda out, *terms`` → ``("terms",)``, any number of
    inputs, None); an ``arity`` given must agree with them.
    """
    function = "define_op"
    check_str(function, "name", name, hint="e.g. 'sin'")
    if not name.isidentifier() or keyword.iskeyword(name):  # type: ignore[union-attr]
        fail(ValueError, function, "name", "a Python identifier such as 'sin'", short_repr(name))
    if name.startswith("_") or name in CODE_NAMES:  # type: ignore[union-attr]
        fail(ValueError, function, "name", "a name that compiled code does not use for itself (not np, stack "
             "or a name starting with _)", short_repr(name))
    if name in built_in:
        raise ValueError(f"define_op: {name!r} is a built-in op and cannot be redefined; choose another name")
    function = f"define_op({name!r})"
    check_callable(function, "forward", forward)
    check_callable(function, "local_grads", local_grads)
    check_str(function, "formula", formula, nonempty=True, hint="e.g. '∂(sin a)/∂a = cos a'")
    for argument, rule in (("domain", domain), ("array_forward", array_forward)):
        if rule is not None:
            check_callable(function, argument, rule, "a function or None")
    if symbol is not None:
        check_str(function, "symbol", symbol, nonempty=True, hint="e.g. symbol='sin'")
    if notation is not None:
        from engine.notation import Notation  # imports nothing from the engine: no cycle

        check_instance(function, "notation", notation, Notation, "an engine.notation.Notation or None",
                       hint="e.g. engine.notation.call('sin', 'sin')")
    check_bool(function, "float_overflow", float_overflow)
    check_bool(function, "keeps_local_grads", keeps_local_grads)
    try:
        parameters = list(inspect.signature(local_grads).parameters.values())  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise TypeError(f"{function}: cannot read local_grads's parameters; use a def or lambda") from None
    named_only = [p.name for p in parameters if p.kind in (p.KEYWORD_ONLY, p.VAR_KEYWORD)]
    if named_only:  # the rule is called with positions: local_grads(out, *inputs)
        raise TypeError(
            f"{function}: local_grads is called as local_grads(out, *inputs), so its parameters are "
            f"positional, got keyword-only or ** parameters ({', '.join(named_only)}); e.g. lambda out, a, "
            "b: (...)"
        )
    if parameters and parameters[-1].kind is inspect.Parameter.VAR_POSITIONAL:
        names: tuple[str, ...] = (parameters[-1].name,)
        inferred = None
    else:
        names = tuple(p.name for p in parameters[1:])
        if not names:
            raise TypeError(
                f"{function}: local_grads takes the result and the inputs, e.g. lambda out, a: (...,)"
            )
        inferred = len(names)
    count = inferred
    if arity is not None:
        count = check_int(function, "arity", arity, minimum=1, hint="or None to read it from local_grads")
        if inferred is not None and count != inferred:
            fail(ValueError, function, "arity", f"{inferred}, as local_grads takes {', '.join(names)}",
                 short_repr(arity))
    if count is not None:
        _check_forward_takes(name, forward, count, names)  # type: ignore[arg-type]
    return names, count


def _check_forward_takes(name: str, forward: object, count: int, names: tuple[str, ...]) -> None:
    """A TypeError naming the op if ``forward`` cannot be called with ``count`` inputs."""
    try:
        signature = inspect.signature(forward)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return  # some built-in functions have no readable signature: their first call says
    try:
        signature.bind(*range(count))
    except TypeError:
        raise TypeError(
            f"define_op({name!r}): forward must take the {count} input{'s' if count > 1 else ''} local_grads "
            f"names ({', '.join(names)}), but it is {getattr(forward, '__name__', 'forward')}{signature}"
        ) from None


def check_node(
    node: object, function: str, name: str = "root", hint: str = "the node computed, e.g. the loss"
) -> None:
    """A TypeError naming ``function`` and the argument ``name`` unless ``node`` is a Value."""
    if not _is_value(node):
        fail(TypeError, function, name, "a Value", describe(node), hint)


def check_gradient(gradient: object, function: str) -> float:
    """The number dL/droot that backpropagation starts from (a Value here is a mistake: say so)."""
    if _is_value(gradient):
        raise TypeError(
            f"{function}: gradient is the number dL/droot to start from (default 1.0), got a Value "
            f"({describe_operand(gradient)}); pass its .data"
        )
    return as_number(gradient, f"{function}: gradient")


def as_tuple(items: Any, function: str, what: str, of: str = "Values or numbers") -> tuple:
    """``items`` (a list, tuple or other iterable of ``of``) as a tuple, or a TypeError."""
    if type(items) is tuple:
        return items
    if type(items) is list:
        return tuple(items)
    if isinstance(items, (str, bytes)) or _is_value(items) or not isinstance(items, Iterable):
        raise TypeError(
            f"{function}: {what} must be a list (or other iterable) of {of}, got {describe(items)}"
        )
    return tuple(items)

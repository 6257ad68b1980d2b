"""The catalogue of bad inputs: each one gets its documented outcome, never a silent nan/inf or a crash.

``ERRORS`` is one row per case: what the user wrote, the exact exception type,
and a regex the message must match (it names the op or function and the
offending value). To add a case, add a row. ``RESULTS`` lists the edge cases
that are *not* errors, with their documented finite value and gradient. The
README's "Errors you may see" quotes these messages.

Policy: an input outside an op's domain raises ``DomainError`` (a ValueError),
as do exp, ** and log where the result or its derivative would overflow float;
+ − × ÷ (and linear, sum_values) overflow to ±inf as Python floats do, and
``detect_anomaly()`` stops at the op that did it (tests/test_anomaly.py).
"""

from __future__ import annotations

import math
import subprocess
import sys
from collections.abc import Callable
from decimal import Decimal, localcontext
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest

import engine
from engine import DomainError, Value


class Bad(NamedTuple):
    """One bad input: calling ``call`` raises exactly ``raises`` with a message matching ``match``."""

    case: str
    call: Callable[[], object]
    raises: type[BaseException]
    match: str


def x() -> Value:
    """A fresh leaf, labelled so messages can name it."""
    return Value(2.0, label="x")


ARRAY = np.array([1.0, 2.0])
NUMBER_EXPECTED = r"expected a real number \(int, float, numpy scalar\), got "
NOT_FINITE = r"numbers must be finite, since nan and inf would make every gradient downstream meaningless"
ARRAY_MESSAGE = r"a Value holds one number, got an array of shape \(2,\); combine Values element by element"

ERRORS: list[Bad] = [
    # -- making a Value ----------------------------------------------------------------------------
    Bad('Value("abc")', lambda: Value("abc"), TypeError, rf"^Value: {NUMBER_EXPECTED}'abc' \(str\)$"),
    Bad("Value(None)", lambda: Value(None), TypeError, rf"^Value: {NUMBER_EXPECTED}None \(NoneType\)$"),
    Bad("Value(1+2j)", lambda: Value(1 + 2j), TypeError, rf"^Value: {NUMBER_EXPECTED}\(1\+2j\) \(complex\)$"),
    Bad(
        'Value(Decimal("1.5"))', lambda: Value(Decimal("1.5")), TypeError,
        rf"^Value: {NUMBER_EXPECTED}Decimal\('1.5'\) \(decimal\.Decimal\)$",
    ),
    Bad('Value(float("nan"))', lambda: Value(float("nan")), ValueError, rf"^Value: got nan; {NOT_FINITE}$"),
    Bad('Value(float("inf"))', lambda: Value(float("inf")), ValueError, rf"^Value: got inf; {NOT_FINITE}$"),
    Bad("Value(-inf)", lambda: Value(-math.inf), ValueError, rf"^Value: got -inf; {NOT_FINITE}$"),
    Bad("Value(np.nan)", lambda: Value(np.float64("nan")), ValueError, rf"^Value: got nan; {NOT_FINITE}$"),
    Bad(
        "Value(10**400)", lambda: Value(10**400), ValueError,
        r"^Value: an integer of about 401 digits is too large for a float \(max ≈ 1\.8e308\)$",
    ),
    Bad("Value(ndarray)", lambda: Value(ARRAY), TypeError, rf"^Value: {ARRAY_MESSAGE}"),
    Bad(
        "Value(Value(1))", lambda: Value(Value(1.0)), TypeError,
        r"^Value: expected a number, got a Value \(1\.0\); pass v\.data$",
    ),
    # -- outside an op's domain ----------------------------------------------------------------------
    Bad(
        "log(0)", lambda: Value(0.0, label="p").log(), DomainError,
        r"^log: needs an input > 0, got a = 0\.0 \(label 'p'\)$",
    ),
    Bad("log(-1)", lambda: Value(-1.0).log(), DomainError, r"^log: needs an input > 0, got a = -1\.0$"),
    Bad("engine.log(0)", lambda: engine.log(0), DomainError, r"^log: needs an input > 0, got a = 0\.0$"),
    Bad(
        "log(5e-324)", lambda: Value(5e-324).log(), DomainError,
        r"^log: the local derivative is not finite here \(∂\(ln a\)/∂a = 1/a\), got a = 5e-324; "
        r"under no_grad\(\) the value alone is computed$",
    ),
    Bad(
        "x / Value(0)", lambda: x() / Value(0.0, label="d"), DomainError,
        r"^div: division by zero, got a = 2\.0 \(label 'x'\), b = 0\.0 \(label 'd'\)$",
    ),
    Bad(
        "x / 0", lambda: x() / 0, DomainError,
        r"^div: division by zero, got a = 2\.0 \(label 'x'\), b = 0\.0$",
    ),
    Bad(
        "1 / Value(0)", lambda: 1 / Value(0.0), DomainError,
        r"^div: division by zero, got a = 1\.0, b = 0\.0$",
    ),
    Bad(
        "0 ** -1", lambda: Value(0.0) ** -1, DomainError,
        r"^power: 0 to a negative power is a division by zero, got a = 0\.0, n = -1\.0$",
    ),
    Bad(
        "(-8) ** (1/3)", lambda: Value(-8.0) ** (1 / 3), DomainError,
        r"^power: a negative base to a fractional power is not real; "
        r"for the real root write -\(\(-x\) \*\* n\), "
        r"got a = -8\.0, n = 0\.333333\d*$",
    ),
    Bad(
        "0 ** 0.5 (with grad)", lambda: Value(0.0) ** 0.5, DomainError,
        r"^power: the local derivative is not finite here \(∂\(aⁿ\)/∂a = n·aⁿ⁻¹\), got a = 0\.0, n = 0\.5 "
        r"\(0\.0 cannot be raised to a negative power\); under no_grad\(\) the value alone is computed$",
    ),
    Bad(
        "Value(0) ** Value(2)", lambda: Value(0.0) ** Value(2.0), DomainError,
        r"^pow: with a Value exponent the base must be > 0, since ∂\(aᵇ\)/∂b = aᵇ·ln a; for a number "
        r"exponent write x \*\* 2, got a = 0\.0, b = 2\.0$",
    ),
    Bad(
        "(-2) ** x", lambda: (-2) ** x(), DomainError,
        r"^pow: with a Value exponent the base must be > 0, since ∂\(aᵇ\)/∂b = aᵇ·ln a; .*"
        r"got a = -2\.0, b = 2\.0 \(label 'x'\)$",
    ),
    # -- beyond float range ------------------------------------------------------------------------------
    Bad(
        "exp(1000)", lambda: Value(1000.0).exp(), DomainError,
        r"^exp: overflows float \(largest finite: z ≈ 709\.78\), got z = 1000\.0$",
    ),
    Bad(
        "x ** 1e10", lambda: x() ** 1e10, DomainError,
        r"^power: the result overflows float \(largest finite ≈ 1\.8e308\), got a = 2\.0 \(label 'x'\), "
        r"n = 10000000000\.0$",
    ),
    Bad(
        "1e-200 ** -1.5", lambda: Value(1e-200) ** -1.5, DomainError,
        r"^power: the local derivative is not finite here \(∂\(aⁿ\)/∂a = n·aⁿ⁻¹\), got a = 1e-200, n = -1\.5 "
        r"\(it overflows float\); under no_grad\(\) the value alone is computed$",
    ),
    # -- numbers that are not finite, as operands ------------------------------------------------------
    Bad("x + inf", lambda: x() + math.inf, ValueError, rf"^add: got inf; {NOT_FINITE}$"),
    Bad("x * nan", lambda: x() * float("nan"), ValueError, rf"^mul: got nan; {NOT_FINITE}$"),
    Bad("nan - x", lambda: float("nan") - x(), ValueError, rf"^sub: got nan; {NOT_FINITE}$"),
    Bad("x ** inf", lambda: x() ** math.inf, ValueError, rf"^power: got inf; {NOT_FINITE}$"),
    # -- things that are not numbers ---------------------------------------------------------------
    Bad('x + "a"', lambda: x() + "a", TypeError, rf"^add: {NUMBER_EXPECTED}'a' \(str\)$"),
    Bad('"a" + x', lambda: "a" + x(), TypeError, rf"^add: {NUMBER_EXPECTED}'a' \(str\)$"),
    Bad("x * None", lambda: x() * None, TypeError, rf"^mul: {NUMBER_EXPECTED}None \(NoneType\)$"),
    Bad("None * x", lambda: None * x(), TypeError, rf"^mul: {NUMBER_EXPECTED}None \(NoneType\)$"),
    Bad("x / None", lambda: x() / None, TypeError, rf"^div: {NUMBER_EXPECTED}None \(NoneType\)$"),
    Bad("None - x", lambda: None - x(), TypeError, rf"^sub: {NUMBER_EXPECTED}None \(NoneType\)$"),
    Bad('x ** "2"', lambda: x() ** "2", TypeError, rf"^power: {NUMBER_EXPECTED}'2' \(str\)$"),
    Bad("[1] * x", lambda: [1] * x(), TypeError, rf"^mul: {NUMBER_EXPECTED}\[1\] \(list\)$"),
    Bad("engine.exp('a')", lambda: engine.exp("a"), TypeError, rf"^exp: {NUMBER_EXPECTED}'a' \(str\)$"),
    # -- numpy arrays, either order ------------------------------------------------------------------
    Bad("x * ndarray", lambda: x() * ARRAY, TypeError, rf"^mul: {ARRAY_MESSAGE}"),
    Bad("ndarray * x", lambda: ARRAY * x(), TypeError, rf"^mul: {ARRAY_MESSAGE}"),
    Bad("ndarray + x", lambda: ARRAY + x(), TypeError, rf"^add: {ARRAY_MESSAGE}"),
    Bad("ndarray / x", lambda: ARRAY / x(), TypeError, rf"^div: {ARRAY_MESSAGE}"),
    Bad("x - ndarray", lambda: x() - ARRAY, TypeError, rf"^sub: {ARRAY_MESSAGE}"),
    Bad("ndarray ** x", lambda: ARRAY**x(), TypeError, rf"^pow: {ARRAY_MESSAGE}"),
    Bad("np.exp(x)", lambda: np.exp(x()), TypeError, r"operand 'Value' does not support ufuncs"),
    # -- a Value is not a bool, and is not ordered -----------------------------------------------
    Bad(
        "bool(Value(0.0))", lambda: bool(Value(0.0)), TypeError,
        r"^bool\(Value\): a Value has no truth value \(0\.0\); test its number, e\.g\. `if v\.data > 0:`, "
        r"or use `if v is not None:`$",
    ),
    Bad(
        "if x: ...", lambda: 1 if x() else 0, TypeError,
        r"^bool\(Value\): a Value has no truth value \(2\.0 \(label 'x'\)\)",
    ),
    Bad(
        "x < 1", lambda: x() < 1, TypeError,
        r"^'<' is not defined between Value and int: a Value is a node of a graph, not a number; "
        r"compare the numbers it holds, e\.g\. v\.data < 1$",
    ),
    Bad(
        "sorted(values)", lambda: sorted([x(), x()]), TypeError,
        r"^'<' is not defined between Value and Value",
    ),
    # -- n-ary ops ---------------------------------------------------------------------------------
    Bad(
        "linear(2 weights, 1 input)", lambda: engine.linear([x(), x()], [1.0], Value(0.0)), ValueError,
        r"^linear: 2 weights but 1 inputs$",
    ),
    Bad(
        "linear(number weights)", lambda: engine.linear([0.5], [x()], Value(0.0)), TypeError,
        r"^linear: weights must be Values \(the parameters to learn\), got 0\.5 \(float\) at weights\[0\]; "
        r"wrap a number as Value\(w\)$",
    ),
    Bad(
        "linear(bias=None)", lambda: engine.linear([x()], [1.0], None), TypeError,
        rf"^linear: bias: {NUMBER_EXPECTED}None",
    ),
    Bad("sum_values([])", lambda: engine.sum_values([]), ValueError, r"^sum_values: no terms to add$"),
    Bad(
        'sum_values(["a"])', lambda: engine.sum_values(["a"]), TypeError,
        rf"^sum_values: terms\[0\]: {NUMBER_EXPECTED}'a' \(str\)$",
    ),
    # -- backward and grad -------------------------------------------------------------------------
    Bad(
        'x.backward("a")', lambda: x().backward("a"), TypeError,
        rf"^backward: gradient: {NUMBER_EXPECTED}'a' \(str\)$",
    ),
    Bad(
        "x.backward(nan)", lambda: x().backward(math.nan), ValueError,
        rf"^backward: gradient: got nan; {NOT_FINITE}$",
    ),
    Bad(
        "engine.backward(2.0)", lambda: engine.backward(2.0), TypeError,
        r"^backward: root must be a Value, got 2\.0 \(float\); the node computed, e\.g\. the loss$",
    ),
    Bad(
        "grad(y, 3)", lambda: engine.grad(x(), 3), TypeError,
        r"^grad: inputs must be a Value or a list of Values, got 3 \(int\)$",
    ),
    # main also accepts a function here, so its message reads "a Value or a function".
    Bad("grad(3.0, x)", lambda: engine.grad(3.0, x()), TypeError,
        r"^grad: output must be a Value or a function to differentiate, got 3\.0 \(float\)$"),
]


@pytest.mark.parametrize("bad", ERRORS, ids=[bad.case for bad in ERRORS])
def test_bad_input_raises_a_clear_error(bad: Bad) -> None:
    """Exactly the documented exception type, with a message naming the op and the value."""
    with pytest.raises(BaseException) as caught:
        bad.call()
    assert type(caught.value) is bad.raises, f"{bad.case}: {type(caught.value).__name__}: {caught.value}"
    assert caught.match(bad.match)


def test_domain_error_is_a_value_error() -> None:
    """``except ValueError`` catches domain errors too."""
    assert issubclass(DomainError, ValueError)


def test_a_failed_op_or_backward_changes_nothing() -> None:
    """Nothing the user had is lost: operands, their gradients and the graph are as before."""
    a, b = Value(3.0, label="a"), Value(0.0, label="b")
    y = a * a
    y.backward()
    for failing in (lambda: a / b, lambda: b.log(), lambda: y.backward(math.nan), lambda: y.backward("1")):
        with pytest.raises((ValueError, TypeError)):
            failing()
        assert (a.data, a.grad, b.data, b.grad, y.grad) == (3.0, 6.0, 0.0, 0.0, 1.0)
    assert y.parents == (a, a)


# ---------------------------------------------------------------------------------------------------------
# Edge cases that are not errors: documented finite results and gradients.
# ---------------------------------------------------------------------------------------------------------
class Edge(NamedTuple):
    """``op(Value(at))`` gives exactly ``value``, and d/dx exactly ``slope`` (both finite)."""

    case: str
    op: Callable[[Value], Value]
    at: float
    value: float
    slope: float


LARGEST_EXP = 1.7976931348622732e308  # exp(709.782712893384), just below the largest float

RESULTS: list[Edge] = [
    Edge("sigmoid(1e4)", Value.sigmoid, 1e4, 1.0, 0.0),
    Edge("sigmoid(-1e4)", Value.sigmoid, -1e4, 0.0, 0.0),
    Edge("sigmoid(-700)", Value.sigmoid, -700.0, math.exp(-700.0), math.exp(-700.0)),  # e⁻⁷⁰⁰/(1 + e⁻⁷⁰⁰)
    Edge("tanh(1e4)", Value.tanh, 1e4, 1.0, 0.0),
    Edge("tanh(-1e4)", Value.tanh, -1e4, -1.0, 0.0),
    Edge("relu(0): slope 0, as in PyTorch", Value.relu, 0.0, 0.0, 0.0),
    Edge("relu(-0.0)", Value.relu, -0.0, 0.0, 0.0),
    Edge("relu(1e-300)", Value.relu, 1e-300, 1e-300, 1.0),
    Edge("exp(-1000) underflows to 0", Value.exp, -1000.0, 0.0, 0.0),
    Edge("exp(709.78), the largest", Value.exp, 709.782712893384, LARGEST_EXP, LARGEST_EXP),
    Edge("x ** 0 at 0: d/dx = 0", lambda v: v**0, 0.0, 1.0, 0.0),
    Edge("x ** 2 at 0", lambda v: v**2, 0.0, 0.0, 0.0),
    Edge("(-8) ** 3", lambda v: v**3, -8.0, -512.0, 192.0),
    Edge("(-2) ** -1", lambda v: v**-1, -2.0, -0.5, -0.25),
    Edge("log(5.6e-309), smallest input", Value.log, 5.56268464626801e-309, math.log(5.56268464626801e-309),
         1 / 5.56268464626801e-309),
]


@pytest.mark.parametrize("edge", RESULTS, ids=[edge.case for edge in RESULTS])
def test_edge_case_gives_its_documented_finite_result(edge: Edge) -> None:
    leaf = Value(edge.at)
    out = edge.op(leaf)
    out.backward()
    assert (out.data, leaf.grad) == (edge.value, edge.slope)
    assert math.isfinite(out.data) and math.isfinite(leaf.grad)


def test_zero_power_under_no_grad_is_computed() -> None:
    """0 ** 0.5 raises only because its derivative is infinite; without a graph the value is 0."""
    with engine.no_grad():
        assert (Value(0.0) ** 0.5).data == 0.0


def _exact_sigmoid(z: float) -> Decimal:
    with localcontext() as context:
        context.prec = 60
        return 1 / (1 + (-Decimal(z)).exp())


@pytest.mark.parametrize(
    "z", [-745.0, -744.0, -700.0, -100.0, -30.0, -1.0, 0.0, 1e-8, 1.0, 20.0, 30.0, 36.0, 37.0, 40.0, 1e4]
)
def test_sigmoid_is_within_an_ulp_and_inside_the_unit_interval_while_representable(z: float) -> None:
    """σ(z) within 1 ulp of the exact value (60-digit Decimal), strictly inside (0, 1) wherever
    the exact value rounds inside; a(1 − a) within 2⁻⁵² of σ'(z).

    The slope is computed from the rounded a, as the course writes it, so near
    saturation its error is absolute (≤ an ulp of 1), not relative.
    """
    leaf = Value(z)
    a = leaf.sigmoid()
    a.backward()
    exact = _exact_sigmoid(z)
    assert abs(Decimal(a.data) - exact) <= Decimal(math.ulp(float(exact)))
    assert 0.0 <= a.data <= 1.0
    assert (0.0 < a.data < 1.0) == (0.0 < float(exact) < 1.0)
    assert abs(Decimal(leaf.grad) - exact * (1 - exact)) <= Decimal(2.0**-52)


@pytest.mark.parametrize(
    "number", [np.float64(1.5), np.int64(3), np.float32(0.1), np.int32(-2), True], ids=repr
)
def test_numpy_scalars_and_bools_work_on_either_side(number: object) -> None:
    """numpy scalars are numbers: Value ∘ scalar and scalar ∘ Value both give a Value, as float(number)."""
    c = float(number)  # type: ignore[arg-type]
    leaf = Value(2.0)
    for out, expected in [
        (leaf * number, 2.0 * c), (number * leaf, c * 2.0), (number + leaf, c + 2.0),
        (leaf - number, 2.0 - c), (number / leaf, c / 2.0), (Value(number), c),  # type: ignore[arg-type]
    ]:
        assert isinstance(out, Value)
        assert out.data == expected
        assert type(out.data) is float


# ---------------------------------------------------------------------------------------------------------
# Untrusted input: engine and nn never run code hidden in data. `make lint` enforces it with ruff's
# security rules (S) and a ban on pickle-like imports (TID251); this checks that the configuration
# really flags each pattern, so that the rule cannot be switched off unnoticed.
# ---------------------------------------------------------------------------------------------------------
def test_the_lint_configuration_flags_code_that_runs_data(tmp_path) -> None:
    pytest.importorskip("ruff")
    sample = tmp_path / "sample.py"
    sample.write_text(
        '"""we never eval or pickle."""\nimport pickle\nimport marshal\nimport subprocess\nimport yaml\n'
        'x = eval("1")\nexec("x = 1")\npickle.loads(b"")\nmarshal.loads(b"")\nyaml.load("a")\n'
        'subprocess.run("dot", shell=True)\n'
    )
    config = Path(__file__).resolve().parent.parent / "pyproject.toml"
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "--config", str(config),
         "--output-format", "concise", str(sample)],
        capture_output=True, text=True, check=False,
    )
    found = {(int(line.split(":")[1]), line.split(": ")[1].split()[0])
             for line in result.stdout.splitlines() if line.startswith(str(sample))}
    assert {(2, "TID251"), (3, "TID251"), (6, "S307"), (7, "S102"), (8, "S301"), (9, "S302"),
            (10, "S506"), (11, "S602")} <= found, result.stdout + result.stderr
    assert not any(line == 1 for line, _ in found)  # the words in a docstring are not code

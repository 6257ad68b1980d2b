"""Gradient checking: autograd against central differences.

    ∂f/∂xᵢ ≈ (f(x + ε·eᵢ) − f(x − ε·eᵢ)) / 2ε        (error O(ε²))

and the course's relative error over all inputs, ‖g − g̃‖ / (‖g‖ + ‖g̃‖), where g
is the autograd gradient and g̃ the numerical one: below ~1e−7 is right, above
~1e−3 is almost certainly a bug.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from engine.backprop import grad
from engine.checks import check_bool, check_callable, check_instance, check_real, check_sequence, describe
from engine.modes import enable_grad, gc_paused
from engine.value import Value


class GradcheckError(AssertionError):
    """Autograd and central differences disagree beyond the tolerances."""


def numerical_grad(
    f: Callable[[], Value | float], values: Sequence[Value], eps: float = 1e-6
) -> list[float]:
    """Central differences of ``f()`` with respect to each Value's ``data``.

    ``f`` takes no arguments and recomputes its result from the current ``data`` of
    ``values`` (e.g. a loss over a model's parameters). Each ``data`` is nudged by
    ±eps in place and always restored, even if ``f`` raises. ``f`` runs with
    gradients enabled, as it would in training: some functions take a stabler
    route through the graph (the cross-entropy of a saturated sigmoid uses its z).
    """
    check_callable("numerical_grad", "f", f)
    values = _check_values("numerical_grad", values)
    eps = check_real("numerical_grad", "eps", eps, above=0.0)
    return _central_differences("numerical_grad", f, values, eps)


def _central_differences(
    function: str, f: Callable[[], Value | float], values: list[Value], eps: float
) -> list[float]:
    """(f(x + ε) − f(x − ε)) / 2ε for each Value x of ``values``; every ``data`` restored, even on errors.

    The step divided by is the one the floats took, (x + ε) − (x − ε), which is
    not 2ε once x is large (at 1e10 a float moves by 1.9e−6). A nudged number or
    a value of ``f`` that is not finite is refused (naming ``function``), and so
    is an ε too small to move x at all: the estimate would not be a derivative.
    """
    estimates = []
    with gc_paused():
        for i, value in enumerate(values):
            original = value.data
            upper_x, lower_x = original + eps, original - eps
            if upper_x - lower_x == 0.0:
                raise ValueError(
                    f"{function}: values[{i}].data ± eps is values[{i}].data itself ({original!r} ± {eps!r} "
                    "rounds to it): no step to measure; use an eps of at least "
                    f"{math.ulp(original):.3g} (the spacing of floats there)"
                )
            try:
                samples = []
                for nudged in (upper_x, lower_x):
                    if not math.isfinite(nudged):
                        raise ValueError(
                            f"{function}: values[{i}].data ± eps = {nudged!r} is not finite; use a smaller "
                            "eps"
                        )
                    value.data = nudged
                    with enable_grad():  # as in training, also inside a no_grad block (see numerical_grad)
                        result = f()
                    samples.append(_number_of(function, result, i, nudged))
            finally:
                value.data = original
            upper, lower = samples
            estimates.append((upper - lower) / (upper_x - lower_x))
    return estimates


def _number_of(function: str, result: object, i: int, nudged: float) -> float:
    """What ``f()`` returned, as a finite float (a Value's ``data``), or an error naming ``function``."""
    number = result.data if isinstance(result, Value) else check_real(
        function, "f()", result, finite=False, hint="f must return a Value or a number"
    )
    if not math.isfinite(number):
        raise ValueError(
            f"{function}: f() is {number!r} with values[{i}].data = {nudged!r}: central differences need "
            "finite values of f; use a smaller eps, or rescale f"
        )
    return number


@dataclass
class InputCheck:
    """One input's line in a gradcheck report."""

    name: str
    autograd: float
    numerical: float
    abs_error: float
    rel_error: float
    passed: bool


@dataclass(repr=False)
class GradcheckReport:
    """Per-input comparison, the course's overall relative error, and the verdict.

    ``str(report)`` and ``repr(report)`` are the table (so a bare ``gradcheck(...)``
    at the prompt shows it); ``report.inputs`` holds the numbers.
    """

    inputs: list[InputCheck]
    relative_error: float
    eps: float
    atol: float
    rtol: float
    passed: bool = field(init=False)

    def __post_init__(self) -> None:
        self.passed = all(check.passed for check in self.inputs)

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        header = f"{'input':<12} {'autograd':>14} {'numerical':>14} {'abs err':>10} {'rel err':>10}  ok"
        lines = [header, "-" * len(header)]
        for c in self.inputs:
            lines.append(
                f"{c.name:<12} {c.autograd:>14.8g} {c.numerical:>14.8g} {c.abs_error:>10.2e} "
                f"{c.rel_error:>10.2e}  {'yes' if c.passed else 'NO'}"
            )
        verdict = "PASS" if self.passed else "FAIL"
        lines.append(
            f"‖g−g̃‖/(‖g‖+‖g̃‖) = {self.relative_error:.2e}   eps={self.eps:g} atol={self.atol:g} "
            f"rtol={self.rtol:g}   {verdict}"
        )
        return "\n".join(lines)

    __repr__ = __str__


def relative_error(analytic: Sequence[float], numerical: Sequence[float]) -> float:
    """The course's ‖g − g̃‖₂ / (‖g‖₂ + ‖g̃‖₂); 0 when both are zero, nan where a number is nan or inf."""
    g = _numbers("relative_error", "analytic", analytic)
    g_tilde = _numbers("relative_error", "numerical", numerical)
    if len(g) != len(g_tilde):
        raise ValueError(
            f"relative_error: analytic and numerical must have one number per input each, got "
            f"{len(g)} and {len(g_tilde)}"
        )
    if not all(map(math.isfinite, (*g, *g_tilde))):
        return math.nan
    # Each number divided by the largest first: squares of 1e200 would overflow, of 1e-200 vanish.
    largest = max(map(abs, (*g, *g_tilde)), default=0.0)
    if largest == 0.0:
        return 0.0
    difference = math.hypot(*(a / largest - n / largest for a, n in zip(g, g_tilde)))
    return difference / (math.hypot(*(a / largest for a in g)) + math.hypot(*(n / largest for n in g_tilde)))


def gradcheck(
    f: Callable[..., Value],
    inputs: Sequence[Value | float],
    *,
    eps: float = 1e-6,
    atol: float = 1e-6,
    rtol: float = 1e-5,
    raise_on_failure: bool = True,
) -> GradcheckReport:
    """Compare autograd's ∂f/∂xᵢ with central differences for every input.

    ``f(*values)`` must return a Value. Input i passes when
    |g − g̃| ≤ atol + rtol·|g̃|. Returns a ``GradcheckReport``; raises
    ``GradcheckError`` with the report when an input fails and
    ``raise_on_failure`` is true. ``.grad`` of the inputs is left untouched.
    """
    check_callable("gradcheck", "f", f)
    items = check_sequence("gradcheck", "inputs", inputs, of="Values or numbers", min_length=1)
    eps = check_real("gradcheck", "eps", eps, above=0.0)
    atol = check_real("gradcheck", "atol", atol, minimum=0.0)
    rtol = check_real("gradcheck", "rtol", rtol, minimum=0.0)
    raise_on_failure = check_bool("gradcheck", "raise_on_failure", raise_on_failure)
    values = [
        x if isinstance(x, Value) else Value(check_real("gradcheck", f"inputs[{i}]", x), label=f"x{i}")
        for i, x in enumerate(items)
    ]
    with enable_grad():  # inside a no_grad block too: f must build its graph
        output = f(*values)
    if not isinstance(output, Value):
        raise TypeError(f"gradcheck: f must return a Value, got {describe(output)}")
    analytic = grad(output, values)
    numerical = _central_differences("gradcheck", lambda: f(*values), values, eps)
    checks = []
    for i, (value, a, n) in enumerate(zip(values, analytic, numerical)):
        abs_error = abs(a - n)
        scale = max(abs(a), abs(n))
        checks.append(
            InputCheck(
                name=value.label or f"x{i}",
                autograd=a,
                numerical=n,
                abs_error=abs_error,
                rel_error=abs_error / scale if scale > 0.0 else 0.0,
                passed=abs_error <= atol + rtol * abs(n),
            )
        )
    report = GradcheckReport(checks, relative_error(analytic, numerical), eps, atol, rtol)
    if raise_on_failure and not report.passed:
        raise GradcheckError("gradcheck failed:\n" + str(report))
    return report


def _check_values(function: str, values: object) -> list[Value]:
    """The Values whose ``data`` is nudged: each must be a Value (a number has no ``data`` to nudge)."""
    items = check_sequence(function, "values", values, of="Values")
    return [check_instance(function, f"values[{i}]", v, Value, "a Value") for i, v in enumerate(items)]


def _numbers(function: str, name: str, values: object) -> list[float]:
    """A sequence of real numbers as floats (nan and inf kept: a comparison may meet them)."""
    items = check_sequence(function, name, values, of="numbers")
    return [check_real(function, f"{name}[{i}]", x, finite=False) for i, x in enumerate(items)]

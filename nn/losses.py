"""Losses, written as in the course: the cost is the mean over the m samples.

    binary cross-entropy  L = −1/m Σᵢ [yᵢ ln aᵢ + (1−yᵢ) ln(1−aᵢ)]
    mean squared error    L = 1/m Σᵢ (aᵢ − yᵢ)²
    hinge                 L = 1/m Σᵢ max(0, 1 − yᵢsᵢ),  yᵢ ∈ {−1, +1}
"""

from __future__ import annotations

from collections.abc import Sequence

from engine import OPS, DomainError, Value, branch_on, is_grad_enabled, sum_values
from engine.checks import check_instance, check_real, check_sequence, describe

SATURATION = 1e-6
"""Below this distance of a sigmoid output from 0 or 1, the cross-entropy is taken from z."""

_SIGMOID = OPS["sigmoid"]


def _saturated(a: float) -> bool:
    # min(a, 1 − a) < SATURATION, written with | so that it also runs on arrays (engine.branch_on)
    return (a < SATURATION) | (1.0 - a < SATURATION)


def loss_taken_from_z(a: Value) -> bool:
    """True when ``binary_cross_entropy`` takes a's term from z as ln(1 + eᶻ) − yz, not from ln a and ln(1−a).

    That is when a = σ(z) lies within ``SATURATION`` of 0 or 1; the loss then has no
    node for a, so ∂J/∂a is not in its graph (``nn.compare_gradients`` notes it).
    """
    return a.op is _SIGMOID and bool(_saturated(a.data))


def _positive(z: float) -> bool:
    return z > 0.0


def _pairs(
    predictions: Sequence[Value], targets: Sequence[float], loss: str, name: str = "predictions"
) -> list[tuple[Value, float]]:
    """Check and pair predictions with targets: two lists of the same length m ≥ 1.

    A prediction is a Value (or a number, wrapped as a leaf); a target is a finite
    number (a Value's number is used as a constant). Wrong types are TypeErrors,
    wrong values ValueErrors, each naming the loss and the sample.
    """
    outputs = check_sequence(
        loss, name, predictions, of="Values (one model output per sample)", min_length=1,
        hint=_list_hint(predictions, "a", "[model(x) for x in X]"),
    )
    labels = check_sequence(
        loss, "targets", targets, of="numbers (one label per sample)", min_length=1,
        hint=_list_hint(targets, "y", "a list or 1-D array"),
    )
    if len(outputs) != len(labels):
        raise ValueError(f"{loss}: {len(outputs)} {name} but {len(labels)} targets")
    checked = []
    for i, (a, y) in enumerate(zip(outputs, labels)):
        if not isinstance(a, Value):
            if isinstance(a, (list, tuple)):
                raise TypeError(
                    f"{loss}: {name[:-1]} {i} must be one Value, got {describe(a)}; this loss takes "
                    "a model with one output unit, one output per sample"
                )
            a = Value(check_real(loss, f"{name[:-1]} {i}", a))
        number = y.data if isinstance(y, Value) else check_real(loss, f"target {i}", y)
        checked.append((a, number))
    return checked


def _list_hint(value: object, name: str, many: str) -> str:
    """How to pass one sample, or many, when a loss got something else than a list."""
    shape = getattr(value, "shape", None)
    if isinstance(shape, tuple) and len(shape) == 2:
        return f"a (1, m) row, as the course writes Y, goes in as {name.upper()}.ravel()"
    return f"for one sample pass [{name}]; for m samples, {many}"


def softplus(z: Value) -> Value:
    """ln(1 + eᶻ), built from engine ops without overflow: z + ln(1 + e⁻ᶻ) for z > 0.

    Its derivative is σ(z), so −[yz − ln(1 + eᶻ)] (the article's direct form of the
    cross-entropy) gives dz = a − y.
    """
    check_instance("softplus", "z", z, Value, "a Value", hint="wrap a number as Value(z)")
    if branch_on(z, _positive, "softplus: z > 0, so ln(1 + eᶻ) is written z + ln(1 + e⁻ᶻ)"):
        return z + (1.0 + (-z).exp()).log()
    return (1.0 + z.exp()).log()


def _finite_hint() -> str:
    if not is_grad_enabled():
        return "under no_grad() a sigmoid output keeps no z: compute the loss with gradients enabled"
    return "use a sigmoid output, whose z keeps the loss finite"


def _cross_entropy_term(a: Value, y: float, i: int) -> Value:
    """One sample's −[y ln a + (1−y) ln(1−a)], finite whenever the true value is."""
    saturated = f"σ output within {SATURATION:g} of 0 or 1 (then the loss is taken from z)"
    # loss_taken_from_z's test, through branch_on so that a compiled replay checks it per sample
    if a.op is _SIGMOID and branch_on(a, _saturated, saturated):
        # a = σ(z) rounds towards 0 or 1: use z, where ln a = −softplus(−z), ln(1−a) = −softplus(z).
        z = a.parents[0]
        return softplus(z) - y * z
    terms = []
    if y != 0.0:
        if a.data <= 0.0:
            raise DomainError(
                f"binary_cross_entropy: sample {i} has a = {a.data!r} with y = {y!r}: "
                f"y·ln a is −∞ ({_finite_hint()})"
            )
        terms.append(y * a.log())
    if y != 1.0:
        if a.data >= 1.0:
            raise DomainError(
                f"binary_cross_entropy: sample {i} has a = {a.data!r} with y = {y!r}: "
                f"(1−y)·ln(1−a) is −∞ ({_finite_hint()})"
            )
        terms.append((1.0 - y) * (1.0 - a).log())
    return -(terms[0] + terms[1]) if len(terms) == 2 else -terms[0]


def binary_cross_entropy(predictions: Sequence[Value], targets: Sequence[float]) -> Value:
    """L = −1/m Σᵢ [yᵢ ln aᵢ + (1−yᵢ) ln(1−aᵢ)] over m samples, targets y ∈ [0, 1].

    The graph follows the formula, so ∂L/∂aᵢ = 1/m·(−y/a + (1−y)/(1−a)) is visible on
    each a. Numerical choice: for a sigmoid output within 1e−6 of 0 or 1, that
    sample's term is computed from its z as ln(1+eᶻ) − yz (the same function,
    exact where a has rounded to 0 or 1, and dz = a − y still). A term with
    weight 0 (y = 1 or y = 0) is left out, so 0·ln 0 counts as 0. An output of
    exactly 0 or 1 that is not a sigmoid's, with a nonzero weight on its log,
    raises ``DomainError``: the loss is infinite there; so does an output outside
    [0, 1] (not a probability: ln a or ln(1−a) is undefined, or the loss negative).
    """
    pairs = _pairs(predictions, targets, "binary_cross_entropy")
    for i, (a, y) in enumerate(pairs):
        if not 0.0 <= y <= 1.0:
            raise ValueError(f"binary_cross_entropy: target {i} must be in [0, 1], got {y!r}")
        if not 0.0 <= a.data <= 1.0:
            raise DomainError(
                f"binary_cross_entropy: sample {i} has a = {a.data!r}, outside [0, 1]; a must be a "
                "probability (e.g. a sigmoid output), or ln a and ln(1−a) give a wrong or undefined loss"
            )
    terms = [_cross_entropy_term(a, y, i) for i, (a, y) in enumerate(pairs)]
    return sum_values(terms) * (1.0 / len(terms))


def mse(predictions: Sequence[Value], targets: Sequence[float]) -> Value:
    """L = 1/m Σᵢ (aᵢ − yᵢ)²; ∂L/∂aᵢ = 2(aᵢ − yᵢ)/m."""
    pairs = _pairs(predictions, targets, "mse")
    return sum_values([(a - y) ** 2 for a, y in pairs]) * (1.0 / len(pairs))


def hinge(scores: Sequence[Value], targets: Sequence[float]) -> Value:
    """L = 1/m Σᵢ max(0, 1 − yᵢsᵢ) for labels yᵢ ∈ {−1, +1} (micrograd's demo loss)."""
    pairs = _pairs(scores, targets, "hinge", "scores")
    for i, (_, y) in enumerate(pairs):
        if y not in (-1.0, 1.0):
            raise ValueError(f"hinge: target {i} must be −1 or +1, got {y!r}")
    return sum_values([(1.0 - y * s).relu() for s, y in pairs]) * (1.0 / len(pairs))

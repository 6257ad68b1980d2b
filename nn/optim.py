"""Stochastic gradient descent with momentum and weight decay.

For each parameter w with gradient g = ∂L/∂w (α the learning rate, μ the
momentum, λ the weight decay):

    v ← μv + (g + λw)
    w ← w − αv

With μ = 0 this is the course's plain update w := w − α dw. The velocity v starts
at 0, so the first step is w ← w − α(g + λw); this is PyTorch's ``torch.optim.SGD``
with ``dampening=0`` and ``nesterov=False``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Set

from engine import Value, zero_grad
from engine.checks import check_instance, check_real, describe, fail


class SGD:
    """Gradient descent on a list of parameters: v ← μv + (g + λw); w ← w − αv.

    ``lr`` is α > 0, ``momentum`` μ ∈ [0, 1), ``weight_decay`` λ ≥ 0 (an L2 penalty
    λ/2·Σw² added to the cost). Call ``zero_grad()`` before each ``backward()``
    (gradients accumulate) and ``step()`` after it. The parameters are leaves (Values
    you made, not computed by an op) and are fixed when the SGD is made: ``parameters``
    and ``velocities`` are read-only tuples.
    """

    def __init__(
        self,
        parameters: Iterable[Value],
        lr: float,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
    ) -> None:
        params = _parameter_list(parameters)
        seen: set[int] = set()
        for i, p in enumerate(params):
            check_instance("SGD", f"parameter {i}", p, Value, "a Value")
            if p.op is not None:
                # Its data is recomputed from its inputs by the graph: stepping it would change nothing real.
                raise ValueError(
                    f"SGD: parameter {i} ({p.label or 'unlabelled'}) is computed by the op '{p.op.name}', "
                    "not a leaf: SGD can only update leaves (the Values you made, e.g. model.parameters()); "
                    "pass the leaves it is computed from"
                )
            if id(p) in seen:
                # It would be stepped twice per step().
                raise ValueError(f"SGD: parameter {i} ({p.label or 'unlabelled'}) is listed twice")
            seen.add(id(p))
        self._lr, self._momentum, self._weight_decay = self.check_settings("SGD", lr, momentum, weight_decay)
        self._parameters = tuple(params)
        self._velocities = (0.0,) * len(params)

    @property
    def parameters(self) -> tuple[Value, ...]:
        """The Values this optimiser updates, fixed when it is made (make a new SGD for others)."""
        return self._parameters

    @parameters.setter
    def parameters(self, value: object) -> None:
        raise AttributeError(
            "SGD.parameters is fixed when the SGD is made: make a new SGD(parameters, lr=...) for others"
        )

    @property
    def velocities(self) -> tuple[float, ...]:
        """v for each parameter, in the order of ``parameters``: the state only ``step()`` changes."""
        return self._velocities

    @velocities.setter
    def velocities(self, value: object) -> None:
        raise AttributeError(
            "SGD.velocities is the optimiser's state, changed only by step(); "
            "make a new SGD to start from v = 0"
        )

    @staticmethod
    def check_settings(
        function: str, lr: object, momentum: object, weight_decay: object
    ) -> tuple[float, float, float]:
        """α > 0, μ ∈ [0, 1) and λ ≥ 0 as floats, or a TypeError/ValueError naming ``function``."""
        return (
            check_real(function, "lr", lr, above=0.0),
            check_real(function, "momentum", momentum, minimum=0.0, below=1.0),
            check_real(function, "weight_decay", weight_decay, minimum=0.0),
        )

    # Settings may change between steps (e.g. a schedule): each is checked when it is set.
    @property
    def lr(self) -> float:
        """The learning rate α > 0."""
        return self._lr

    @lr.setter
    def lr(self, value: float) -> None:
        self._lr = check_real("SGD", "lr", value, above=0.0)

    @property
    def momentum(self) -> float:
        """The momentum μ ∈ [0, 1) (0: the course's plain update)."""
        return self._momentum

    @momentum.setter
    def momentum(self, value: float) -> None:
        self._momentum = check_real("SGD", "momentum", value, minimum=0.0, below=1.0)

    @property
    def weight_decay(self) -> float:
        """The weight decay λ ≥ 0."""
        return self._weight_decay

    @weight_decay.setter
    def weight_decay(self, value: float) -> None:
        self._weight_decay = check_real("SGD", "weight_decay", value, minimum=0.0)

    def zero_grad(self) -> None:
        """Set every parameter's gradient to 0 (all or none, see ``engine.zero_grad``)."""
        zero_grad(self.parameters)

    def step(self) -> None:
        """One update of every parameter: v ← μv + (g + λw); w ← w − αv.

        All or nothing: if any new velocity or parameter would be nan or inf,
        ``FloatingPointError`` names the parameter (and the velocity when it is the
        velocity that overflows) and nothing is changed.
        """
        alpha, mu, decay = self._lr, self._momentum, self._weight_decay
        new_velocities = []
        new_data = []
        for i, (p, previous) in enumerate(zip(self._parameters, self._velocities, strict=True)):
            g = p.grad
            v = mu * previous + (g + decay * p.data)
            w = p.data - alpha * v
            if not math.isfinite(w):
                raise FloatingPointError(f"SGD.step: {_overflow(i, p, g, v, w, previous, alpha, mu, decay)}; "
                                         "no parameter was changed")
            new_velocities.append(v)
            new_data.append(w)
        for p, w in zip(self._parameters, new_data, strict=True):
            p.data = w
        self._velocities = tuple(new_velocities)

    def __repr__(self) -> str:
        return (
            f"SGD({len(self._parameters)} parameters, lr={self.lr:g}, momentum={self.momentum:g}, "
            f"weight_decay={self.weight_decay:g})"
        )


def _overflow(
    i: int, p: Value, g: float, v: float, w: float, previous: float, alpha: float, mu: float, decay: float
) -> str:
    """Why parameter ``i``'s update w − αv is not finite: its gradient, its velocity, or the step αv."""
    name = f"parameter {i} ({p.label or 'unlabelled'})"
    if not math.isfinite(g):
        return f"{name} would become {w!r} (grad {g!r}, data {p.data!r})"
    decay_text = f", λ = {decay:g}, w = {p.data!r}" if decay else ""
    if not math.isfinite(v):
        return (
            f"the velocity of {name} would become {v!r}: v ← μv + (g + λw) with μ = {mu:g}, "
            f"v = {previous!r}, g = {g!r}{decay_text}"
        )
    velocity = f" (v ← μv + (g + λw) with μ = {mu:g}, v = {previous!r}, g = {g!r}{decay_text})" if mu else ""
    return f"{name} would become {w!r}: w − αv with w = {p.data!r}, α = {alpha:g}, v = {v!r}{velocity}"


def _parameter_list(parameters: object) -> list:
    """SGD's parameters as a new list: an iterable of Values, not a model, a number or a string."""
    if hasattr(parameters, "parameters") and callable(parameters.parameters):
        fail(
            TypeError, "SGD", "parameters", "an iterable of Values", describe(parameters),
            "pass model.parameters(), not the model",
        )
    if isinstance(parameters, (str, bytes, Value)) or not hasattr(parameters, "__iter__"):
        fail(TypeError, "SGD", "parameters", "an iterable of Values", describe(parameters),
             "e.g. model.parameters()")
    if isinstance(parameters, (Mapping, Set)):
        fail(TypeError, "SGD", "parameters", "an ordered iterable of Values (a list or a tuple)",
             describe(parameters), "a dict or a set is refused: each velocity belongs to a parameter by "
             "its place, so the order matters; pass a list, e.g. model.parameters()")
    params = list(parameters)  # type: ignore[call-overload]
    if not params:
        fail(ValueError, "SGD", "parameters", "a non-empty iterable of Values", "an empty one")
    return params

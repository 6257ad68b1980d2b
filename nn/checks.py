"""Checks of the arrays the formulas are given (X, Y, the parameters, the output's domain).

They live apart from ``nn.formulas`` so the equations read without them. Each
error is a ValueError that names the caller, the array and its shape, and says
what shape the course's layout wants (columns are samples: X is (n_x, m)).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

from engine.checks import check_choice, check_instance
from nn.data import float_array
from nn.module import check_activation

Array = NDArray[np.float64]


Formula = TypeVar("Formula", bound=Callable[..., Any])


class FormulaShapeError(ValueError):
    """A formula's arrays do not fit: their shapes do not broadcast or multiply, or a gradient is not
    shaped like what it differentiates."""


def course_formula(formula: Formula) -> Formula:
    """Check a formula's arrays (its ``ArrayLike`` arguments) on the way in, so its body reads as the math.

    Each array argument becomes a float64 array, or a ``TypeError`` names the
    formula and the argument (text, None, complex numbers); arrays whose shapes
    do not fit (numpy cannot broadcast or multiply them) raise
    ``FormulaShapeError`` naming the formula and every argument's shape.
    """
    signature = inspect.signature(formula)
    parameters = list(signature.parameters.values())
    slots = [(k, p.name, "None" in str(p.annotation)) for k, p in enumerate(parameters)
             if str(p.annotation).startswith("ArrayLike")]  # (position, name, None allowed)
    name = formula.__name__

    @functools.wraps(formula)
    def checked(*args: Any, **kwargs: Any) -> Any:
        if kwargs or len(args) > len(parameters):  # the common call is positional: no binding needed
            try:
                bound = signature.bind(*args, **kwargs)
            except TypeError as error:
                raise TypeError(f"{name}: {error}") from None
            bound.apply_defaults()
            args = bound.args
        arrays = list(args)
        for k, argument, optional in slots:
            if k < len(arrays) and not (optional and arrays[k] is None):
                arrays[k] = float_array(arrays[k], name, argument, copy=False)
        try:
            return formula(*arrays)
        except (ValueError, IndexError) as error:  # numpy's words for shapes that do not fit
            if isinstance(error, FormulaShapeError) or str(error).startswith(f"{name}:"):
                raise
            shapes = ", ".join(f"{argument} {np.shape(arrays[k])}" for k, argument, _ in slots
                               if k < len(arrays) and arrays[k] is not None)
            raise FormulaShapeError(f"{name}: the shapes do not fit ({error}); got {shapes}") from None

    return checked  # type: ignore[return-value]


def check_batch(
    x: ArrayLike, y: ArrayLike, n_x: int, *, samples_as: str = "columns", caller: str = "backprop"
) -> tuple[Array, Array]:
    """X as (n_x, m) and Y as (1, m) float arrays, or a ValueError that names the shapes.

    ``samples_as="columns"`` (the course's layout) expects X of shape (n_x, m);
    ``samples_as="rows"`` expects (m, n_x) and transposes it. Y may be (1, m) or
    (m,) — with rows, also (m, 1). Labels must be finite and in [0, 1].
    """
    samples_as = check_choice(caller, "samples_as", samples_as, ("columns", "rows"))
    x_array = float_array(x, caller, "X", copy=False)
    xs = _features(x_array, n_x, samples_as, caller)
    m = xs.shape[1]
    ys = _labels(float_array(y, caller, "Y", copy=False), m, x_array.shape, samples_as, caller)
    if not np.all(np.isfinite(xs)):
        raise ValueError(f"{caller}: X holds a non-finite value at X{_at(_first_index(~np.isfinite(xs)))}")
    return xs, ys


def _features(xs: Array, n_x: int, samples_as: str, caller: str) -> Array:
    """X in the course's layout (n_x, m), or a ValueError naming its shape and the likely mistake."""
    course = f"(n_x, m) = ({n_x}, m)" if samples_as == "columns" else f"(m, n_x) = (m, {n_x})"
    if xs.ndim != 2:
        hint = "; for one sample or one feature reshape it, e.g. X.reshape(n_x, m)" if xs.ndim == 1 else ""
        raise ValueError(f"{caller}: X must be 2-D with shape {course}, got shape {xs.shape}{hint}")
    feature_axis = 0 if samples_as == "columns" else 1
    if xs.shape[feature_axis] != n_x:
        if xs.shape[1 - feature_axis] == n_x:
            other = "rows" if samples_as == "columns" else "columns"
            raise ValueError(
                f"{caller}: X has shape {xs.shape}, but with samples_as={samples_as!r} it must be {course}; "
                f"its samples look like {other}: pass X.T or samples_as={other!r}"
            )
        raise ValueError(
            f"{caller}: X has shape {xs.shape}, but the network takes n_x = {n_x} inputs, "
            f"so X must be {course}"
        )
    xs = xs.T if samples_as == "rows" else xs
    if xs.shape[1] == 0:
        raise ValueError(f"{caller}: no samples (m = 0)")
    return xs


def _labels(ys: Array, m: int, x_shape: tuple[int, ...], samples_as: str, caller: str) -> Array:
    """Y as (1, m) with every label in [0, 1], or a ValueError naming its shape or the bad label."""
    allowed = [(1, m), (m,)] if samples_as == "columns" else [(m, 1), (1, m), (m,)]
    if ys.shape not in allowed:
        if ys.ndim == 0:  # a scalar: no axis to count samples on
            y_samples = 0
        else:
            y_samples = ys.shape[-1] if samples_as == "columns" or ys.ndim < 2 else ys.shape[0]
        if ys.ndim in (1, 2) and ys.size == y_samples and y_samples != m:
            raise ValueError(
                f"{caller}: X has m = {m} samples (shape {x_shape}) but Y has {y_samples} (shape {ys.shape})"
            )
        hint = "; a single label is an array too, e.g. Y = np.array([[1.0]])" if ys.ndim == 0 else ""
        raise ValueError(
            f"{caller}: Y must have shape {' or '.join(map(str, allowed))} for m = {m} "
            f"sample{'s' if m != 1 else ''}, got {ys.shape}{hint}"
        )
    ys = ys.reshape(1, m)
    bad = ~(np.isfinite(ys) & (ys >= 0.0) & (ys <= 1.0))
    if bad.any():
        index = _first_index(bad)
        raise ValueError(f"{caller}: labels must be in [0, 1]; Y{_at(index)} = {float(ys[index])!r}")
    return ys


def check_params(
    params: dict[str, Any], caller: str = "check_params"
) -> tuple[dict[int, Array], dict[int, Array], dict[int, str]]:
    """W[l], b[l], g[l] keyed by l, checked: W[l] is (n[l], n[l−1]), b[l] is (n[l], 1), g[l] a known name.

    Errors name ``caller``, the function that was given ``params``.
    """
    check_instance(caller, "params", params, Mapping, "a dict {'W[1]': ..., 'b[1]': ..., 'g[1]': ..., ...}",
                   hint="see nn.params_from_model")
    weights: dict[int, Array] = {}
    biases: dict[int, Array] = {}
    names: dict[int, str] = {}
    layer = 1
    while f"W[{layer}]" in params:
        for key in (f"b[{layer}]", f"g[{layer}]"):
            if key not in params:
                raise ValueError(f"{caller}: params has W[{layer}] but no {key!r} (see params_from_model)")
        w = float_array(params[f"W[{layer}]"], caller, f"params['W[{layer}]']", copy=False)
        b = float_array(params[f"b[{layer}]"], caller, f"params['b[{layer}]']", copy=False)
        if w.ndim != 2:
            raise ValueError(
                f"{caller}: params: W[{layer}] must be 2-D (n[{layer}], n[{layer - 1}]), got shape {w.shape}"
            )
        if layer > 1 and w.shape[1] != weights[layer - 1].shape[0]:
            units = weights[layer - 1].shape[0]
            raise ValueError(
                f"{caller}: params: W[{layer}] has shape {w.shape} but layer {layer - 1} has {units} units "
                f"(W[{layer - 1}] is {weights[layer - 1].shape}), "
                f"so W[{layer}] must be ({w.shape[0]}, {units})"
            )
        if b.shape != (w.shape[0], 1):
            raise ValueError(
                f"{caller}: params: b[{layer}] must have shape ({w.shape[0]}, 1) to match W[{layer}], "
                f"got {b.shape}"
            )
        for key, array in ((f"W[{layer}]", w), (f"b[{layer}]", b)) if not _finite(w, b) else ():
            finite = np.isfinite(array)
            if not finite.all():
                index = _first_index(~finite)
                raise ValueError(
                    f"{caller}: params: {key} holds {float(array[index])!r} at {key}{_at(index)}; "
                    "parameters must be finite numbers (nan and inf would make every gradient nan)"
                )
        name = check_activation(params[f"g[{layer}]"], f"{caller}: params: g[{layer}]")
        weights[layer], biases[layer], names[layer] = w, b, name
        layer += 1
    if not weights:
        raise ValueError(
            f"{caller}: params has no 'W[1]': expected {{'W[1]': ..., 'b[1]': ..., 'g[1]': ..., ...}} "
            "(see params_from_model)"
        )
    return weights, biases, names


def check_shape(formula: str, name: str, array: Array, shape: tuple[int, ...], course: str) -> None:
    """A ``FormulaShapeError`` unless ``array`` has exactly ``shape``, the course's ``course`` (e.g.
    "b[l], (n[l], 1)"): numpy would otherwise broadcast a wrong shape into a wrong answer."""
    if array.shape != shape:
        raise FormulaShapeError(
            f"{formula}: {name} is {course} = {shape}, got shape {array.shape}"
            + _broadcast_note(array.shape, shape)
        )


def check_same_shape(
    formula: str, name: str, array: Array, other: str, reference: Array, course: str
) -> None:
    """A ``FormulaShapeError`` unless ``array`` has the shape of ``reference`` (a number goes with any):
    ``course`` names both as the course writes them, e.g. "Y and A[L], (1, m)"."""
    if array.shape != reference.shape and array.ndim and reference.ndim:
        raise FormulaShapeError(
            f"{formula}: {name} must have the shape of {other} ({course}), got {other} {reference.shape}, "
            f"{name} {array.shape}" + _broadcast_note(array.shape, reference.shape)
        )


def _broadcast_note(first: tuple[int, ...], second: tuple[int, ...]) -> str:
    try:
        return f"; numpy would broadcast them to {np.broadcast_shapes(first, second)}"
    except ValueError:
        return ""


def check_2d(formula: str, name: str, array: Array, course: str) -> None:
    """A ``FormulaShapeError`` unless ``array`` is 2-D, as the course's matrix ``course`` is."""
    if array.ndim != 2:
        raise FormulaShapeError(f"{formula}: {name} is {course}, 2-D, got shape {array.shape}")


def check_cross_entropy_domain(formula: str, a: Array, y: Array, terms: tuple[str, str]) -> None:
    """ℒ(a, y) and dℒ/da need a, y of one shape, y ∈ [0, 1], a ∈ [0, 1], a > 0 where y > 0 (the
    ``terms[0]`` of ln a) and a < 1 where y < 1 (``terms[1]``); else a ``FormulaShapeError`` or
    ``ValueError`` naming ``formula`` and the entry."""
    check_same_shape(formula, "y", y, "a", a, "one entry per sample")
    if np.all((a > 0.0) & (a < 1.0)) and np.all((y >= 0.0) & (y <= 1.0)):  # the usual case, at once
        return
    a, y = np.broadcast_arrays(a, y)
    for bad, what in (
        (~((y >= 0.0) & (y <= 1.0)), "y must be a label in [0, 1]"),
        (~((a >= 0.0) & (a <= 1.0)), "a must be a probability in [0, 1] (e.g. σ(z))"),
        ((y > 0.0) & (a <= 0.0), f"{terms[0]} is infinite at a = 0 with y > 0"),
        ((y < 1.0) & (a >= 1.0), f"{terms[1]} is infinite at a = 1 with y < 1"),
    ):
        if bad.any():
            at = _at(_first_index(bad)) if bad.ndim else ""
            raise ValueError(
                f"{formula}: {what}; got a{at} = {float(a[bad][0])!r}, y{at} = {float(y[bad][0])!r}"
            )


def check_output_domain(a: Array, y: Array, activation: str, layer: int, *, caller: str) -> None:
    """A non-sigmoid output must lie in [0, 1] and keep ln a (where y > 0) and ln(1−a) (where y < 1) finite.

    A sigmoid output needs no check: its dZ[L] = A[L] − Y is finite even where a
    has rounded to 0 or 1.
    """
    if activation == "sigmoid":
        return
    outside = ~((a >= 0.0) & (a <= 1.0))
    if outside.any():
        index = _first_index(outside)
        raise ValueError(
            f"{caller}: the cross-entropy needs outputs a in [0, 1] (probabilities, as a sigmoid output "
            f"gives); output activation {activation!r} gave A[{layer}]{_at(index)} = {float(a[index])!r}: "
            "use output_activation='sigmoid'"
        )
    bad = ((y > 0.0) & (a <= 0.0)) | ((y < 1.0) & (a >= 1.0))
    if bad.any():
        index = _first_index(bad)
        raise ValueError(
            f"{caller}: the cross-entropy needs 0 < a < 1 where the label weighs ln a or ln(1−a); output "
            f"activation {activation!r} gave A[{layer}]{_at(index)} = {float(a[index])!r} "
            f"with Y{_at(index)} = {float(y[index])!r}"
        )


def _finite(w: Array, b: Array) -> bool:
    """Every entry of W[l] and b[l] finite."""
    return bool(np.isfinite(w).all() and np.isfinite(b).all())


def _first_index(mask: NDArray[np.bool_]) -> tuple[int, ...]:
    return tuple(int(i) for i in np.argwhere(mask)[0])


def _at(index: tuple[int, ...]) -> str:
    """A matrix entry's position as written after the matrix: "[0, 3]"."""
    return "[" + ", ".join(map(str, index)) + "]"

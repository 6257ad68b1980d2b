"""Backprop derivations to check: the course's wiring of the equations, a second right one, wrong ones.

``nn.formulas.vectorized_backprop`` calls the course's equations in order. Here the
same backward pass is cut into swappable steps (a ``BackpropRules``), so that a
derivation, right or wrong, can be put in place of one step and checked against
autograd by ``nn.compare_gradients``. ``RULES`` names the course's wiring, a second
right one (dZ[L] by the chain rule), and deliberately wrong variants, among them
the slips of the source article; ``backprop_with_rules`` runs any of them and
checks that every step's result has the shape of what it differentiates.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import ArrayLike

from engine.checks import describe, fail, short_repr
from nn.checks import FormulaShapeError
from nn.formulas import (
    Array,
    ForwardPass,
    Grads,
    Params,
    dA_prev,
    db,
    dW,
    dZ_from_dA,
    dz_previous_layer,
    dz_sigmoid_cross_entropy,
    forward_for_backprop,
    g_prime,
    output_dA,
)

Rule = Callable[[ForwardPass, Grads, int], Array]
"""One backward step: (forward cache, gradients so far, layer l) -> an array."""


@dataclass(frozen=True)
class BackpropRules:
    """How the backward pass wires the formulas, one rule per step (swap one to test a derivation).

    Each rule gets the forward cache, the gradients so far and the layer l, and
    gives: ``output_da`` dA[L], ``output_dz`` dZ[L], ``dw`` dW[l], ``db`` db[l],
    ``da_prev`` dA[l−1] and ``dz_prev`` dZ[l−1] (both from layer l's dZ[l], for
    l ≥ 2). ``correct`` says whether the wiring is meant to be right.
    """

    name: str
    description: str
    output_da: Rule
    output_dz: Rule
    dw: Rule
    db: Rule
    da_prev: Rule
    dz_prev: Rule
    correct: bool = True


# -- the course's wiring: each step one of the named equations -----------------------------------
def _output_da(cache: ForwardPass, grads: Grads, layer: int) -> Array:
    return output_dA(cache.A[layer], cache.Y)


def _output_dz(cache: ForwardPass, grads: Grads, layer: int) -> Array:
    # A sigmoid output takes the simplified dZ[L] = A[L] − Y; any other output dA[L] ∗ g'[L](Z[L]).
    if cache.g[layer] == "sigmoid":
        return dz_sigmoid_cross_entropy(cache.A[layer], cache.Y)
    return _output_dz_by_chain_rule(cache, grads, layer)


def _output_dz_by_chain_rule(cache: ForwardPass, grads: Grads, layer: int) -> Array:
    return dZ_from_dA(grads[f"dA[{layer}]"], g_prime(cache.g[layer], cache.Z[layer], cache.A[layer]))


def _dw(cache: ForwardPass, grads: Grads, layer: int) -> Array:
    return dW(grads[f"dZ[{layer}]"], cache.A[layer - 1])


def _db(cache: ForwardPass, grads: Grads, layer: int) -> Array:
    return db(grads[f"dZ[{layer}]"])


def _da_prev(cache: ForwardPass, grads: Grads, layer: int) -> Array:
    return dA_prev(cache.W[layer], grads[f"dZ[{layer}]"])


def _dz_prev(cache: ForwardPass, grads: Grads, layer: int) -> Array:
    g_prime_prev = g_prime(cache.g[layer - 1], cache.Z[layer - 1], cache.A[layer - 1])
    return dz_previous_layer(cache.W[layer], grads[f"dZ[{layer}]"], g_prime_prev)


COURSE_RULES = BackpropRules(
    name="course",
    description="dZ[L] = A[L] − Y (sigmoid output), dW[l] = 1/m dZ[l] A[l−1]ᵀ, db[l] = 1/m Σ dZ[l], "
    "dA[l−1] = W[l]ᵀ dZ[l], dZ[l−1] = W[l]ᵀ dZ[l] ∗ g'[l−1](Z[l−1])",
    output_da=_output_da,
    output_dz=_output_dz,
    dw=_dw,
    db=_db,
    da_prev=_da_prev,
    dz_prev=_dz_prev,
)


# -- deliberately wrong variants: what the comparison must catch ---------------------------------
def wrong_dW_with_A_l(cache: ForwardPass, grads: Grads, layer: int) -> Array:
    """WRONG (the article's slip): dW[l] = 1/m dZ[l] A[l]ᵀ instead of A[l−1]ᵀ."""
    return dW(grads[f"dZ[{layer}]"], cache.A[layer])


def wrong_dZ_with_g_prime_of_layer_l(cache: ForwardPass, grads: Grads, layer: int) -> Array:
    """WRONG (the article's slip): dZ[l−1] = W[l]ᵀ dZ[l] ∗ g'[l](Z[l−1]), layer l's derivative at Z[l−1].

    It only shows when the two layers' activations differ (e.g. tanh hidden, sigmoid output).
    """
    g_prime_of_layer_l = g_prime(cache.g[layer], cache.Z[layer - 1])
    return dz_previous_layer(cache.W[layer], grads[f"dZ[{layer}]"], g_prime_of_layer_l)


def wrong_dW_without_1_over_m(cache: ForwardPass, grads: Grads, layer: int) -> Array:
    """WRONG: dW[l] = dZ[l] A[l−1]ᵀ, the 1/m of the cost left out (m times too large)."""
    return dW(grads[f"dZ[{layer}]"], cache.A[layer - 1]) * cache.m


def wrong_db_without_1_over_m(cache: ForwardPass, grads: Grads, layer: int) -> Array:
    """WRONG: db[l] = Σ dZ[l], the 1/m of the cost left out (m times too large)."""
    return db(grads[f"dZ[{layer}]"]) * cache.m


def wrong_dA_prev_with_dW(cache: ForwardPass, grads: Grads, layer: int) -> Array:
    """WRONG (the article's slip): dA[l−1] = dW[l]ᵀ dZ[l], the gradient in place of the weights W[l]."""
    return dA_prev(grads[f"dW[{layer}]"], grads[f"dZ[{layer}]"])


def wrong_dZ_prev_with_dW(cache: ForwardPass, grads: Grads, layer: int) -> Array:
    """WRONG (the article's slip): dZ[l−1] = dW[l]ᵀ dZ[l] ∗ g'[l−1](Z[l−1]), dW[l] in place of W[l]."""
    g_prime_prev = g_prime(cache.g[layer - 1], cache.Z[layer - 1], cache.A[layer - 1])
    return dz_previous_layer(grads[f"dW[{layer}]"], grads[f"dZ[{layer}]"], g_prime_prev)


def wrong_output_dA_with_ln(cache: ForwardPass, grads: Grads, layer: int) -> Array:
    """WRONG (the article's slip): dA[L] = −Y/ln(A[L]) + (1−Y)/(1−A[L]), ln(a) where a is meant.

    It only shows on samples with y ≠ 0 (the term has weight y).
    """
    a, y = cache.A[layer], cache.Y
    with np.errstate(divide="ignore", invalid="ignore"):
        return -y / np.log(a) + (1.0 - y) / (1.0 - a)


def variant(name: str, description: str, *, correct: bool = False, **steps: Rule) -> BackpropRules:
    """The course's wiring with ``steps`` (e.g. ``dw=my_dW``) swapped in; wrong unless ``correct``."""
    return replace(COURSE_RULES, name=name, description=description, correct=correct, **steps)


RULES: dict[str, BackpropRules] = {
    rules.name: rules
    for rules in (
        COURSE_RULES,
        variant(
            "output_chain_rule",
            "also right: dZ[L] = dA[L] ∗ g'[L](Z[L]) with dA[L] = −Y/A + (1−Y)/(1−A), "
            "the chain rule instead of the simplified A[L] − Y",
            correct=True,
            output_dz=_output_dz_by_chain_rule,
        ),
        variant(
            "dW_uses_A_l",
            "WRONG (article): dW[l] = 1/m dZ[l] A[l]ᵀ instead of A[l−1]ᵀ",
            dw=wrong_dW_with_A_l,
        ),
        variant(
            "g_prime_of_layer_l",
            "WRONG (article): dZ[l−1] = W[l]ᵀ dZ[l] ∗ g'[l](Z[l−1]) instead of g'[l−1]",
            dz_prev=wrong_dZ_with_g_prime_of_layer_l,
        ),
        variant(
            "missing_1_over_m",
            "WRONG: dW[l] = dZ[l] A[l−1]ᵀ and db[l] = Σ dZ[l], without the cost's 1/m",
            dw=wrong_dW_without_1_over_m,
            db=wrong_db_without_1_over_m,
        ),
        variant(
            "dW_transpose_in_dA",
            "WRONG (article): dZ[l−1] = dW[l]ᵀ dZ[l] ∗ g'[l−1](Z[l−1]), dW[l] for W[l]",
            da_prev=wrong_dA_prev_with_dW,
            dz_prev=wrong_dZ_prev_with_dW,
        ),
        variant(
            "dA_uses_ln_a",
            "WRONG (article): dA[L] = −Y/ln(A[L]) + (1−Y)/(1−A[L]), then dZ[L] = dA[L] ∗ g'[L](Z[L])",
            output_da=wrong_output_dA_with_ln,
            output_dz=_output_dz_by_chain_rule,
        ),
    )
}
"""The course's wiring, a second right one, and deliberately wrong variants, by name."""


def resolve_rules(
    rules: str | BackpropRules, function: str = "resolve_rules", name: str = "rules"
) -> BackpropRules:
    """``rules`` itself, or the ``BackpropRules`` named so in ``RULES``.

    Anything else is refused (TypeError for what is neither a name nor a
    ``BackpropRules``, ValueError listing the names), naming ``function`` and its
    argument ``name``.
    """
    if isinstance(rules, BackpropRules):
        return rules
    expected = f"a BackpropRules or one of {', '.join(map(repr, RULES))}"
    if not isinstance(rules, str):
        fail(TypeError, function, name, expected, describe(rules))
    if rules not in RULES:
        fail(ValueError, function, name, expected, short_repr(rules))
    return RULES[rules]


def backprop_with_rules(
    params: Params, X: ArrayLike, Y: ArrayLike, rules: str | BackpropRules = "course"
) -> Grads:
    """The vectorized backward pass, each step from ``rules`` (a name in ``RULES`` or a ``BackpropRules``).

    With the course's rules it equals ``nn.formulas.vectorized_backprop`` to the
    bit; takes and returns the same (X (n_x, m), Y (1, m) or (m,); {"dA[L]",
    "dZ[l]", "dW[l]", "db[l]", "dA[l−1]"}). A rule whose result is not shaped
    like what it differentiates (dW[l] like W[l], ...) raises
    ``FormulaShapeError`` naming the gradient and both shapes.
    """
    chosen = resolve_rules(rules, "backprop_with_rules")
    cache = forward_for_backprop(params, X, Y, caller="backprop_with_rules")
    grads: Grads = {}
    for step, layer, quantity, index in _steps(cache.L):
        _run_step(chosen, step, cache, grads, layer, quantity, index)
    return grads


def _steps(last: int) -> Iterator[tuple[str, int, str, int]]:
    """(rule, layer l, quantity, k) in the backward pass's order: the rule gives d(quantity)[k]."""
    yield "output_da", last, "A", last
    yield "output_dz", last, "Z", last
    for layer in range(last, 0, -1):
        yield "dw", layer, "W", layer
        yield "db", layer, "b", layer
        if layer > 1:
            yield "da_prev", layer, "A", layer - 1
            yield "dz_prev", layer, "Z", layer - 1


def _run_step(
    rules: BackpropRules, step: str, cache: ForwardPass, grads: Grads, layer: int, quantity: str, index: int
) -> None:
    """Run one rule; store its result as grads["dZ[l]"] (or dA, dW, db) if it is shaped like Z[l] (...)."""
    target = f"{quantity}[{index}]"
    key, shape = "d" + target, getattr(cache, quantity)[index].shape
    try:
        result = np.asarray(getattr(rules, step)(cache, grads, layer), dtype=float)
    except ValueError as error:
        message = f"backprop (rules {rules.name!r}): computing {key} failed: {error}"
        raise FormulaShapeError(message) from error
    if result.shape != shape:
        raise FormulaShapeError(
            f"backprop (rules {rules.name!r}): {key} has shape {result.shape} but {target} has shape "
            f"{shape}: a gradient has the shape of what it differentiates"
        )
    grads[key] = result

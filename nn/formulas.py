"""The hand-derived backprop formulas, one named function per equation, in numpy.

Notation is the course's: columns are samples, so X = A[0] has shape (n_x, m),
W[l] has shape (n[l], n[l−1]), b[l] has shape (n[l], 1) and Z[l], A[l] have
shape (n[l], m). Forward:

    Z[l] = W[l] A[l−1] + b[l]        A[l] = g[l](Z[l])

Where 1/m goes. The cost is J = 1/m Σᵢ ℒ(a⁽ⁱ⁾, y⁽ⁱ⁾) with the per-sample loss
ℒ(a, y) = −[y ln a + (1−y) ln(1−a)]. As in the course, dZ[l] and dA[l] are the
*per-sample* derivatives ∂ℒ/∂Z[l], ∂ℒ/∂A[l] (column i belongs to sample i, no
1/m in them); the 1/m of J enters only in dW[l] and db[l], which are ∂J/∂W[l],
∂J/∂b[l]. So ∂J/∂Z[l] = dZ[l]/m, which is what an autograd engine stores on a
z node when it differentiates J.

``backprop(params, X, Y)`` runs the forward pass and the backward pass from
these functions only; ``BackpropRules`` says how the backward pass wires them,
so a derivation (right or wrong) can be swapped in and checked
(``nn.compare.compare_gradients``). ``RULES`` names the course's wiring and
the deliberately wrong variants, among them the slips of the source article.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from nn.module import MLP

Array = NDArray[np.float64]


# ---------------------------------------------------------------------------
# Forward equations
# ---------------------------------------------------------------------------
def sigmoid(z: ArrayLike) -> Array:
    """a = σ(z) = 1/(1 + e⁻ᶻ), computed as e^z/(1 + e^z) for z < 0 so e^(−z) never overflows."""
    z = np.asarray(z, dtype=float)
    e = np.exp(-np.abs(z))
    return np.where(z >= 0.0, 1.0 / (1.0 + e), e / (1.0 + e))


def tanh(z: ArrayLike) -> Array:
    """a = tanh(z) = (eᶻ − e⁻ᶻ)/(eᶻ + e⁻ᶻ)."""
    return np.tanh(np.asarray(z, dtype=float))


def relu(z: ArrayLike) -> Array:
    """a = max(0, z)."""
    z = np.asarray(z, dtype=float)
    return np.where(z > 0.0, z, 0.0)


def identity(z: ArrayLike) -> Array:
    """a = z (the "linear" activation)."""
    return np.array(z, dtype=float)


ACTIVATION_FUNCTIONS: dict[str, Callable[[ArrayLike], Array]] = {
    "sigmoid": sigmoid,
    "tanh": tanh,
    "relu": relu,
    "linear": identity,
}
"""g by name, for every name in ``nn.ACTIVATIONS``."""


def linear_forward(weights: ArrayLike, a_prev: ArrayLike, bias: ArrayLike) -> Array:
    """Z[l] = W[l] A[l−1] + b[l]; b[l] of shape (n[l], 1) is broadcast over the m columns."""
    return np.asarray(weights, dtype=float) @ np.asarray(a_prev, dtype=float) + np.asarray(bias, dtype=float)


def activation(name: str, z: ArrayLike) -> Array:
    """A[l] = g[l](Z[l]) for the activation called ``name``."""
    return ACTIVATION_FUNCTIONS[_check_activation(name)](z)


# ---------------------------------------------------------------------------
# One neuron, element by element: the article's derivatives [1] to [6]
# ---------------------------------------------------------------------------
def loss(a: ArrayLike, y: ArrayLike) -> Array:
    """ℒ(a, y) = −[y ln a + (1−y) ln(1−a)] per sample (a term whose weight y or 1−y is 0 is left out).

    Leaving out a zero-weight term makes 0·ln 0 count as 0, as ``nn.losses`` does.
    """
    a, y = _floats(a, y)
    with np.errstate(divide="ignore"):
        first = np.where(y != 0.0, y * np.log(np.where(y != 0.0, a, 1.0)), 0.0)
        second = np.where(y != 1.0, (1.0 - y) * np.log(np.where(y != 1.0, 1.0 - a, 1.0)), 0.0)
    return -(first + second)


def cross_entropy_cost(a: ArrayLike, y: ArrayLike) -> float:
    """J = −1/m Σᵢ [y⁽ⁱ⁾ ln a⁽ⁱ⁾ + (1−y⁽ⁱ⁾) ln(1−a⁽ⁱ⁾)] over the m columns."""
    per_sample = loss(a, y)
    return float(np.sum(per_sample) / per_sample.shape[-1]) if per_sample.ndim else float(per_sample)


def dL_da(a: ArrayLike, y: ArrayLike) -> Array:
    """dℒ/da = −y/a + (1−y)/(1−a)   (the article's [1]).

    The article slips once in an intermediate step, writing −y/ln(a) for the
    derivative of −y ln a; it is −y/a. As in ``loss``, a term whose weight
    y or 1−y is 0 is left out, so a = 0 with y = 0 gives 1/(1−a), not nan.
    """
    a, y = _floats(a, y)
    first = np.divide(-y, a, out=np.zeros(np.broadcast(a, y).shape), where=y != 0.0)
    second = np.divide(1.0 - y, 1.0 - a, out=np.zeros(first.shape), where=y != 1.0)
    return first + second


def sigmoid_prime(a: ArrayLike) -> Array:
    """σ'(z) = da/dz = a(1−a), with a = σ(z)   (the article's [2])."""
    a = np.asarray(a, dtype=float)
    return a * (1.0 - a)


def tanh_prime(a: ArrayLike) -> Array:
    """tanh'(z) = 1 − a², with a = tanh(z)."""
    a = np.asarray(a, dtype=float)
    return 1.0 - a * a


def relu_prime(z: ArrayLike) -> Array:
    """relu'(z) = 1 if z > 0 else 0 (at the kink z = 0 it is taken as 0, as the engine and PyTorch do)."""
    return np.where(np.asarray(z, dtype=float) > 0.0, 1.0, 0.0)


def linear_prime(z: ArrayLike) -> Array:
    """g'(z) = 1 for the linear activation g(z) = z."""
    return np.ones_like(np.asarray(z, dtype=float))


def g_prime(name: str, z: ArrayLike, a: ArrayLike | None = None) -> Array:
    """g'[l](Z[l]) for the activation ``name``, elementwise.

    sigmoid: a(1−a); tanh: 1−a²; relu: 1 where z > 0 else 0; linear: 1. For
    sigmoid and tanh the derivative is written with a = g(z): pass the forward
    pass's A[l] as ``a``, or leave it out and it is recomputed from z.
    """
    name = _check_activation(name)
    if name in ("sigmoid", "tanh"):
        a = activation(name, z) if a is None else a
        return sigmoid_prime(a) if name == "sigmoid" else tanh_prime(a)
    return relu_prime(z) if name == "relu" else linear_prime(z)


def dz_sigmoid_cross_entropy(a: ArrayLike, y: ArrayLike) -> Array:
    """dz = dℒ/dz = a − y for a sigmoid output with the cross-entropy loss   (the article's [3]).

    Chain rule: dℒ/da · da/dz = [−y/a + (1−y)/(1−a)] · a(1−a) = a − y. Applied to
    whole matrices it is the vectorized dZ[L] = A[L] − Y (columns are samples).
    """
    a, y = _floats(a, y)
    return a - y


def dz_dw(x: ArrayLike) -> Array:
    """dz/dw = x for z = wᵀx + b   (the article's [4]); and dz/db = 1."""
    return np.asarray(x, dtype=float)


def dw_neuron(x: ArrayLike, a: ArrayLike, y: ArrayLike) -> Array:
    """dw = dℒ/dw = x(a − y) for one sigmoid neuron with the cross-entropy loss   (the article's [5]).

    Chain rule: dℒ/dw = dℒ/dz · dz/dw = (a − y)·x.
    """
    return dz_dw(x) * dz_sigmoid_cross_entropy(a, y)


def db_neuron(a: ArrayLike, y: ArrayLike) -> Array:
    """db = dℒ/db = dℒ/dz · dz/db = a − y   (the article's [6])."""
    return dz_sigmoid_cross_entropy(a, y)


def dw_chain_rule(x: ArrayLike, a: ArrayLike, y: ArrayLike) -> Array:
    """dw = dℒ/da · da/dz · dz/dw = [−y/a + (1−y)/(1−a)] · a(1−a) · x, the three factors multiplied out."""
    return dL_da(a, y) * sigmoid_prime(a) * dz_dw(x)


def db_chain_rule(a: ArrayLike, y: ArrayLike) -> Array:
    """db = dℒ/da · da/dz · dz/db = [−y/a + (1−y)/(1−a)] · a(1−a) · 1."""
    return dL_da(a, y) * sigmoid_prime(a)


def loss_direct(z: ArrayLike, y: ArrayLike) -> Array:
    """ℒ = −[yz − ln(1 + eᶻ)]: the cross-entropy of a = σ(z) written in z alone (direct computation).

    Uses ln a = −ln(1 + e⁻ᶻ) and ln(1−a) = −z − ln(1 + e⁻ᶻ). ln(1 + eᶻ) is
    evaluated as ``np.logaddexp(0, z)``, so large z does not overflow.
    """
    z, y = _floats(z, y)
    return -(y * z - np.logaddexp(0.0, z))


def dz_direct(z: ArrayLike, y: ArrayLike) -> Array:
    """dz by differentiating ℒ = −[yz − ln(1 + eᶻ)] in z directly: −[y − eᶻ/(1 + eᶻ)] = σ(z) − y = a − y.

    d/dz ln(1 + eᶻ) = eᶻ/(1 + eᶻ), which is σ(z); no dℒ/da or da/dz is needed.
    """
    return -(np.asarray(y, dtype=float) - sigmoid(z))


def dw_direct(x: ArrayLike, z: ArrayLike, y: ArrayLike) -> Array:
    """dw by differentiating ℒ = −[yz − ln(1 + eᶻ)] with z = wᵀx + b directly: −[yx − x·eᶻ/(1 + eᶻ)].

    The derivative of ln(1 + eᶻ) is eᶻ/(1 + eᶻ) = σ(z), so this is x(σ(z) − y) = x(a − y).
    """
    return -(dz_dw(x) * np.asarray(y, dtype=float) - dz_dw(x) * sigmoid(z))


def db_direct(z: ArrayLike, y: ArrayLike) -> Array:
    """db by differentiating ℒ = −[y(wᵀx + b) − ln(1 + e^(wᵀx+b))] in b directly: −[y − eᶻ/(1 + eᶻ)]·1.

    The inner derivative ∂(wᵀx + b)/∂b is 1, so db = dz = a − y.
    """
    return dz_direct(z, y)


# ---------------------------------------------------------------------------
# Vectorized backward equations (columns are samples)
# ---------------------------------------------------------------------------
def dW(dz: ArrayLike, a_prev: ArrayLike) -> Array:
    """dW[l] = 1/m dZ[l] A[l−1]ᵀ, shape (n[l], n[l−1]); m is the number of columns of dZ[l].

    The article writes dW[L] = 1/m dZ[L] A[L]ᵀ; the factor is A[L−1]ᵀ, the input of
    layer L (∂Z[l]/∂W[l] involves A[l−1], as dz/dw = x for one neuron).
    """
    dz = np.asarray(dz, dtype=float)
    return (dz @ np.asarray(a_prev, dtype=float).T) / dz.shape[1]


def db(dz: ArrayLike) -> Array:
    """db[l] = 1/m Σᵢ dZ[l]⁽ⁱ⁾ = 1/m np.sum(dZ[l], axis=1, keepdims=True), shape (n[l], 1)."""
    dz = np.asarray(dz, dtype=float)
    return np.sum(dz, axis=1, keepdims=True) / dz.shape[1]


def dA_prev(weights: ArrayLike, dz: ArrayLike) -> Array:
    """dA[l−1] = W[l]ᵀ dZ[l], shape (n[l−1], m): unit j of layer l−1 feeds every unit i of layer l.

    The article's last equation has dW[L]ᵀ here; it is the weights W[L]ᵀ
    (∂Z[l]/∂A[l−1] = W[l]), not their gradient.
    """
    return np.asarray(weights, dtype=float).T @ np.asarray(dz, dtype=float)


def dZ_from_dA(da: ArrayLike, g_prime_z: ArrayLike) -> Array:
    """dZ[l] = dA[l] ∗ g'[l](Z[l]) (∗ is elementwise): dℒ/dz = dℒ/da · da/dz per unit and sample."""
    return np.asarray(da, dtype=float) * np.asarray(g_prime_z, dtype=float)


def dz_previous_layer(weights: ArrayLike, dz: ArrayLike, g_prime_prev: ArrayLike) -> Array:
    """dz[l−1] = W[l]ᵀ dz[l] ∗ g'[l−1](z[l−1])   (the forum answer's result; with l = 2, dz[1]).

    Chain rule: dℒ/dz[l−1] = dℒ/da[l−1] · da[l−1]/dz[l−1], where
    dℒ/da[l−1] = Σᵢ dz[l]ᵢ w[l]ᵢ = W[l]ᵀ dz[l]. ``g_prime_prev`` is g'[l−1](Z[l−1]):
    the derivative of layer l−1's activation at layer l−1's Z. The article writes
    g'[L](Z[L−1]) (layer L's derivative) and dW[L]ᵀ (for W[L]ᵀ); both are slips.
    """
    return dZ_from_dA(dA_prev(weights, dz), g_prime_prev)


# ---------------------------------------------------------------------------
# A whole network: parameters, forward pass, backward pass
# ---------------------------------------------------------------------------
Params = dict[str, Any]
"""{"W[l]": (n[l], n[l−1]) array, "b[l]": (n[l], 1) array, "g[l]": activation name} for l = 1..L."""


def params_from_model(model: MLP) -> Params:
    """An MLP's parameters as the course's matrices: {"W[l]": ..., "b[l]": ..., "g[l]": name}.

    Row i of W[l] holds the weights of unit i of layer l (``W[l]_i,j`` in the
    model's labels), b[l] is a column; "g[l]" is layer l's activation name.
    The arrays are copies: changing them does not change the model.
    """
    params: Params = {}
    for index, layer in enumerate(model.layers, start=1):
        params[f"W[{index}]"] = np.array([[w.data for w in unit.w] for unit in layer.neurons], dtype=float)
        params[f"b[{index}]"] = np.array([[unit.b.data] for unit in layer.neurons], dtype=float)
        params[f"g[{index}]"] = layer.activation
    return params


@dataclass
class ForwardPass:
    """The forward pass's cache: W[l], b[l], g[l] and Z[l], A[l] keyed by l (A[0] = X); Y once known."""

    W: dict[int, Array]
    b: dict[int, Array]
    g: dict[int, str]
    Z: dict[int, Array]
    A: dict[int, Array]
    Y: Array | None = None

    @property
    def L(self) -> int:
        """The number of layers."""
        return len(self.W)

    @property
    def m(self) -> int:
        """The number of samples (columns)."""
        return self.A[0].shape[1]


def forward(params: Params, x: ArrayLike) -> ForwardPass:
    """Z[l] = W[l] A[l−1] + b[l], A[l] = g[l](Z[l]) for l = 1..L, from A[0] = X of shape (n_x, m)."""
    weights, biases, names = _unpack(params)
    a0 = np.asarray(x, dtype=float)
    if a0.ndim != 2 or a0.shape[0] != weights[1].shape[1]:
        raise ValueError(
            f"forward: X must have shape (n_x, m) = ({weights[1].shape[1]}, m) to match W[1] of shape "
            f"{weights[1].shape}, got {a0.shape}"
        )
    cache = ForwardPass(weights, biases, names, Z={}, A={0: a0})
    for layer in range(1, len(weights) + 1):
        cache.Z[layer] = linear_forward(weights[layer], cache.A[layer - 1], biases[layer])
        cache.A[layer] = activation(names[layer], cache.Z[layer])
    return cache


Grads = dict[str, Array]
"""{"dZ[l]", "dA[l]", "dW[l]", "db[l]"}: the backward pass's results, keyed in the course's notation."""

Rule = Callable[[ForwardPass, Grads, int], Array]
"""One backward step: (forward cache, gradients so far, layer l) -> an array."""


@dataclass(frozen=True)
class BackpropRules:
    """How the backward pass wires the formulas, one rule per step (swap one to test a derivation).

    Each rule gets the forward cache, the gradients so far and the layer l:
    ``output_da`` gives dA[L], ``output_dz`` dZ[L], ``dw`` dW[l], ``db`` db[l],
    ``da_prev`` dA[l−1], and ``hidden_dz`` dZ[l] from dA[l] for l < L.
    ``correct`` says whether the wiring is meant to be right.
    """

    name: str
    description: str
    output_da: Rule
    output_dz: Rule
    dw: Rule
    db: Rule
    da_prev: Rule
    hidden_dz: Rule
    correct: bool = True


def _output_da(cache: ForwardPass, grads: Grads, layer: int) -> Array:
    # dA[L] = −Y/A[L] + (1−Y)/(1−A[L]); inf where a sigmoid output rounded to 0 or 1 (then unused).
    with np.errstate(divide="ignore", invalid="ignore"):
        return dL_da(cache.A[layer], cache.Y)


def _output_dz(cache: ForwardPass, grads: Grads, layer: int) -> Array:
    # A sigmoid output takes the simplified dZ[L] = A[L] − Y; any other output dA[L] ∗ g'[L](Z[L]).
    if cache.g[layer] == "sigmoid":
        return dz_sigmoid_cross_entropy(cache.A[layer], cache.Y)
    return _hidden_dz(cache, grads, layer)


def _dw(cache: ForwardPass, grads: Grads, layer: int) -> Array:
    return dW(grads[f"dZ[{layer}]"], cache.A[layer - 1])


def _db(cache: ForwardPass, grads: Grads, layer: int) -> Array:
    return db(grads[f"dZ[{layer}]"])


def _da_prev(cache: ForwardPass, grads: Grads, layer: int) -> Array:
    return dA_prev(cache.W[layer], grads[f"dZ[{layer}]"])


def _hidden_dz(cache: ForwardPass, grads: Grads, layer: int) -> Array:
    # dZ[l] = dA[l] ∗ g'[l](Z[l]); also the chain-rule route at the output.
    return dZ_from_dA(grads[f"dA[{layer}]"], g_prime(cache.g[layer], cache.Z[layer], cache.A[layer]))


COURSE_RULES = BackpropRules(
    name="course",
    description="dZ[L] = A[L] − Y (sigmoid output), dW[l] = 1/m dZ[l] A[l−1]ᵀ, db[l] = 1/m Σ dZ[l], "
    "dA[l−1] = W[l]ᵀ dZ[l], dZ[l−1] = dA[l−1] ∗ g'[l−1](Z[l−1])",
    output_da=_output_da,
    output_dz=_output_dz,
    dw=_dw,
    db=_db,
    da_prev=_da_prev,
    hidden_dz=_hidden_dz,
)


# -- deliberately wrong variants: what the comparison must catch ------------
def wrong_dW_with_A_l(cache: ForwardPass, grads: Grads, layer: int) -> Array:
    """WRONG (the article's slip): dW[l] = 1/m dZ[l] A[l]ᵀ instead of A[l−1]ᵀ."""
    return dW(grads[f"dZ[{layer}]"], cache.A[layer])


def wrong_dZ_with_g_prime_of_next_layer(cache: ForwardPass, grads: Grads, layer: int) -> Array:
    """WRONG (the article's slip): dZ[l] = dA[l] ∗ g'[l+1](Z[l]), layer l+1's derivative at Z[l].

    Written for layer l−1 this is the article's g'[L](Z[L−1]); it only shows
    when the two layers' activations differ (e.g. tanh hidden, sigmoid output).
    """
    return dZ_from_dA(grads[f"dA[{layer}]"], g_prime(cache.g[layer + 1], cache.Z[layer]))


def wrong_dW_without_1_over_m(cache: ForwardPass, grads: Grads, layer: int) -> Array:
    """WRONG: dW[l] = dZ[l] A[l−1]ᵀ, the 1/m of the cost left out (m times too large)."""
    return dW(grads[f"dZ[{layer}]"], cache.A[layer - 1]) * cache.m


def wrong_db_without_1_over_m(cache: ForwardPass, grads: Grads, layer: int) -> Array:
    """WRONG: db[l] = Σ dZ[l], the 1/m of the cost left out (m times too large)."""
    return db(grads[f"dZ[{layer}]"]) * cache.m


def wrong_dA_prev_with_dW(cache: ForwardPass, grads: Grads, layer: int) -> Array:
    """WRONG (the article's slip): dA[l−1] = dW[l]ᵀ dZ[l], the gradient in place of the weights W[l]."""
    return dA_prev(grads[f"dW[{layer}]"], grads[f"dZ[{layer}]"])


def wrong_output_dA_with_ln(cache: ForwardPass, grads: Grads, layer: int) -> Array:
    """WRONG (the article's slip): dA[L] = −Y/ln(A[L]) + (1−Y)/(1−A[L]), ln(a) where a is meant.

    It only shows on samples with y ≠ 0 (the term has weight y).
    """
    a, y = cache.A[layer], cache.Y
    with np.errstate(divide="ignore", invalid="ignore"):
        return -y / np.log(a) + (1.0 - y) / (1.0 - a)


RULES: dict[str, BackpropRules] = {
    "course": COURSE_RULES,
    "output_chain_rule": replace(
        COURSE_RULES,
        name="output_chain_rule",
        description="also right: dZ[L] = dA[L] ∗ g'[L](Z[L]) with dA[L] = −Y/A + (1−Y)/(1−A), "
        "the chain rule instead of the simplified A[L] − Y",
        output_dz=_hidden_dz,
    ),
    "dW_uses_A_l": replace(
        COURSE_RULES,
        name="dW_uses_A_l",
        description="WRONG (article): dW[l] = 1/m dZ[l] A[l]ᵀ instead of A[l−1]ᵀ",
        dw=wrong_dW_with_A_l,
        correct=False,
    ),
    "g_prime_of_layer_l": replace(
        COURSE_RULES,
        name="g_prime_of_layer_l",
        description="WRONG (article): dZ[l−1] = W[l]ᵀ dZ[l] ∗ g'[l](Z[l−1]) instead of g'[l−1]",
        hidden_dz=wrong_dZ_with_g_prime_of_next_layer,
        correct=False,
    ),
    "missing_1_over_m": replace(
        COURSE_RULES,
        name="missing_1_over_m",
        description="WRONG: dW[l] = dZ[l] A[l−1]ᵀ and db[l] = Σ dZ[l], without the cost's 1/m",
        dw=wrong_dW_without_1_over_m,
        db=wrong_db_without_1_over_m,
        correct=False,
    ),
    "dW_transpose_in_dA": replace(
        COURSE_RULES,
        name="dW_transpose_in_dA",
        description="WRONG (article): dZ[l−1] = dW[l]ᵀ dZ[l] ∗ g'[l−1](Z[l−1]), dW[l] for W[l]",
        da_prev=wrong_dA_prev_with_dW,
        correct=False,
    ),
    "dA_uses_ln_a": replace(
        COURSE_RULES,
        name="dA_uses_ln_a",
        description="WRONG (article): dA[L] = −Y/ln(A[L]) + (1−Y)/(1−A[L]), then dZ[L] = dA[L] ∗ g'[L](Z[L])",
        output_da=wrong_output_dA_with_ln,
        output_dz=_hidden_dz,
        correct=False,
    ),
}
"""The course's wiring, a second right one, and deliberately wrong variants, by name."""


class FormulaShapeError(ValueError):
    """A backward-pass formula gave an array of the wrong shape (or shapes that do not multiply)."""


def backprop(params: Params, x: ArrayLike, y: ArrayLike, rules: str | BackpropRules = "course") -> Grads:
    """The vectorized forward and backward pass for the cost J = −1/m Σᵢ [y ln a + (1−y) ln(1−a)].

    ``x`` is X of shape (n_x, m) (columns are samples), ``y`` is Y of shape (1, m)
    or (m,). Returns {"dA[L]", "dZ[l]", "dW[l]", "db[l]", "dA[l−1]"} for
    l = L..1 (dA down to dA[1]), computed with ``rules`` (a name in ``RULES`` or
    a ``BackpropRules``):

        dA[L] = −Y/A[L] + (1−Y)/(1−A[L])         (per sample, no 1/m)
        dZ[L] = A[L] − Y                          (sigmoid output)
              = dA[L] ∗ g'[L](Z[L])               (any other output activation)
        dW[l] = 1/m dZ[l] A[l−1]ᵀ,  db[l] = 1/m np.sum(dZ[l], axis=1, keepdims=True)
        dA[l−1] = W[l]ᵀ dZ[l],      dZ[l−1] = dA[l−1] ∗ g'[l−1](Z[l−1])

    dZ and dA are per-sample derivatives of ℒ; dW and db are derivatives of J
    (see the module docstring on 1/m). A non-sigmoid output must stay where
    ln a and ln(1−a) are finite (a > 0 where y > 0, a < 1 where y < 1), else
    ValueError. A rule that yields a wrongly shaped array raises
    ``FormulaShapeError`` naming the gradient and both shapes.
    """
    chosen = resolve_rules(rules)
    n_x = _unpack(params)[0][1].shape[1]
    a0, labels = check_batch(x, y, n_x, caller="backprop")
    cache = forward(params, a0)
    cache.Y = labels
    last = cache.L
    _check_output_domain(cache)
    grads: Grads = {}
    _step(chosen, chosen.output_da, cache, grads, last, f"A[{last}]", cache.A[last])
    _step(chosen, chosen.output_dz, cache, grads, last, f"Z[{last}]", cache.Z[last])
    for layer in range(last, 0, -1):
        _step(chosen, chosen.dw, cache, grads, layer, f"W[{layer}]", cache.W[layer])
        _step(chosen, chosen.db, cache, grads, layer, f"b[{layer}]", cache.b[layer])
        if layer > 1:
            previous = layer - 1
            _step(chosen, chosen.da_prev, cache, grads, layer, f"A[{previous}]", cache.A[previous])
            _step(chosen, chosen.hidden_dz, cache, grads, previous, f"Z[{previous}]", cache.Z[previous])
    return grads


def check_batch(
    x: ArrayLike, y: ArrayLike, n_x: int, *, samples_as: str = "columns", caller: str = "backprop"
) -> tuple[Array, Array]:
    """X as (n_x, m) and Y as (1, m) float arrays, or a ValueError that names the shapes.

    ``samples_as="columns"`` (the course's layout) expects X of shape (n_x, m);
    ``samples_as="rows"`` expects (m, n_x) and transposes it. Y may be (1, m) or
    (m,) — with rows, (m, 1) or (m,). Labels must be finite and in [0, 1].
    """
    if samples_as not in ("columns", "rows"):
        raise ValueError(f"{caller}: samples_as must be 'columns' or 'rows', got {samples_as!r}")
    xs = np.asarray(x, dtype=float)
    ys = np.asarray(y, dtype=float)
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
    if samples_as == "rows":
        xs = xs.T
    m = xs.shape[1]
    allowed = [(1, m), (m,)] if samples_as == "columns" else [(m, 1), (m,)]
    if ys.shape not in allowed:
        y_samples = ys.shape[-1] if samples_as == "columns" or ys.ndim < 2 else ys.shape[0]
        if ys.ndim in (1, 2) and ys.size == y_samples and y_samples != m:
            raise ValueError(
                f"{caller}: X has m = {m} samples (shape {np.shape(x)}) but Y has {y_samples} "
                f"(shape {ys.shape})"
            )
        raise ValueError(
            f"{caller}: Y must have shape {' or '.join(map(str, allowed))} for m = {m} samples, "
            f"got {ys.shape}"
        )
    if m == 0:
        raise ValueError(f"{caller}: no samples (m = 0)")
    ys = ys.reshape(1, m)
    if not np.all(np.isfinite(xs)):
        raise ValueError(f"{caller}: X holds a non-finite value at X{_at(_first_index(~np.isfinite(xs)))}")
    bad = ~(np.isfinite(ys) & (ys >= 0.0) & (ys <= 1.0))
    if bad.any():
        index = _first_index(bad)
        raise ValueError(f"{caller}: labels must be in [0, 1]; Y{_at(index)} = {float(ys[index])!r}")
    return xs, ys


def _first_index(mask: NDArray[np.bool_]) -> tuple[int, ...]:
    return tuple(int(i) for i in np.argwhere(mask)[0])


def _at(index: tuple[int, ...]) -> str:
    """A matrix entry's position as written after the matrix: "[0, 3]"."""
    return "[" + ", ".join(map(str, index)) + "]"


def _step(
    rules: BackpropRules, rule: Rule, cache: ForwardPass, grads: Grads, layer: int, target: str,
    target_value: Array,
) -> None:
    """Run one rule for layer ``layer``; store its result as grads["d" + target] if shaped like target."""
    key, shape = "d" + target, target_value.shape
    try:
        result = np.asarray(rule(cache, grads, layer), dtype=float)
    except ValueError as error:
        raise FormulaShapeError(
            f"backprop (rules {rules.name!r}): computing {key} failed: {error}"
        ) from error
    if result.shape != shape:
        raise FormulaShapeError(
            f"backprop (rules {rules.name!r}): {key} has shape {result.shape} but {target} has shape "
            f"{shape}: a gradient has the shape of what it differentiates"
        )
    grads[key] = result


def _check_output_domain(cache: ForwardPass) -> None:
    """A non-sigmoid output must keep ln a (where y > 0) and ln(1−a) (where y < 1) finite."""
    last = cache.L
    if cache.g[last] == "sigmoid":
        return
    a, y = cache.A[last], cache.Y
    bad = ((y > 0.0) & (a <= 0.0)) | ((y < 1.0) & (a >= 1.0))
    if bad.any():
        index = _first_index(bad)
        raise ValueError(
            f"backprop: the cross-entropy needs 0 < a < 1 where the label weighs ln a or ln(1−a); output "
            f"activation {cache.g[last]!r} gave A[{last}]{_at(index)} = {float(a[index])!r} "
            f"with Y{_at(index)} = {float(y[index])!r}"
        )


def resolve_rules(rules: str | BackpropRules) -> BackpropRules:
    """``rules`` itself, or the ``BackpropRules`` named so in ``RULES`` (ValueError naming the choices)."""
    if isinstance(rules, BackpropRules):
        return rules
    if rules not in RULES:
        raise ValueError(f"unknown backprop rules {rules!r}; choose one of {', '.join(RULES)}")
    return RULES[rules]


def _check_activation(name: str) -> str:
    if name not in ACTIVATION_FUNCTIONS:
        raise ValueError(f"unknown activation {name!r}; choose one of {', '.join(ACTIVATION_FUNCTIONS)}")
    return name


def _floats(*arrays: ArrayLike) -> tuple[Array, ...]:
    return tuple(np.asarray(a, dtype=float) for a in arrays)


def _unpack(params: Params) -> tuple[dict[int, Array], dict[int, Array], dict[int, str]]:
    """W[l], b[l], g[l] keyed by l, checked: W[l] is (n[l], n[l−1]) and b[l] is (n[l], 1)."""
    weights: dict[int, Array] = {}
    biases: dict[int, Array] = {}
    names: dict[int, str] = {}
    layer = 1
    while f"W[{layer}]" in params:
        for key in (f"b[{layer}]", f"g[{layer}]"):
            if key not in params:
                raise ValueError(f"params has W[{layer}] but no {key!r} (see params_from_model)")
        w = np.asarray(params[f"W[{layer}]"], dtype=float)
        b = np.asarray(params[f"b[{layer}]"], dtype=float)
        if w.ndim != 2:
            raise ValueError(
                f"params: W[{layer}] must be 2-D (n[{layer}], n[{layer - 1}]), got shape {w.shape}"
            )
        if layer > 1 and w.shape[1] != weights[layer - 1].shape[0]:
            units = weights[layer - 1].shape[0]
            raise ValueError(
                f"params: W[{layer}] has shape {w.shape} but layer {layer - 1} has {units} units "
                f"(W[{layer - 1}] is {weights[layer - 1].shape}), "
                f"so W[{layer}] must be ({w.shape[0]}, {units})"
            )
        if b.shape != (w.shape[0], 1):
            raise ValueError(
                f"params: b[{layer}] must have shape ({w.shape[0]}, 1) to match W[{layer}], got {b.shape}"
            )
        weights[layer], biases[layer], names[layer] = w, b, _check_activation(params[f"g[{layer}]"])
        layer += 1
    if not weights:
        raise ValueError(
            "params has no 'W[1]': expected {'W[1]': ..., 'b[1]': ..., 'g[1]': ..., ...} "
            "(see params_from_model)"
        )
    return weights, biases, names

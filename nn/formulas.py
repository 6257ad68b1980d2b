"""The course's backprop equations, one named function each, in numpy, in the order they are taught.

Read from the top: one neuron first (z, a = σ(z), the loss ℒ and its derivatives
[1]–[6] by the chain rule and directly), then the same equations for a whole layer
of m samples, then a network's forward pass and ``vectorized_backprop``, which is
nothing but these equations called in order.

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

Elsewhere: ``nn.derivations`` wires these equations into swappable steps, with
deliberately wrong variants (the source article's slips among them) that
``nn.compare_gradients`` catches; ``nn.checks`` checks the arrays given here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from engine.checks import check_instance
from nn.checks import (
    FormulaShapeError,
    check_2d,
    check_batch,
    check_cross_entropy_domain,
    check_output_domain,
    check_params,
    check_same_shape,
    check_shape,
    course_formula,
)
from nn.data import float_array
from nn.module import MLP, Layer, check_activation, checked_parameters

Array = NDArray[np.float64]


# ---------------------------------------------------------------------------
# Forward: z = wᵀx + b, a = g(z); for a layer Z[l] = W[l] A[l−1] + b[l]
# ---------------------------------------------------------------------------
@course_formula
def linear_forward(weights: ArrayLike, a_prev: ArrayLike, bias: ArrayLike) -> Array:
    """Z[l] = W[l] A[l−1] + b[l]; b[l] of shape (n[l], 1) is broadcast over the m columns."""
    check_linear_forward(weights, a_prev, bias)
    return weights @ a_prev + bias


def check_linear_forward(weights: Array, a_prev: Array, bias: Array) -> None:
    """W[l] 2-D, A[l−1] (n[l−1], m) and b[l] (n[l], 1): a b[l] of shape (n[l],) would be added along rows."""
    check_2d("linear_forward", "weights", weights, "W[l], (n[l], n[l−1])")
    check_2d("linear_forward", "a_prev", a_prev, "A[l−1], (n[l−1], m)")
    check_shape("linear_forward", "bias", bias, (weights.shape[0], 1), "b[l], (n[l], 1)")


@course_formula
def sigmoid_array(z: ArrayLike) -> Array:
    """a = σ(z) = 1/(1 + e⁻ᶻ) elementwise, as e^z/(1 + e^z) for z < 0 so e^(−z) never overflows.

    The numpy twin of ``engine.sigmoid`` (which makes a graph node).
    """
    e = np.exp(-np.abs(z))
    return np.where(z >= 0.0, 1.0 / (1.0 + e), e / (1.0 + e))


@course_formula
def tanh_array(z: ArrayLike) -> Array:
    """a = tanh(z) = (eᶻ − e⁻ᶻ)/(eᶻ + e⁻ᶻ) elementwise."""
    return np.tanh(z)


@course_formula
def relu_array(z: ArrayLike) -> Array:
    """a = max(0, z) elementwise."""
    return np.where(z > 0.0, z, 0.0)


@course_formula
def linear_array(z: ArrayLike) -> Array:
    """a = z (the "linear" activation), as a new float array."""
    return np.array(z)


ACTIVATION_FUNCTIONS: dict[str, Callable[[ArrayLike], Array]] = {
    "sigmoid": sigmoid_array,
    "tanh": tanh_array,
    "relu": relu_array,
    "linear": linear_array,
}
"""g by name, for every name in ``nn.ACTIVATIONS``."""


@course_formula
def activation(name: str, z: ArrayLike) -> Array:
    """A[l] = g[l](Z[l]) for the activation called ``name``."""
    return ACTIVATION_FUNCTIONS[check_activation(name, "activation")](z)


# ---------------------------------------------------------------------------
# The loss of one sample, and the cost J over m samples
# ---------------------------------------------------------------------------
@course_formula
def loss(a: ArrayLike, y: ArrayLike) -> Array:
    """ℒ(a, y) = −[y ln a + (1−y) ln(1−a)] per sample (a term whose weight y or 1−y is 0 is left out).

    Leaving out a zero-weight term makes 0·ln 0 count as 0, as ``nn.losses`` does.
    ValueError where ℒ is undefined or infinite (a outside [0, 1], a = 0 with y > 0, ...).
    """
    check_cross_entropy_domain("loss", a, y, ("y ln a", "(1−y) ln(1−a)"))
    return _loss(a, y)


def _loss(a: Array, y: Array) -> Array:
    with np.errstate(divide="ignore"):
        first = np.where(y != 0.0, y * np.log(np.where(y != 0.0, a, 1.0)), 0.0)
        second = np.where(y != 1.0, (1.0 - y) * np.log(np.where(y != 1.0, 1.0 - a, 1.0)), 0.0)
    return -(first + second)


@course_formula
def cross_entropy_cost(a: ArrayLike, y: ArrayLike) -> float:
    """J = −1/m Σᵢ [y⁽ⁱ⁾ ln a⁽ⁱ⁾ + (1−y⁽ⁱ⁾) ln(1−a⁽ⁱ⁾)] over the m columns; A[L] and Y both (1, m), m ≥ 1.

    Any other shape is refused (a ``FormulaShapeError``): m is the number of
    columns, so samples as rows, (m, 1), would divide by 1.
    """
    check_same_shape("cross_entropy_cost", "y", y, "a", a, "Y and A[L], (1, m)")
    for name, array in (("a", a), ("y", y)):
        if array.ndim != 2 or array.shape[0] != 1:
            as_rows = array.ndim == 2 and array.shape[1] == 1
            rows = "; its samples look like rows: pass a.T and y.T" if as_rows else ""
            raise FormulaShapeError(
                f"cross_entropy_cost: {name} is {'A[L]' if name == 'a' else 'Y'}, (1, m) with one column per "
                f"sample, got shape {array.shape}{rows}"
            )
    if a.shape[1] == 0:
        raise ValueError(
            f"cross_entropy_cost: a has no columns, so m = 0 and 1/m is undefined; got shape {a.shape}"
        )
    check_cross_entropy_domain("cross_entropy_cost", a, y, ("y ln a", "(1−y) ln(1−a)"))
    return float(np.sum(_loss(a, y)) / a.shape[1])


# ---------------------------------------------------------------------------
# One neuron, by the chain rule: the article's derivatives [1] to [6]
# ---------------------------------------------------------------------------
@course_formula
def dL_da(a: ArrayLike, y: ArrayLike) -> Array:
    """[1] dℒ/da = −y/a + (1−y)/(1−a).

    The article slips once in an intermediate step, writing −y/ln(a) for the
    derivative of −y ln a; it is −y/a. As in ``loss``, a term whose weight
    y or 1−y is 0 is left out, so a = 0 with y = 0 gives 1/(1−a), not nan. ValueError
    where it is infinite or undefined (a = 0 with y > 0, a = 1 with y < 1, a outside [0, 1]).
    """
    check_cross_entropy_domain("dL_da", a, y, ("−y/a", "(1−y)/(1−a)"))
    return _dL_da(a, y)


def _dL_da(a: Array, y: Array) -> Array:
    first = np.divide(-y, a, out=np.zeros(np.broadcast(a, y).shape), where=y != 0.0)
    second = np.divide(1.0 - y, 1.0 - a, out=np.zeros(first.shape), where=y != 1.0)
    return first + second


@course_formula
def sigmoid_prime(a: ArrayLike) -> Array:
    """[2] σ'(z) = da/dz = a(1−a), with a = σ(z)."""
    return a * (1.0 - a)


@course_formula
def dz_sigmoid_cross_entropy(a: ArrayLike, y: ArrayLike) -> Array:
    """[3] dz = dℒ/dz = a − y for a sigmoid output with the cross-entropy loss.

    Chain rule: dℒ/da · da/dz = [−y/a + (1−y)/(1−a)] · a(1−a) = a − y. Applied to
    whole matrices it is the vectorized dZ[L] = A[L] − Y (columns are samples).
    """
    check_same_shape("dz_sigmoid_cross_entropy", "y", y, "a", a, "Y and A[L], (1, m)")
    return a - y


@course_formula
def dz_dw(x: ArrayLike) -> Array:
    """[4] dz/dw = x for z = wᵀx + b; and dz/db = 1."""
    return x


@course_formula
def dw_neuron(x: ArrayLike, a: ArrayLike, y: ArrayLike) -> Array:
    """[5] dw = dℒ/dw = dℒ/dz · dz/dw = x(a − y) for one sigmoid neuron with the cross-entropy loss."""
    return dz_dw(x) * dz_sigmoid_cross_entropy(a, y)


@course_formula
def db_neuron(a: ArrayLike, y: ArrayLike) -> Array:
    """[6] db = dℒ/db = dℒ/dz · dz/db = a − y."""
    return dz_sigmoid_cross_entropy(a, y)


@course_formula
def dw_chain_rule(x: ArrayLike, a: ArrayLike, y: ArrayLike) -> Array:
    """dw = dℒ/da · da/dz · dz/dw = [−y/a + (1−y)/(1−a)] · a(1−a) · x, the three factors multiplied out."""
    return dL_da(a, y) * sigmoid_prime(a) * dz_dw(x)


@course_formula
def db_chain_rule(a: ArrayLike, y: ArrayLike) -> Array:
    """db = dℒ/da · da/dz · dz/db = [−y/a + (1−y)/(1−a)] · a(1−a) · 1."""
    return dL_da(a, y) * sigmoid_prime(a)


# ---------------------------------------------------------------------------
# One neuron, by direct computation: ℒ written in z alone, then differentiated
# ---------------------------------------------------------------------------
@course_formula
def loss_direct(z: ArrayLike, y: ArrayLike) -> Array:
    """ℒ = −[yz − ln(1 + eᶻ)]: the cross-entropy of a = σ(z) written in z alone.

    Uses ln a = −ln(1 + e⁻ᶻ) and ln(1−a) = −z − ln(1 + e⁻ᶻ). ln(1 + eᶻ) is
    evaluated as ``np.logaddexp(0, z)``, so large z does not overflow. y must be a
    label in [0, 1], as for ``loss`` (ValueError).
    """
    _check_labels("loss_direct", y)
    return -(y * z - np.logaddexp(0.0, z))


def _check_labels(formula: str, y: Array) -> None:
    """A ValueError naming ``formula`` and the first y outside [0, 1] (or nan), as ``loss`` refuses it."""
    bad = ~((y >= 0.0) & (y <= 1.0))
    if bad.any():
        at = "[" + ", ".join(str(int(i)) for i in np.argwhere(bad)[0]) + "]" if bad.ndim else ""
        raise ValueError(f"{formula}: y must be a label in [0, 1]; got y{at} = {float(y[bad][0])!r}")


@course_formula
def dz_direct(z: ArrayLike, y: ArrayLike) -> Array:
    """dz by differentiating ℒ = −[yz − ln(1 + eᶻ)] in z directly: −[y − eᶻ/(1 + eᶻ)] = σ(z) − y = a − y.

    d/dz ln(1 + eᶻ) = eᶻ/(1 + eᶻ), which is σ(z); no dℒ/da or da/dz is needed.
    """
    _check_labels("dz_direct", y)
    return -(y - sigmoid_array(z))


@course_formula
def dw_direct(x: ArrayLike, z: ArrayLike, y: ArrayLike) -> Array:
    """dw by differentiating ℒ = −[yz − ln(1 + eᶻ)] with z = wᵀx + b directly: −[yx − x·eᶻ/(1 + eᶻ)].

    The derivative of ln(1 + eᶻ) is eᶻ/(1 + eᶻ) = σ(z), so this is x(σ(z) − y) = x(a − y).
    """
    _check_labels("dw_direct", y)
    return -(dz_dw(x) * y - dz_dw(x) * sigmoid_array(z))


@course_formula
def db_direct(z: ArrayLike, y: ArrayLike) -> Array:
    """db by differentiating ℒ = −[y(wᵀx + b) − ln(1 + e^(wᵀx+b))] in b directly: −[y − eᶻ/(1 + eᶻ)]·1.

    The inner derivative ∂(wᵀx + b)/∂b is 1, so db = dz = a − y.
    """
    _check_labels("db_direct", y)
    return -(y - sigmoid_array(z))


# ---------------------------------------------------------------------------
# g'(z) of the other activations (sigmoid's is [2] above)
# ---------------------------------------------------------------------------
@course_formula
def tanh_prime(a: ArrayLike) -> Array:
    """tanh'(z) = 1 − a², with a = tanh(z)."""
    return 1.0 - a * a


@course_formula
def relu_prime(z: ArrayLike) -> Array:
    """relu'(z) = 1 if z > 0 else 0 (at the kink z = 0 it is taken as 0, as the engine and PyTorch do);
    nan where z is nan (it is not hidden as 0)."""
    return np.where(z > 0.0, 1.0, np.where(np.isnan(z), np.nan, 0.0))


@course_formula
def linear_prime(z: ArrayLike) -> Array:
    """g'(z) = 1 for the linear activation g(z) = z."""
    return np.ones_like(z)


@course_formula
def g_prime(name: str, z: ArrayLike, a: ArrayLike | None = None) -> Array:
    """g'[l](Z[l]) for the activation ``name``, elementwise.

    sigmoid: a(1−a); tanh: 1−a²; relu: 1 where z > 0 else 0; linear: 1. For
    sigmoid and tanh the derivative is written with a = g(z): pass the forward
    pass's A[l] as ``a``, or leave it out and it is recomputed from z.
    """
    name = check_activation(name, "g_prime")
    if a is not None:
        check_same_shape("g_prime", "a", a, "z", z, "A[l] = g(Z[l]) and Z[l], (n[l], m)")
    if name in ("sigmoid", "tanh"):
        a = activation(name, z) if a is None else a
        return sigmoid_prime(a) if name == "sigmoid" else tanh_prime(a)
    return relu_prime(z) if name == "relu" else linear_prime(z)


# ---------------------------------------------------------------------------
# A layer of m samples: the vectorized backward equations (columns are samples)
# ---------------------------------------------------------------------------
@course_formula
def dW(dz: ArrayLike, a_prev: ArrayLike) -> Array:
    """dW[l] = 1/m dZ[l] A[l−1]ᵀ, shape (n[l], n[l−1]); m is the number of columns of dZ[l].

    The article writes dW[L] = 1/m dZ[L] A[L]ᵀ; the factor is A[L−1]ᵀ, the input of
    layer L (∂Z[l]/∂W[l] involves A[l−1], as dz/dw = x for one neuron).
    """
    m = _samples(dz, "dW", a_prev)
    return (dz @ a_prev.T) / m


@course_formula
def db(dz: ArrayLike) -> Array:
    """db[l] = 1/m Σᵢ dZ[l]⁽ⁱ⁾ = 1/m np.sum(dZ[l], axis=1, keepdims=True), shape (n[l], 1)."""
    m = _samples(dz, "db")
    return np.sum(dz, axis=1, keepdims=True) / m


@course_formula
def dA_prev(weights: ArrayLike, dz: ArrayLike) -> Array:
    """dA[l−1] = W[l]ᵀ dZ[l], shape (n[l−1], m): unit j of layer l−1 feeds every unit i of layer l.

    The article's last equation has dW[L]ᵀ here; it is the weights W[L]ᵀ
    (∂Z[l]/∂A[l−1] = W[l]), not their gradient.
    """
    return weights.T @ dz


@course_formula
def dZ_from_dA(da: ArrayLike, g_prime_z: ArrayLike) -> Array:
    """dZ[l] = dA[l] ∗ g'[l](Z[l]) (∗ is elementwise): dℒ/dz = dℒ/da · da/dz per unit and sample."""
    check_same_shape("dZ_from_dA", "g_prime_z", g_prime_z, "da", da, "g'[l](Z[l]) and dA[l], (n[l], m)")
    return da * g_prime_z


@course_formula
def dz_previous_layer(weights: ArrayLike, dz: ArrayLike, g_prime_prev: ArrayLike) -> Array:
    """dZ[l−1] = W[l]ᵀ dZ[l] ∗ g'[l−1](Z[l−1])   (the forum answer's result; with l = 2, dZ[1]).

    Chain rule: dℒ/dz[l−1] = dℒ/da[l−1] · da[l−1]/dz[l−1], where
    dℒ/da[l−1] = Σᵢ dz[l]ᵢ w[l]ᵢ = W[l]ᵀ dz[l]. ``g_prime_prev`` is g'[l−1](Z[l−1]):
    the derivative of layer l−1's activation at layer l−1's Z. The article writes
    g'[L](Z[L−1]) (layer L's derivative) and dW[L]ᵀ (for W[L]ᵀ); both are slips.
    """
    check_2d("dz_previous_layer", "weights", weights, "W[l], (n[l], n[l−1])")
    check_2d("dz_previous_layer", "dz", dz, "dZ[l], (n[l], m)")
    if weights.shape[0] != dz.shape[0]:
        raise FormulaShapeError(
            f"dz_previous_layer: W[l]ᵀ dZ[l] needs W[l] (n[l], n[l−1]) and dZ[l] (n[l], m) with the same "
            f"n[l]; got weights {weights.shape}, dz {dz.shape}"
        )
    da_prev = dA_prev(weights, dz)
    check_same_shape("dz_previous_layer", "g_prime_prev", g_prime_prev, "W[l]ᵀ dZ[l]", da_prev,
                     "g'[l−1](Z[l−1]) and dA[l−1], (n[l−1], m)")
    return dZ_from_dA(da_prev, g_prime_prev)


# ---------------------------------------------------------------------------
# A whole network: parameters, the forward pass, the backward pass
# ---------------------------------------------------------------------------
Params = dict[str, Any]
"""{"W[l]": (n[l], n[l−1]) array, "b[l]": (n[l], 1) array, "g[l]": activation name} for l = 1..L."""

Grads = dict[str, Array]
"""{"dZ[l]", "dA[l]", "dW[l]", "db[l]"}: the backward pass's results, keyed in the course's notation."""


def params_from_model(model: MLP) -> Params:
    """An MLP's parameters as the course's matrices: {"W[l]": ..., "b[l]": ..., "g[l]": name}.

    Row i of W[l] holds the weights of unit i of layer l (``W[l]_i,j`` in the
    model's labels), b[l] is a column; "g[l]" is layer l's activation name.
    The arrays are copies: changing them does not change the model.
    """
    params: Params = {}
    for index, layer in enumerate(_layers(model, "params_from_model"), start=1):
        params[f"W[{index}]"], params[f"b[{index}]"] = _matrices(layer, "data")
        params[f"g[{index}]"] = layer.activation
    return params


def grads_from_model(model: MLP) -> Grads:
    """Autograd's gradients as the course's matrices: {"dW[l]": ..., "db[l]": ...}, from each ``.grad``.

    Call it after ``cost.backward()``: dW[l] has W[l]'s shape (n[l], n[l−1]) and
    db[l] is a column, so they sit beside ``vectorized_backprop``'s dW[l], db[l].
    """
    grads: Grads = {}
    for index, layer in enumerate(_layers(model, "grads_from_model"), start=1):
        grads[f"dW[{index}]"], grads[f"db[{index}]"] = _matrices(layer, "grad")
    return grads


def _layers(model: MLP, caller: str) -> list[Layer]:
    check_instance(caller, "model", model, MLP, "an nn.MLP")
    checked_parameters(model, caller)  # a w or b replaced by a number has no .data or .grad to read
    return model.layers


def _matrices(layer: Layer, field: str) -> tuple[Array, Array]:
    """Layer l's W[l] (n[l], n[l−1]) and b[l] (n[l], 1) made of each parameter's ``data`` or ``grad``."""
    weights = np.array([[getattr(w, field) for w in unit.w] for unit in layer.neurons], dtype=float)
    biases = np.array([[getattr(unit.b, field)] for unit in layer.neurons], dtype=float)
    return weights, biases


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
    weights, biases, names = check_params(params, "forward")
    a0 = float_array(x, "forward", "X", copy=False)
    if a0.ndim != 2 or a0.shape[0] != weights[1].shape[1]:
        raise ValueError(
            f"forward: X must have shape (n_x, m) = ({weights[1].shape[1]}, m) to match W[1] of shape "
            f"{weights[1].shape}, got {a0.shape}"
        )
    return _forward(weights, biases, names, a0)


def _forward(
    weights: dict[int, Array], biases: dict[int, Array], names: dict[int, str], a0: Array
) -> ForwardPass:
    """``forward`` on parameters and X already checked."""
    cache = ForwardPass(weights, biases, names, Z={}, A={0: a0})
    for layer in range(1, len(weights) + 1):
        cache.Z[layer] = linear_forward(weights[layer], cache.A[layer - 1], biases[layer])
        cache.A[layer] = activation(names[layer], cache.Z[layer])
    return cache


def forward_for_backprop(params: Params, x: ArrayLike, y: ArrayLike, caller: str) -> ForwardPass:
    """The forward pass a backward pass starts from: X, Y and the output's domain checked, Y stored."""
    weights, biases, names = check_params(params, caller)
    a0, labels = check_batch(x, y, weights[1].shape[1], caller=caller)
    cache = _forward(weights, biases, names, a0)
    cache.Y = labels
    check_output_domain(cache.A[cache.L], labels, cache.g[cache.L], cache.L, caller=caller)
    return cache


@course_formula
def output_dA(a: ArrayLike, y: ArrayLike) -> Array:
    """dA[L] = −Y/A[L] + (1−Y)/(1−A[L]), [1] for each sample; inf where a sigmoid output rounded to 0 or 1."""
    check_same_shape("output_dA", "y", y, "a", a, "Y and A[L], (1, m)")
    with np.errstate(divide="ignore", invalid="ignore"):
        return _dL_da(a, y)


def vectorized_backprop(params: Params, X: ArrayLike, Y: ArrayLike) -> Grads:
    """The course's forward and backward pass over m samples, for J = −1/m Σᵢ [y ln a + (1−y) ln(1−a)].

    ``X`` is (n_x, m) (columns are samples), ``Y`` is (1, m) or (m,); ``params`` as
    made by ``params_from_model``. Returns {"dA[L]", "dZ[l]", "dW[l]", "db[l]",
    "dA[l−1]"} for l = L..1, each computed by the equation named beside it:

        dA[L] = −Y/A[L] + (1−Y)/(1−A[L])          output_dA (per sample, no 1/m)
        dZ[L] = A[L] − Y                           dz_sigmoid_cross_entropy (sigmoid output)
              = dA[L] ∗ g'[L](Z[L])                dZ_from_dA (any other output activation)
        dW[l] = 1/m dZ[l] A[l−1]ᵀ                  dW
        db[l] = 1/m np.sum(dZ[l], axis=1, keepdims=True)    db
        dA[l−1] = W[l]ᵀ dZ[l]                      dA_prev
        dZ[l−1] = W[l]ᵀ dZ[l] ∗ g'[l−1](Z[l−1])    dz_previous_layer

    dZ and dA are per-sample derivatives of ℒ; dW and db are derivatives of J
    (see the module docstring on 1/m). A non-sigmoid output must stay where
    ln a and ln(1−a) are finite (a > 0 where y > 0, a < 1 where y < 1), else
    ValueError; so must X, Y and ``params`` be shaped as above.
    """
    cache = forward_for_backprop(params, X, Y, caller="vectorized_backprop")
    A, Z, W, g, L = cache.A, cache.Z, cache.W, cache.g, cache.L
    grads: Grads = {f"dA[{L}]": output_dA(A[L], cache.Y)}
    if g[L] == "sigmoid":
        grads[f"dZ[{L}]"] = dz_sigmoid_cross_entropy(A[L], cache.Y)
    else:
        grads[f"dZ[{L}]"] = dZ_from_dA(grads[f"dA[{L}]"], g_prime(g[L], Z[L], A[L]))
    for layer in range(L, 0, -1):
        dZ = grads[f"dZ[{layer}]"]
        grads[f"dW[{layer}]"] = dW(dZ, A[layer - 1])
        grads[f"db[{layer}]"] = db(dZ)
        if layer > 1:
            prev = layer - 1
            grads[f"dA[{prev}]"] = dA_prev(W[layer], dZ)
            grads[f"dZ[{prev}]"] = dz_previous_layer(W[layer], dZ, g_prime(g[prev], Z[prev], A[prev]))
    return grads


def _samples(dz: Array, formula: str, a_prev: Array | None = None) -> int:
    """m, the number of columns of dZ[l] (one per sample): a FormulaShapeError if dZ (or A[l−1]) is
    not 2-D, a ValueError if m = 0 (1/m is undefined)."""
    if dz.ndim != 2:
        raise FormulaShapeError(
            f"{formula}: dz must be 2-D, dZ[l] of shape (n[l], m) with one column per sample, got shape "
            f"{dz.shape}"
        )
    if a_prev is not None:
        check_2d(formula, "a_prev", a_prev, "A[l−1], (n[l−1], m)")
    if dz.shape[1] == 0:
        raise ValueError(f"{formula}: dz has no columns, so m = 0 and 1/m is undefined; got shape {dz.shape}")
    return dz.shape[1]

"""The plain-float floor: every workload hand-written with Python floats and lists, no graph.

No scalar engine in Python can beat this: it does the arithmetic of forward and backward
and nothing else (no node objects, no topological order, the derivatives simplified by
hand, e.g. dz[L] = (a − y)/m for a sigmoid output under the cross-entropy).
"""

from __future__ import annotations

import math

from bench.workloads import CHAIN_SCALE

NAME = "floor"


class FloorMLP:
    """Weights as lists: ``layers[l][i] = [w row, b]``; tanh hidden layers, sigmoid output."""

    def __init__(self, weights: list) -> None:
        self.layers = [[[list(w), b] for w, b in layer] for layer in weights]


def moons_model(weights: list) -> FloorMLP:
    """A network holding a copy of ``weights``."""
    return FloorMLP(weights)


def _sigmoid(z: float) -> float:
    # The same stable form as chainrule's, so the numbers agree to the last bit where possible.
    if z >= 0.0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def moons_gradients(model: FloorMLP, xs: list, ys: list) -> tuple[float, list[float]]:
    """(L, [dW[1] row-major, db[1], dW[2], db[2], ...]) by the hand-derived backward pass.

    Per sample: dz[L] = (a[L] − y)/m, dW[l] += dz[l]·A[l−1]ᵀ, db[l] += dz[l],
    dA[l−1] = W[l]ᵀdz[l], dz[l−1] = dA[l−1]·(1 − A[l−1]²) (tanh).
    """
    layers = model.layers
    last = len(layers) - 1
    grads_w = [[[0.0] * len(w) for w, _ in layer] for layer in layers]
    grads_b = [[0.0] * len(layer) for layer in layers]
    m = len(xs)
    inv_m = 1.0 / m
    total = 0.0
    for x, y in zip(xs, ys):
        activations = [x]
        a = x
        for index, layer in enumerate(layers):
            out = []
            for w, b in layer:
                z = b
                for wj, aj in zip(w, a):
                    z += wj * aj
                out.append(_sigmoid(z) if index == last else math.tanh(z))
            activations.append(out)
            a = out
        prediction = a[0]
        total += -math.log(prediction) if y == 1.0 else -math.log(1.0 - prediction)
        dz = [(prediction - y) * inv_m]
        for index in range(last, -1, -1):
            below = activations[index]
            layer_w, layer_gw, layer_gb = layers[index], grads_w[index], grads_b[index]
            for gw, i in zip(layer_gw, range(len(dz))):
                d = dz[i]
                layer_gb[i] += d
                for j, aj in enumerate(below):
                    gw[j] += d * aj
            if index:
                d_below = [0.0] * len(below)
                for (w, _), d in zip(layer_w, dz):
                    for j, wj in enumerate(w):
                        d_below[j] += wj * d
                dz = [da * (1.0 - aj * aj) for da, aj in zip(d_below, below)]
    flat = []
    for gw, gb in zip(grads_w, grads_b):
        for row in gw:
            flat.extend(row)
        flat.extend(gb)
    return total * inv_m, flat


def moons_step(model: FloorMLP, xs: list, ys: list, lr: float) -> float:
    """Forward, backward and p ← p − lr·dp on every parameter; returns L before the update."""
    loss, flat = moons_gradients(model, xs, ys)
    position = 0
    for layer in model.layers:
        for unit in layer:
            w = unit[0]
            for j in range(len(w)):
                w[j] -= lr * flat[position]
                position += 1
        for unit in layer:
            unit[1] -= lr * flat[position]
            position += 1
    return loss


def leaf(number: float) -> float:
    """The floor's input is the number itself."""
    return number


def chain_gradient(start: float, end: float, n: int) -> float:
    """dx_n/dx_0: the chain rule multiplies n local derivatives CHAIN_SCALE (the + has 1)."""
    grad = 1.0
    for _ in range(n):
        grad *= CHAIN_SCALE
    return grad


def op_tree_gradients(a: list[float], b: list[float], pairs: list, levels: list) -> tuple[list, list]:
    """(∂S/∂a, ∂S/∂b): gradients go down the tree level by level, then into the factors."""
    grads = [1.0]
    for level in reversed(levels[:-1]):
        below = []
        for g in grads:
            below.append(g)
            below.append(g)
        grads = below[: len(level)]
    grad_a = [0.0] * len(a)
    grad_b = [0.0] * len(b)
    for (i, j), g in zip(pairs, grads):
        grad_a[i] += b[j] * g
        grad_b[j] += a[i] * g
    return grad_a, grad_b

"""What chainrule and micrograd adapters share: Values with ``data``, ``grad`` and ``backward()``.

``BinaryOpMLP`` and ``binary_op_loss`` are the network and loss a learner writes in
micrograd's style (z = sum((wᵢ·xᵢ ...), b), one binary op at a time): micrograd's W1
runs them with its Values, chainrule's *user* variant with chainrule's.
"""

from __future__ import annotations

from typing import Any


def gradients(loss: Any, parameters: list) -> tuple[float, list[float]]:
    """(L, dL/dp for each parameter): zero the parameters' grads, then one backward pass."""
    for p in parameters:
        p.grad = 0.0
    loss.backward()
    return loss.data, [p.grad for p in parameters]


def sgd_step(loss: Any, parameters: list, lr: float) -> float:
    """Zero the grads, backward, p ← p − lr·dp on every parameter; returns L before the update."""
    value, grads = gradients(loss, parameters)
    for p, g in zip(parameters, grads):
        p.data -= lr * g
    return value


def chain_gradient(start: Any, end: Any, n: int) -> float:
    """W2's dx_n/dx_0 by ``backward`` from the chain's end."""
    end.backward()
    return start.grad


def op_tree_gradients(a: list, b: list, pairs: list, levels: list) -> tuple[list, list]:
    """W4's (∂S/∂a, ∂S/∂b) by ``backward`` from the tree's total."""
    levels[-1][0].backward()
    return [v.grad for v in a], [v.grad for v in b]


class BinaryOpMLP:
    """``layers[l][i] = (w Values, b Value)``; tanh hidden layers, sigmoid output; built from
    ``value`` (a Value class with + * tanh sigmoid log), the way ``micrograd.nn.Neuron`` is."""

    def __init__(self, weights: list, value: Any) -> None:
        self.layers = [[([value(w) for w in row], value(b)) for row, b in layer] for layer in weights]

    def __call__(self, x: list[float]) -> Any:
        a = x
        last = len(self.layers) - 1
        for index, layer in enumerate(self.layers):
            zs = [sum((wi * xi for wi, xi in zip(w, a)), b) for w, b in layer]
            a = [z.sigmoid() if index == last else z.tanh() for z in zs]
        return a[0]

    def parameters(self) -> list:
        # The order of chainrule's named_parameters(): W[l] row by row, then b[l], layer by layer.
        params = []
        for layer in self.layers:
            params.extend(w for row, _ in layer for w in row)
            params.extend(b for _, b in layer)
        return params


def binary_op_gradients(model: BinaryOpMLP, xs: list, ys: list) -> tuple[float, list[float]]:
    """(L, gradients in chainrule's ``named_parameters`` order) of the micrograd-style network."""
    return gradients(binary_op_loss(model, xs, ys), model.parameters())


def binary_op_step(model: BinaryOpMLP, xs: list, ys: list, lr: float) -> float:
    """Forward, backward and p ← p − lr·dp, as in micrograd's demo; returns L before the update."""
    return sgd_step(binary_op_loss(model, xs, ys), model.parameters(), lr)


def binary_op_loss(model: BinaryOpMLP, xs: list, ys: list) -> Any:
    """L = −1/m Σ [y ln a + (1−y) ln(1−a)], leaving out the term whose weight is 0, as chainrule does."""
    terms = []
    for x, y in zip(xs, ys):
        a = model(x)
        terms.append(-(a.log()) if y == 1.0 else -((1.0 - a).log()))
    return sum(terms) * (1.0 / len(terms))

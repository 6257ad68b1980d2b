"""What chainrule and micrograd adapters share: Values with ``data``, ``grad`` and ``backward()``."""

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

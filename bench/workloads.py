"""What every engine computes in the benchmark: the data, the weights and the workload sizes.

Each engine module (``chainrule_adapter``, ``micrograd_adapter``, ``floor``) implements the
same functions on this shared input, so their results can be compared number for number:

- ``moons_model(weights)`` and ``moons_step(model, xs, ys, lr)``: W1, one full-batch SGD step
  of a 2-16-16-1 network (tanh hidden layers, sigmoid output, binary cross-entropy
  L = −1/m Σᵢ [yᵢ ln aᵢ + (1−yᵢ) ln(1−aᵢ)]), returning L before the update;
  ``moons_gradients(model, xs, ys)`` returns (L, dW/db in ``named_parameters`` order).
- ``leaf(number)``: the engine's input (a float for the floor). The forward passes of W2 and
  W4 are ``chain`` and ``op_tree`` below, the same code for every engine.
- ``chain_gradient(start, end, n)``: W2, dx_n/dx_0 after ``chain`` (n steps of
  x ← x·CHAIN_SCALE + CHAIN_SHIFT, 2n nodes); CHAIN_SCALEⁿ in real arithmetic.
- ``products_graph(xs, ys)``: W3, Σᵢ xᵢyᵢ built from leaves made beforehand; returns
  (root, number of nodes created). Engines with a graph only.
- ``op_tree_gradients(a, b, pairs, levels)``: W4, (∂S/∂a, ∂S/∂b) after ``op_tree``.
"""

from __future__ import annotations

import math
import random
from typing import Any

LAYER_SIZES = (16, 16, 1)
NIN = 2
SEED = 0
SAMPLES = 100
LEARNING_RATE = 0.5
LOSS_STEPS = 20

CHAIN_SCALE = 1.0001  # 1.0001 ** 1e6 ≈ e¹⁰⁰ ≈ 2.7e43: large but finite, and so is dx_n/dx_0
CHAIN_SHIFT = 0.0001
CHAIN_START = 0.5

LEAF_POOL = 1000  # W4 reads its factors from pools of this many leaves


def moons(m: int = SAMPLES, noise: float = 0.1, seed: int = SEED) -> tuple[list[list[float]], list[float]]:
    """Two interleaved half circles (label 0 on top, 1 below), with Gaussian noise; plain floats."""
    rng = random.Random(seed)
    xs, ys = [], []
    for i in range(m):
        label = i % 2
        t = math.pi * (i // 2) / max(1, (m - 1) // 2)
        u, v = (math.cos(t), math.sin(t)) if label == 0 else (1.0 - math.cos(t), 0.5 - math.sin(t))
        xs.append([u + rng.gauss(0.0, noise), v + rng.gauss(0.0, noise)])
        ys.append(float(label))
    return xs, ys


def initial_weights(seed: int = SEED) -> list[list[tuple[list[float], float]]]:
    """chainrule's ``MLP(2, [16, 16, 1], seed)`` weights as numbers: per layer, per unit, (w row, b)."""
    from nn import MLP

    model = MLP(NIN, list(LAYER_SIZES), activation="tanh", output_activation="sigmoid", seed=seed)
    return [
        [([w.data for w in neuron.w], neuron.b.data) for neuron in layer.neurons]
        for layer in model.layers
    ]


def pool(size: int, offset: float) -> list[float]:
    """``size`` distinct numbers in [0.5, 1.5): factors for W3 and W4 that keep sums moderate."""
    return [0.5 + ((i * 0.6180339887498949 + offset) % 1.0) for i in range(size)]


def tree_factor_indices(products: int) -> list[tuple[int, int]]:
    """For W4: product k multiplies a[k mod LEAF_POOL] by b[7k mod LEAF_POOL]."""
    return [(k % LEAF_POOL, (7 * k) % LEAF_POOL) for k in range(products)]


def chain(x: Any, n: int) -> Any:
    """W2's forward pass: n steps of x ← x·CHAIN_SCALE + CHAIN_SHIFT (floats or an engine's Values)."""
    for _ in range(n):
        x = x * CHAIN_SCALE + CHAIN_SHIFT
    return x


def op_tree(a: list, b: list, pairs: list[tuple[int, int]]) -> list[list]:
    """W4's forward pass: the products a[i]·b[j], then pairwise sums level by level to one total.

    Returns every level (products first, the total last): len(pairs) multiplications and
    len(pairs) − 1 additions, all binary. Level k+1's item i is level k's 2i + (2i+1), or
    level k's last item carried up unchanged when level k has odd length.
    """
    level = [a[i] * b[j] for i, j in pairs]
    levels = [level]
    while len(level) > 1:
        paired = [level[k] + level[k + 1] for k in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        levels.append(paired)
        level = paired
    return levels

"""chainrule running the benchmark workloads, written the way its README teaches.

The model is ``nn.MLP``; the weights are set from the shared initial weights (which are
chainrule's own ``MLP(seed)`` weights, so this is a no-op copy) and the loss is
``nn.binary_cross_entropy``. Zeroing the parameters' grads (what ``model.zero_grad()`` does),
backward and the SGD update are ``bench.graph_engines``'s, shared with micrograd's adapter.

W1's other variants, each ``moons_model_<variant>`` / ``moons_step_<variant>``:

- *user*: a learner's own loop, micrograd's network (``BinaryOpMLP``) on chainrule's Values,
  one binary op at a time, with nothing around the step (the collector on);
- *compiled* and *compiled_numpy* (W5): ``nn.MLP`` whose step is ``nn.train.CompiledCost``,
  the per-sample and the batched numpy replay of ``engine.compile`` (what ``nn.fit(...,
  compile=True)`` and ``compile="numpy"`` run), then p ← p − lr·dp.
"""

from __future__ import annotations

from bench.graph_engines import (
    BinaryOpMLP,
    binary_op_gradients,
    binary_op_step,
    chain_gradient,
    gradients,
    op_tree_gradients,
    sgd_step,
)
from engine import Value, sum_values
from nn import MLP, binary_cross_entropy
from nn.train import CompiledCost

__all__ = ["binary_products_graph", "chain_gradient", "leaf", "moons_gradients", "moons_model", "moons_step",
           "op_tree_gradients", "products_graph"]

NAME = "chainrule"


def moons_model(weights: list) -> MLP:
    """``MLP(2, [16, 16, 1])`` with tanh hidden layers and a sigmoid output, holding ``weights``."""
    sizes = [len(layer) for layer in weights]
    model = MLP(len(weights[0][0][0]), sizes, activation="tanh", output_activation="sigmoid")
    for layer, layer_weights in zip(model.layers, weights):
        for neuron, (w_row, b) in zip(layer.neurons, layer_weights):
            for w, number in zip(neuron.w, w_row):
                w.data = number
            neuron.b.data = b
    return model


def _loss(model: MLP, xs: list, ys: list) -> Value:
    return binary_cross_entropy([model(x) for x in xs], ys)


def moons_gradients(model: MLP, xs: list, ys: list) -> tuple[float, list[float]]:
    """(L, gradients in ``named_parameters`` order) from one forward and one backward pass."""
    return gradients(_loss(model, xs, ys), model.parameters())


def moons_step(model: MLP, xs: list, ys: list, lr: float) -> float:
    """Forward, backward and p ← p − lr·dp on every parameter; returns L before the update."""
    return sgd_step(_loss(model, xs, ys), model.parameters(), lr)


def moons_model_user(weights: list) -> BinaryOpMLP:
    """The learner's micrograd-style network on chainrule's Values."""
    return BinaryOpMLP(weights, Value)


moons_gradients_user = binary_op_gradients
moons_step_user = binary_op_step


def moons_model_compiled(weights: list, replay: str = "python") -> CompiledCost:
    """``MLP`` holding ``weights``, with the compiled cost that replaces its graph."""
    return CompiledCost(moons_model(weights), binary_cross_entropy, replay)


def moons_model_compiled_numpy(weights: list) -> CompiledCost:
    """As ``moons_model_compiled``, replayed on numpy arrays of the whole batch."""
    return moons_model_compiled(weights, "numpy")


def moons_gradients_compiled(cost: CompiledCost, xs: list, ys: list) -> tuple[float, list[float]]:
    """(L, gradients) by the replay."""
    loss, _ = cost.backward(xs, ys)
    return loss, [p.grad for p in cost.parameters]


def moons_step_compiled(cost: CompiledCost, xs: list, ys: list, lr: float) -> float:
    """The replay's forward and backward, then p ← p − lr·dp; returns L before the update."""
    loss, grads = moons_gradients_compiled(cost, xs, ys)
    for p, g in zip(cost.parameters, grads):
        p.data -= lr * g
    return loss


moons_gradients_compiled_numpy = moons_gradients_compiled
moons_step_compiled_numpy = moons_step_compiled
# W5 times the replay: the first backward, which traces and compiles, runs before the timed steps.
moons_warm_up_compiled = moons_warm_up_compiled_numpy = moons_gradients_compiled


def leaf(number: float) -> Value:
    """A leaf Value holding ``number``."""
    return Value(number)


def products_graph(xs: list[Value], ys: list[Value]) -> tuple[Value, int]:
    """Σᵢ xᵢyᵢ as n product nodes and one n-ary sum node; returns (root, nodes created)."""
    root = sum_values(x * y for x, y in zip(xs, ys))
    return root, len(xs) + 1


def binary_products_graph(xs: list[Value], ys: list[Value]) -> tuple[Value, int]:
    """Σᵢ xᵢyᵢ with Python's ``sum``, the graph micrograd builds: n products, n binary additions.

    The first addition is 0 + x₀y₀ (a node with a number operand); returns (root, 2n).
    """
    root = sum(x * y for x, y in zip(xs, ys))
    return root, 2 * len(xs)

"""micrograd 0.1.0 running the benchmark workloads, with the ops it lacks added its own way.

micrograd 0.1.0 has + − * / ** and relu. The workloads also need tanh, sigmoid and log:
they are added below exactly as micrograd writes relu, a new node plus a closure
``_backward`` that adds the local derivative times ``out.grad`` into the input's grad.
tanh and sigmoid use the same float formulas as chainrule (math.tanh, the stable
sigmoid), so both engines compute the same numbers.

The network mirrors ``micrograd.nn.Neuron``: z = sum((wᵢ·xᵢ for ...), b)
(``bench.graph_engines.BinaryOpMLP``, which chainrule's *user* variant runs too).
"""

from __future__ import annotations

import math

from micrograd.engine import Value

from bench.graph_engines import (
    BinaryOpMLP,
    binary_op_gradients,
    binary_op_step,
    chain_gradient,
    op_tree_gradients,
)

__all__ = ["chain_gradient", "leaf", "moons_gradients", "moons_model", "moons_step", "op_tree_gradients",
           "products_graph"]

NAME = "micrograd"


def _tanh(self: Value) -> Value:
    out = Value(math.tanh(self.data), (self,), "tanh")

    def _backward():
        self.grad += (1.0 - out.data**2) * out.grad

    out._backward = _backward
    return out


def _sigmoid(self: Value) -> Value:
    z = self.data
    if z >= 0.0:
        a = 1.0 / (1.0 + math.exp(-z))
    else:
        e = math.exp(z)
        a = e / (1.0 + e)
    out = Value(a, (self,), "sigmoid")

    def _backward():
        self.grad += out.data * (1.0 - out.data) * out.grad

    out._backward = _backward
    return out


def _log(self: Value) -> Value:
    out = Value(math.log(self.data), (self,), "log")

    def _backward():
        self.grad += (1.0 / self.data) * out.grad

    out._backward = _backward
    return out


Value.tanh = _tanh
Value.sigmoid = _sigmoid
Value.log = _log


def moons_model(weights: list) -> BinaryOpMLP:
    """A micrograd network holding ``weights``."""
    return BinaryOpMLP(weights, Value)


moons_gradients = binary_op_gradients
moons_step = binary_op_step


def leaf(number: float) -> Value:
    """A leaf Value holding ``number``."""
    return Value(number)


def products_graph(xs: list[Value], ys: list[Value]) -> tuple[Value, int]:
    """Σᵢ xᵢyᵢ as micrograd builds it: n products, then ``sum`` makes n binary additions.

    Nodes created: n products, n additions and the Value(0) that ``sum``'s start becomes.
    """
    root = sum(x * y for x, y in zip(xs, ys))
    return root, 2 * len(xs) + 1

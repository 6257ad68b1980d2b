"""chainrule's networks: neurons, layers and MLPs built from ``engine.Value``s.

``nn`` imports ``engine``; ``engine`` never imports ``nn``.
"""

from nn.compare import GradientReport, compare_gradients
from nn.formulas import backprop, params_from_model
from nn.losses import binary_cross_entropy, hinge, mse, softplus
from nn.module import ACTIVATIONS, MLP, Layer, Module, Neuron

__all__ = [
    "ACTIVATIONS",
    "MLP",
    "GradientReport",
    "Layer",
    "Module",
    "Neuron",
    "backprop",
    "binary_cross_entropy",
    "compare_gradients",
    "hinge",
    "mse",
    "params_from_model",
    "softplus",
]

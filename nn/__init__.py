"""chainrule's networks: neurons, layers and MLPs built from ``engine.Value``s.

``nn`` imports ``engine``; ``engine`` never imports ``nn``.
"""

from nn.losses import binary_cross_entropy, hinge, mse, softplus
from nn.module import ACTIVATIONS, MLP, Layer, Module, Neuron

__all__ = [
    "ACTIVATIONS",
    "MLP",
    "Layer",
    "Module",
    "Neuron",
    "binary_cross_entropy",
    "hinge",
    "mse",
    "softplus",
]

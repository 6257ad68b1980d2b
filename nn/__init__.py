"""chainrule's networks: neurons, layers and MLPs built from ``engine.Value``s.

``nn`` imports ``engine``; ``engine`` never imports ``nn``.
"""

from nn.module import ACTIVATIONS, MLP, Layer, Module, Neuron

__all__ = ["ACTIVATIONS", "MLP", "Layer", "Module", "Neuron"]

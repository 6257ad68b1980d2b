"""chainrule's networks: neurons, layers and MLPs built from ``engine.Value``s.

``nn`` imports ``engine``; ``engine`` never imports ``nn``.
"""

from nn.compare import GradientReport, compare_gradients
from nn.data import (
    DATASETS,
    make_blobs,
    make_circles,
    make_moons,
    make_xor,
    to_course_layout,
    train_test_split,
)
from nn.derivations import backprop_with_rules
from nn.formulas import grads_from_model, params_from_model, vectorized_backprop
from nn.losses import binary_cross_entropy, hinge, mse, softplus
from nn.module import ACTIVATIONS, MLP, Layer, Module, Neuron
from nn.optim import SGD
from nn.serialize import ModelFileError, load_metadata, load_model, save_model
from nn.torch_bridge import grads_from_torch, to_torch
from nn.train import (
    History,
    StepRecord,
    TrainingDivergedError,
    accuracy,
    fit,
    predict,
    predict_scores,
)

__all__ = [
    "ACTIVATIONS",
    "DATASETS",
    "MLP",
    "SGD",
    "GradientReport",
    "History",
    "Layer",
    "ModelFileError",
    "Module",
    "Neuron",
    "StepRecord",
    "TrainingDivergedError",
    "accuracy",
    "backprop_with_rules",
    "binary_cross_entropy",
    "compare_gradients",
    "fit",
    "grads_from_model",
    "grads_from_torch",
    "hinge",
    "load_metadata",
    "load_model",
    "make_blobs",
    "make_circles",
    "make_moons",
    "make_xor",
    "mse",
    "params_from_model",
    "predict",
    "predict_scores",
    "save_model",
    "softplus",
    "to_course_layout",
    "to_torch",
    "train_test_split",
    "vectorized_backprop",
]

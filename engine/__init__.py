"""chainrule's engine: scalar reverse-mode automatic differentiation.

>>> from engine import Value
>>> x = Value(2.0, label="x")
>>> y = x * x + 3 * x
>>> y.backward()
>>> x.grad  # dy/dx = 2x + 3
7.0
"""

from engine.gradcheck import GradcheckError, GradcheckReport, gradcheck, numerical_grad, relative_error
from engine.backprop import backward, gc_paused, grad, topological_order, zero_grad
from engine.value import (
    OPS,
    AnomalyError,
    DomainError,
    Op,
    Value,
    detect_anomaly,
    enable_grad,
    exp,
    is_grad_enabled,
    linear,
    linear_layer,
    log,
    no_grad,
    relu,
    sigmoid,
    sum_values,
    tanh,
)

__all__ = [
    "OPS",
    "GradcheckError",
    "GradcheckReport",
    "gradcheck",
    "numerical_grad",
    "relative_error",
    "AnomalyError",
    "DomainError",
    "Op",
    "Value",
    "backward",
    "detect_anomaly",
    "enable_grad",
    "exp",
    "gc_paused",
    "grad",
    "is_grad_enabled",
    "linear",
    "linear_layer",
    "log",
    "no_grad",
    "relu",
    "sigmoid",
    "sum_values",
    "tanh",
    "topological_order",
    "zero_grad",
]

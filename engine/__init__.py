"""chainrule's engine: scalar reverse-mode automatic differentiation.

>>> from engine import Value
>>> x = Value(2.0, label="x")
>>> y = x * x + 3 * x
>>> y.backward()
>>> x.grad  # dy/dx = 2x + 3
7.0
"""

from engine.backprop import derivative, grad
from engine.checks import AnomalyError, DomainError
from engine.compiled import CompiledFunction, TraceError, branch_on, compile
from engine.draw import GraphTooLargeError, GraphvizNotFoundError, RenderError, draw, save_svg, to_dot
from engine.explain import ChainRule, explain
from engine.files import atomic_write
from engine.gradcheck import GradcheckError, GradcheckReport, gradcheck, numerical_grad, relative_error
from engine.modes import detect_anomaly, enable_grad, gc_paused, is_grad_enabled, no_grad
from engine.stepper import Stepper, save_html, stepper
from engine.value import (
    BUILT_IN_OPS,
    OPS,
    Op,
    Value,
    backward,
    chain_rule,
    define_op,
    exp,
    linear,
    linear_layer,
    log,
    relu,
    set_grads,
    sigmoid,
    sum_values,
    tanh,
    topological_order,
    zero_grad,
)

__all__ = [
    "BUILT_IN_OPS",
    "OPS",
    "AnomalyError",
    "ChainRule",
    "CompiledFunction",
    "DomainError",
    "GradcheckError",
    "GradcheckReport",
    "GraphTooLargeError",
    "GraphvizNotFoundError",
    "Op",
    "RenderError",
    "Stepper",
    "TraceError",
    "Value",
    "atomic_write",
    "backward",
    "branch_on",
    "chain_rule",
    "compile",
    "define_op",
    "derivative",
    "detect_anomaly",
    "draw",
    "enable_grad",
    "exp",
    "explain",
    "gc_paused",
    "grad",
    "gradcheck",
    "is_grad_enabled",
    "linear",
    "linear_layer",
    "log",
    "no_grad",
    "numerical_grad",
    "relative_error",
    "relu",
    "save_html",
    "save_svg",
    "set_grads",
    "sigmoid",
    "stepper",
    "sum_values",
    "tanh",
    "to_dot",
    "topological_order",
    "zero_grad",
]

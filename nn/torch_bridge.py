"""The same network in PyTorch: the step a learner takes after chainrule.

``to_torch(model)`` builds a ``torch.nn.Sequential`` whose layer l is a ``Linear``
holding a float64 copy of W[l] and b[l] (PyTorch stores a Linear's weight as
(n[l], n[l−1]), exactly the course's W[l]), followed by g[l]. PyTorch takes
samples as rows, so feed it X.T. After a backward pass ``grads_from_torch``
reads its gradients back as the course's dW[l], db[l] matrices.

PyTorch is optional: it is imported only when these functions are called, and
without it they raise ``ModuleNotFoundError`` saying how to install it.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.checks import check_instance
from nn.formulas import Grads, params_from_model
from nn.module import MLP

if TYPE_CHECKING:
    import torch

INSTALL_HINT = "pip install 'chainrule[torch]' (or: pip install torch==2.13.0, the CPU build)"
"""How to get PyTorch, as the error says when it is missing."""

_ACTIVATION_MODULES = {"sigmoid": "Sigmoid", "tanh": "Tanh", "relu": "ReLU"}
"""torch.nn's module for each activation ("linear" needs none)."""


def import_torch(caller: str) -> Any:
    """The ``torch`` module, or a ModuleNotFoundError naming ``caller`` and how to install PyTorch."""
    try:
        import torch
    except ImportError as error:
        raise ModuleNotFoundError(
            f"{caller} needs PyTorch, which is not installed here: {INSTALL_HINT}", name="torch"
        ) from error
    return torch


def to_torch(model: MLP) -> torch.nn.Sequential:
    """The model as a float64 ``torch.nn.Sequential``: modules ``layer1``, ``g1``, ``layer2``, ``g2``, ...

    ``layerl`` is a ``torch.nn.Linear`` with weight = W[l] and bias = b[l]
    (copies: training one network leaves the other as it was); ``gl`` is the
    activation g[l] (absent for "linear"). ``net(torch.tensor(X.T))`` gives the
    model's outputs a[L] for the m samples as an (m, n[L]) tensor. PyTorch's
    random numbers are not drawn from (the layers are made without initialising).
    """
    check_instance("to_torch", "model", model, MLP, "an nn.MLP")
    torch = import_torch("nn.to_torch")
    params = params_from_model(model)
    modules: OrderedDict[str, torch.nn.Module] = OrderedDict()
    for index, layer in enumerate(model.layers, start=1):
        linear = torch.nn.utils.skip_init(torch.nn.Linear, layer.nin, layer.nout, dtype=torch.float64)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(params[f"W[{index}]"]))
            linear.bias.copy_(torch.from_numpy(params[f"b[{index}]"].ravel()))
        modules[f"layer{index}"] = linear
        if layer.activation in _ACTIVATION_MODULES:
            modules[f"g{index}"] = getattr(torch.nn, _ACTIVATION_MODULES[layer.activation])()
    return torch.nn.Sequential(modules)


def grads_from_torch(net: torch.nn.Sequential) -> Grads:
    """A network made by ``to_torch``'s gradients as {"dW[l]": (n[l], n[l−1]), "db[l]": (n[l], 1)} arrays.

    Call it after ``cost.backward()``; a layer whose weight has no gradient yet,
    or a gradient that is nan or inf, raises ValueError (naming the entry).
    """
    torch = import_torch("nn.grads_from_torch")
    check_instance(
        "grads_from_torch", "net", net, torch.nn.Sequential, "the torch.nn.Sequential of nn.to_torch",
        hint="net = nn.to_torch(model)",
    )
    grads: Grads = {}
    index = 1
    while hasattr(net, f"layer{index}"):
        linear = getattr(net, f"layer{index}")
        if linear.weight.grad is None or linear.bias.grad is None:
            raise ValueError(f"grads_from_torch: layer{index} has no gradient yet; call backward() first")
        grads[f"dW[{index}]"] = linear.weight.grad.detach().numpy().astype(np.float64)
        grads[f"db[{index}]"] = linear.bias.grad.detach().numpy().astype(np.float64).reshape(-1, 1)
        for key in (f"dW[{index}]", f"db[{index}]"):
            bad = ~np.isfinite(grads[key])
            if bad.any():
                at = ", ".join(str(int(i)) for i in np.argwhere(bad)[0])
                raise ValueError(
                    f"grads_from_torch: {key}[{at}] is {float(grads[key][bad][0])!r} (the gradient of "
                    f"layer{index}.{'weight' if key.startswith('dW') else 'bias'}); the torch backward pass "
                    "overflowed or met a nan: rescale the inputs or the cost"
                )
        index += 1
    if not grads:
        raise ValueError("grads_from_torch: the network has no layer1; make it with nn.to_torch(model)")
    return grads

"""Module → Neuron → Layer → MLP, built from ``engine.Value``s.

Parameters are labelled in the course's notation: ``W[l]_i,j`` is the weight from
unit j of layer l−1 to unit i of layer l (W[l] has shape (n[l], n[l−1])), and
``b[l]_i`` the bias of unit i of layer l. A neuron computes z = Σⱼ wⱼxⱼ + b as one
node (``engine.linear``) and then a = g(z).
"""

from __future__ import annotations

import math
import numbers
import random
import reprlib
from collections.abc import Callable, Iterator, Mapping, Sequence

from engine import Value, linear, linear_layer

ACTIVATIONS: dict[str, Callable[[Value], Value] | None] = {
    "sigmoid": Value.sigmoid,
    "tanh": Value.tanh,
    "relu": Value.relu,
    "linear": None,
}
"""The activation functions g a layer can use, by name ("linear" is g(z) = z)."""

# Variance scale of the initial weights: gain/n[l−1] (LeCun for tanh/sigmoid, He for relu).
_INIT_GAIN = {"sigmoid": 1.0, "tanh": 1.0, "relu": 2.0, "linear": 1.0}


def check_activation(name: str) -> str:
    """``name`` if it is an activation in ``ACTIVATIONS``, else a ValueError listing the choices."""
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose one of {', '.join(ACTIVATIONS)}")
    return name


class Module:
    """Anything with parameters: ``parameters()``, ``named_parameters()``, ``zero_grad()``."""

    def named_parameters(self) -> list[tuple[str, Value]]:
        """(label, parameter) pairs in a fixed order: W then b, layer by layer."""
        return []

    def parameters(self) -> list[Value]:
        """The parameters in the order of ``named_parameters()``."""
        return [p for _, p in self.named_parameters()]

    def zero_grad(self) -> None:
        """Set every parameter's gradient to 0 (gradients accumulate across backward calls)."""
        for p in self.parameters():
            p.grad = 0.0

    def num_parameters(self) -> int:
        """How many scalar parameters the module has."""
        return len(self.named_parameters())

    def state_dict(self) -> dict[str, float]:
        """Every parameter's value by label (``W[l]_i,j``, ``b[l]_i``), in ``named_parameters()`` order."""
        return {label: p.data for label, p in self.named_parameters()}

    def load_state_dict(self, state: Mapping[str, float]) -> None:
        """Set every parameter from a label → number mapping, as made by ``state_dict()``.

        All or nothing: the labels must be exactly this module's and every value a
        finite real number, else ``ValueError`` says what is wrong and no parameter
        has changed. Gradients are left as they are.
        """
        if not isinstance(state, Mapping):
            raise TypeError(
                f"load_state_dict: expected a mapping label -> number, got {type(state).__name__}"
            )
        named = self.named_parameters()
        expected = [label for label, _ in named]
        known = set(expected)
        missing = [label for label in expected if label not in state]
        unexpected = [str(label) for label in state if label not in known]
        if missing or unexpected:
            raise ValueError(
                f"load_state_dict: labels do not match the module's {len(expected)} parameters"
                + (f"; missing {len(missing)}: {_first(missing)}" if missing else "")
                + (f"; unexpected {len(unexpected)}: {_first(unexpected)}" if unexpected else "")
            )
        values = []
        for label in expected:
            number = state[label]
            if isinstance(number, bool) or not isinstance(number, numbers.Real):
                raise ValueError(
                    f"load_state_dict: parameter {label} must be a number, got {reprlib.repr(number)}"
                )
            try:
                value = float(number)
            except OverflowError:
                raise ValueError(
                    f"load_state_dict: parameter {label} is an integer too large for a float"
                ) from None
            if not math.isfinite(value):
                raise ValueError(f"load_state_dict: parameter {label} must be finite, got {value!r}")
            values.append(value)
        for (_, p), number in zip(named, values, strict=True):
            p.data = number


class Neuron(Module):
    """One unit: z = w·x + b, a = g(z)."""

    def __init__(
        self,
        nin: int,
        activation: str = "tanh",
        *,
        layer: int = 1,
        index: int = 0,
        rng: random.Random | None = None,
    ) -> None:
        if nin < 1:
            raise ValueError(f"Neuron needs at least one input, got nin={nin}")
        self.activation = check_activation(activation)
        self.layer, self.index = layer, index
        rng = rng if rng is not None else random.Random(0)
        scale = math.sqrt(_INIT_GAIN[activation] / nin)
        self.w = tuple(
            Value(rng.gauss(0.0, scale), label=f"W[{layer}]_{index},{j}") for j in range(nin)
        )
        self.b = Value(0.0, label=f"b[{layer}]_{index}")
        self._g = ACTIVATIONS[activation]

    def __call__(self, x: Sequence[Value]) -> Value:
        """a = g(w·x + b) for one sample's inputs x (Values or numbers)."""
        z = linear(self.w, x, self.b)
        return z if self._g is None else self._g(z)

    def pre_activation(self, x: Sequence[Value]) -> tuple[Value, Value]:
        """(z, a) for one sample, with z labelled ``z[l]_i`` and a labelled ``a[l]_i``."""
        z = linear(self.w, x, self.b)
        z.label = f"z[{self.layer}]_{self.index}"
        a = z if self._g is None else self._g(z)
        if a is not z:
            a.label = f"a[{self.layer}]_{self.index}"
        return z, a

    def named_parameters(self) -> list[tuple[str, Value]]:
        return [(w.label, w) for w in self.w] + [(self.b.label, self.b)]

    def __repr__(self) -> str:
        return f"Neuron(layer={self.layer}, index={self.index}, nin={len(self.w)}, {self.activation})"


class Layer(Module):
    """n[l] neurons that read the same inputs A[l−1]."""

    def __init__(
        self, nin: int, nout: int, activation: str = "tanh", *, layer: int = 1,
        rng: random.Random | None = None,
    ) -> None:
        if nout < 1:
            raise ValueError(f"Layer needs at least one neuron, got nout={nout}")
        rng = rng if rng is not None else random.Random(0)
        self.activation = check_activation(activation)
        self.layer = layer
        self.neurons = [
            Neuron(nin, activation, layer=layer, index=i, rng=rng) for i in range(nout)
        ]

    def __call__(self, x: Sequence[Value]) -> list[Value]:
        """A[l] = g(Z[l]) for one sample, Z[l] = W[l]·A[l−1] + b[l]: each neuron's a."""
        neurons = self.neurons
        zs = linear_layer([n.w for n in neurons], x, [n.b for n in neurons])
        g = ACTIVATIONS[self.activation]
        return zs if g is None else [g(z) for z in zs]

    def named_parameters(self) -> list[tuple[str, Value]]:
        # All of W[l] row by row, then all of b[l], as in the course's matrices.
        weights = [(w.label, w) for n in self.neurons for w in n.w]
        biases = [(n.b.label, n.b) for n in self.neurons]
        return weights + biases

    @property
    def nin(self) -> int:
        return len(self.neurons[0].w)

    @property
    def nout(self) -> int:
        return len(self.neurons)

    def __repr__(self) -> str:
        return f"Layer({self.layer}: {self.nin} -> {self.nout}, {self.activation})"


class MLP(Module):
    """A multilayer perceptron: ``MLP(2, [16, 16, 1])`` maps 2 inputs through layers of 16, 16, 1.

    Hidden layers use ``activation``, the last layer ``output_activation``; the
    initial weights come from ``random.Random(seed)``, the same to the bit on
    every machine. Calling the model on one sample returns a Value when the last
    layer has one unit, else a list of Values.
    """

    def __init__(
        self,
        nin: int,
        sizes: Sequence[int],
        activation: str = "tanh",
        output_activation: str = "sigmoid",
        *,
        seed: int = 0,
    ) -> None:
        if nin < 1 or not sizes or any(int(s) < 1 for s in sizes):
            raise ValueError(f"MLP needs nin ≥ 1 and layer sizes ≥ 1, got nin={nin}, sizes={sizes}")
        self.nin = int(nin)
        self.sizes = [int(s) for s in sizes]
        self.activation = check_activation(activation)
        self.output_activation = check_activation(output_activation)
        self.seed = seed
        rng = random.Random(seed)
        widths = [self.nin, *self.sizes]
        self.layers = [
            Layer(
                widths[layer_index - 1], widths[layer_index],
                output_activation if layer_index == len(self.sizes) else activation,
                layer=layer_index, rng=rng,
            )
            for layer_index in range(1, len(widths))
        ]

    def __call__(self, x: Sequence[Value | float]) -> Value | list[Value]:
        """Forward one sample: A[0] = x, A[l] = g[l](W[l]A[l−1] + b[l])."""
        activations = _as_inputs(x, self.nin)
        for layer in self.layers:
            activations = layer(activations)
        return activations[0] if len(activations) == 1 else activations

    def trace(self, x: Sequence[Value | float]) -> list[tuple[list[Value], list[Value]]]:
        """Forward one sample keeping (Z[l], A[l]) for every layer l = 1..L, labelled.

        The nodes are the graph's own, so after ``backward`` their ``grad`` is the
        autograd value of dZ[l] and dA[l] for this sample.
        """
        activations = _as_inputs(x, self.nin)
        layers = []
        for layer in self.layers:
            pairs = [neuron.pre_activation(activations) for neuron in layer.neurons]
            z_nodes = [z for z, _ in pairs]
            activations = [a for _, a in pairs]
            layers.append((z_nodes, activations))
        return layers

    def named_parameters(self) -> list[tuple[str, Value]]:
        return [pair for layer in self.layers for pair in layer.named_parameters()]

    def __iter__(self) -> Iterator[Layer]:
        return iter(self.layers)

    def __repr__(self) -> str:
        shape = "-".join(str(w) for w in [self.nin, *self.sizes])
        return (
            f"MLP({shape}, activation={self.activation!r}, "
            f"output_activation={self.output_activation!r}, parameters={self.num_parameters()})"
        )


def _first(labels: Sequence[str], shown: int = 5) -> str:
    """The first few labels of a list, for an error message."""
    more = f", ... ({len(labels) - shown} more)" if len(labels) > shown else ""
    return ", ".join(labels[:shown]) + more


def _as_inputs(x: Sequence[Value | float], nin: int) -> list[Value]:
    """A[0] for one sample: numbers become leaf Values labelled x_j."""
    if isinstance(x, (str, bytes)) or not hasattr(x, "__len__"):
        raise TypeError(f"MLP input must be a sequence of {nin} numbers, got {x!r}")
    if len(x) != nin:
        raise ValueError(f"MLP expects {nin} inputs per sample, got {len(x)}")
    return [v if isinstance(v, Value) else Value(v, label=f"x_{j}") for j, v in enumerate(x)]

"""Module → Neuron → Layer → MLP, built from ``engine.Value``s.

Parameters are labelled in the course's notation: ``W[l]_i,j`` is the weight from
unit j of layer l−1 to unit i of layer l (W[l] has shape (n[l], n[l−1])), and
``b[l]_i`` the bias of unit i of layer l. A neuron computes z = Σⱼ wⱼxⱼ + b as one
node (``engine.linear``) and then a = g(z).
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable, Iterator, Mapping, Sequence

import numpy as np

from engine import Value, linear, linear_layer, zero_grad
from engine.checks import (
    check_choice,
    check_instance,
    check_int,
    check_real,
    check_seed,
    check_sequence,
    short_repr,
)
from nn.data import refuse_masked

ACTIVATIONS: dict[str, Callable[[Value], Value] | None] = {
    "sigmoid": Value.sigmoid,
    "tanh": Value.tanh,
    "relu": Value.relu,
    "linear": None,
}
"""The activation functions g a layer can use, by name ("linear" is g(z) = z)."""

MAX_PARAMETERS = 10_000_000
"""The most parameters a module may have: each is a Value of some 100 bytes (about 1 GB at this
limit), and one training step over them takes minutes in a scalar engine."""

# Variance scale of the initial weights: gain/n[l−1] (LeCun for tanh/sigmoid, He for relu).
_INIT_GAIN = {"sigmoid": 1.0, "tanh": 1.0, "relu": 2.0, "linear": 1.0}


def _check_rng(function: str, rng: object) -> random.Random:
    """The generator for the initial weights: ``rng`` itself, or ``random.Random(0)`` when None."""
    if rng is None:
        return random.Random(0)  # noqa: S311 - reproducible initial weights, not secrets
    return check_instance(function, "rng", rng, random.Random, "a random.Random or None")


def parameter_count(widths: Sequence[int]) -> int:
    """How many parameters layers of these widths have (n[0] = nin): Σ_l n[l]·n[l−1] + n[l], W[l] and b[l]."""
    return sum(n_prev * n + n for n_prev, n in itertools.pairwise(widths))


def _check_widths(function: str, names: Sequence[str], widths: Sequence[object]) -> list[int]:
    """Layer widths (n[0] = nin, n[1], ...) as ints ≥ 1, making at most ``MAX_PARAMETERS`` parameters."""
    checked = [check_int(function, name, width, minimum=1) for name, width in zip(names, widths, strict=True)]
    count = parameter_count(checked)
    if count > MAX_PARAMETERS:
        shape = "-".join(_count_text(n, separator="") for n in checked)  # as MLP's repr writes it
        raise ValueError(
            f"{function}: a network {shape} has {_count_text(count)} parameters, more than MAX_PARAMETERS = "
            f"{MAX_PARAMETERS:,} (each is a Value of about 100 bytes); choose narrower layers"
        )
    return checked


def _count_text(n: int, separator: str = ",") -> str:
    """``n`` (with thousands separators), or its order of magnitude when it is too long to write out."""
    if n.bit_length() >= 128:
        return f"about 10**{int(n.bit_length() * math.log10(2))}"
    return f"{n:,}".replace(",", separator)


def checked_parameters(module: Module, function: str) -> list[tuple[str, Value]]:
    """``module.named_parameters()``, each checked to be a Value (w and b are attributes one can
    reassign: a number put there has no gradient and no place in a model file)."""
    named = module.named_parameters()
    for label, p in named:
        check_instance(function, f"parameter {label}", p, Value, "a Value",
                       hint="a module's w and b hold Values: wrap a number as Value(x)")
    return named


def check_activation(name: object, function: str) -> str:
    """The one of ``ACTIVATIONS`` equal to ``name`` (a plain str): a TypeError for a non-string, a ValueError
    listing them.

    ``function`` heads the message: the public function (or argument) that was given ``name``.
    """
    return check_choice(function, "activation", name, ACTIVATIONS)


class Module:
    """Anything with parameters: ``parameters()``, ``named_parameters()``, ``zero_grad()``."""

    def named_parameters(self) -> list[tuple[str, Value]]:
        """(label, parameter) pairs in a fixed order: W then b, layer by layer."""
        return []

    def parameters(self) -> list[Value]:
        """The parameters in the order of ``named_parameters()``."""
        return [p for _, p in self.named_parameters()]

    def zero_grad(self) -> None:
        """Set every parameter's gradient to 0 (gradients accumulate across backward calls).

        All or none: every parameter is checked to be a Value before any gradient changes.
        """
        zero_grad(self.parameters())

    def num_parameters(self) -> int:
        """How many scalar parameters the module has."""
        return len(self.named_parameters())

    def state_dict(self) -> dict[str, float]:
        """Every parameter's value by label (``W[l]_i,j``, ``b[l]_i``), in ``named_parameters()`` order."""
        return {label: p.data for label, p in self.named_parameters()}

    def load_state_dict(self, state: Mapping[str, float]) -> None:
        """Set every parameter from a label → number mapping, as made by ``state_dict()``.

        All or nothing: the labels must be exactly this module's (else ``ValueError``)
        and every value a finite real number (``TypeError`` for a string, a bool or
        None; ``ValueError`` for nan, ±inf or an integer too large for a float); on
        any error no parameter has changed. Gradients are left as they are.
        """
        check_instance(
            "load_state_dict", "state", state, Mapping, "a mapping label -> number",
            hint="e.g. the dict that model.state_dict() returns",
        )
        named = checked_parameters(self, "load_state_dict")
        expected = [label for label, _ in named]
        known = set(expected)
        missing = [label for label in expected if label not in state]
        unexpected = [
            label if isinstance(label, str) else short_repr(label) for label in state if label not in known
        ]
        if missing or unexpected:
            raise ValueError(
                f"load_state_dict: labels do not match the module's {len(expected)} parameters"
                + (f"; missing {len(missing)}: {_first(missing)}" if missing else "")
                + (f"; unexpected {len(unexpected)}: {_first(unexpected)}" if unexpected else "")
            )
        values = [check_real("load_state_dict", f"parameter {label}", state[label]) for label in expected]
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
        nin = _check_widths("Neuron", ["nin", "1 unit"], [nin, 1])[0]
        self.activation = check_choice("Neuron", "activation", activation, ACTIVATIONS)
        self.layer = check_int("Neuron", "layer", layer, minimum=1)
        self.index = check_int("Neuron", "index", index, minimum=0)
        rng = _check_rng("Neuron", rng)
        scale = math.sqrt(_INIT_GAIN[activation] / nin)
        # The labels are the neuron's place in the network, kept apart from the Values'
        # own .label (which a user may change for a drawing) so that state_dict() and
        # model files always use them.
        self._weight_labels = tuple(f"W[{self.layer}]_{self.index},{j}" for j in range(nin))
        self._bias_label = f"b[{self.layer}]_{self.index}"
        self.w = tuple(Value(rng.gauss(0.0, scale), label=label) for label in self._weight_labels)
        self.b = Value(0.0, label=self._bias_label)
        self._g = ACTIVATIONS[activation]

    def __call__(self, x: Sequence[Value | float]) -> Value:
        """a = g(w·x + b) for one sample's inputs x (Values or numbers)."""
        z = linear(self.w, _as_inputs(x, len(self.w), "Neuron"), self.b)
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
        return [*zip(self._weight_labels, self.w), (self._bias_label, self.b)]

    def __repr__(self) -> str:
        return f"Neuron(layer={self.layer}, index={self.index}, nin={len(self.w)}, {self.activation})"


class Layer(Module):
    """n[l] neurons that read the same inputs A[l−1]."""

    def __init__(
        self, nin: int, nout: int, activation: str = "tanh", *, layer: int = 1,
        rng: random.Random | None = None,
    ) -> None:
        nin, nout = _check_widths("Layer", ["nin", "nout"], [nin, nout])
        self.activation = check_choice("Layer", "activation", activation, ACTIVATIONS)
        self.layer = check_int("Layer", "layer", layer, minimum=1)
        rng = _check_rng("Layer", rng)
        self.neurons = [
            Neuron(nin, activation, layer=self.layer, index=i, rng=rng) for i in range(nout)
        ]

    def __call__(self, x: Sequence[Value | float]) -> list[Value]:
        """A[l] = g(Z[l]) for one sample, Z[l] = W[l]·A[l−1] + b[l]: each neuron's a."""
        return self._forward(_as_inputs(x, self.nin, "Layer"))

    def _forward(self, x: list[Value]) -> list[Value]:
        """``__call__`` on inputs already checked (the MLP checks its input once, at A[0])."""
        neurons = self.neurons
        zs = linear_layer([n.w for n in neurons], x, [n.b for n in neurons])
        g = ACTIVATIONS[self.activation]
        return zs if g is None else [g(z) for z in zs]

    def named_parameters(self) -> list[tuple[str, Value]]:
        # All of W[l] row by row, then all of b[l], as in the course's matrices.
        weights = [pair for n in self.neurons for pair in zip(n._weight_labels, n.w)]
        biases = [(n._bias_label, n.b) for n in self.neurons]
        return weights + biases

    @property
    def nin(self) -> int:
        """n[l−1], the number of inputs each neuron reads (W[l] has n[l−1] columns)."""
        return len(self.neurons[0].w)

    @property
    def nout(self) -> int:
        """n[l], the number of neurons (W[l] has n[l] rows)."""
        return len(self.neurons)

    def __repr__(self) -> str:
        return f"Layer({self.layer}: {self.nin} -> {self.nout}, {self.activation})"


class MLP(Module):
    """A multilayer perceptron: ``MLP(2, [16, 16, 1])`` maps 2 inputs through layers of 16, 16, 1.

    Hidden layers use ``activation``, the last layer ``output_activation``; the
    initial weights come from ``random.Random(seed)``, the same to the bit on
    every machine. Calling the model on one sample returns a Value when the last
    layer has one unit, else a list of Values. A network has at most
    ``MAX_PARAMETERS`` parameters.
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
        nin = check_int("MLP", "nin", nin, minimum=1)
        shown = nin if nin <= MAX_PARAMETERS else "n_x"  # the hint's example; a huge nin is refused below
        sizes = check_sequence(
            "MLP", "sizes", sizes, of="layer widths (integers ≥ 1)", min_length=1,
            hint=f"one width per layer, the output layer last: e.g. MLP({shown}, [16, 16, 1]), "
            f"or MLP({shown}, [1]) for a single unit",
        )
        self.nin, *self.sizes = _check_widths(
            "MLP", ["nin", *(f"sizes[{i}]" for i in range(len(sizes)))], [nin, *sizes]
        )
        self.activation = check_choice("MLP", "activation", activation, ACTIVATIONS)
        self.output_activation = check_choice("MLP", "output_activation", output_activation, ACTIVATIONS)
        self.seed = check_seed("MLP", seed)
        rng = random.Random(self.seed)  # noqa: S311 - reproducible initial weights, not secrets
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
        activations = _as_inputs(x, self.nin, "MLP")
        for layer in self.layers:
            activations = layer._forward(activations)
        return activations[0] if len(activations) == 1 else activations

    def trace(self, x: Sequence[Value | float]) -> list[tuple[list[Value], list[Value]]]:
        """Forward one sample keeping (Z[l], A[l]) for every layer l = 1..L, labelled.

        The nodes are the graph's own, so after ``backward`` their ``grad`` is the
        autograd value of dZ[l] and dA[l] for this sample.
        """
        activations = _as_inputs(x, self.nin, "MLP.trace")
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


def _as_inputs(x: object, nin: int, function: str) -> list[Value]:
    """A[0] for one sample: a list of ``nin`` Values or numbers, numbers becoming leaves labelled x_j.

    A batch where one sample goes (a 2-D array, a list of lists) is refused with
    how to pass it: one sample at a time, in either of the two layouts.
    """
    if type(x) is not list and type(x) is not tuple:  # the hot path (fit, predict) passes lists
        _check_sample_container(x, nin, function)
    items = list(x)  # type: ignore[call-overload]
    if items and _is_batch(items[0]):
        _refuse_batch((len(items), len(items[0])), nin, function, "a list of lists")
    if len(items) != nin:
        raise ValueError(f"{function}: expects {nin} inputs per sample, got {len(items)}: {short_repr(x)}")
    try:
        return [v if isinstance(v, Value) else Value(v, label=f"x_{j}") for j, v in enumerate(items)]
    except (TypeError, ValueError):
        for j, v in enumerate(items):  # say which input, and in this function's name
            if not isinstance(v, Value):
                check_real(function, f"input x[{j}]", v, hint="a sample holds numbers or Values")
        raise


def _is_batch(item: object) -> bool:
    return isinstance(item, (list, tuple)) or getattr(item, "ndim", 0) >= 1


def _check_sample_container(x: object, nin: int, function: str) -> None:
    """Refuse what is not one sample: a number, a string, a mapping, a 2-D array, a masked entry."""
    if isinstance(x, np.ma.MaskedArray):
        refuse_masked(x, function, "x")
    shape = getattr(x, "shape", None)
    if isinstance(shape, tuple) and len(shape) >= 2:
        _refuse_batch(shape, nin, function, "an array")
    single = nin == 1 and not hasattr(x, "__len__")
    wrap = f"; a single input goes in a list: [{short_repr(x)}]" if single else ""
    check_sequence(
        function, "x", x, of=f"{nin} number{'s' if nin != 1 else ''} (one sample)",
        hint=f"a sample is one input per unit of the first layer{wrap}",
    )


_CALLS = {"MLP": "model(x)", "MLP.trace": "model.trace(x)"}  # how each function is called, for hints


def _many(count: int, word: str) -> str:
    """``1 sample``, ``3 samples``."""
    return f"{count} {word}{'' if count == 1 else 's'}"


def _refuse_batch(shape: tuple, nin: int, function: str, what: str) -> None:
    """The error for m samples passed where one goes: how to run them, whichever way they are laid out."""
    rows, columns = shape[0], shape[-1]
    call = _CALLS.get(function, f"{function.lower()}(x)")
    predict = "; or nn.predict_scores(model, X{})" if function == "MLP" else ""
    if len(shape) != 2:
        how = f"pass one sample of {nin} numbers at a time"
    elif columns == nin and rows != nin:
        how = f"that is {_many(rows, 'sample')} in rows: run each, [{call} for x in X]" + predict.format("")
    elif rows == nin and columns != nin:
        how = (f"that is the course's (n_x, m) layout, {_many(columns, 'sample')} in columns: run each, "
               f"[{call} for x in X.T]" + predict.format(".T"))
    elif rows == nin:
        how = (f"run one sample at a time: [{call} for x in X] when rows are samples, "
               f"[{call} for x in X.T] when columns are (the course's (n_x, m) layout)")
    else:
        how = (f"neither its rows ({_many(columns, 'number')}) nor its columns ({_many(rows, 'number')}) "
               f"are samples of {nin}")
    raise ValueError(
        f"{function}: expects one sample, a list of {nin} numbers, got {what} of shape "
        f"{tuple(shape)}; {how}"
    )

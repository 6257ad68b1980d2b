"""Training a binary classifier: ``fit``, and ``predict``/``accuracy`` without a graph.

One training step on a batch of m samples is the course's loop:

    forward    A[l] = g[l](W[l]A[l−1] + b[l]) for each sample, L = cost(A[L], Y)
    backward   dW[l], db[l] for every parameter (autograd: ``L.backward()``)
    update     W[l] := W[l] − α dW[l]  (with momentum / weight decay, see ``nn.SGD``)

Forward, backward and update run inside ``engine.gc_paused()``: a step builds
thousands of nodes, and Python's cyclic collector would otherwise walk them again
and again (it about triples the cost), though the graph has no cycles to find.

``fit(..., compile=True)`` builds no graph at all after the first step: one sample's
cost is traced once (``engine.compile``) and replayed as straight-line Python for
each sample; ``compile="numpy"`` replays it on all the batch's samples at once,
each layer as a matrix product (``CompiledCost``).
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import NamedTuple, TextIO

import numpy as np

import engine
from engine import Value, enable_grad, gc_paused, no_grad
from engine.checks import (
    check_callable,
    check_choice,
    check_instance,
    check_int,
    check_real,
    check_seed,
    describe,
    fail,
    short_repr,
)
from engine.modes import anomaly_checks_enabled
from nn.data import check_dataset, check_features
from nn.losses import binary_cross_entropy, hinge, mse
from nn.module import MLP
from nn.optim import SGD

LossFunction = Callable[[Sequence[Value], Sequence[float]], Value]

LOSSES: dict[str, LossFunction] = {"bce": binary_cross_entropy, "mse": mse, "hinge": hinge}
"""The losses ``fit`` knows by name. "hinge" is given targets 2y − 1 ∈ {−1, +1}."""

_LOSS_FUNCTION = "a function (predictions, targets) -> Value"

REPLAYS = {True: "python", "numpy": "numpy"}
"""``fit``'s ``compile`` values: the per-sample replay (True) or the batched numpy replay ("numpy")."""

DEFAULT_LR = 0.1
DEFAULT_MOMENTUM = 0.9
MAX_STEPS = 10**12
"""The most steps ``fit`` takes in one call: more than anyone can wait for, however small the model."""


class StepRecord(NamedTuple):
    """What one training step reports to a progress callback."""

    step: int
    """1-based number of this step."""
    steps: int
    """How many steps ``fit`` runs in all."""
    loss: float
    """The batch's cost before this step's update."""
    accuracy: float
    """The fraction of the batch classified right before this step's update."""
    seconds: float
    """Wall time since ``fit`` started."""


@dataclass
class History:
    """Per-step loss and accuracy of a ``fit`` run (each measured on the step's batch, before its update)."""

    loss: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    seconds: float = 0.0
    """Wall time of the whole run."""

    def __len__(self) -> int:
        return len(self.loss)

    @property
    def final_loss(self) -> float:
        """The loss at the last step."""
        return self.loss[-1]

    @property
    def final_accuracy(self) -> float:
        """The accuracy at the last step."""
        return self.accuracy[-1]


class TrainingDivergedError(FloatingPointError):
    """``fit`` stopped: a step's numbers are not finite (the updates overshot, or the data is too large).

    Raised when a step's forward pass overflows (the engine's ``DomainError``, chained
    as ``__cause__``), when its cost J is inf or nan (before its backward), or when its
    update would make a parameter or a velocity inf or nan (``SGD.step``'s
    ``FloatingPointError``, chained). The parameters are as after the last step that
    completed. ``history`` holds those steps' losses and accuracies; ``step`` is the
    step that failed and ``cost`` its cost J (None when the forward pass failed).
    """

    def __init__(self, message: str, history: History, step: int, cost: float | None) -> None:
        super().__init__(message)
        self.history = history
        self.step = step
        self.cost = cost


def format_loss(loss: float) -> str:
    """A loss as text that stays short: 4 decimals below 10⁶ (``0.0412``), else 4 significant
    digits (``6.732e+179``, where a diverging run's loss would print with 180 digits)."""
    return f"{loss:.4f}" if abs(loss) < 1e6 else f"{loss:.4g}"


class ProgressLine:
    """Shows training progress: ``step 120/300  loss 0.0412  accuracy  98.0%  3.1 s``.

    On a terminal the line is rewritten in place (at most every ``min_interval``
    seconds, and always at the last step); elsewhere (a log, a pipe, CI) a line
    is printed every ``every`` steps (default: steps/10), at step 1 and at the end.
    Call it with each ``StepRecord``; ``close()`` ends the line.
    """

    def __init__(
        self, stream: TextIO | None = None, *, every: int | None = None, min_interval: float = 0.1
    ) -> None:
        if stream is not None and not (callable(getattr(stream, "write", None))
                                       and callable(getattr(stream, "flush", None))):
            fail(TypeError, "ProgressLine", "stream", "a text stream (with write and flush) or None",
                 describe(stream), "e.g. sys.stdout")
        if every is not None:
            every = check_int("ProgressLine", "every", every, minimum=1, hint="or None for steps/10")
        self.min_interval = check_real("ProgressLine", "min_interval", min_interval, minimum=0.0)
        self.stream = stream if stream is not None else sys.stderr
        isatty = getattr(self.stream, "isatty", None)
        self.in_place = bool(isatty and isatty())
        self.every = every
        self._last_write = -math.inf
        self._width = 0

    @staticmethod
    def format(record: StepRecord) -> str:
        """The progress text for one step (the loss as ``format_loss`` writes it)."""
        digits = len(str(record.steps))
        return (
            f"step {record.step:>{digits}}/{record.steps}  loss {format_loss(record.loss)}  "
            f"accuracy {record.accuracy:6.1%}  {record.seconds:.1f} s"
        )

    def __call__(self, record: StepRecord) -> None:
        """Show this step if it is due (see the class docstring)."""
        last = record.step == record.steps
        if self.in_place:
            now = time.perf_counter()
            if not last and now - self._last_write < self.min_interval:
                return
            self._last_write = now
            text = self.format(record)
            # Pad with spaces so a shorter line fully covers the previous one.
            self.stream.write("\r" + text.ljust(self._width))
            self._width = len(text)
        else:
            every = self.every or max(1, record.steps // 10)
            if not (record.step == 1 or last or record.step % every == 0):
                return
            self.stream.write(self.format(record) + "\n")
        self.stream.flush()

    def close(self) -> None:
        """End the in-place line with a newline."""
        if self.in_place and self._width:
            self.stream.write("\n")
            self.stream.flush()
            self._width = 0


def decision_threshold(model: MLP) -> float:
    """The output value at which the predicted class switches to 1: ½ for a sigmoid output, else 0."""
    check_instance("decision_threshold", "model", model, MLP, "an nn.MLP")
    return 0.5 if model.output_activation == "sigmoid" else 0.0


def _single_output(model: MLP, function: str) -> None:
    check_instance(function, "model", model, MLP, "an nn.MLP")
    if model.sizes[-1] != 1:
        raise ValueError(
            f"{function}: a binary classifier has 1 output unit; this MLP's last layer has {model.sizes[-1]}"
        )


def _rows(model: MLP, X: object, y: object, function: str) -> tuple[np.ndarray, np.ndarray]:
    """Check X (m, nin) against the model, and y as 0/1 labels."""
    x_matrix, y_vector = check_dataset(X, y, function)
    if x_matrix.shape[1] != model.nin:
        raise ValueError(
            f"{function}: the model takes {model.nin} inputs but X has {x_matrix.shape[1]} columns "
            f"(shape {x_matrix.shape}; rows must be samples)"
        )
    bad = np.flatnonzero((y_vector != 0) & (y_vector != 1))
    if bad.size:
        raise ValueError(
            f"{function}: labels must be 0 or 1, got {y_vector[bad[0]].item()!r} in row {bad[0]}"
        )
    return x_matrix, y_vector.astype(np.float64)


def predict_scores(model: MLP, X: object) -> np.ndarray:
    """The model's output a[L] for each row of X, shape (m,), computed under ``no_grad`` (no graph)."""
    return _scores(model, X, "predict_scores")


def predict(model: MLP, X: object) -> np.ndarray:
    """The predicted class (0 or 1) of each row of X: 1 where a[L] ≥ ``decision_threshold(model)``."""
    return _classes(model, _scores(model, X, "predict"))


def accuracy(model: MLP, X: object, y: object) -> float:
    """The fraction of rows of X whose predicted class equals y: (1/m) Σᵢ [ŷ⁽ⁱ⁾ = y⁽ⁱ⁾]."""
    _single_output(model, "accuracy")
    x_matrix, y_vector = _rows(model, X, y, "accuracy")
    return float(np.mean(_classes(model, _outputs(model, x_matrix)) == y_vector))


def _scores(model: MLP, X: object, function: str) -> np.ndarray:
    """a[L] for each row of X, after checking the model and X (errors name ``function``)."""
    _single_output(model, function)
    x_matrix = check_features(X, function)
    if x_matrix.shape[1] != model.nin:
        raise ValueError(
            f"{function}: the model takes {model.nin} inputs but X has {x_matrix.shape[1]} columns"
        )
    return _outputs(model, x_matrix)


def _outputs(model: MLP, x_matrix: np.ndarray) -> np.ndarray:
    with no_grad():
        return np.array([model(row).data for row in x_matrix.tolist()], dtype=np.float64)


def _classes(model: MLP, scores: np.ndarray) -> np.ndarray:
    return (scores >= decision_threshold(model)).astype(np.int64)


def _resolve_loss(model: MLP, loss: str | LossFunction) -> tuple[LossFunction, bool]:
    """The loss function, and whether its targets are ±1 (hinge) rather than 0/1."""
    if callable(loss):
        return loss, False
    expected = f"one of {', '.join(map(repr, LOSSES))} or {_LOSS_FUNCTION}"
    if not isinstance(loss, str):
        fail(TypeError, "fit", "loss", expected, describe(loss))
    if loss not in LOSSES:
        fail(ValueError, "fit", "loss", expected, short_repr(loss))
    if loss == "bce" and model.output_activation != "sigmoid":
        raise ValueError(
            f"fit: loss 'bce' needs a sigmoid output (a ∈ (0, 1)); this MLP's output is "
            f"{model.output_activation!r}"
        )
    if loss == "hinge" and model.output_activation == "sigmoid":
        raise ValueError("fit: loss 'hinge' needs a score output ('linear' or 'tanh'), not 'sigmoid'")
    return LOSSES[loss], loss == "hinge"


def _resolve_optimizer(
    model: MLP, optimizer: SGD | None, lr: float | None, momentum: float | None, weight_decay: float | None
) -> SGD:
    if optimizer is None:
        settings = SGD.check_settings(
            "fit", DEFAULT_LR if lr is None else lr, DEFAULT_MOMENTUM if momentum is None else momentum,
            0.0 if weight_decay is None else weight_decay,
        )
        return SGD(model.parameters(), *settings)
    check_instance("fit", "optimizer", optimizer, SGD, "an nn.SGD or None")
    if lr is not None or momentum is not None or weight_decay is not None:
        raise ValueError("fit: pass either optimizer=... or lr/momentum/weight_decay, not both")
    mine = {id(p) for p in model.parameters()}
    if not any(id(p) in mine for p in optimizer.parameters):
        raise ValueError("fit: the optimizer holds none of this model's parameters")
    for i, p in enumerate(optimizer.parameters):
        if id(p) not in mine:
            # fit computes no gradient for it: each step would move it by its stale grad.
            raise ValueError(
                f"fit: the optimizer's parameter {i} ({p.label or 'unlabelled'}, data {p.data!r}) is not one "
                "of this model's parameters, and fit computes no gradient for it: make the optimizer from "
                "the model's parameters only, e.g. SGD(model.parameters(), lr=0.1)"
            )
    return optimizer


def fit(
    model: MLP,
    X: object,
    y: object,
    *,
    loss: str | LossFunction = "bce",
    optimizer: SGD | None = None,
    lr: float | None = None,
    momentum: float | None = None,
    weight_decay: float | None = None,
    steps: int = 100,
    batch_size: int | None = None,
    seed: int = 0,
    progress: bool | Callable[[StepRecord], None] = True,
    compile: bool | str = False,
) -> History:
    """Train a binary classifier with gradient descent; returns the per-step ``History``.

    ``X`` has shape (m, nin), one sample per row (transpose the course's (n_x, m));
    ``y`` has shape (m,) with labels 0/1. Each step takes a batch (all m samples
    when ``batch_size`` is None, else ``batch_size`` rows of a reshuffled order,
    ``seed`` fixing the shuffles), computes the cost ``loss`` ("bce", "mse",
    "hinge" or a function ``(predictions, targets) -> Value``), backpropagates and
    updates: W := W − α dW (``nn.SGD``: momentum 0.9 and α = 0.1 unless given, or
    pass your own ``optimizer``, over the model's parameters or some of them).
    ``progress``: True (the default) shows a progress line on stderr, False
    nothing, a function is called with each ``StepRecord``.
    ``compile``: False (the engine builds each step's graph), True (one sample's
    cost traced once and replayed per sample as straight-line Python, see
    ``engine.compile``) or "numpy" (that replay on the whole batch at once); all
    three give the same losses and parameters, to rounding.
    Every argument is checked before the model changes (``steps`` up to
    ``MAX_STEPS``; a ``loss`` function must return a Value, checked before any
    gradient is touched). A step whose numbers stop being finite stops the run:
    ``TrainingDivergedError`` (a ``FloatingPointError``) says what to change and holds
    the ``History`` so far, whether its cost is inf or nan (before its backward and
    update), its forward pass overflows (the engine's ``DomainError``, chained) or
    ``SGD.step`` refuses its update; the parameters are as after the last step that
    completed.
    """
    plan = _plan(
        model, X, y, loss, optimizer, (lr, momentum, weight_decay), steps, batch_size, seed, progress,
        compile,
    )
    history = History()
    start = time.perf_counter()
    try:
        for step, chosen in enumerate(_batches(plan), start=1):
            costs: list[float] = []  # the step's cost J, once computed
            try:
                cost, right = _train_step(model, plan, chosen, partial(_record_cost, plan, history, costs))
            except (engine.DomainError, FloatingPointError, OverflowError) as error:
                if not _non_finite(error):
                    raise
                raise _diverged(plan, history, costs[0] if costs else None, error) from error
            history.loss.append(cost)
            history.accuracy.append(right / len(chosen))
            if plan.reporter is not None:
                elapsed = time.perf_counter() - start
                plan.reporter(StepRecord(step, plan.steps, cost, history.accuracy[-1], elapsed))
    finally:
        history.seconds = time.perf_counter() - start
        if isinstance(plan.reporter, ProgressLine):
            plan.reporter.close()
    return history


@dataclass
class _Plan:
    """``fit``'s checked arguments: what one training step needs, and how many steps to take."""

    loss_fn: LossFunction
    optimizer: SGD
    rows: list[list[float]]
    labels: list[float]
    targets: list[float]
    """What the loss compares with: the labels, or 2y − 1 ∈ {−1, +1} for the hinge loss."""
    threshold: float
    steps: int
    batch: int
    rng: np.random.Generator
    reporter: Callable[[StepRecord], None] | None
    compiled: CompiledCost | None = None
    """The replay each step runs instead of building a graph (``compile=True`` or "numpy")."""


def _plan(
    model: MLP, X: object, y: object, loss: str | LossFunction, optimizer: SGD | None,
    sgd_settings: tuple[float | None, float | None, float | None], steps: int, batch_size: int | None,
    seed: int, progress: bool | Callable[[StepRecord], None], compile: bool | str = False,
) -> _Plan:
    """Check every argument of ``fit`` (TypeError / ValueError naming it) and gather them in a ``_Plan``."""
    _single_output(model, "fit")
    loss_fn, signed_targets = _resolve_loss(model, loss)
    chosen_optimizer = _resolve_optimizer(model, optimizer, *sgd_settings)
    steps = check_int("fit", "steps", steps, minimum=1, maximum=MAX_STEPS, limit="MAX_STEPS")
    seed = check_seed("fit", seed)
    if batch_size is not None:
        batch_size = check_int("fit", "batch_size", batch_size, minimum=1, hint="or None for all samples")
    reporter = _reporter(progress)
    replay = _check_replay(compile)
    x_matrix, y_vector = _rows(model, X, y, "fit")
    m = len(y_vector)
    batch = m if batch_size is None else min(batch_size, m)
    labels = y_vector.tolist()
    return _Plan(
        loss_fn, chosen_optimizer, x_matrix.tolist(), labels,
        (2.0 * y_vector - 1.0).tolist() if signed_targets else labels, decision_threshold(model),
        steps, batch, np.random.default_rng(seed), reporter,
        None if replay is None else CompiledCost(model, loss_fn, replay, check_mean=callable(loss)),
    )


def _check_replay(compile: object) -> str | None:
    """``fit``'s ``compile`` argument: None (the engine), "python" or "numpy"."""
    if compile is False:
        return None
    expected = "False, True or 'numpy'"
    if not isinstance(compile, (bool, str)):
        fail(TypeError, "fit", "compile", expected, describe(compile))
    if compile not in REPLAYS:
        fail(ValueError, "fit", "compile", expected, short_repr(compile))
    return REPLAYS[compile]  # type: ignore[index]


def _reporter(progress: bool | Callable[[StepRecord], None]) -> Callable[[StepRecord], None] | None:
    """What shows each step: a ``ProgressLine`` for True, nothing for False, else the function given."""
    if progress is True:
        return ProgressLine()
    if progress is False or progress is None:
        return None
    if callable(progress):
        return progress
    fail(TypeError, "fit", "progress", "True, False or a function of each StepRecord", describe(progress))


def _batches(plan: _Plan) -> Iterator[list[int]]:
    """The row indices of each step's batch: all rows, or minibatches of a fresh shuffle per pass."""
    m = len(plan.rows)
    order: list[int] = list(range(m))
    position = m  # forces a shuffle before the first minibatch
    for _ in range(plan.steps):
        if plan.batch == m:
            yield order
            continue
        if position >= m:
            order = plan.rng.permutation(m).tolist()
            position = 0
        yield order[position : position + plan.batch]
        position += plan.batch


def _refuse_diverged(plan: _Plan, history: History, cost: float) -> None:
    """A ``TrainingDivergedError`` when the cost of the step after ``history`` is inf or nan."""
    if math.isfinite(cost):
        return
    step = len(history) + 1
    raise TrainingDivergedError(
        f"fit: the cost J at step {step} is {cost!r}; {_advice(plan, history, before_update=True)}",
        history, step, cost,
    )


def _record_cost(plan: _Plan, history: History, costs: list[float], cost: float) -> None:
    """Keep the step's cost J in ``costs``, then refuse it if it is inf or nan."""
    costs.append(cost)
    _refuse_diverged(plan, history, cost)


def _non_finite(error: Exception) -> bool:
    """Whether ``error``, raised inside a training step, says that a number is not finite.

    Such are the engine's ``DomainError`` for a result or derivative that overflows
    or is not finite, backward's ``AnomalyError`` for a nan gradient, Python's
    ``OverflowError``, and ``SGD.step``'s ``FloatingPointError``; not a report of
    ``detect_anomaly()`` (the user asked for it), nor a domain error such as ln of a
    negative number (the engine's message is kept).
    """
    if isinstance(error, TrainingDivergedError):
        return False
    if isinstance(error, engine.AnomalyError):
        return not anomaly_checks_enabled()
    if isinstance(error, (FloatingPointError, OverflowError)):
        return True
    text = str(error)
    return isinstance(error, engine.DomainError) and ("overflows" in text or "not finite" in text)


def _diverged(plan: _Plan, history: History, cost: float | None, error: Exception) -> TrainingDivergedError:
    """The ``TrainingDivergedError`` for ``error`` (see ``_non_finite``) in the step after ``history``."""
    step = len(history) + 1
    if cost is None:
        what = f"the forward pass of step {step} is not finite"
    elif isinstance(error, FloatingPointError) and not isinstance(error, engine.AnomalyError):  # SGD.step's
        what = f"the update of step {step} (cost J {cost:.4g}) would make a number not finite"
    else:
        what = f"the backward pass of step {step} (cost J {cost:.4g}) is not finite"
    return TrainingDivergedError(
        f"fit: {what} ({type(error).__name__}: {error}); {_advice(plan, history, cost is None)}",
        history, step, cost,
    )


def _advice(plan: _Plan, history: History, before_update: bool) -> str:
    """What to change after a step that failed, and in what state the model is."""
    step, lr = len(history) + 1, plan.optimizer.lr
    if step == 1 and before_update:
        return (
            "the cost before any update is not finite, and the model is unchanged: scale the features "
            "of X down (e.g. to mean 0, standard deviation 1), or check the loss function"
        )
    if step == 1:
        state = "the model is unchanged (no step completed)"
    else:
        state = (
            f"the model is left as after step {step - 1} (the last finite cost, "
            f"{history.loss[-1]:.4g}; the losses so far are on this error's .history)"
        )
    return f"training diverged: {state}; lower the learning rate (lr = {lr:g} now), e.g. lr={lr / 10:g}"


def _train_step(
    model: MLP, plan: _Plan, chosen: list[int], check_cost: Callable[[float], None]
) -> tuple[float, int]:
    """Forward, cost, backward, update on the rows ``chosen``; returns the cost and how many were right.

    ``check_cost(J)`` runs between the forward pass and the backward pass (it may raise,
    and then no gradient or parameter has changed). Both results are measured before the update.
    The step's graph is dropped on return. The graph is recorded even inside a user's
    ``no_grad()`` block (``enable_grad``): training needs it.
    """
    targets = [plan.targets[i] for i in chosen]
    if plan.compiled is not None:
        cost, outputs = plan.compiled.backward([plan.rows[i] for i in chosen], targets, check_cost)
        plan.optimizer.step()
    else:
        with gc_paused(), enable_grad():
            predictions = [model(plan.rows[i]) for i in chosen]
            graph_cost = _cost(plan.loss_fn, predictions, targets)
            check_cost(graph_cost.data)
            model.zero_grad()
            graph_cost.backward()
            plan.optimizer.step()
        cost, outputs = graph_cost.data, [a.data for a in predictions]
    right = sum(
        (a >= plan.threshold) == (plan.labels[i] == 1.0) for a, i in zip(outputs, chosen, strict=True)
    )
    return cost, right


def _cost(loss: LossFunction, predictions: list[Value], targets: list[float]) -> Value:
    """``loss(predictions, targets)``, which must be a Value (the cost to backpropagate from)."""
    cost = loss(predictions, targets)
    if not isinstance(cost, Value):
        fail(TypeError, "fit", "loss", _LOSS_FUNCTION, f"a function that returned {describe(cost)}",
             "the cost J to backpropagate from")
    return cost


class CompiledCost:
    """The cost J = 1/m Σᵢ ℒ(a⁽ⁱ⁾, y⁽ⁱ⁾) of a batch and its gradients, with no graph built.

    One sample's loss ℒ(a(x), y) = ``loss([model(x)], [y])`` is traced once for each
    target value y (``engine.compile``, the model's parameters as its parameters)
    and replayed for every sample of the batch: as straight-line Python, sample by
    sample (``replay="python"``), or on numpy arrays of the whole batch
    (``replay="numpy"``). Each sample's backward pass starts from 1/m, as the
    engine's does through J = 1/m Σ ℒ, so the gradients are the engine's, to
    rounding. ``check_mean``: compare J with the engine's loss on the first
    batch (for a loss function of your own, which must be a mean over samples).
    """

    def __init__(
        self, model: MLP, loss: LossFunction, replay: str = "python", check_mean: bool = False
    ) -> None:
        check_instance("CompiledCost", "model", model, MLP, "an nn.MLP")
        check_callable("CompiledCost", "loss", loss, _LOSS_FUNCTION)
        self.replay = check_choice("CompiledCost", "replay", replay, ("python", "numpy"))
        self.model = model
        self.loss = loss
        self.parameters = model.parameters()
        self.by_target: dict[float, engine.CompiledFunction] = {}
        self._check_mean = check_mean

    def compiled(self, target: float) -> engine.CompiledFunction:
        """The compiled loss of one sample whose target is ``target`` (traced at its first use)."""
        g = self.by_target.get(target)
        if g is None:
            model, loss = self.model, self.loss

            def sample_loss(*x: Value) -> tuple[Value, Value]:
                a = model(list(x))
                return _cost(loss, [a], [target]), a

            g = self.by_target[target] = engine.compile(sample_loss, parameters=self.parameters)
        return g

    def backward(
        self, rows: Sequence[Sequence[float]], targets: Sequence[float],
        check_cost: Callable[[float], None] | None = None,
    ) -> tuple[float, list[float]]:
        """J over ``rows`` and ``targets``, and each sample's output a; sets every parameter's grad to
        ∂J/∂p (all at once, as ``backward`` after ``zero_grad``). ``check_cost(J)``, if given, runs
        before any grad is set (``fit`` refuses an inf or nan J there)."""
        m = len(rows)
        groups: dict[float, list[int]] = {}
        for i, target in enumerate(targets):
            groups.setdefault(target, []).append(i)
        losses = [0.0] * m
        outputs = [0.0] * m
        gradients = [0.0] * len(self.parameters)
        nin = self.model.nin
        for target, members in groups.items():
            columns = [[rows[i][j] for i in members] for j in range(nin)]
            g = self.compiled(target)
            if self.replay == "numpy":
                (values, predictions), sample_gradients = g.batch(*columns, gradient=1.0 / m)
                values, predictions = values.tolist(), predictions.tolist()
            else:
                pairs, sample_gradients = g.over_samples(*columns, gradient=1.0 / m)
                values, predictions = [v for v, _ in pairs], [a for _, a in pairs]
            for i, value, a in zip(members, values, predictions):
                losses[i], outputs[i] = value, a
            for k, total in enumerate(sample_gradients[nin:]):
                gradients[k] += total
        cost = sum(losses) * (1.0 / m)  # the engine's J: the terms summed in order, times 1/m
        if self._check_mean:
            self._check_mean = False
            self._compare_with_engine(rows, targets, cost)
        if check_cost is not None:
            check_cost(cost)
        engine.set_grads(self.parameters, gradients)  # all or none, as backward's commit
        return cost, outputs

    def _compare_with_engine(
        self, rows: Sequence[Sequence[float]], targets: Sequence[float], cost: float
    ) -> None:
        with no_grad():
            expected = self.loss([self.model(list(row)) for row in rows], list(targets)).data
        if not abs(expected - cost) <= 1e-9 * (1.0 + abs(expected)):
            raise ValueError(
                f"fit: with compile, the cost is the mean of the loss of each sample, "
                f"1/m Σ loss([a], [y]) = {cost!r}, but this loss function gives {expected!r} on the batch; "
                "compile needs a loss that is a mean over the samples (as 'bce', 'mse' and 'hinge' are)"
            )

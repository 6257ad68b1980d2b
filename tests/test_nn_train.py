"""fit / predict / accuracy: it learns, it is the course's update, it is reproducible, it says no clearly."""

from __future__ import annotations

import gc
import io
import math
import re
from typing import ClassVar

import numpy as np
import pytest

import engine
from nn import (
    MLP,
    SGD,
    TrainingDivergedError,
    accuracy,
    binary_cross_entropy,
    fit,
    make_moons,
    make_xor,
    predict,
    predict_scores,
)
from nn.train import ProgressLine, StepRecord


def test_training_on_moons_learns():
    x, y = make_moons(60, 0.1, seed=1)
    model = MLP(2, [8, 8, 1], seed=1)
    history = fit(model, x, y, lr=0.5, steps=80, progress=False)
    assert history.accuracy[0] < 0.9  # a straight line does about this well on moons
    assert accuracy(model, x, y) >= 0.97
    assert history.final_loss < history.loss[0] / 10


def test_training_on_xor_learns_what_a_linear_model_cannot():
    x, y = make_xor(40, 0.2, seed=2)
    model = MLP(2, [6, 1], seed=2)
    fit(model, x, y, lr=0.5, steps=60, progress=False)
    assert accuracy(model, x, y) == 1.0
    corners = np.array([[1.0, 1.0], [-1.0, -1.0], [1.0, -1.0], [-1.0, 1.0]])
    assert predict(model, corners).tolist() == [0, 0, 1, 1]


@pytest.mark.parametrize(("loss", "output"), [("mse", "sigmoid"), ("hinge", "linear")])
def test_other_losses_train_too(loss, output):
    x, y = make_moons(40, 0.05, seed=3)
    model = MLP(2, [8, 8, 1], output_activation=output, seed=3)
    fit(model, x, y, loss=loss, lr=0.1 if loss == "hinge" else 0.5, steps=80, progress=False)
    assert accuracy(model, x, y) >= 0.95


def test_history_starts_with_the_initial_cost_and_accuracy():
    x, y = make_moons(20, 0.1, seed=4)
    model = MLP(2, [4, 1], seed=4)
    initial_cost = binary_cross_entropy([model(row) for row in x.tolist()], y.tolist()).data
    initial_accuracy = accuracy(model, x, y)
    history = fit(model, x, y, steps=5, progress=False)
    assert len(history) == 5 and len(history.accuracy) == 5 and history.seconds > 0
    assert history.loss[0] == initial_cost
    assert history.accuracy[0] == initial_accuracy


def test_one_fit_step_is_the_course_update_w_minus_alpha_dw():
    x, y = make_moons(10, 0.1, seed=5)
    model, copy = MLP(2, [3, 1], seed=5), MLP(2, [3, 1], seed=5)
    cost = binary_cross_entropy([copy(row) for row in x.tolist()], y.tolist())
    cost.backward()
    expected = [p.data - 0.2 * p.grad for p in copy.parameters()]
    fit(model, x, y, lr=0.2, momentum=0.0, steps=1, progress=False)
    assert [p.data for p in model.parameters()] == pytest.approx(expected, abs=1e-15)


def test_minibatches_are_reproducible_with_the_seed():
    x, y = make_moons(30, 0.1, seed=6)

    def run(seed):
        model = MLP(2, [4, 1], seed=0)
        history = fit(model, x, y, lr=0.3, steps=12, batch_size=8, seed=seed, progress=False)
        return history.loss, model.state_dict()

    assert run(1) == run(1)
    assert run(1)[0] != run(2)[0]


def test_a_given_optimizer_is_used_and_keeps_its_state():
    x, y = make_moons(20, 0.1, seed=7)
    model = MLP(2, [4, 1], seed=7)
    optimizer = SGD(model.parameters(), lr=0.1, momentum=0.5, weight_decay=1e-3)
    fit(model, x, y, optimizer=optimizer, steps=3, progress=False)
    assert any(v != 0.0 for v in optimizer.velocities)


def test_steps_run_with_the_cyclic_collector_paused_and_restore_it():
    x, y = make_moons(10, 0.1, seed=8)
    seen = []

    def spying_loss(predictions, targets):
        seen.append(gc.isenabled())
        return binary_cross_entropy(predictions, targets)

    assert gc.isenabled()
    fit(MLP(2, [3, 1]), x, y, loss=spying_loss, steps=3, progress=False)
    assert seen == [False, False, False]
    assert gc.isenabled()


def test_predictions_build_no_graph_and_match_the_forward_pass():
    class Spy(MLP):
        grad_modes: ClassVar[list[bool]] = []

        def __call__(self, x):
            self.grad_modes.append(engine.is_grad_enabled())
            return super().__call__(x)

    model = Spy(2, [4, 1], seed=9)
    x = np.array([[0.1, 0.2], [-1.0, 3.0], [2.0, -0.5]])
    scores = predict_scores(model, x)
    assert model.grad_modes == [False, False, False]
    assert scores.tolist() == [MLP.__call__(model, row).data for row in x.tolist()]
    assert predict(model, x).tolist() == (scores >= 0.5).astype(int).tolist()
    assert all(p.grad == 0.0 for p in model.parameters())


def test_accuracy_is_the_fraction_right():
    model = MLP(2, [1], output_activation="linear", seed=0)
    model.load_state_dict({"W[1]_0,0": 1.0, "W[1]_0,1": 0.0, "b[1]_0": 0.0})  # class 1 iff x₁ ≥ 0
    x = np.array([[1.0, 0.0], [-1.0, 0.0], [2.0, 5.0], [-3.0, 1.0]])
    assert accuracy(model, x, [1, 0, 0, 0]) == 0.75


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"model": MLP(2, [3, 1], output_activation="tanh")}, ValueError, "'bce' needs a sigmoid output"),
        ({"loss": "hinge"}, ValueError, "'hinge' needs a score output"),
        ({"loss": "cross"}, ValueError, "loss must be one of 'bce', 'mse', 'hinge' or a .*, got 'cross'$"),
        ({"loss": []}, TypeError, r"loss must be one of .*, got \[\] \(list\)"),
        ({"model": MLP(2, [3, 2])}, ValueError, "1 output unit; this MLP's last layer has 2"),
        ({"model": MLP(3, [1])}, ValueError, "the model takes 3 inputs but X has 2 columns"),
        ({"y": [0, 1, 2, 1]}, ValueError, "labels must be 0 or 1, got 2 in row 2"),
        ({"x": [[0.0, 1.0, 2.0, 3.0], [1.0, 0.0, 1.0, 0.0]]}, ValueError, "X looks transposed"),
        ({"steps": 0}, ValueError, "steps must be an integer ≥ 1, got 0"),
        ({"steps": 10**13}, ValueError, "steps must be at most MAX_STEPS = 1,000,000,000,000, got 10{13}$"),
        ({"batch_size": 0}, ValueError, "batch_size must be an integer ≥ 1, got 0"),
        ({"seed": 1.5}, TypeError, "seed must be an integer"),
        ({"lr": -1.0}, ValueError, "lr must be a finite number > 0"),
        ({"optimizer": "sgd"}, TypeError, "optimizer must be an nn.SGD"),
        ({"optimizer": SGD(MLP(2, [1]).parameters(), lr=0.1)}, ValueError, "none of this model's parameters"),
        ({"progress": "yes"}, TypeError, "progress must be True, False or a function"),
    ],
)
def test_bad_arguments_are_refused_clearly(kwargs, error, message):
    model = kwargs.pop("model", MLP(2, [3, 1]))
    x = kwargs.pop("x", [[0.0, 1.0], [1.0, 0.0], [2.0, 2.0], [3.0, 0.0]])
    y = kwargs.pop("y", [0, 1, 0, 1])
    before = model.state_dict()
    with pytest.raises(error, match=message):
        fit(model, x, y, steps=kwargs.pop("steps", 2), progress=kwargs.pop("progress", False), **kwargs)
    assert model.state_dict() == before


def test_optimizer_and_lr_together_are_ambiguous():
    model = MLP(2, [1])
    with pytest.raises(ValueError, match="either optimizer"):
        fit(model, [[0.0, 1.0]], [1], optimizer=SGD(model.parameters(), lr=0.1), lr=0.2, progress=False)


# --- the progress line ------------------------------------------------------------------------
class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def shown(stream: io.StringIO, steps: int, **options) -> str:
    """What a ProgressLine writes for steps with loss 1/s, accuracy s/steps, 0.1·s seconds."""
    line = ProgressLine(stream, **options)
    for s in range(1, steps + 1):
        line(StepRecord(s, steps, 1.0 / s, s / steps, 0.1 * s))
    line.close()
    return stream.getvalue()


def test_progress_in_a_log_prints_every_tenth_step_the_first_and_the_last():
    output = shown(io.StringIO(), 25)
    printed = output.splitlines()
    assert [text.split("/")[0] for text in printed] == ["step  1", "step  2", "step  4", "step  6", "step  8",
                                                        "step 10", "step 12", "step 14", "step 16", "step 18",
                                                        "step 20", "step 22", "step 24", "step 25"]
    assert printed[-1] == "step 25/25  loss 0.0400  accuracy 100.0%  2.5 s"
    assert "\r" not in output


def test_progress_on_a_terminal_rewrites_one_line_in_place():
    assert shown(Terminal(), 3, min_interval=0.0) == (
        "\rstep 1/3  loss 1.0000  accuracy  33.3%  0.1 s"
        "\rstep 2/3  loss 0.5000  accuracy  66.7%  0.2 s"
        "\rstep 3/3  loss 0.3333  accuracy 100.0%  0.3 s\n"
    )


def test_progress_on_a_terminal_is_throttled_but_shows_the_last_step():
    output = shown(Terminal(), 50, min_interval=3600.0)
    assert output.count("\r") == 2  # the first step, then the last
    assert output.endswith("step 50/50  loss 0.0200  accuracy 100.0%  5.0 s\n")


def test_fit_reports_each_step_to_a_callback():
    x, y = make_moons(10, 0.1, seed=0)
    seen: list[StepRecord] = []
    history = fit(MLP(2, [3, 1]), x, y, steps=4, progress=seen.append)
    assert [r.step for r in seen] == [1, 2, 3, 4] and all(r.steps == 4 for r in seen)
    assert [r.loss for r in seen] == history.loss and [r.accuracy for r in seen] == history.accuracy


def test_fit_shows_progress_on_stderr_by_default(capsys):
    x, y = make_moons(10, 0.1, seed=0)
    fit(MLP(2, [3, 1]), x, y, steps=3)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines()[-1].startswith("step 3/3  loss ")


@pytest.mark.parametrize("compile", [False, True, "numpy"])
def test_fit_trains_the_same_inside_a_users_no_grad_block(compile):
    x, y = make_moons(12, 0.1, seed=6)
    outside, inside = MLP(2, [3, 1], seed=6), MLP(2, [3, 1], seed=6)
    expected = fit(outside, x, y, steps=3, progress=False, compile=compile)
    with engine.no_grad():
        history = fit(inside, x, y, steps=3, progress=False, compile=compile)
        assert not engine.is_grad_enabled()  # the user's block is still in force after fit
    assert history.loss == pytest.approx(expected.loss, rel=1e-12)
    assert history.loss[2] < history.loss[0]
    assert [p.data for p in inside.parameters()] == pytest.approx([p.data for p in outside.parameters()])


@pytest.mark.parametrize("compile", [False, True, "numpy"])
def test_fit_stops_at_the_first_infinite_cost_before_its_backward_and_update(compile):
    x, y = make_moons(12, seed=0)
    model, after_one_step = MLP(2, [3, 1], seed=1), MLP(2, [3, 1], seed=1)
    expected = fit(after_one_step, x, y, lr=1e308, steps=1, progress=False, compile=compile)
    with pytest.raises(TrainingDivergedError) as caught:
        fit(model, x, y, lr=1e308, steps=3, progress=False, compile=compile)
    assert isinstance(caught.value, FloatingPointError)
    assert caught.match(
        r"^fit: the cost J at step 2 is inf; training diverged: the model is left as after step 1 \(the last "
        r"finite cost, 0\.8114; the losses so far are on this error's \.history\); lower the learning rate "
        r"\(lr = 1e\+308 now\), e.g. lr=1e\+307$"
    )
    assert (caught.value.step, caught.value.cost) == (2, math.inf)
    assert caught.value.history.loss == expected.loss and len(caught.value.history.accuracy) == 1
    assert [p.data for p in model.parameters()] == [p.data for p in after_one_step.parameters()]
    assert [p.grad for p in model.parameters()] == [p.grad for p in after_one_step.parameters()]


DIVERGING = [  # (output activation, loss, lr, step that fails, the part of the step, the error chained)
    ("linear", "mse", 1e200, 2, r"the forward pass of step 2 is not finite \(DomainError: power: the result "
     r"overflows float .*\)", engine.DomainError),
    ("linear", "hinge", 1.7e308, 2, r"the forward pass of step 2 is not finite \(DomainError: relu: the "
     r"result inf is not finite, got z = inf\)", engine.DomainError),
    ("tanh", "mse", 1e308, 4, r"the update of step 4 \(cost J 2\.5\) would make a number not finite "
     r"\(FloatingPointError: SGD\.step: parameter 12 \(W\[2\]_0,0\) would become inf: w − αv with "
     r"w = 1\.6198498143068\d*e\+308, α = 1e\+308, v = -0\.4357455773541\d* \(v ← μv \+ \(g \+ λw\) with "
     r"μ = 0\.9, v = -0\.484161752615\d*, g = 0\.0\); no parameter was changed\)", FloatingPointError),
]


@pytest.mark.parametrize("compile", [False, True, "numpy"])
@pytest.mark.parametrize(("activation", "loss", "lr", "step", "what", "cause"), DIVERGING)
def test_fit_turns_any_non_finite_failure_of_a_step_into_training_diverged(
    compile, activation, loss, lr, step, what, cause
):
    x, y = make_moons(20, noise=0.1, seed=0)
    model = MLP(2, [4, 1], seed=0, output_activation=activation)
    good = MLP(2, [4, 1], seed=0, output_activation=activation)
    expected = fit(good, x, y, lr=lr, steps=step - 1, progress=False, loss=loss, compile=compile)
    with pytest.raises(TrainingDivergedError) as caught:
        fit(model, x, y, lr=lr, steps=6, progress=False, loss=loss, compile=compile)
    error = caught.value
    assert caught.match(
        rf"^fit: {what}; training diverged: the model is left as after step {step - 1} \(the last finite "
        rf"cost, [0-9.]+; the losses so far are on this error's \.history\); lower the learning rate "
        rf"\(lr = {re.escape(f'{lr:g}')} now\), e\.g\. lr={re.escape(f'{lr / 10:g}')}$"
    )
    assert type(error.__cause__) is cause
    assert error.step == step and error.history.loss == expected.loss
    assert error.cost is None if cause is engine.DomainError else error.cost == 2.5
    assert [p.data for p in model.parameters()] == [p.data for p in good.parameters()]


def test_fit_says_a_forward_pass_that_overflows_at_step_1_comes_from_the_data():
    model = MLP(2, [1], seed=1, output_activation="linear")
    before = [p.data for p in model.parameters()]
    with pytest.raises(TrainingDivergedError) as caught:
        fit(model, [[1e300, 1e300]] * 2, [0, 1], progress=False, loss="mse")
    assert caught.match(
        r"^fit: the forward pass of step 1 is not finite \(DomainError: power: the result overflows float "
        r".*\); the cost before any update is not finite, and the model is unchanged: scale the features "
        r"of X down \(e\.g\. to mean 0, standard deviation 1\), or check the loss function$"
    )
    assert (caught.value.step, caught.value.cost, len(caught.value.history)) == (1, None, 0)
    assert [p.data for p in model.parameters()] == before


def test_fit_keeps_a_domain_error_that_is_not_an_overflow_and_a_report_asked_for():
    x, y = make_moons(8, seed=0)
    with pytest.raises(engine.DomainError, match=r"^log: "):
        fit(MLP(2, [3, 1], seed=0, output_activation="tanh"), x, y, progress=False,
            loss=lambda p, t: sum(a.log() for a in p))
    with engine.detect_anomaly(), pytest.raises(engine.AnomalyError, match=r"^detect_anomaly: "):
        fit(MLP(2, [3, 1], seed=0), x, y, progress=False, loss=lambda p, t: p[0] * 1e308 * 10.0)


def test_progress_writes_a_huge_loss_in_4_significant_digits():
    from nn.train import format_loss

    assert [format_loss(x) for x in (0.04123, 999_999.0, 1e6, 6.731983e300)] == [
        "0.0412", "999999.0000", "1e+06", "6.732e+300"
    ]
    line = ProgressLine.format(StepRecord(3, 10, 6.731983e300, 0.5, 1.0))
    assert line == "step  3/10  loss 6.732e+300  accuracy  50.0%  1.0 s"

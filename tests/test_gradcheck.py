"""gradcheck: it passes on right gradients, fails on wrong ones, and reports the numbers."""

from __future__ import annotations

import math

import pytest

from engine import OPS, GradcheckError, Value, gradcheck, numerical_grad, relative_error
from engine.value import _result


def _buggy_square(x: Value) -> Value:
    """x² whose recorded local derivative is x instead of 2x: a planted bug."""
    return _result(x.data * x.data, OPS["mul_const"], (x,), (x.data,), x.data)


def test_report_on_right_gradients() -> None:
    report = gradcheck(lambda a, b: (a * b).tanh() + a.exp() / b, [0.4, 1.3])
    assert report.passed and bool(report)
    assert [c.name for c in report.inputs] == ["x0", "x1"]
    a, b = 0.4, 1.3
    expected_da = b * (1 - math.tanh(a * b) ** 2) + math.exp(a) / b
    assert report.inputs[0].autograd == pytest.approx(expected_da, rel=1e-12)
    assert report.inputs[0].numerical == pytest.approx(expected_da, rel=1e-8)
    assert report.relative_error < 1e-8
    text = str(report)
    assert "PASS" in text and "x0" in text and "‖g−g̃‖/(‖g‖+‖g̃‖)" in text
    assert repr(report) == text  # a bare gradcheck(...) at the prompt shows the table, not a dataclass dump


def test_wrong_gradient_fails_and_raises() -> None:
    with pytest.raises(GradcheckError, match="FAIL"):
        gradcheck(_buggy_square, [1.5])
    report = gradcheck(_buggy_square, [1.5], raise_on_failure=False)
    assert not report.passed
    assert report.inputs[0].autograd == 1.5
    assert report.inputs[0].numerical == pytest.approx(3.0, rel=1e-8)
    assert report.relative_error == pytest.approx(1.5 / 4.5, rel=1e-6)  # |1.5−3| / (1.5 + 3)


def test_labels_name_the_inputs_and_grads_are_untouched() -> None:
    w = Value(0.5, label="w")
    w.grad = 7.0
    report = gradcheck(lambda v: v.sigmoid(), [w])
    assert report.inputs[0].name == "w" and w.grad == 7.0 and w.data == 0.5


def test_numerical_grad_restores_data_even_on_error() -> None:
    x = Value(2.0)
    calls = []

    def exploding() -> float:
        calls.append(x.data)
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        numerical_grad(exploding, [x])
    assert x.data == 2.0 and calls == [2.0 + 1e-6]


def test_numerical_grad_is_central() -> None:
    x = Value(1.0)
    # f = x³: central difference error is eps², forward difference would be 3·eps.
    (estimate,) = numerical_grad(lambda: x.data**3, [x], eps=1e-3)
    assert estimate == pytest.approx(3.0 + 1e-6, abs=1e-9)


def test_relative_error_formula() -> None:
    assert relative_error([3.0, 4.0], [3.0, 4.0]) == 0.0
    assert relative_error([0.0], [0.0]) == 0.0
    assert relative_error([1.0, 0.0], [0.0, 1.0]) == pytest.approx(math.sqrt(2) / 2)


def test_f_must_return_a_value() -> None:
    with pytest.raises(TypeError, match="must return a Value"):
        gradcheck(lambda x: 3.0, [1.0])

"""gradcheck: it passes on right gradients, fails on wrong ones, and reports the numbers."""

from __future__ import annotations

import math

import pytest

import engine
from engine import GradcheckError, Value, define_op, gradcheck, numerical_grad, relative_error

# x² whose rule says ∂/∂a = a instead of 2a: a planted bug, defined as a learner would define an op.
_BUGGY_SQUARE = define_op(
    "buggy_square", forward=lambda a: a * a, local_grads=lambda out, a: (a,), formula="∂(a²)/∂a = a (wrong)"
)


def _buggy_square(x: Value) -> Value:
    return _BUGGY_SQUARE(x)


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


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: gradcheck("f", [1.0]), TypeError, r"^gradcheck: f must be a function, got 'f' \(str\)$"),
        (lambda: gradcheck(lambda x: x, 1.0), TypeError,
         r"^gradcheck: inputs must be a non-empty list of Values"),
        (lambda: gradcheck(lambda x: x, []), ValueError,
         r"^gradcheck: inputs must be a non-empty list .*, got \[\]$"),
        (lambda: gradcheck(lambda x: x, ["a"]), TypeError,
         r"^gradcheck: inputs\[0\] must be a finite number, got 'a'"),
        (lambda: gradcheck(lambda x: x, [1.0], eps=0), ValueError,
         r"^gradcheck: eps must be a finite number > 0, got 0$"),
        (lambda: gradcheck(lambda x: x, [1.0], eps="1e-6"), TypeError,
         r"^gradcheck: eps must be a finite number > 0"),
        (lambda: gradcheck(lambda x: x, [1.0], atol=-1.0), ValueError,
         r"^gradcheck: atol must be a finite number ≥ 0"),
        (lambda: gradcheck(lambda x: x, [1.0], rtol=math.nan), ValueError,
         r"^gradcheck: rtol must be a finite number"),
        (lambda: gradcheck(lambda x: x, [1.0], raise_on_failure="no"), TypeError,
         r"^gradcheck: raise_on_failure must be True or False, got 'no' \(str\)$"),
        (lambda: numerical_grad(lambda: 1.0, [2.0]), TypeError,
         r"^numerical_grad: values\[0\] must be a Value, got 2\.0 \(float\)$"),
        (lambda: numerical_grad(lambda: 1.0, [Value(1.0)], eps=-1), ValueError,
         r"^numerical_grad: eps must be a finite number > 0, got -1$"),
    ],
)
def test_bad_arguments_are_refused_by_name(call, error, message) -> None:
    with pytest.raises(error, match=message):
        call()


def test_a_refused_numerical_grad_leaves_every_value_as_it_was() -> None:
    x, y = Value(1.0), Value(2.0)
    with pytest.raises(TypeError):
        numerical_grad(lambda: x.data + y.data, [x, y, 3.0])
    assert (x.data, y.data) == (1.0, 2.0)


def test_relative_error_holds_for_gradients_near_the_ends_of_the_float_range() -> None:
    """Squares of 1e200 overflowed (an OverflowError, or a ratio of 0 for 3e160) and of 1e-200 vanished."""
    assert relative_error([1e300], [0.0]) == 1.0
    assert relative_error([3e160], [3e160 * (1 + 1e-11)]) == pytest.approx(5e-12, rel=1e-3)
    assert relative_error([3e-200], [3e-200 * (1 + 1e-11)]) == pytest.approx(5e-12, rel=1e-3)
    assert math.isnan(relative_error([math.nan], [1.0])) and math.isnan(relative_error([math.inf], [1.0]))
    report = gradcheck(lambda x: x * 3e160, [1.0], raise_on_failure=False)
    assert report.relative_error == pytest.approx(0.0, abs=1e-6) and report.passed


def test_gradcheck_and_numerical_grad_work_inside_no_grad() -> None:
    """Under no_grad f built no graph: autograd gave 0 and gradcheck failed for a right gradient."""
    x = Value(2.0)
    with engine.no_grad():
        report = gradcheck(lambda v: v ** 3, [2.0])
        (estimate,) = numerical_grad(lambda: (x ** 3).data, [x])
        assert not engine.is_grad_enabled()  # the user's block is as it was
    assert report.passed and report.inputs[0].autograd == 12.0
    assert estimate == pytest.approx(12.0, rel=1e-8)


def test_central_differences_divide_by_the_step_the_floats_took() -> None:
    """At 1e10 a float moves by 1.9e−6, not by eps = 1e−6: dividing by 2·eps gave 3.81 for d(2x)/dx."""
    for start in (1.0, 1e9, 1e10):
        x = Value(start)
        assert numerical_grad(lambda x=x: x * 2.0, [x]) == [2.0]
    assert gradcheck(lambda z: z * 2.0, [1e10]).passed
    x = Value(1e11)
    no_step = (r"^numerical_grad: values\[0\]\.data ± eps is values\[0\]\.data itself \(100000000000\.0 ± "
               r"1e-06 rounds to it\): no step to measure; use an eps of at least 1\.53e-05")
    with pytest.raises(ValueError, match=no_step):
        numerical_grad(lambda: x * 2.0, [x])
    assert x.data == 1e11

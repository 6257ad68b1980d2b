"""engine.checks, the shared argument checks: TypeError for a wrong type, ValueError for a wrong value."""

from __future__ import annotations

import decimal
import doctest
import fractions
import math
import random
from pathlib import Path

import numpy as np
import pytest

import engine.checks
from engine.checks import (
    check_bool,
    check_choice,
    check_definition,
    check_instance,
    check_int,
    check_path,
    check_real,
    check_seed,
    check_sequence,
    check_str,
    describe,
    short_repr,
)
from engine.files import file_path


class _LoudStr(str):
    """A str subclass whose == says yes to everything: check_choice must compare its text alone."""

    def __eq__(self, other: object) -> bool:
        return True

    __hash__ = str.__hash__


# (call, what it returns)
ACCEPTED = [
    (lambda: check_int("f", "n", 3, minimum=1), 3),
    (lambda: check_int("f", "n", np.int64(3), minimum=1), 3),
    (lambda: check_int("f", "n", np.uint8(200), maximum=255), 200),
    (lambda: check_int("f", "n", 10**400), 10**400),
    (lambda: check_real("f", "x", 1), 1.0),
    (lambda: check_real("f", "x", np.float32(0.5), above=0.0, below=1.0), 0.5),
    (lambda: check_real("f", "x", fractions.Fraction(1, 4), minimum=0.0), 0.25),
    (lambda: check_real("f", "x", 0.0, minimum=0.0, below=1.0), 0.0),
    (lambda: check_bool("f", "b", np.True_), True),
    (lambda: check_bool("f", "b", False), False),
    (lambda: check_str("f", "s", ""), ""),
    (lambda: check_choice("f", "g", "tanh", ["tanh", "relu"]), "tanh"),
    (lambda: check_choice("f", "g", np.str_("relu"), ["tanh", "relu"]), "relu"),
    (lambda: check_choice("f", "g", _LoudStr("relu"), ["tanh", "relu"]), "relu"),
    (lambda: check_sequence("f", "s", (1, 2), of="ints"), [1, 2]),
    (lambda: check_sequence("f", "s", range(3), of="ints"), [0, 1, 2]),
    (lambda: check_sequence("f", "s", np.array([4, 1]), of="ints", min_length=1), [4, 1]),
    (lambda: check_seed("f", 2**64 - 1), 2**64 - 1),
    (lambda: check_path("f", "path", Path("a") / "b.json"), Path("a/b.json")),
    (lambda: check_path("f", "path", "b.json"), Path("b.json")),
    (lambda: check_int("f", "n", 10**7, minimum=2, maximum=10**7, limit="MAX"), 10**7),
    (lambda: check_real("f", "x", math.nan, finite=False), math.nan),
    (lambda: check_real("f", "x", -math.inf, finite=False), -math.inf),
    (lambda: check_definition("sin", math.sin, lambda out, a: (1.0,), "f", None, ()), (("a",), 1)),
    (lambda: check_definition("dot", lambda *xs: sum(xs), lambda out, *xs: xs, "f", 4, ()), (("xs",), 4)),
    (lambda: file_path("save_svg", "g", ".svg"), Path("g.svg")),
    (lambda: file_path("save_svg", "out/g.png", ".svg"), Path("out/g.png")),
]


@pytest.mark.parametrize(("call", "expected"), ACCEPTED)
def test_good_arguments_come_back_converted(call, expected):
    result = call()
    same = result == expected or (isinstance(result, float) and math.isnan(result) and math.isnan(expected))
    assert same and type(result) is type(expected)


# (call, exception, the whole message)
REFUSED = [
    (lambda: check_choice("MLP", "activation", _LoudStr("softmax"), ["tanh", "relu"]), ValueError,
     "MLP: activation must be one of 'tanh', 'relu', got 'softmax'"),
    (lambda: check_int("make_moons", "n_samples", 2.5, minimum=2), TypeError,
     "make_moons: n_samples must be an integer ≥ 2, got 2.5 (float)"),
    (lambda: check_int("make_moons", "n_samples", True, minimum=2), TypeError,
     "make_moons: n_samples must be an integer ≥ 2, got True (bool)"),
    (lambda: check_int("make_moons", "n_samples", "3", minimum=2), TypeError,
     "make_moons: n_samples must be an integer ≥ 2, got '3' (str)"),
    (lambda: check_int("make_moons", "n_samples", -1, minimum=2), ValueError,
     "make_moons: n_samples must be an integer ≥ 2, got -1"),
    (lambda: check_int("draw", "digits", 18, minimum=1, maximum=17), ValueError,
     "draw: digits must be an integer from 1 to 17, got 18"),
    (lambda: check_int("f", "n", 7, maximum=5, hint="fewer, please"), ValueError,
     "f: n must be an integer ≤ 5, got 7; fewer, please"),
    (lambda: check_real("SGD", "lr", "0.1", above=0.0), TypeError,
     "SGD: lr must be a finite number > 0, got '0.1' (str)"),
    (lambda: check_real("SGD", "lr", False, above=0.0), TypeError,
     "SGD: lr must be a finite number > 0, got False (bool)"),
    (lambda: check_real("SGD", "lr", None, above=0.0), TypeError,
     "SGD: lr must be a finite number > 0, got None (NoneType)"),
    (lambda: check_real("SGD", "lr", 1j, above=0.0), TypeError,
     "SGD: lr must be a finite number > 0, got 1j (complex)"),
    (lambda: check_real("SGD", "lr", decimal.Decimal("0.1"), above=0.0), TypeError,
     "SGD: lr must be a finite number > 0, got Decimal('0.1') (Decimal)"),
    (lambda: check_real("SGD", "lr", np.array([0.1]), above=0.0), TypeError,
     "SGD: lr must be a finite number > 0, got array([0.1]) (ndarray)"),
    (lambda: check_real("SGD", "lr", math.nan, above=0.0), ValueError,
     "SGD: lr must be a finite number > 0, got nan"),
    (lambda: check_real("SGD", "lr", math.inf, above=0.0), ValueError,
     "SGD: lr must be a finite number > 0, got inf"),
    (lambda: check_real("SGD", "lr", 0, above=0.0), ValueError, "SGD: lr must be a finite number > 0, got 0"),
    (lambda: check_real("f", "x", 10**400), ValueError,
     "f: x must be a finite number, got an integer too large for a float (max ≈ 1.8e308)"),
    (lambda: check_real("SGD", "momentum", 1.0, minimum=0.0, below=1.0), ValueError,
     "SGD: momentum must be a number in [0, 1), got 1.0"),
    (lambda: check_real("f", "x", 2.0, maximum=1.0), ValueError, "f: x must be a finite number ≤ 1, got 2.0"),
    (lambda: check_real("f", "x", 1.0, below=1.0), ValueError, "f: x must be a finite number < 1, got 1.0"),
    (lambda: check_real("f", "x", 0.5, minimum=1.0, maximum=2.0), ValueError,
     "f: x must be a number in [1, 2], got 0.5"),
    (lambda: check_bool("atomic_write", "binary", 1), TypeError,
     "atomic_write: binary must be True or False, got 1 (int)"),
    (lambda: check_bool("f", "b", "yes"), TypeError, "f: b must be True or False, got 'yes' (str)"),
    (lambda: check_str("f", "s", 5), TypeError, "f: s must be a string, got 5 (int)"),
    (lambda: check_str("f", "s", "", nonempty=True), ValueError, "f: s must be a non-empty string, got ''"),
    (lambda: check_choice("MLP", "activation", "softmax", ["tanh", "relu"]), ValueError,
     "MLP: activation must be one of 'tanh', 'relu', got 'softmax'"),
    (lambda: check_choice("MLP", "activation", [], ["tanh", "relu"]), TypeError,
     "MLP: activation must be one of 'tanh', 'relu', got [] (list)"),
    (lambda: check_choice("MLP", "activation", None, ["tanh"]), TypeError,
     "MLP: activation must be one of 'tanh', got None (NoneType)"),
    (lambda: check_sequence("MLP", "sizes", 1, of="widths"), TypeError,
     "MLP: sizes must be a list of widths, got 1 (int)"),
    (lambda: check_sequence("f", "s", "abc", of="ints"), TypeError,
     "f: s must be a list of ints, got 'abc' (str)"),
    (lambda: check_sequence("f", "s", {"a": 1}, of="ints"), TypeError,
     "f: s must be a list of ints, got {'a': 1} (dict)"),
    (lambda: check_sequence("f", "s", {1, 2}, of="ints"), TypeError,
     "f: s must be a list of ints, got {1, 2} (set)"),
    (lambda: check_sequence("f", "s", np.float64(2), of="ints"), TypeError,
     "f: s must be a list of ints, got np.float64(2.0) (float64)"),
    (lambda: check_sequence("f", "s", np.array(2), of="ints"), TypeError,
     "f: s must be a list of ints, got array(2) (ndarray)"),
    (lambda: check_sequence("f", "s", np.zeros((2, 2)), of="ints"), ValueError,
     "f: s must be a list of ints, got an array of shape (2, 2)"),
    (lambda: check_sequence("f", "s", [], of="ints", min_length=1), ValueError,
     "f: s must be a non-empty list of ints, got []"),
    (lambda: check_sequence("f", "s", [1], of="ints", min_length=2), ValueError,
     "f: s must be a list of at least 2 ints, got [1]"),
    (lambda: check_seed("make_moons", "a"), TypeError,
     "make_moons: seed must be an integer from 0 to 2**64 − 1, got 'a' (str); e.g. seed=0"),
    (lambda: check_seed("make_moons", -1), ValueError,
     "make_moons: seed must be an integer from 0 to 2**64 − 1, got -1; e.g. seed=0"),
    (lambda: check_instance("Neuron", "rng", 0, random.Random, "a random.Random or None"), TypeError,
     "Neuron: rng must be a random.Random or None, got 0 (int)"),
    (lambda: check_path("load_model", "path", 3), TypeError,
     "load_model: path must be a file name (str or pathlib.Path), got 3 (int)"),
    (lambda: check_path("load_model", "path", ""), ValueError,
     "load_model: path must be a file name (str or pathlib.Path), got ''"),
    (lambda: check_int("", "architecture.nin", 0, minimum=1), ValueError,
     "architecture.nin must be an integer ≥ 1, got 0"),
    (lambda: check_int("f", "n", 1, minimum=2, maximum=10, limit="MAX_N"), ValueError,
     "f: n must be an integer ≥ 2, got 1"),
    (lambda: check_int("f", "n", 11, minimum=2, maximum=10, limit="MAX_N"), ValueError,
     "f: n must be at most MAX_N = 10, got 11"),
    (lambda: check_int("f", "n", 10**5000, maximum=10, limit="MAX_N"), ValueError,
     "f: n must be at most MAX_N = 10, got an integer of more than 4,300 digits"),
    (lambda: check_real("f", "x", "1", finite=False), TypeError, "f: x must be a number, got '1' (str)"),
    (lambda: check_real("f", "x", 10**400, finite=False), ValueError,
     "f: x must be a number, got an integer too large for a float (max ≈ 1.8e308)"),
    (lambda: check_definition(5, abs, abs, "f", None, ()), TypeError,
     "define_op: name must be a string, got 5 (int); e.g. 'sin'"),
    (lambda: check_definition("a b", abs, abs, "f", None, ()), ValueError,
     "define_op: name must be a Python identifier such as 'sin', got 'a b'"),
    (lambda: check_definition("q", 5, abs, "f", None, ()), TypeError,
     "define_op('q'): forward must be a function, got 5 (int)"),
    (lambda: check_definition("q", abs, lambda out, a: (1.0,), "", None, ()), ValueError,
     "define_op('q'): formula must be a non-empty string, got ''; e.g. '∂(sin a)/∂a = cos a'"),
    (lambda: check_definition("q", abs, lambda out, a: (1.0,), "f", "2", ()), TypeError,
     "define_op('q'): arity must be an integer ≥ 1, got '2' (str); or None to read it from local_grads"),
    (lambda: check_definition("q", abs, lambda out, a: (1.0,), "f", 2, ()), ValueError,
     "define_op('q'): arity must be 1, as local_grads takes a, got 2"),
    (lambda: check_definition("q", abs, lambda out, a: (1.0,), "f", None, (), domain=5), TypeError,
     "define_op('q'): domain must be a function or None, got 5 (int)"),
    (lambda: check_definition("q", abs, lambda out, a: (1.0,), "f", None, (), symbol=""), ValueError,
     "define_op('q'): symbol must be a non-empty string, got ''; e.g. symbol='sin'"),
    (lambda: check_definition("q", abs, lambda out, a: (1.0,), "f", None, (), notation="sin"), TypeError,
     "define_op('q'): notation must be an engine.notation.Notation or None, got 'sin' (str); "
     "e.g. engine.notation.call('sin', 'sin')"),
    (lambda: check_definition("q", abs, lambda out, a: (1.0,), "f", None, (), float_overflow=1), TypeError,
     "define_op('q'): float_overflow must be True or False, got 1 (int)"),
    (lambda: check_definition("q", abs, lambda out: (), "f", None, ()), TypeError,
     "define_op('q'): local_grads takes the result and the inputs, e.g. lambda out, a: (...,)"),
    (lambda: file_path("save_svg", "..", ".svg"), ValueError,
     "save_svg: path must be a file name, got '..', which names a folder"),
]


@pytest.mark.parametrize(("call", "error", "message"), REFUSED)
def test_bad_arguments_get_the_shared_message(call, error, message):
    with pytest.raises(error) as caught:
        call()
    assert type(caught.value) is error
    assert str(caught.value) == message


def test_short_repr_is_total_and_short():
    class Broken:
        def __repr__(self) -> str:
            raise RuntimeError("no")

    assert short_repr(10**5000).startswith("an integer of more than")
    assert short_repr(-(10**5000)).startswith("an integer of more than")
    assert short_repr(Broken()).startswith("<Broken instance at")
    assert len(short_repr("x" * 100_000)) < 80
    assert len(short_repr(list(range(100_000)))) < 80
    assert len(short_repr({i: i for i in range(100_000)})) < 80
    assert describe(None) == "None (NoneType)"
    assert describe(10**5000).endswith("digits (int)")


def test_the_docstring_examples_run_as_shown():
    result = doctest.testmod(engine.checks)
    assert result.attempted >= 5 and result.failed == 0

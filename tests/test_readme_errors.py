"""The README's "Errors you may see": every message the table quotes is the real one.

``README_ROWS`` maps each quoted message to what makes it happen, run in a scratch
folder: the call raises (compared as ``"<ExceptionName>: <message>"``) or, for a
demo's printed advice, returns what was printed. ``...`` in a quote stands for
any text; runs of white space compare equal. Every message quoted in the
table's first column must have its row here, and every row here must be quoted
there, so the table and the code cannot drift apart.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import json
import math
import re
import runpy
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import engine
import nn
from engine import Value
from nn import MLP, SGD, binary_cross_entropy, load_model, save_model

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"

Happen = Callable[..., object]
"""What makes a message happen: no argument, or pytest's ``monkeypatch`` (to hide a program or a package)."""


# --- what makes some of the messages happen ------------------------------------------------------------
def _model_file(change: Callable[[str, dict], str]) -> Path:
    """model.json here: a saved 2-3-1 model, its text changed by ``change(text, document)``."""
    path = save_model(MLP(2, [3, 1]), "model.json")
    text = path.read_text(encoding="utf-8")
    path.write_text(change(text, json.loads(text)), encoding="utf-8")
    return path


def _with_document(edit: Callable[[dict], None]) -> Callable[[str, dict], str]:
    def change(text: str, document: dict) -> str:
        edit(document)
        return json.dumps(document)

    return change


def _first_parameter_as(number: str) -> Callable[[str, dict], str]:
    def change(text: str, document: dict) -> str:
        first = next(iter(document["parameters"].values()))
        return text.replace(repr(first), number, 1)

    return change


def _chain(n: int) -> Value:
    """x + 1 + 1 + ...: a graph of n + 1 nodes."""
    with engine.gc_paused():
        y = Value(1.0, label="x")
        for _ in range(n):
            y = y + 1.0
    return y


def _fake_dot(monkeypatch: pytest.MonkeyPatch, script: str | None) -> None:
    """PATH holding only a ``dot`` running ``script`` (none at all when ``script`` is None)."""
    bin_folder = Path("bin").resolve()
    bin_folder.mkdir()
    if script is not None:
        (bin_folder / "dot").write_text(f"#!/bin/sh\n{script}\n")
        (bin_folder / "dot").chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_folder))


def _without(module: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """``import module`` fails from here on, as if it were not installed."""
    monkeypatch.setitem(sys.modules, module, None)


def _train_classifier_without_matplotlib(monkeypatch: pytest.MonkeyPatch) -> str:
    _without("matplotlib", monkeypatch)
    main = runpy.run_path(str(ROOT / "demos" / "train_classifier.py"))["main"]
    printed = io.StringIO()
    with contextlib.redirect_stderr(printed):
        assert main(["--out", "out"]) == 1
    return printed.getvalue()


def _save_svg_without_dot(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_dot(monkeypatch, None)
    engine.save_svg(Value(2.0) * 3, "g.svg")


def _save_svg_with_a_failing_dot(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_dot(monkeypatch, "echo 'Error: syntax error in line 9' >&2; exit 1")
    engine.save_svg(Value(2.0) * 3, "g.svg")


def _to_torch_without_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    _without("torch", monkeypatch)
    nn.to_torch(MLP(2, [1]))


def _retraced_if() -> None:
    def f(x):
        return x * 2.0 if x.data > 0 else (x * 3.0).exp()

    g = engine.compile(f)
    g(1.0)
    g.retrace(-1.0)


def _user_op_overflow() -> None:
    previous = engine.OPS.get("cosh")
    cosh = engine.define_op("cosh", forward=math.cosh, local_grads=lambda out, a: (0.0,), formula="f")
    try:
        cosh(Value(1000.0, label="x"))
    finally:
        engine.OPS.pop("cosh")
        if previous is not None:
            engine.OPS["cosh"] = previous


def _anomaly() -> None:
    a, b = Value(1e200, label="a"), Value(1e200, label="b")
    with engine.detect_anomaly():
        ((a * 2.0).tanh() + a) * b


def _assign(name: str, value: object) -> Callable[[Path, pytest.MonkeyPatch], None]:
    return lambda: setattr(Value(1.0), name, value)


def _twice() -> None:
    twice = engine.define_op(
        "twice", forward=lambda a: 2.0 * a, local_grads=lambda out, a: (2.0, 0.0), formula="∂(2a)/∂a = 2"
    )
    try:
        twice(Value(1.0))
    finally:
        del engine.OPS["twice"]


# --- README text -> what makes it happen -----------------------------------------------------------------
README_ROWS: dict[str, Happen] = {
    # engine: numbers, labels, assignments
    "TypeError: Value: expected a real number (int, float, numpy scalar), got 'abc' (str)":
        lambda: Value("abc"),
    "ValueError: Value: got nan; numbers must be finite, since nan and inf would make every gradient "
    "downstream meaningless": lambda: Value(float("nan")),
    "ValueError: Value.data: got nan; numbers must be finite, since nan and inf would make every "
    "gradient downstream meaningless": _assign("data", math.nan),
    "TypeError: Value: a label must be a string, got 5 (int); e.g. label=str(x)":
        lambda: Value(1.0, label=5),  # type: ignore[arg-type]
    "ValueError: Value: an integer of about 401 digits is too large for a float (max ≈ 1.8e308)":
        lambda: Value(10**400),
    "TypeError: mul: a Value holds one number, got an array of shape (2,); combine Values element by "
    "element, e.g. [v * x for x in array]": lambda: Value(2.0) * np.array([1.0, 2.0]),
    "TypeError: operand 'Value' does not support ufuncs (__array_ufunc__=None)": lambda: np.exp(Value(2.0)),
    "TypeError: bool(Value): a Value has no truth value (0.0); test its number, e.g. `if v.data > 0:`, "
    "or use `if v is not None:`": lambda: bool(Value(0.0)),
    "TypeError: '<' is not defined between Value and int: a Value is a node of a graph, not a number; "
    "compare the numbers it holds, e.g. v.data < 3": lambda: Value(2.0) < 3,
    # engine: outside an op's domain, beyond float range
    "DomainError: log: needs an input > 0, got a = 0.0 (label 'p')": lambda: Value(0.0, label="p").log(),
    "DomainError: log: the local derivative is not finite here (∂(ln a)/∂a = 1/a), got a = 5e-324; "
    "under no_grad() the value alone is computed": lambda: Value(5e-324).log(),
    "DomainError: div: division by zero, got a = 2.0 (label 'x'), b = 0.0 (label 'd')":
        lambda: Value(2.0, label="x") / Value(0.0, label="d"),
    "DomainError: div: the local derivative is not finite here (∂(a/b)/∂a = 1/b, ∂(a/b)/∂b = −a/b²), "
    "got a = 1.0, b = 1e-200; under no_grad() the value alone is computed": lambda: 1 / Value(1e-200),
    "DomainError: power: the local derivative is not finite here (∂(aⁿ)/∂a = n·aⁿ⁻¹), got a = 10.0, n = "
    "308.2; under no_grad() the value alone is computed": lambda: Value(10.0) ** 308.2,
    "DomainError: power: 0 to a negative power is a division by zero, got a = 0.0, n = -1.0":
        lambda: Value(0.0) ** -1,
    "DomainError: power: a negative base to a fractional power is not real; for the real root write "
    "-((-x) ** n), got a = -8.0, n = 0.3333333333333333": lambda: Value(-8.0) ** (1 / 3),
    "DomainError: power: the local derivative is not finite here (∂(aⁿ)/∂a = n·aⁿ⁻¹), got a = 0.0, n = "
    "0.5 (0.0 cannot be raised to a negative power); under no_grad() the value alone is computed":
        lambda: Value(0.0) ** 0.5,
    "DomainError: pow: with a Value exponent the base must be > 0, since ∂(aᵇ)/∂b = aᵇ·ln a; for a "
    "number exponent write x ** 2, got a = 0.0, b = 2.0": lambda: Value(0.0) ** Value(2.0),
    "DomainError: exp: overflows float (largest finite: z ≈ 709.78), got z = 1000.0":
        lambda: Value(1000.0).exp(),
    "DomainError: power: the result overflows float (largest finite ≈ 1.8e308), got a = 2.0 (label "
    "'x'), n = 10000000000.0": lambda: Value(2.0, label="x") ** 1e10,
    # engine: functions
    "TypeError: linear: weights must be Values (the parameters to learn), got 0.5 (float) at "
    "weights[0]; wrap a number as Value(w)": lambda: engine.linear([0.5], [Value(1.0)], Value(0.0)),
    "TypeError: backward: root must be a Value, got 2.0 (float); the node computed, e.g. the loss":
        lambda: engine.backward(2.0),  # type: ignore[arg-type]
    "TypeError: backward: gradient is the number dL/droot to start from (default 1.0), got a Value "
    "(2.0); pass its .data": lambda: Value(1.0).backward(Value(2.0)),  # type: ignore[arg-type]
    "TypeError: zero_grad: nodes[1] must be a Value, got 3.0 (float); no gradient was changed":
        lambda: engine.zero_grad([Value(0.5), 3.0]),  # type: ignore[list-item]
    "TypeError: twice: the op's local_grads must return a tuple of 1 derivative (one per input), got "
    "(2.0, 0.0); fix the local_grads given to define_op('twice')": lambda: _twice(),
    "DomainError: cosh: the result overflows float (largest finite ≈ 1.8e308), got a = 1000.0 (label 'x')":
        _user_op_overflow,
    "AnomalyError: backward: the chain rule gave the gradient nan at -1.0 (label 'x') (made by a leaf): the "
    "sum of upstream × local over the ops that use it, inf · 0.0 through op 'relu', is not a number "
    "(inf · 0, or inf − inf); no grad was changed. Rescale the loss or the inputs":
        lambda: (Value(-1.0, label="x").relu() * 1e200 * 1e200).backward(),
    "AnomalyError: detect_anomaly: op 'mul' gave inf computing (tanh(a * 2.0) + a) * b; inputs [1e+200, "
    "1e+200 (label 'b')], local derivatives (1e+200, 1e+200) (∂(a·b)/∂a = b, ∂(a·b)/∂b = a)":
        lambda: _anomaly(),
    "TypeError: draw: digits must be an integer from 1 to 17, got 2.5 (float)":
        lambda: engine.draw(Value(1.0), digits=2.5),  # type: ignore[arg-type]
    # nn
    "DomainError: binary_cross_entropy: sample 0 has a = 1.0 with y = 0.0: (1−y)·ln(1−a) is −∞ (...)":
        lambda: binary_cross_entropy([Value(1.0)], [0.0]),
    "DomainError: binary_cross_entropy: sample 0 has a = 1.5, outside [0, 1]; a must be a probability "
    "(e.g. a sigmoid output), or ln a and ln(1−a) give a wrong or undefined loss":
        lambda: binary_cross_entropy([Value(1.5)], [1]),
    "TrainingDivergedError: fit: the cost J at step 2 is inf; training diverged: the model is left as after "
    "step 1 (...); lower the learning rate (lr = 1e+308 now), e.g. lr=1e+307":
        lambda: nn.fit(MLP(2, [3, 1], seed=1), *nn.make_moons(12, seed=0), lr=1e308, steps=3, progress=False),
    "TrainingDivergedError: fit: the forward pass of step 2 is not finite (DomainError: power: the result "
    "overflows float ...); training diverged: the model is left as after step 1 (...); lower the learning "
    "rate (lr = 1e+200 now), e.g. lr=1e+199":
        lambda: nn.fit(MLP(2, [4, 1], seed=0, output_activation="linear"),
                       *nn.make_moons(20, noise=0.1, seed=0), lr=1e200, steps=6, loss="mse", progress=False),
    "ValueError: binary_cross_entropy: target 0 must be in [0, 1], got 1.5":
        lambda: binary_cross_entropy([Value(0.3)], [1.5]),
    "TypeError: make_moons: seed must be an integer from 0 to 2**64 − 1, got 'a' (str); e.g. seed=0":
        lambda: nn.make_moons(seed="a"),  # type: ignore[arg-type]
    "TypeError: MLP: sizes must be a non-empty list of layer widths (integers ≥ 1), got 1 (int); one "
    "width per layer, the output layer last: e.g. MLP(2, [16, 16, 1]), or MLP(2, [1]) for a single unit":
        lambda: MLP(2, 1),  # type: ignore[arg-type]
    "ValueError: MLP: a network 2-100000-100000-1 has 10,000,500,001 parameters, more than "
    "MAX_PARAMETERS = 10,000,000 (each is a Value of about 100 bytes); choose narrower layers":
        lambda: MLP(2, [100_000, 100_000, 1]),
    "ValueError: MLP: expects 2 inputs per sample, got 1: [1.0]": lambda: MLP(2, [3, 1])([1.0]),
    "ValueError: MLP: expects one sample, a list of 2 numbers, got an array of shape (2, 100); that is "
    "the course's (n_x, m) layout, 100 samples in columns: run each, [model(x) for x in X.T]; or "
    "nn.predict_scores(model, X.T)": lambda: MLP(2, [16, 16, 1])(nn.make_moons(100)[0].T),
    "TypeError: binary_cross_entropy: predictions must be a non-empty list of Values (one model output "
    "per sample), got Value(...) (Value); for one sample pass [a]; for m samples, [model(x) for x in X]":
        lambda: binary_cross_entropy(MLP(2, [1])([0.5, 0.5]), 1.0),  # type: ignore[arg-type]
    "TypeError: SGD: parameters must be an iterable of Values, got MLP(...) (MLP); pass "
    "model.parameters(), not the model": lambda: SGD(MLP(2, [1]), lr=0.1),  # type: ignore[arg-type]
    # model files
    "TypeError: save_model: the keys of metadata must be strings, got 1 (int); JSON keys are text, so 1 "
    "and '1' (or True and 'true') would become one key: use str keys":
        lambda: save_model(MLP(2, [1]), "m.json", metadata={1: "a", "1": "b"}),
    "TypeError: save_model: metadata['shape'] must be plain JSON (a dict, list, str, int, float, bool "
    "or None), got (2, 3) (tuple); JSON has no tuples and it would load back as a list: pass a list":
        lambda: save_model(MLP(2, [1]), "m.json", metadata={"shape": (2, 3)}),
    "ModelFileError: model.json: not valid JSON (truncated?): ...":
        lambda: load_model(_model_file(lambda text, document: text[: len(text) // 2])),
    "ModelFileError: model.json: non-finite number NaN (JSON has no NaN or Infinity)":
        lambda: load_model(_model_file(_first_parameter_as("NaN"))),
    "ModelFileError: model.json: parameters has 13 entries but architecture 2-4-1 has 17":
        lambda: load_model(
            _model_file(_with_document(lambda d: d["architecture"].update(sizes=[4, 1])))
        ),
    "ModelFileError: model.json: architecture.activation must be one of 'sigmoid', 'tanh', 'relu', "
    "'linear', got [] (list)":
        lambda: load_model(
        _model_file(_with_document(lambda d: d["architecture"].update(activation=[])))
    ),
    "OSError: [Errno ...] save_model: cannot write '...': its name is 300 bytes, more than this "
    "folder's limit of 255": lambda: save_model(MLP(2, [1]), "m" * 300),
    # drawings, pages, optional packages, compile
    "GraphTooLargeError: draw: the graph has 100,001 nodes to draw, more than max_nodes=300. ...":
        lambda: engine.draw(_chain(100_000), on_overflow="raise"),
    "GraphvizNotFoundError: save_svg: the Graphviz program 'dot' was not found on PATH, ... The DOT "
    "source is saved in g.gv: ...": _save_svg_without_dot,
    "ModuleNotFoundError: nn.to_torch needs PyTorch, which is not installed here: pip install "
    "'chainrule[torch]' ...": _to_torch_without_torch,
    "train_classifier.py draws its plots with matplotlib, which is not installed here. Install "
    "chainrule with its demo extra: pip install 'chainrule[demo]' ...": _train_classifier_without_matplotlib,
    "ValueError: save_svg: cannot write '.jpg' files (z.jpg): the suffix must be .svg, .png or .pdf":
        lambda: engine.save_svg(Value(1.0), "z.jpg"),
    "RenderError: save_svg: Graphviz's dot failed (exit status 1) on this graph: ...":
        _save_svg_with_a_failing_dot,
    "GraphTooLargeError: stepper: the graph has 1,203 nodes, more than max_nodes=200: ...":
        lambda: engine.stepper(_chain(1_202)),
    "TraceError: engine.compile: f builds another graph at [-1.0] than when traced: 3 nodes here, 2 "
    "when traced (...); the replay follows the traced graph and would be wrong here: take the decision "
    "with engine.branch_on (each path is then traced), or use the engine": lambda: _retraced_if(),
}


def _code_spans(cell: str) -> list[str]:
    """The code spans of a Markdown table cell: `text`, or ``text with `backticks` in it``."""
    return [double or single for double, single in re.findall(r"``\s?(.+?)\s?``|`([^`]+)`", cell)]


def readme_messages() -> list[str]:
    """The messages quoted in the first column of the README's table of errors, in order."""
    text = README.read_text(encoding="utf-8")
    table = text[text.index("## Errors you may see"):text.index("**Results that are not errors.**")]
    cells = [line[1:].split(" | ")[0] for line in table.splitlines() if line.startswith("| `")]
    return [span for cell in cells for span in _code_spans(cell)]


def _as_pattern(quoted: str) -> str:
    """A regex for the quote: ``...`` is any text, white space any white space."""
    return ".*?".join(r"\s+".join(map(re.escape, part.split())) for part in quoted.split("..."))


def test_every_message_in_the_table_has_its_row_here_and_no_other() -> None:
    quoted = readme_messages()
    assert len(quoted) == len(set(quoted)), "a message is quoted twice"
    assert sorted(quoted) == sorted(README_ROWS)


@pytest.mark.parametrize("quoted", list(README_ROWS), ids=[q[:60] for q in README_ROWS])
def test_the_readme_quotes_each_message_as_it_is(quoted: str, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    happen = README_ROWS[quoted]
    try:
        printed = happen(monkeypatch) if inspect.signature(happen).parameters else happen()
    except Exception as error:  # any type: its name is part of what is compared
        actual = f"{type(error).__name__}: {error}"
    else:
        assert isinstance(printed, str), f"{quoted!r} raised nothing"
        actual = printed
    assert re.fullmatch(_as_pattern(quoted), actual.strip(), flags=re.DOTALL), actual


def test_the_results_that_are_not_errors_are_as_the_readme_says() -> None:
    """The paragraph after the table: each example it gives, as it says."""
    a, b = Value(1e200), Value(1e200)
    product = a * b
    product.backward()
    assert product.data == math.inf and a.grad == b.grad == 1e200  # inf value; slopes b and a
    total = Value(1e308) + Value(1e308)
    assert total.data == math.inf

    x = Value(1e-300, label="x")
    y = x * 1e200 * 1e200
    y.backward()
    assert y.data == pytest.approx(1e100) and x.grad == math.inf
    x = Value(1e-300, label="x")
    overflowed = r"^detect_anomaly: the chain rule gave the gradient inf at 1e-300"
    with pytest.raises(engine.AnomalyError, match=overflowed), engine.detect_anomaly():
        (x * 1e200 * 1e200).backward()
    assert x.grad == 0.0  # no grad changed

    for start, op, value in ((-1e4, "sigmoid", 0.0), (1e4, "tanh", 1.0), (-1e4, "tanh", -1.0)):
        z = Value(start)
        out = getattr(z, op)()
        out.backward()
        assert out.data == value and z.grad == 0.0
    assert Value(-1000.0).exp().data == 0.0
    z = Value(0.0)
    z.relu().backward()
    assert z.grad == 0.0
    z = Value(3.0)
    (z ** 0).backward()
    assert z.grad == 0.0
    assert math.exp(Value(1.0)) == math.e  # works on float(v): a plain number

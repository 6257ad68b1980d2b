"""Probes as a careless or hostile user would try them: each refused clearly, and nothing changed.

Issue 13's second round of bad input, kept as a table: odd inputs to every public
part of engine and nn (strings, None, bools, numpy bools, complex and 2-D arrays,
integers past 4,300 digits, nan and inf, labels of every type, assignments after
the fact, half-done calls with a bad item at the end, Values where numbers go and
numbers where Values go), then attacks on model files, loaded and saved.

Each row is one probe: the call (given a ``World``: a small graph after backward,
a model with its optimiser and its saved file, a dataset), the exact exception
type, and a regex its message must match (it names the function and the
offending value). After the call the test compares the world with a snapshot
taken before it: every node's data, grad and label, the model's parameters,
gradients and architecture, the optimiser's settings and velocities, the model
file's bytes and the folder's listing, the dataset.
"""

from __future__ import annotations

import copy
import json
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pytest

import engine
import nn
from engine import DomainError, GraphTooLargeError, Value
from engine.files import remove_stale_temporaries
from engine.notation import number, write
from nn import MLP, SGD, ModelFileError, formulas, load_metadata, load_model, save_model
from nn.checks import FormulaShapeError
from nn.formulas import db, dW

BIG = 10**5000  # past Python's 4,300-digit limit for int -> str


class World:
    """What a user has when a probe runs: a graph, a model, its optimiser and its file, a dataset."""

    def __init__(self, folder: Path) -> None:
        self.x, self.w, self.b = Value(2.0, label="x"), Value(-0.5, label="w"), Value(0.1, label="b")
        self.y = (self.w * self.x + self.b).tanh()
        self.y.label = "y"
        self.y.backward()
        self.model = MLP(2, [3, 1], seed=1)
        self.X, self.labels = nn.make_moons(12, seed=0)
        self.sgd = SGD(self.model.parameters(), lr=0.1, momentum=0.9)
        nn.fit(self.model, self.X, self.labels, optimizer=self.sgd, steps=2, progress=False)
        self.folder = folder
        self.file = save_model(self.model, folder / "model.json", metadata={"run": 1})
        self.attacks = folder / "attacks"  # attacked files go here, outside what must not change
        self.attacks.mkdir()

    def snapshot(self) -> tuple:
        """Everything a probe must leave as it was."""
        model = self.model
        return (
            [(v.data, v.grad, v.label) for v in engine.topological_order(self.y)],
            [(label, p.data, p.grad, p.label) for label, p in model.named_parameters()],
            (model.nin, list(model.sizes), model.activation, model.output_activation, model.seed),
            (self.sgd.lr, self.sgd.momentum, self.sgd.weight_decay, list(self.sgd.velocities)),
            self.file.read_bytes(),
            sorted(path.name for path in self.folder.iterdir()),
            self.X.tobytes(), self.labels.tobytes(),
        )

    def attack(self, name: str, content: str | bytes) -> Path:
        """A model file holding ``content``, in the attacks folder."""
        path = self.attacks / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path

    def pipe(self) -> Path:
        """A named pipe with no writer (opening it to read would wait forever)."""
        path = self.attacks / "pipe.json"
        os.mkfifo(path)
        return path

    def text(self) -> str:
        """The good model file's text."""
        return self.file.read_text(encoding="utf-8")

    def replaced(self, name: str, old: str, new: str) -> Path:
        """A copy of the good file with its first ``old`` replaced by ``new`` (raw text)."""
        return self.attack(name, self.text().replace(old, new, 1))

    def edited(self, name: str, edit: Callable[[dict], object]) -> Path:
        """A copy of the good file with ``edit(document)`` applied to its JSON."""
        document = json.loads(self.text())
        edit(document)
        return self.attack(name, json.dumps(document))

    def first_parameter_written_as(self, name: str, number: str) -> Path:
        """A copy of the good file whose first parameter is written as ``number`` (raw JSON text)."""
        first = next(iter(json.loads(self.text())["parameters"].values()))
        return self.replaced(name, repr(first), number)


class Probe(NamedTuple):
    """One probe: ``call(world)`` raises exactly ``raises`` with a message matching ``match``."""

    case: str
    call: Callable[[World], object]
    raises: type[BaseException]
    match: str


def _architecture(**changes: object) -> Callable[[dict], None]:
    return lambda document: document["architecture"].update(changes)


def _set(key: str, value: object) -> Callable[[dict], None]:
    return lambda document: document.__setitem__(key, value)


def _rename_first_parameter(new: str) -> Callable[[dict], None]:
    def edit(document: dict) -> None:
        parameters = document["parameters"]
        first = next(iter(parameters))
        parameters[new] = parameters.pop(first)

    return edit


def _changed_model(change: Callable[[MLP], None]) -> MLP:
    """A fresh 2-3-1 model, then ``change`` applied to it (an assignment after the fact)."""
    model = MLP(2, [3, 1], seed=1)
    change(model)
    return model


def _replace_first_weight(model: MLP) -> None:
    neuron = model.layers[0].neurons[0]
    neuron.w = (3.0, *neuron.w[1:])  # type: ignore[assignment]


def _with_op(call: Callable[[Any], object], **definition: Any) -> Callable[[World], object]:
    """Define the op ``probe_op``, call ``call(op)``, and remove the op again (the registry is global)."""
    def run(world: World) -> object:
        op = engine.define_op("probe_op", **definition)
        try:
            return call(op)
        finally:
            del engine.OPS["probe_op"]

    return run


def _traced(world: World) -> engine.CompiledFunction:
    g = engine.compile(lambda v: v * v)
    g(1.0)
    return g


NOT_NUMBER = r"expected a real number \(int, float, numpy scalar\), got "
FINITE = "numbers must be finite"

ODD_INPUTS: list[Probe] = [
    # -- numbers and labels a Value is given, and assignments after the fact -------------------------
    Probe("Value(np.complex128)", lambda w: Value(np.complex128(1 + 2j)),
          TypeError, rf"^Value: {NOT_NUMBER}np\.complex128\(1\+2j\) \(numpy\.complex128\)$"),
    Probe("Value(2-D array)", lambda w: Value(np.array([[1.0]])),
          TypeError, r"^Value: a Value holds one number, got an array of shape \(1, 1\)"),
    Probe("Value(10**5000)", lambda w: Value(BIG),
          ValueError, r"^Value: an integer of about 5,001 digits is too large for a float"),
    Probe("x * 10**5000", lambda w: w.x * BIG,
          ValueError, r"^mul: an integer of about 5,001 digits"),
    Probe("10**5000 ** x", lambda w: BIG ** w.x,
          ValueError, r"^pow: an integer of about 5,001 digits"),
    Probe("Value(label=None)", lambda w: Value(1.0, label=None),
          TypeError, r"^Value: a label must be a string, got None \(NoneType\); e\.g\. label=str\(x\)$"),
    Probe("Value(label=('a',))", lambda w: Value(1.0, label=("a",)),
          TypeError, r"^Value: a label must be a string, got \('a',\) \(tuple\)"),
    Probe("x.label = 5", lambda w: setattr(w.x, "label", 5),
          TypeError, r"^Value\.label: a label must be a string, got 5 \(int\)"),
    Probe("x.label = ['x']", lambda w: setattr(w.x, "label", ["x"]),
          TypeError, r"^Value\.label: a label must be a string, got \['x'\] \(list\)"),
    Probe("x.data = nan", lambda w: setattr(w.x, "data", math.nan),
          ValueError, rf"^Value\.data: got nan; {FINITE}"),
    Probe("x.data = 'oops'", lambda w: setattr(w.x, "data", "oops"),
          TypeError, rf"^Value\.data: {NOT_NUMBER}'oops'"),
    Probe("x.data = 10**5000", lambda w: setattr(w.x, "data", BIG),
          ValueError, r"^Value\.data: an integer of about"),
    Probe("x.grad = None", lambda w: setattr(w.x, "grad", None),
          TypeError, rf"^Value\.grad: {NOT_NUMBER}None"),
    Probe("x.grad = inf", lambda w: setattr(w.x, "grad", -math.inf),
          ValueError, rf"^Value\.grad: got -inf; {FINITE}"),
    Probe("x.grad = Value", lambda w: setattr(w.x, "grad", Value(1.0)),
          TypeError, r"^Value\.grad: expected a number, got a Value \(1\.0\); pass v\.data$"),
    Probe("y.backward(Value)", lambda w: w.y.backward(Value(2.0)),
          TypeError,
          r"^backward: gradient is the number dL/droot to start from \(default 1\.0\), got a Value"),
    Probe("y.backward(array)", lambda w: w.y.backward(np.array([1.0, 2.0])),
          TypeError, r"^backward: gradient: a Value holds one number, got an array of shape \(2,\)"),
    Probe("y.backward(nan)", lambda w: w.y.backward(math.nan),
          ValueError, rf"^backward: gradient: got nan; {FINITE}"),
    Probe("x < 3", lambda w: w.x < 3,
          TypeError, r"^'<' is not defined between Value and int: .* v\.data < 3$"),
    Probe("x <= 3", lambda w: w.x <= 3,
          TypeError, r"^'<=' is not defined between Value and int"),
    Probe("sorted(Values)", lambda w: sorted([w.x, w.w]),
          TypeError, r"^'<' is not defined between Value and Value"),
    Probe("if x:", lambda w: bool(w.x),
          TypeError, r"^bool\(Value\): a Value has no truth value \(2\.0 \(label 'x'\)\)"),
    # -- a finite result whose local derivative is not ----------------------------------------------
    Probe("1 / Value(1e-200)", lambda w: 1 / Value(1e-200),
          DomainError, r"^div: the local derivative is not finite here .*, got a = 1\.0, b = 1e-200"),
    Probe("Value(10) ** 308.2", lambda w: Value(10.0) ** 308.2,
          DomainError, r"^power: the local derivative is not"),
    Probe("10 ** Value(308.2)", lambda w: 10.0 ** Value(308.2),
          DomainError, r"^pow: the local derivative is not finite here .*, got a = 10\.0, b = 308\.2"),
    Probe("Value(1.0000001) ** Value(7e9)", lambda w: Value(1.0000001) ** Value(7e9),
          DomainError, r"^pow: the local derivative is not finite here"),
    # -- numpy's times and missing values, which float() would take as numbers -----------------------
    Probe("Value(np.timedelta64(5))", lambda w: Value(np.timedelta64(5)),
          TypeError,
          r"^Value: expected a real number .*got np\.timedelta64\(5\) \(numpy\.timedelta64\); a time is not"),
    Probe("x * np.datetime64", lambda w: w.x * np.datetime64("2020-01-01"),
          TypeError, r"^mul: expected a real number .*\(numpy\.datetime64\); a time is not a number"),
    Probe("Value(np.ma.masked)", lambda w: Value(np.ma.masked),
          ValueError, r"^Value: got a masked \(missing\) value; fill it first, e\.g\. array\.filled\(0\.0\)"),
    Probe("x.data = masked entry", lambda w: setattr(w.x, "data", np.ma.array([1.0], mask=[True])[0]),
          ValueError, r"^Value\.data: got a masked \(missing\) value"),
    Probe("Value(Fraction(10**400, 3))", lambda w: Value(__import__("fractions").Fraction(10**400, 3)),
          ValueError, r"^Value: a number of about 400 digits is too large for a float"),
    # -- objects that answer every attribute (mocks) or carry a stray apply_op ---------------------------
    Probe("x * MagicMock()", lambda w: w.x * __import__("unittest.mock").mock.MagicMock(),
          TypeError, r"^mul: expected a real number \(int, float, numpy scalar\), got <MagicMock id="),
    Probe("exp(MagicMock())", lambda w: engine.exp(__import__("unittest.mock").mock.MagicMock()),
          TypeError, r"^exp: expected a real number \(int, float, numpy scalar\), got <MagicMock id="),
    Probe("x * object with apply_op = 5", lambda w: w.x * type("Stray", (), {"apply_op": 5})(),
          TypeError, r"^mul: expected a real number \(int, float, numpy scalar\), got <.*Stray object"),
    # -- a nan from results that overflowed to inf (allowed for + − · / Σ linear, as with floats) ------
    Probe("linear(w, [inf, -inf], b)",
          lambda w: engine.linear([w.w, w.w], [Value(1e308) * 10, Value(-1e308) * 10], w.b),
          DomainError,
          r"^linear: the result nan is not finite, got -0\.5 \(label 'w'\), -0\.5 \(label 'w'\), "
          r"inf, -inf, 0\.1 \(label 'b'\)$"),
    Probe("linear_layer(0 · inf)",
          lambda w: engine.linear_layer([[Value(0.0)]], [Value(1e308) * 10], [w.b]),
          DomainError, r"^linear: the result nan is not finite, got 0\.0, inf, 0\.1 \(label 'b'\)$"),
    Probe("sum_values([inf, -inf])", lambda w: engine.sum_values([Value(1e308) * 10, Value(-1e308) * 10]),
          DomainError, r"^sum: the result nan is not finite, got inf, -inf$"),
    # -- half-done calls: a bad item at the end --------------------------------------------------------
    Probe("zero_grad([x, w, 3.0])", lambda w: engine.zero_grad([w.x, w.w, 3.0]),
          TypeError, r"^zero_grad: nodes\[2\] must be a Value, got 3\.0 \(float\); no gradient was changed$"),
    Probe("set_grads([x, w, 3.0], ...)", lambda w: engine.set_grads([w.x, w.w, 3.0], [1.0, 2.0, 3.0]),
          TypeError, r"^set_grads: nodes\[2\] must be a Value, got 3\.0 \(float\); no gradient was changed$"),
    Probe("set_grads([x, w], [1.0, nan])", lambda w: engine.set_grads([w.x, w.w], [1.0, math.nan]),
          ValueError, r"^set_grads: grads\[1\]: got nan; numbers must be finite"),
    Probe("set_grads([x, w], [1.0])", lambda w: engine.set_grads([w.x, w.w], [1.0]),
          ValueError, r"^set_grads: 2 nodes but 1 gradients; no gradient was changed$"),
    Probe("set_grads({x, w}, ...)", lambda w: engine.set_grads({w.x, w.w}, [1.0, 2.0]),
          TypeError, r"^set_grads: nodes must be in an order that matches grads \(a list or tuple\), got a "),
    Probe("set_grads([x, x], ...)", lambda w: engine.set_grads([w.x, w.x], [1.0, 2.0]),
          ValueError, r"^set_grads: a node is given twice \(one grad each\); no gradient was changed$"),
    Probe("set_grads([x], [np.inf])", lambda w: engine.set_grads([w.x], [np.float64("inf")]),
          ValueError, r"^set_grads: grads\[0\]: got inf; numbers must be finite"),
    Probe("Value(0-d masked array)", lambda w: Value(np.ma.array(3.0, mask=True)),
          ValueError, r"^Value: got a masked \(missing\) value"),
    Probe("x * 0-d array of a time", lambda w: w.x * np.array(np.timedelta64(5)),
          TypeError, r"^mul: expected a real number .*; a time is not a number"),
    Probe("SGD(lr=np.timedelta64(1))", lambda w: SGD(w.model.parameters(), lr=np.timedelta64(1)),
          TypeError, r"^SGD: lr must be a finite number > 0, got np\.timedelta64\(1\)"),
    Probe("set_grads([x, w], 'ab')", lambda w: engine.set_grads([w.x, w.w], "ab"),
          TypeError, r"^set_grads: grads must be a list \(or other iterable\) of numbers, got 'ab' \(str\)$"),
    Probe("set_grads(x, 1.0)", lambda w: engine.set_grads(w.x, 1.0),
          TypeError, r"^set_grads: nodes must be a list \(or other iterable\) of Values, got "),
    Probe("zero_grad('ab')", lambda w: engine.zero_grad("ab"),
          TypeError, r"^zero_grad: nodes must be a list .*, got 'ab' \(str\)"),
    Probe("model.load_state_dict(bad last)",
          lambda w: w.model.load_state_dict({**w.model.state_dict(), "b[2]_0": "x"}),
          TypeError, r"^load_state_dict: parameter b\[2\]_0 must be a finite number, got 'x' \(str\)$"),
    Probe("model.load_state_dict(nan last)",
          lambda w: w.model.load_state_dict({**w.model.state_dict(), "b[2]_0": math.nan}),
          ValueError, r"^load_state_dict: parameter b\[2\]_0 must be a finite number, got nan$"),
    Probe("sum_values([x, None])", lambda w: engine.sum_values([w.x, None]),
          TypeError, rf"^sum_values: terms\[1\]: {NOT_NUMBER}None"),
    Probe("linear_layer(a number in the last row)",
          lambda w: engine.linear_layer([[w.w], [w.w, 3.0]], [w.x], [w.b, w.b]),
          TypeError, r"^linear: weights must be Values .*, got 3\.0 \(float\) at weights\[1\]"),
    Probe("SGD([w, 3.0])", lambda w: SGD([w.w, 3.0], lr=0.1),
          TypeError, r"^SGD: parameter 1 must be a Value, got 3\.0 \(float\)$"),
    # -- engine functions: a Value where a number goes, a number where a Value goes -----------------
    Probe("sum_values(5)", lambda w: engine.sum_values(5),
          TypeError, r"^sum_values: terms must be a list .*, got 5 \(int\)$"),
    Probe("linear(x, [1.0], w)", lambda w: engine.linear(w.x, [1.0], w.w),
          TypeError, r"^linear: weights must be a list .*, got Value\(.*\) \(Value\)$"),
    Probe("linear(1 weight, 2 inputs)", lambda w: engine.linear([w.w], [w.x, 1.0], w.b),
          ValueError, r"^linear: 1 weights but 2 inputs$"),
    Probe("derivative(f)()", lambda w: engine.derivative(lambda v: v * v)(),
          TypeError, r"^d_<lambda>: differentiates argument 0 of <lambda>, so it needs at least 1 argument"),
    Probe("derivative(f, argnum=-1)", lambda w: engine.derivative(lambda v: v, argnum=-1),
          ValueError, r"^derivative: argnum must be an integer ≥ 0, got -1"),
    Probe("derivative(5)", lambda w: engine.derivative(5),
          TypeError, r"^derivative: f must be a function to differentiate, got 5 \(int\)$"),
    Probe("grad(y, [x, 3.0])", lambda w: engine.grad(w.y, [w.x, 3.0]),
          TypeError, r"^grad: inputs\[1\] must be a Value, got 3\.0 \(float\)$"),
    Probe("grad(create_graph='yes')", lambda w: engine.grad(w.y, w.x, create_graph="yes"),
          TypeError, r"^grad: create_graph must be True or False, got 'yes' \(str\)$"),
    Probe("chain_rule(y, 'a')", lambda w: engine.chain_rule(w.y, "a"),
          TypeError, rf"^chain_rule: gradient: {NOT_NUMBER}'a'"),
    Probe("topological_order(3.0)", lambda w: engine.topological_order(3.0),
          TypeError, r"^topological_order: root must be a Value, got 3\.0 \(float\)"),
    Probe("exp()", lambda w: engine.exp(),
          TypeError, r"^exp: takes 1 input, got 0$"),
    Probe("log(x, x)", lambda w: engine.log(w.x, w.x),
          TypeError, r"^log: takes 1 input, got 2$"),
    Probe("the op linear given 2 inputs", lambda w: engine.OPS["linear"](w.x, w.w),
          DomainError, r"^linear: takes weights w₁\.\.wₙ, inputs x₁\.\.xₙ and a bias b \(an odd number of "
          r"inputs\), got 2\.0 \(label 'x'\), -0\.5 \(label 'w'\)$"),
    Probe("notation.write(style='latex')",
          lambda w: write(engine.OPS["add"].notation, [("a", 5), ("b", 5)], "latex"),
          ValueError, r"^write: style must be one of 'text', 'code', got 'latex'$"),
    Probe("notation.write(one operand for +)",
          lambda w: write(engine.OPS["add"].notation, [("a", 5)], "code"),
          TypeError,
          r"^write: operands must be \(text, precedence\) pairs, as many as the infix notation takes"),
    Probe("notation.number('a')", lambda w: number("a"),
          TypeError, r"^number: x must be a number, got 'a' \(str\)$"),
    Probe("remove_stale_temporaries(older_than='a')",
          lambda w: remove_stale_temporaries(w.file, older_than="a"),
          TypeError, r"^remove_stale_temporaries: older_than must be a finite number ≥ 0, got 'a' \(str\)$"),
    # -- defining an op ------------------------------------------------------------------------------
    Probe("define_op(5)",
          lambda w: engine.define_op(5, forward=abs, local_grads=lambda out, a: (1.0,), formula="f"),
          TypeError, r"^define_op: name must be a string, got 5 \(int\)"),
    Probe("define_op('add')",
          lambda w: engine.define_op("add", forward=abs, local_grads=lambda out, a: (1.0,), formula="f"),
          ValueError, r"^define_op: 'add' is a built-in op and cannot be redefined"),
    Probe("define_op(formula='')",
          lambda w: engine.define_op("probe_op", forward=abs, local_grads=lambda out, a: (1.0,), formula=""),
          ValueError, r"^define_op\('probe_op'\): formula must be a non-empty string, got ''"),
    Probe("an op with 2 derivatives for 1 input",
          _with_op(lambda op: op(Value(1.0)), forward=lambda a: 2.0 * a, local_grads=lambda out, a: (2.0,
              0.0), formula="f"),
          TypeError,
          r"^probe_op: the op's local_grads must return a tuple of 1 derivative .*, got \(2\.0, 0\.0\); "
          r"fix the local_grads given to define_op\('probe_op'\)$"),
    Probe("an op whose rule returns a string",
          _with_op(lambda op: op(Value(1.0)), forward=lambda a: a, local_grads=lambda out, a: ("1",),
              formula="f"),
          TypeError, r"^probe_op: local_grads returned '1', not a number"),
    # -- explanations and drawings ---------------------------------------------------------------------
    Probe("explain(digits=10**5000)", lambda w: engine.explain(w.y, digits=BIG),
          ValueError,
          r"^explain: digits must be an integer from 1 to 17, got an integer of more than 4,300 digits$"),
    Probe("explain(wrt=a stranger)", lambda w: engine.explain(w.y, wrt=Value(3.0)),
          ValueError, r"^explain: wrt must be a node of root's graph, got Value\(data=3"),
    Probe("explain(wrt=3)", lambda w: engine.explain(w.y, wrt=3),
          TypeError, r"^explain: wrt must be a Value or None, got 3 \(int\)$"),
    Probe("ChainRule(3)", lambda w: engine.ChainRule(3),
          TypeError, r"^ChainRule: root must be a Value, got 3 \(int\)"),
    Probe("draw(max_nodes='300')", lambda w: engine.draw(w.y, max_nodes="300"),
          TypeError, r"^draw: max_nodes must be an integer ≥ 1, got '300' \(str\)$"),
    Probe("draw(digits=True)", lambda w: engine.draw(w.y, digits=True),
          TypeError, r"^draw: digits must be an integer from 1 to 17, got True \(bool\)$"),
    Probe("draw(show_grad='no')", lambda w: engine.draw(w.y, show_grad="no"),
          TypeError, r"^draw: show_grad must be True or False, got 'no' \(str\)$"),
    Probe("draw(highlight=[x, 3])", lambda w: engine.draw(w.y, highlight=[w.x, 3]),
          TypeError, r"^draw: highlight\[1\] must be a Value, got 3 \(int\)$"),
    Probe("draw(highlight=a stranger)", lambda w: engine.draw(w.y, highlight=Value(1.0)),
          ValueError, r"^draw: highlight must be a node of root's graph"),
    Probe("save_svg to .jpg", lambda w: engine.save_svg(w.y, w.folder / "g.jpg"),
          ValueError, r"^save_svg: cannot write '\.jpg' files"),
    Probe("save_svg to '.'", lambda w: engine.save_svg(w.y, "."),
          ValueError, r"^save_svg: path must be a file name, got '\.', which names a folder$"),
    Probe("save_svg(digits=0)", lambda w: engine.save_svg(w.y, w.folder / "g.svg", digits=0),
          ValueError, r"^draw: digits must be an integer from 1 to 17, got 0$"),
    Probe("save_svg(path=None)", lambda w: engine.save_svg(w.y, None),
          TypeError, r"^save_svg: path must be a file name \(str or pathlib\.Path\), got None \(NoneType\)$"),
    Probe("stepper(max_terms=0)", lambda w: engine.stepper(w.y, max_terms=0),
          ValueError, r"^stepper: max_terms must be an integer ≥ 1, got 0$"),
    Probe("stepper(max_nodes=2)", lambda w: engine.stepper(w.y, max_nodes=2),
          GraphTooLargeError, r"^stepper: the graph has 6 nodes, more than max_nodes=2"),
    Probe("save_html(rankdir='up')", lambda w: engine.save_html(w.y, w.folder / "p.html", rankdir="up"),
          ValueError, r"^stepper: rankdir must be one of 'auto', 'LR', 'TB', 'RL', 'BT', got 'up'$"),
    # -- gradient checks -------------------------------------------------------------------------------
    Probe("gradcheck(inputs=[True])", lambda w: engine.gradcheck(lambda v: v * v, [True]),
          TypeError, r"^gradcheck: inputs\[0\] must be a finite number, got True \(bool\)$"),
    Probe("gradcheck(f returns a float)", lambda w: engine.gradcheck(lambda v: 3.0, [1.0]),
          TypeError, r"^gradcheck: f must return a Value, got 3\.0 \(float\)$"),
    Probe("numerical_grad(f returns text)", lambda w: engine.numerical_grad(lambda: "a", [w.x]),
          TypeError, r"^numerical_grad: f\(\) must be a number, got 'a' \(str\)"),
    Probe("numerical_grad(eps=1e308)", lambda w: engine.numerical_grad(lambda: w.x * w.x, [w.x], eps=1e308),
          ValueError, r"^numerical_grad: f\(\) is inf with values\[0\]\.data = 1e\+308: central differences"),
    Probe("relative_error(2 and 1)", lambda w: engine.relative_error([1.0, 2.0], [1.0]),
          ValueError,
          r"^relative_error: analytic and numerical must have one number per input each, got 2 and 1$"),
    Probe("relative_error('ab', ...)", lambda w: engine.relative_error("ab", [1.0]),
          TypeError, r"^relative_error: analytic must be a list of numbers, got 'ab' \(str\)$"),
    # -- compile -----------------------------------------------------------------------------------------
    Probe("compile(5)", lambda w: engine.compile(5),
          TypeError, r"^engine\.compile: f must be a function of Values, got 5 \(int\)$"),
    Probe("compile(parameters=[w, 3.0])", lambda w: engine.compile(abs, parameters=[w.w, 3.0]),
          TypeError, r"^engine\.compile: parameters\[1\] must be a Value, got 3\.0 \(float\)$"),
    Probe("g('a')", lambda w: engine.compile(lambda v: v * v)("a"),
          TypeError, rf"^<lambda>: argument 0 \(v\): {NOT_NUMBER}'a'|^f: argument 0 \(v\): {NOT_NUMBER}'a'"),
    Probe("g.check(rtol=-1)", lambda w: _traced(w).check(1.0, rtol=-1),
          ValueError, r"^f\.check: rtol must be a finite number ≥ 0, got -1$"),
    Probe("g.over_samples(reduce=5)", lambda w: _traced(w).over_samples([1.0, 2.0], reduce=5),
          TypeError, r"^engine\.compile: reduce must be one of 'sum', 'mean', got 5 \(int\)$"),
    Probe("g.batch_source(per_sample=[3])", lambda w: _traced(w).batch_source(per_sample=[3]),
          ValueError, r"^f\.batch_source: per_sample\[0\] must be an integer from 0 to 0, got 3"),
    Probe("branch_on(3.0, ...)", lambda w: engine.branch_on(3.0, bool, "d"),
          TypeError, r"^branch_on: value must be a Value, got 3\.0 \(float\)$"),
    Probe("atomic_write(write='text')", lambda w: engine.atomic_write(w.file, "text"),
          TypeError, r"^atomic_write: write must be a function of the open file, got 'text'"),
    # -- nn: networks, losses, data ----------------------------------------------------------------------
    Probe("MLP(10**5000, [3])", lambda w: MLP(BIG, [3]),
          ValueError,
          r"^MLP: a network about 10\*\*5000-3 has about 10\*\*5000 parameters, more than MAX_PARAMETERS"),
    Probe("MLP(2, [100000, 100000, 1])", lambda w: MLP(2, [100_000, 100_000, 1]),
          ValueError, r"^MLP: a network 2-100000-100000-1 has 10,000,500,001 parameters"),
    Probe("MLP(2, [np.bool_])", lambda w: MLP(2, [np.bool_(True)]),
          TypeError, r"^MLP: sizes\[0\] must be an integer ≥ 1, got np\.True_ \(bool\)$"),
    Probe("MLP(seed=-1)", lambda w: MLP(2, [3], seed=-1),
          ValueError, r"^MLP: seed must be an integer from 0"),
    Probe("Neuron(2)(['1', 2.0])", lambda w: nn.Neuron(2)(["1", 2.0]),
          TypeError, r"^Neuron: input x\[0\] must be a finite number, got '1' \(str\)"),
    Probe("model(one sample as a row of a matrix)", lambda w: w.model([[1.0, 2.0]]),
          ValueError,
          r"^MLP: expects one sample, a list of 2 numbers, got a list of lists of shape \(1, 2\); that is 1 "
          r"sample in rows: run each, \[model\(x\) for x in X\]; or nn\.predict_scores\(model, X\)$"),
    Probe("model(a (1, 3) matrix)", lambda w: w.model([[1.0, 2.0, 3.0]]),
          ValueError, r"neither its rows \(3 numbers\) nor its columns \(1 number\) are samples of 2$"),
    Probe("model(None)", lambda w: w.model(None),
          TypeError, r"^MLP: x must be a list of 2 numbers \(one sample\), got None \(NoneType\)"),
    Probe("model([1.0, 10**5000])", lambda w: w.model([1.0, BIG]),
          ValueError, r"^MLP: input x\[1\] must be a finite number, got an integer too large for a float"),
    Probe("sgd.parameters.append(Value(2.0))", lambda w: w.sgd.parameters.append(Value(2.0)),
          AttributeError, r"^'tuple' object has no attribute 'append'$"),
    Probe("sgd.parameters = [...]", lambda w: setattr(w.sgd, "parameters", [*w.sgd.parameters, Value(2.0)]),
          AttributeError,
          r"^SGD\.parameters is fixed when the SGD is made: make a new SGD\(parameters, lr=\.\.\.\) "
          r"for others$"),
    Probe("sgd.velocities = ['a']", lambda w: setattr(w.sgd, "velocities", ["a"]),
          AttributeError,
          r"^SGD\.velocities is the optimiser's state, changed only by step\(\); make a new SGD to start "
          r"from v = 0$"),
    Probe("SGD([a computed node])", lambda w: SGD([w.x, w.y], lr=0.1),
          ValueError,
          r"^SGD: parameter 1 \(y\) is computed by the op 'tanh', not a leaf: SGD can only update leaves "
          r"\(the Values you made, e\.g\. model\.parameters\(\)\); pass the leaves it is computed from$"),
    Probe("sgd.momentum = 'a'", lambda w: setattr(w.sgd, "momentum", "a"),
          TypeError, r"^SGD: momentum must be a number in \[0, 1\), got 'a' \(str\)$"),
    Probe("sgd.lr = 0", lambda w: setattr(w.sgd, "lr", 0),
          ValueError, r"^SGD: lr must be a finite number > 0, got 0$"),
    Probe("sgd.weight_decay = -1", lambda w: setattr(w.sgd, "weight_decay", -1),
          ValueError, r"^SGD: weight_decay must be a finite number ≥ 0, got -1$"),
    Probe("fit(lr=-1)", lambda w: nn.fit(w.model, w.X, w.labels, lr=-1, progress=False),
          ValueError, r"^fit: lr must be a finite number > 0, got -1$"),
    Probe("fit(seed=-1)", lambda w: nn.fit(w.model, w.X, w.labels, seed=-1, progress=False),
          ValueError, r"^fit: seed must be an integer from 0 to 2\*\*64 − 1, got -1"),
    Probe("fit(loss=[])", lambda w: nn.fit(w.model, w.X, w.labels, loss=[], progress=False),
          TypeError, r"^fit: loss must be one of 'bce', 'mse', 'hinge' or a function .*, got \[\] \(list\)$"),
    Probe("fit(loss returns a float)",
          lambda w: nn.fit(w.model, w.X, w.labels, loss=lambda p, t: 5.0, progress=False),
          TypeError,
          r"^fit: loss must be a function \(predictions, targets\) -> Value, got a function that returned "
          r"5\.0"),
    Probe("fit(an optimizer holding a Value not in the model)",
          lambda w: nn.fit(w.model, w.X, w.labels, optimizer=SGD([*w.model.parameters(), w.x], lr=0.1),
                           progress=False),
          ValueError,
          r"^fit: the optimizer's parameter 13 \(x, data 2\.0\) is not one of this model's parameters, and "
          r"fit computes no gradient for it: make the optimizer from the model's parameters only, e\.g\. "
          r"SGD\(model\.parameters\(\), lr=0\.1\)$"),
    Probe("SGD(a dict)", lambda w: SGD({w.x: 1}, lr=0.1),
          TypeError,
          r"^SGD: parameters must be an ordered iterable of Values \(a list or a tuple\), got "
          r"\{Value\(.*\): 1\} \(dict\); a dict or a set is refused: each velocity belongs to a parameter "
          r"by its place, so the order matters; pass a list, e\.g\. model\.parameters\(\)$"),
    Probe("SGD(a set)", lambda w: SGD({w.x, w.w}, lr=0.1),
          TypeError,
          r"^SGD: parameters must be an ordered iterable of Values \(a list or a tuple\), got .*\(set\)"),
    Probe("save_model(a path ending in a separator)",
          lambda w: save_model(w.model, f"{w.folder}{os.sep}new{os.sep}"),
          ValueError,
          r"^save_model: path must be a file name, not a folder, got '.*new[/\\]+', which ends in a "
          r"separator; name the file, e\.g\. 'dir/new/model\.json'$"),
    Probe("fit(batch_size=2.5)", lambda w: nn.fit(w.model, w.X, w.labels, batch_size=2.5, progress=False),
          TypeError, r"^fit: batch_size must be an integer ≥ 1, got 2\.5 \(float\)"),
    Probe("fit(steps=10**13)", lambda w: nn.fit(w.model, w.X, w.labels, steps=10**13, progress=False),
          ValueError, r"^fit: steps must be at most MAX_STEPS = 1,000,000,000,000"),
    Probe("fit(a loss that is inf at step 1)",
          lambda w: nn.fit(w.model, w.X, w.labels, loss=lambda p, t: (p[0] + 2.0) * 1e308 * 10.0,
                           progress=False),
          nn.TrainingDivergedError,
          r"^fit: the cost J at step 1 is inf; the cost before any update is not finite, and the model is "
          r"unchanged: scale the features of X down \(e\.g\. to mean 0, standard deviation 1\), or check "
          r"the loss function$"),
    Probe("fit(X holding 10**400)", lambda w: nn.fit(w.model, [[10**400, 1.0]] * 2, [0, 1], progress=False),
          ValueError,
          r"^fit: X\[0, 0\] must be a finite number, got an integer too large for a float "
          r"\(max ≈ 1\.8e308\)$"),
    Probe("fit(y holding 10**400)", lambda w: nn.fit(w.model, [[1.0, 1.0]] * 2, [0, 10**400], progress=False),
          ValueError, r"^fit: y\[1\] must be a finite number, got an integer too large for a float"),
    Probe("fit(a masked X)",
          lambda w: nn.fit(w.model, np.ma.array(w.X, mask=np.arange(w.X.size).reshape(w.X.shape) == 7),
                           w.labels, progress=False),
          ValueError,
          r"^fit: X has a masked \(missing\) value at X\[3, 1\]; a masked entry has no number to compute "
          r"with: fill it \(e\.g\. X\.filled\(0\.0\)\) or leave that sample out$"),
    Probe("fit(a masked y)",
          lambda w: nn.fit(w.model, w.X, np.ma.array(w.labels, mask=np.arange(12) == 5), progress=False),
          ValueError, r"^fit: y has a masked \(missing\) value at y\[5\]"),
    Probe("model(a masked x)", lambda w: w.model(np.ma.array([1.0, 2.0], mask=[False, True])),
          ValueError, r"^MLP: x has a masked \(missing\) value at x\[1\]"),
    Probe("fit(X of objects holding '2')",
          lambda w: nn.fit(w.model, np.array([[1.0, "2"], [0.0, 1.0]], dtype=object), [0, 1], progress=False),
          TypeError, r"^fit: X\[0, 1\] must be a finite number, got '2' \(str\)$"),
    Probe("fit(y of objects holding '1')",
          lambda w: nn.fit(w.model, w.X[:2], np.array([0, "1"], dtype=object), progress=False),
          TypeError, r"^fit: y\[1\] must be a finite number, got '1' \(str\)$"),
    Probe("fit(y a list holding '1')",
          lambda w: nn.fit(w.model, w.X[:2], [0, "1"], progress=False),
          TypeError, r"^fit: y\[1\] must be a finite number, got '1' \(str\)$"),
    Probe("fit(X.T)", lambda w: nn.fit(w.model, w.X.T, w.labels, progress=False),
          ValueError, r"X looks transposed: pass X\.T"),
    Probe("fit(y='abc')", lambda w: nn.fit(w.model, w.X, "abc", progress=False),
          TypeError,
          r"^fit: y must be an array of numbers of shape \(12,\), one label per row of X, got 'abc' "
          r"\(str\)$"),
    Probe("predict(model, 'abc')", lambda w: nn.predict(w.model, "abc"),
          TypeError, r"^predict: X must be an array of numbers of shape \(m, n_x\)"),
    Probe("accuracy(5, X, y)", lambda w: nn.accuracy(5, w.X, w.labels),
          TypeError, r"^accuracy: model must be an nn\.MLP, got 5 \(int\)$"),
    Probe("softplus(3.0)", lambda w: nn.softplus(3.0),
          TypeError, r"^softplus: z must be a Value, got 3\.0 \(float\); wrap a number as Value\(z\)$"),
    Probe("binary_cross_entropy(y, 1.0)", lambda w: nn.binary_cross_entropy(w.y, 1.0),
          TypeError, r"^binary_cross_entropy: predictions must be a non-empty list of Values"),
    Probe("binary_cross_entropy(a above 1)",
          lambda w: nn.binary_cross_entropy([Value(0.3), Value(1.5)], [1, 1]),
          DomainError,
          r"^binary_cross_entropy: sample 1 has a = 1\.5, outside \[0, 1\]; a must be a probability "
          r"\(e\.g\. a sigmoid output\)"),
    Probe("binary_cross_entropy(a below 0, a number)", lambda w: nn.binary_cross_entropy([-0.5], [0]),
          DomainError, r"^binary_cross_entropy: sample 0 has a = -0\.5, outside \[0, 1\]"),
    Probe("binary_cross_entropy(a = 2 with y = 0.5)", lambda w: nn.binary_cross_entropy([2.0], [0.5]),
          DomainError, r"^binary_cross_entropy: sample 0 has a = 2\.0, outside \[0, 1\]"),
    Probe("make_moons(n_samples=10**5000)", lambda w: nn.make_moons(BIG),
          ValueError,
          r"^make_moons: n_samples must be at most MAX_SAMPLES = 10,000,000, got an integer of more than"),
    Probe("make_moons(seed=np.bool_)", lambda w: nn.make_moons(seed=np.bool_(True)),
          TypeError, r"^make_moons: seed must be an integer from 0 to 2\*\*64 − 1, got np\.True_ \(bool\)"),
    Probe("train_test_split(test_fraction='0.2')",
          lambda w: nn.train_test_split(w.X, w.labels, test_fraction="0.2"),
          TypeError, r"^train_test_split: test_fraction must be a number in \(0, 1\), got '0\.2' \(str\)$"),
    # -- nn: the formulas and the comparison ------------------------------------------------------------
    Probe("compare_gradients(eps='a')", lambda w: nn.compare_gradients(w.model, w.X.T, w.labels, eps="a"),
          TypeError, r"^compare_gradients: eps must be a finite number > 0, got 'a' \(str\)$"),
    Probe("compare_gradients(formulas=[])",
          lambda w: nn.compare_gradients(w.model, w.X.T, w.labels, formulas=[]),
          TypeError,
          r"^compare_gradients: formulas must be a BackpropRules or one of 'course', .*, got \[\] \(list\)$"),
    Probe("compare_gradients(X='abc')", lambda w: nn.compare_gradients(w.model, "abc", w.labels),
          TypeError, r"^compare_gradients: X must be an array of numbers, got 'abc' \(str\)$"),
    Probe("report.table(max_rows='a')",
          lambda w: nn.compare_gradients(w.model, w.X.T, w.labels, numerical=False).table(max_rows="a"),
          TypeError,
          r"^GradientReport\.table: max_rows must be an integer ≥ 0, got 'a' \(str\); or None for every "
          r"row$"),
    Probe("compare_gradients(a tanh output)",
          lambda w: nn.compare_gradients(MLP(2, [3, 1], seed=1, output_activation="tanh"), w.X.T, w.labels),
          ValueError,
          r"^compare_gradients: the cross-entropy needs outputs a in \[0, 1\] \(probabilities, as a sigmoid "
          r"output gives\); output activation 'tanh' gave A\[2\]\[0, \d+\] = -0\.\d+: use "
          r"output_activation='sigmoid'$"),
    Probe("compare_gradients(Y a scalar)", lambda w: nn.compare_gradients(w.model, np.zeros((2, 1)), 1.0),
          ValueError,
          r"^compare_gradients: Y must have shape \(1, 1\) or \(1,\) for m = 1 sample, got \(\); a single "
          r"label is an array too, e.g\. Y = np\.array\(\[\[1\.0\]\]\)$"),
    Probe("compare_gradients(Y a 0-d array)",
          lambda w: nn.compare_gradients(w.model, np.zeros((2, 3)), np.array(1.0)),
          ValueError,
          r"^compare_gradients: Y must have shape \(1, 3\) or \(3,\) for m = 3 samples, got \(\);"),
    Probe("vectorized_backprop(Y a scalar)",
          lambda w: nn.vectorized_backprop(nn.params_from_model(w.model), np.zeros((2, 1)), 1.0),
          ValueError,
          r"^vectorized_backprop: Y must have shape \(1, 1\) or \(1,\) for m = 1 sample, got \(\);"),
    Probe("vectorized_backprop(5, X, Y)", lambda w: nn.vectorized_backprop(5, w.X.T, w.labels),
          TypeError, r"^vectorized_backprop: params must be a dict \{'W\[1\]': \.\.\., .*got 5 \(int\)"),
    Probe("vectorized_backprop(W[1]='a')",
          lambda w: nn.vectorized_backprop({**nn.params_from_model(w.model), "W[1]": "a"}, w.X.T, w.labels),
          TypeError,
          r"^vectorized_backprop: params\['W\[1\]'\] must be an array of numbers, got 'a' \(str\)$"),
    Probe("dW('a', X)", lambda w: dW("a", w.X),
          TypeError, r"^dW: dz must be an array of numbers, got 'a' \(str\)$"),
    Probe("dW(shapes that do not multiply)", lambda w: dW(np.zeros((2, 3)), np.zeros((4, 5))),
          FormulaShapeError, r"^dW: the shapes do not fit \(.*\); got dz \(2, 3\), a_prev \(4, 5\)$"),
    Probe("db(a 1-D dZ)", lambda w: db(np.zeros(3)),
          FormulaShapeError,
          r"^db: dz must be 2-D, dZ\[l\] of shape \(n\[l\], m\) with one column per sample, got shape "
          r"\(3,\)$"),
    Probe("vectorized_backprop(W[1] all nan)",
          lambda w: nn.vectorized_backprop({**nn.params_from_model(w.model), "W[1]": np.full((3, 2), np.nan)},
                                           w.X.T, w.labels),
          ValueError,
          r"^vectorized_backprop: params: W\[1\] holds nan at W\[1\]\[0, 0\]; parameters must be finite "
          r"numbers \(nan and inf would make every gradient nan\)$"),
    Probe("cross_entropy_cost(a (1, 3), y (3, 1))",
          lambda w: formulas.cross_entropy_cost(np.full((1, 3), 0.5), np.ones((3, 1))),
          FormulaShapeError,
          r"^cross_entropy_cost: y must have the shape of a \(Y and A\[L\], \(1, m\)\), got a \(1, 3\), "
          r"y \(3, 1\); numpy would broadcast them to \(3, 3\)$"),
    Probe("g_prime(z (2, 3), a (3, 2))",
          lambda w: formulas.g_prime("sigmoid", np.ones((2, 3)), np.ones((3, 2))),
          FormulaShapeError,
          r"^g_prime: a must have the shape of z \(A\[l\] = g\(Z\[l\]\) and Z\[l\], \(n\[l\], m\)\), got z "
          r"\(2, 3\), a \(3, 2\)"),
    Probe("loss_direct(y = 2)", lambda w: formulas.loss_direct(0.0, 2.0),
          ValueError, r"^loss_direct: y must be a label in \[0, 1\]; got y = 2\.0$"),
    Probe("dw_direct(y nan)", lambda w: formulas.dw_direct([1.0, 2.0], 0.0, np.nan),
          ValueError, r"^dw_direct: y must be a label in \[0, 1\]; got y = nan$"),
    Probe("dz_previous_layer(W (3, 2), dZ (4, 5))",
          lambda w: formulas.dz_previous_layer(np.ones((3, 2)), np.ones((4, 5)), np.ones((2, 5))),
          FormulaShapeError,
          r"^dz_previous_layer: W\[l\]ᵀ dZ\[l\] needs W\[l\] \(n\[l\], n\[l−1\]\) and dZ\[l\] \(n\[l\], m\) "
          r"with the same n\[l\]; got weights \(3, 2\), dz \(4, 5\)$"),
    Probe("cross_entropy_cost(samples as rows)",
          lambda w: formulas.cross_entropy_cost(np.full((3, 1), 0.5), np.ones((3, 1))),
          FormulaShapeError,
          r"^cross_entropy_cost: a is A\[L\], \(1, m\) with one column per sample, got shape \(3, 1\); its "
          r"samples look like rows: pass a\.T and y\.T$"),
    Probe("cross_entropy_cost(y a number)", lambda w: formulas.cross_entropy_cost(np.full((1, 3), 0.5), 1.0),
          FormulaShapeError,
          r"^cross_entropy_cost: y is Y, \(1, m\) with one column per sample, got shape \(\)$"),
    Probe("cross_entropy_cost(m = 0)",
          lambda w: formulas.cross_entropy_cost(np.zeros((1, 0)), np.zeros((1, 0))),
          ValueError,
          r"^cross_entropy_cost: a has no columns, so m = 0 and 1/m is undefined; got shape \(1, 0\)$"),
    Probe("linear_forward(b of shape (n,))",
          lambda w: formulas.linear_forward(np.eye(2), [[1, 2], [3, 4]], np.array([10.0, 20.0])),
          FormulaShapeError,
          r"^linear_forward: bias is b\[l\], \(n\[l\], 1\) = \(2, 1\), got shape \(2,\); numpy would "
          r"broadcast them to \(2, 2\)$"),
    Probe("dz_previous_layer(g' of the wrong shape)",
          lambda w: formulas.dz_previous_layer(np.ones((3, 2)), np.ones((3, 4)), np.ones((1, 4))),
          FormulaShapeError,
          r"^dz_previous_layer: g_prime_prev must have the shape of W\[l\]ᵀ dZ\[l\] \(g'\[l−1\]\(Z\[l−1\]\) "
          r"and dA\[l−1\], \(n\[l−1\], m\)\), got W\[l\]ᵀ dZ\[l\] \(2, 4\), g_prime_prev \(1, 4\)"),
    Probe("dW(a 1-D A[l-1])", lambda w: dW(np.ones((2, 5)), np.ones(5)),
          FormulaShapeError, r"^dW: a_prev is A\[l−1\], \(n\[l−1\], m\), 2-D, got shape \(5,\)$"),
    Probe("dW(m = 0)", lambda w: dW(np.ones((2, 0)), np.ones((3, 0))),
          ValueError, r"^dW: dz has no columns, so m = 0 and 1/m is undefined; got shape \(2, 0\)$"),
    Probe("db(m = 0)", lambda w: db(np.ones((2, 0))),
          ValueError, r"^db: dz has no columns, so m = 0 and 1/m is undefined; got shape \(2, 0\)$"),
    Probe("loss(1.5, 0.5)", lambda w: formulas.loss(1.5, 0.5),
          ValueError,
          r"^loss: a must be a probability in \[0, 1\] \(e\.g\. σ\(z\)\); got a = 1\.5, y = 0\.5$"),
    Probe("loss(-1.0, 1.0)", lambda w: formulas.loss(-1.0, 1.0),
          ValueError, r"^loss: a must be a probability in \[0, 1\] .*; got a = -1\.0, y = 1\.0$"),
    Probe("dL_da(0.0, 1.0)", lambda w: formulas.dL_da(0.0, 1.0),
          ValueError, r"^dL_da: −y/a is infinite at a = 0 with y > 0; got a = 0\.0, y = 1\.0$"),
    Probe("dL_da(a = 1 with y = 0, in a row)",
          lambda w: formulas.dL_da(np.array([[0.5, 1.0]]), np.array([[1.0, 0.0]])),
          ValueError, r"^dL_da: \(1−y\)/\(1−a\) is infinite at a = 1 with y < 1; got a\[0, 1\] = 1\.0, "
          r"y\[0, 1\] = 0\.0$"),
    Probe("params_from_model(5)", lambda w: nn.params_from_model(5),
          TypeError, r"^params_from_model: model must be an nn\.MLP, got 5 \(int\)$"),
    Probe("to_torch(5)", lambda w: nn.to_torch(5),
          TypeError, r"^to_torch: model must be an nn\.MLP, got 5 \(int\)$"),
]

FILE_ATTACKS: list[Probe] = [
    # -- loading: every attack is a ModelFileError naming the file ---------------------------------------
    Probe("an empty file", lambda w: load_model(w.attack("empty.json", b"")),
          ModelFileError, r"empty\.json: the file is empty$"),
    Probe("white space only", lambda w: load_model(w.attack("spaces.json", b" \n\t")),
          ModelFileError, r"spaces\.json: the file is empty$"),
    Probe("not UTF-8",
          lambda w: load_model(w.attack("latin1.json", "é".encode("latin-1") + w.text().encode())),
          ModelFileError, r"latin1\.json: not UTF-8 text \(invalid continuation byte at byte 0\)$"),
    Probe("a byte-order mark",
          lambda w: load_model(w.attack("bom.json", b"\xef\xbb\xbf" + w.text().encode())),
          ModelFileError, r"bom\.json: not valid JSON: Unexpected UTF-8 BOM"),
    Probe("a JSON list", lambda w: load_model(w.attack("list.json", "[]")),
          ModelFileError, r"list\.json: the top level must be a JSON object, got \[\] \(list\)$"),
    Probe("null", lambda w: load_model(w.attack("null.json", "null")),
          ModelFileError, r"null\.json: the top level must be a JSON object, got None \(NoneType\)$"),
    Probe("no format", lambda w: load_model(w.edited("format.json", lambda d: d.pop("format"))),
          ModelFileError, r"format\.json: not a chainrule model: format is None, expected 'chainrule-mlp'$"),
    Probe("version '1'", lambda w: load_model(w.edited("v_text.json", _set("version", "1"))),
          ModelFileError, r"v_text\.json: version must be an integer, got '1' \(str\)$"),
    Probe("version true", lambda w: load_model(w.edited("v_true.json", _set("version", True))),
          ModelFileError, r"v_true\.json: version must be an integer, got True \(bool\)$"),
    Probe("version 2", lambda w: load_model(w.edited("v2.json", _set("version", 2))),
          ModelFileError, r"v2\.json: unsupported version 2 \(written by a newer chainrule\)"),
    Probe("a version of 5,001 digits",
          lambda w: load_model(w.replaced("v_long.json", '"version": 1', '"version": 1' + "0" * 5000)),
          ModelFileError, r"v_long\.json: an integer of 5,001 digits \(a model file holds at most 4300\)$"),
    Probe("a version of 4,001 digits",
          lambda w: load_model(w.replaced("v_4001.json", '"version": 1', '"version": 1' + "0" * 4000)),
          ModelFileError,
          r"^.*v_4001\.json: unsupported version 10{17}\.\.\.0{19} \(written by a newer chainrule\); this "
          r"chainrule reads version 1$"),
    Probe("architecture a list", lambda w: load_model(w.edited("arch.json", _set("architecture", []))),
          ModelFileError, r"arch\.json: architecture must be a JSON object, got \[\] \(list\)$"),
    Probe("nin true", lambda w: load_model(w.edited("nin.json", _architecture(nin=True))),
          ModelFileError, r"nin\.json: architecture\.nin must be an integer ≥ 1, got True \(bool\)$"),
    Probe("sizes '3'", lambda w: load_model(w.edited("sizes.json", _architecture(sizes="3"))),
          ModelFileError,
          r"sizes\.json: architecture\.sizes must be a non-empty list of integers ≥ 1, got '3' \(str\)$"),
    Probe("sizes [[3], 1]", lambda w: load_model(w.edited("nested.json", _architecture(sizes=[[3], 1]))),
          ModelFileError,
          r"nested\.json: architecture\.sizes\[0\] must be an integer ≥ 1, got \[3\] \(list\)$"),
    Probe("sizes of a billion units",
          lambda w: load_model(w.edited("huge.json", _architecture(sizes=[10**9, 1]))),
          ModelFileError,
          r"huge\.json: parameters has 13 entries but architecture 2-1000000000-1 has 4000000001$"),
    Probe("activation {}", lambda w: load_model(w.edited("g.json", _architecture(activation={}))),
          ModelFileError,
          r"g\.json: architecture\.activation must be one of 'sigmoid', 'tanh', 'relu', 'linear', got "
          r"\{\} \(dict\)$"),
    Probe("activation 'tanh\\0'",
          lambda w: load_model(w.edited("nul.json", _architecture(activation="tanh\0"))),
          ModelFileError, r"nul\.json: architecture\.activation must be one of .*, got 'tanh\\x00'$"),
    Probe("seed 2**64", lambda w: load_model(w.edited("seed.json", _architecture(seed=2**64))),
          ModelFileError,
          r"seed\.json: architecture\.seed must be an integer from 0 to 2\*\*64 − 1, got "
          r"18446744073709551616"),
    Probe("seed 1.5", lambda w: load_model(w.edited("seed15.json", _architecture(seed=1.5))),
          ModelFileError, r"seed15\.json: architecture\.seed must be .*, got 1\.5 \(float\)"),
    Probe("parameters a list", lambda w: load_model(w.edited("plist.json", _set("parameters", []))),
          ModelFileError,
          r"plist\.json: parameters must be a JSON object label -> number, got \[\] \(list\)$"),
    Probe("a parameter renamed",
          lambda w: load_model(w.edited("renamed.json", _rename_first_parameter("zz"))),
          ModelFileError,
          r"renamed\.json: load_state_dict: labels do not match the module's 13 parameters; "
          r"missing 1: W\[1\]_0,0; unexpected 1: zz$"),
    Probe("a label of 20,000 characters",
          lambda w: load_model(w.edited("label.json", _rename_first_parameter("W" * 20_000))),
          ModelFileError, r"label\.json: load_state_dict: labels do not match .*; unexpected 1: W{20000}$"),
    Probe("a parameter null", lambda w: load_model(w.first_parameter_written_as("none.json", "null")),
          ModelFileError,
          r"none\.json: load_state_dict: parameter W\[1\]_0,0 must be a finite number, got None"),
    Probe("a parameter 1e400", lambda w: load_model(w.first_parameter_written_as("e400.json", "1e400")),
          ModelFileError,
          r"e400\.json: load_state_dict: parameter W\[1\]_0,0 must be a finite number, got inf$"),
    Probe("a parameter of 401 digits",
          lambda w: load_model(w.first_parameter_written_as("i400.json", "1" + "0" * 400)),
          ModelFileError,
          r"i400\.json: .*W\[1\]_0,0 must be a finite number, got an integer too large for a float"),
    Probe("a parameter -Infinity",
          lambda w: load_model(w.first_parameter_written_as("inf.json", "-Infinity")),
          ModelFileError, r"inf\.json: non-finite number -Infinity \(JSON has no NaN or Infinity\)$"),
    Probe("a key twice", lambda w: load_model(w.replaced("twice.json", '"format"', '"version": 1, "format"')),
          ModelFileError, r"twice\.json: key 'version' appears twice in one object$"),
    Probe("an unknown key", lambda w: load_model(w.edited("extra.json", _set("extra", 1))),
          ModelFileError, r"extra\.json: unknown key\(s\) 'extra'$"),
    Probe("100,000 unknown keys",
          lambda w: load_model(w.edited("many.json",
              lambda d: d.update({f"k{i}": i for i in range(100_000)}))),
          ModelFileError,
          r"many\.json: unknown key\(s\) 'k0', 'k1', 'k10', 'k100', 'k1000', \.\.\. \(99995 more\)$"),
    Probe("metadata nested 100,000 deep",
          lambda w: load_metadata(w.attack("deep.json",
              w.text()[:-2] + ', "metadata": {"a": ' + "[" * 100_000 + "]" * 100_000 + "}}")),
          ModelFileError, r"deep\.json: JSON nested too deeply to be a model file$"),
    Probe("metadata nested 150 deep",
          lambda w: load_metadata(w.edited("deep150.json", _set("metadata",
              {"a": json.loads("[" * 150 + "]" * 150)}))),
          ModelFileError, r"deep150\.json: metadata must be nested at most 100 levels deep"),
    Probe("trailing garbage", lambda w: load_model(w.attack("tail.json", w.text() + "xyz")),
          ModelFileError, r"tail\.json: not valid JSON: Extra data at line"),
    Probe("truncated", lambda w: load_model(w.attack("cut.json", w.text()[:50])),
          ModelFileError, r"cut\.json: not valid JSON"),
    Probe("load /dev/zero", lambda w: load_model("/dev/zero"),
          ModelFileError, r"^/dev/zero: not a regular file \(a device, a pipe or a socket\)"),
    Probe("load a pipe", lambda w: load_model(w.pipe()),
          ModelFileError, r"pipe\.json: not a regular file"),
    Probe("a file past MAX_FILE_BYTES", lambda w: _with_file_limit(100, lambda: load_model(w.file)),
          ModelFileError, r"model\.json: the file is larger than MAX_FILE_BYTES = 100 bytes$"),
    Probe("load a folder", lambda w: load_model(w.attacks),
          IsADirectoryError, r"Is a directory"),
    Probe("load_model(None)", lambda w: load_model(None),
          TypeError,
          r"^load_model: path must be a file name \(str or pathlib\.Path\), got None \(NoneType\)$"),
    Probe("load_model(b'model.json')", lambda w: load_model(b"model.json"),
          TypeError, r"^load_model: path must be a file name .*, got b'model\.json' \(bytes\)$"),
    # -- saving over the good file: refused, the file byte for byte as it was ---------------------------
    Probe("metadata {1: 'a', '1': 'b'}", lambda w: save_model(w.model, w.file, metadata={1: "a", "1": "b"}),
          TypeError, r"^save_model: the keys of metadata must be strings, got 1 \(int\)"),
    Probe("metadata {True: 1, 'true': 2}",
          lambda w: save_model(w.model, w.file, metadata={True: 1, "true": 2}),
          TypeError, r"^save_model: the keys of metadata must be strings, got True \(bool\)"),
    Probe("metadata np.float64", lambda w: save_model(w.model, w.file, metadata={"a": np.float64(1.0)}),
          TypeError, r"^save_model: metadata\['a'\] must be plain JSON .*; write x\.item\(\)"),
    Probe("metadata holding itself", lambda w: save_model(w.model, w.file, metadata=_holding_itself()),
          ValueError,
          r"^save_model: metadata\['a'\]\[0\] must be plain JSON, got a container that holds itself$"),
    Probe("metadata 200 deep",
          lambda w: save_model(w.model, w.file, metadata={"a": json.loads("[" * 200 + "]" * 200)}),
          ValueError, r"^save_model: metadata must be nested at most 100"),
    Probe("metadata 10**5000", lambda w: save_model(w.model, w.file, metadata={"a": BIG}),
          ValueError, r"^save_model: metadata\['a'\] must be an integer of at most 4300 digits"),
    Probe("metadata nan", lambda w: save_model(w.model, w.file, metadata={"a": math.nan}),
          ValueError,
          r"^save_model: metadata\['a'\] must be a finite number, got nan; JSON has no nan or inf$"),
    Probe("metadata a list", lambda w: save_model(w.model, w.file, metadata=[1]),
          TypeError, r"^save_model: metadata must be a dict with str keys, or None, got \[1\] \(list\)$"),
    Probe("activation changed after",
          lambda w: save_model(_changed_model(lambda m: setattr(m, "activation", "softmax")), w.file),
          ValueError,
          r"^save_model: this model cannot be saved, its file would not load: architecture\.activation"),
    Probe("sizes changed after",
          lambda w: save_model(_changed_model(lambda m: setattr(m, "sizes", [3, 2])), w.file),
          ValueError, r"^save_model: this model cannot be saved, .*parameters has 13 entries but .* has 17$"),
    Probe("seed None after", lambda w: save_model(_changed_model(lambda m: setattr(m, "seed", None)), w.file),
          TypeError, r"^save_model: this model cannot be saved, .*architecture\.seed must be an integer"),
    Probe("a weight replaced by a float", lambda w: save_model(_changed_model(_replace_first_weight), w.file),
          TypeError,
          r"^save_model: parameter W\[1\]_0,0 must be a Value, got 3\.0 \(float\); a module's w and b"),
    Probe("save_model(None)", lambda w: save_model(None, w.file),
          TypeError, r"^save_model: model must be an nn\.MLP, got None \(NoneType\)$"),
    Probe("save to a folder", lambda w: save_model(w.model, w.attacks),
          IsADirectoryError, r"save_model: cannot write '.*attacks': it is a folder"),
    Probe("save to ''", lambda w: save_model(w.model, ""),
          ValueError, r"^save_model: path must be a file name \(str or pathlib\.Path\), got ''$"),
    Probe("save into a missing folder", lambda w: save_model(w.model, w.folder / "no" / "m.json"),
          FileNotFoundError, r"save_model: cannot write .*: folder .* does not exist"),
    Probe("save to a name of 300 bytes", lambda w: save_model(w.model, w.folder / ("m" * 300)),
          OSError,
          r"save_model: cannot write .*: its name is 300 bytes, more than this folder's limit of 255$"),
    Probe("params_from_model of a model with a float weight",
          lambda w: nn.params_from_model(_changed_model(_replace_first_weight)),
          TypeError, r"^params_from_model: parameter W\[1\]_0,0 must be a Value, got 3\.0 \(float\)"),
]


def _with_file_limit(limit: int, call: Callable[[], object]) -> object:
    saved = nn.serialize.MAX_FILE_BYTES
    nn.serialize.MAX_FILE_BYTES = limit
    try:
        return call()
    finally:
        nn.serialize.MAX_FILE_BYTES = saved


def _holding_itself() -> dict:
    inner: list = []
    inner.append(inner)
    return {"a": inner}


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


@pytest.mark.parametrize("probe", ODD_INPUTS + FILE_ATTACKS, ids=[p.case for p in ODD_INPUTS + FILE_ATTACKS])
def test_each_probe_is_refused_clearly_and_changes_nothing(probe: Probe, world: World) -> None:
    before = copy.deepcopy(world.snapshot())
    with pytest.raises(BaseException) as caught:
        probe.call(world)
    assert type(caught.value) is probe.raises, f"{type(caught.value).__name__}: {caught.value}"
    assert caught.match(probe.match)
    assert world.snapshot() == before


def test_the_probes_cover_the_round_the_issue_asks_for() -> None:
    """At least 50 odd inputs and 30 model-file attacks, each named once."""
    assert len(ODD_INPUTS) >= 50 and len(FILE_ATTACKS) >= 30
    names = [p.case for p in ODD_INPUTS + FILE_ATTACKS]
    assert len(names) == len(set(names))


@pytest.mark.parametrize(
    "change",
    [
        lambda w: setattr(w.x, "grad", 1.5),
        lambda w: setattr(w.y, "label", "z"),
        lambda w: setattr(w.model.parameters()[-1], "data", 7.0),
        lambda w: w.model.zero_grad(),
        lambda w: setattr(w.sgd, "momentum", 0.5),
        lambda w: save_model(w.model, w.file),
        lambda w: (w.folder / "stray.json").write_text("{}"),
    ],
    ids=["a grad", "a label", "a parameter", "the model's grads", "the optimiser", "the file", "the folder"],
)
def test_the_snapshot_sees_what_a_half_done_call_would_change(change, world: World) -> None:
    """So that the probes above cannot pass on nothing."""
    before = world.snapshot()
    change(world)
    assert world.snapshot() != before

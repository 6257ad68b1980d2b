"""The bad-input catalogue, continued for nn and drawing: model files, losses, models, graphs.

Same form as tests/test_bad_inputs.py: one ``Bad`` row per case (what the user did,
the exception type, a regex the message must match), plus the cases whose outcome
is a file left intact or a graph drawn in part.
"""

from __future__ import annotations

import json
import math
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from test_bad_inputs import Bad

import nn
from engine import GraphTooLargeError, GraphvizNotFoundError, Value, draw, save_svg
from nn import MLP, SGD, ModelFileError, binary_cross_entropy, load_model, save_model


@pytest.fixture
def model_files(tmp_path: Path) -> Path:
    """A good model file and broken variants of it, in ``tmp_path``."""
    save_model(MLP(2, [3, 1], seed=1), tmp_path / "good.json")
    text = (tmp_path / "good.json").read_text(encoding="utf-8")
    document = json.loads(text)
    (tmp_path / "truncated.json").write_text(text[: len(text) // 2], encoding="utf-8")
    (tmp_path / "not_json.json").write_text("hello", encoding="utf-8")
    first = next(iter(document["parameters"]))
    (tmp_path / "nan.json").write_text(
        text.replace(repr(document["parameters"][first]), "NaN", 1), encoding="utf-8"
    )
    wrong = json.loads(text)
    wrong["architecture"]["sizes"] = [4, 1]
    (tmp_path / "architecture.json").write_text(json.dumps(wrong), encoding="utf-8")
    as_text = json.loads(text)
    as_text["parameters"][first] = "1.0"
    (tmp_path / "string.json").write_text(json.dumps(as_text), encoding="utf-8")
    return tmp_path


def model_file_rows(folder: Path) -> list[Bad]:
    return [
        Bad("truncated model file", lambda: load_model(folder / "truncated.json"), ModelFileError,
            r"truncated\.json: not valid JSON( \(truncated\?\))?: "),
        Bad("not JSON", lambda: load_model(folder / "not_json.json"), ModelFileError,
            r"not_json\.json: not valid JSON( \(truncated\?\))?: Expecting value"),
        Bad("NaN in a model file", lambda: load_model(folder / "nan.json"), ModelFileError,
            r"nan\.json: non-finite number NaN \(JSON has no NaN or Infinity\)"),
        Bad("wrong architecture", lambda: load_model(folder / "architecture.json"), ModelFileError,
            r"architecture\.json: parameters has 13 entries but architecture 2-4-1 has 17"),
        Bad("a parameter as a string", lambda: load_model(folder / "string.json"), ModelFileError,
            r"string\.json: .*parameter W\[1\]_0,0 must be a finite number, got '1\.0' \(str\)"),
    ]


def test_bad_model_files_raise_model_file_error(model_files: Path) -> None:
    for bad in model_file_rows(model_files):
        with pytest.raises(bad.raises, match=bad.match):
            bad.call()
    assert issubclass(ModelFileError, ValueError)


def test_an_interrupted_save_leaves_the_old_file_intact(model_files: Path, monkeypatch) -> None:
    path = model_files / "good.json"
    before = path.read_bytes()

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt  # as if the user pressed Ctrl-C between write and rename

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save_model(MLP(2, [3, 1], seed=2), path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in model_files.iterdir() if p.name.startswith(".")) == []
    assert nn.load_model(path).num_parameters() == 13


NN_ERRORS: list[Bad] = [
    Bad("cross-entropy, a = 1 (no sigmoid), y = 0", lambda: binary_cross_entropy([Value(1.0)], [0.0]),
        ValueError, r"^binary_cross_entropy: sample 0 has a = 1\.0 with y = 0\.0: \(1−y\)·ln\(1−a\) is −∞"),
    Bad("cross-entropy, a = 0 (no sigmoid), y = 1", lambda: binary_cross_entropy([Value(0.0)], [1.0]),
        ValueError, r"^binary_cross_entropy: sample 0 has a = 0\.0 with y = 1\.0: y·ln a is −∞"),
    Bad("cross-entropy target outside [0, 1]", lambda: binary_cross_entropy([Value(0.3)], [1.5]),
        ValueError, r"^binary_cross_entropy: target 0 must be in \[0, 1\], got 1\.5$"),
    Bad("cross-entropy with m mismatched", lambda: binary_cross_entropy([Value(0.3)], [1.0, 0.0]),
        ValueError, r"^binary_cross_entropy: 1 predictions but 2 targets$"),
    Bad("a sample of the wrong width", lambda: MLP(2, [3, 1])([1.0]), ValueError,
        r"^MLP: expects 2 inputs per sample, got 1: \[1\.0\]$"),
    Bad("an unknown activation", lambda: MLP(2, [3, 1], activation="softmax"), ValueError,
        r"^MLP: activation must be one of 'sigmoid', 'tanh', 'relu', 'linear', got 'softmax'$"),
    Bad("a negative learning rate", lambda: SGD(MLP(2, [1]).parameters(), lr=-1), ValueError,
        r"^SGD: lr must be a finite number > 0, got -1$"),
    # -- building a model ----------------------------------------------------------------------------
    Bad("MLP(2, 1): one size, not a list", lambda: MLP(2, 1), TypeError,
        r"^MLP: sizes must be a non-empty list of layer widths \(integers ≥ 1\), got 1 \(int\); one width "
        r"per layer, the output layer last: e\.g\. MLP\(2, \[16, 16, 1\]\), or MLP\(2, \[1\]\) for a "
        r"single unit$"),
    Bad("MLP(2, [])", lambda: MLP(2, []), ValueError, r"^MLP: sizes must be a non-empty list .*, got \[\];"),
    Bad("MLP(2, [3, 0])", lambda: MLP(2, [3, 0]), ValueError,
        r"^MLP: sizes\[1\] must be an integer ≥ 1, got 0$"),
    Bad("MLP(2, [3.0])", lambda: MLP(2, [3.0]), TypeError,
        r"^MLP: sizes\[0\] must be an integer ≥ 1, got 3\.0 "),
    Bad("MLP(2.5, [3])", lambda: MLP(2.5, [3]), TypeError,
        r"^MLP: nin must be an integer ≥ 1, got 2\.5 \(float\)$"),
    Bad("MLP(0, [3])", lambda: MLP(0, [3]), ValueError, r"^MLP: nin must be an integer ≥ 1, got 0$"),
    Bad("MLP(seed=None)", lambda: MLP(2, [3], seed=None), TypeError,
        r"^MLP: seed must be an integer from 0 to 2\*\*64 − 1, got None \(NoneType\); e\.g\. seed=0$"),
    Bad("MLP(seed=1.5)", lambda: MLP(2, [3], seed=1.5), TypeError,
        r"^MLP: seed must be .*, got 1\.5 \(float\)"),
    Bad("MLP(seed=-1)", lambda: MLP(2, [3], seed=-1), ValueError, r"^MLP: seed must be .*, got -1;"),
    Bad("activation=[]", lambda: MLP(2, [3], activation=[]), TypeError,
        r"^MLP: activation must be one of 'sigmoid', 'tanh', 'relu', 'linear', got \[\] \(list\)$"),
    Bad("Layer(2, 1.5)", lambda: nn.Layer(2, 1.5), TypeError,
        r"^Layer: nout must be an integer ≥ 1, got 1\.5 "),
    Bad("Neuron('2')", lambda: nn.Neuron("2"), TypeError,
        r"^Neuron: nin must be an integer ≥ 1, got '2' \(str\)$"),
    Bad("Neuron(rng=0)", lambda: nn.Neuron(2, rng=0), TypeError,
        r"^Neuron: rng must be a random\.Random or None, got 0 \(int\)$"),
    # -- calling a model -----------------------------------------------------------------------------
    Bad("model(X.T), the course's (n_x, m)", lambda: MLP(2, [3, 1])(np.zeros((2, 100))), ValueError,
        r"^MLP: expects one sample, a list of 2 numbers, got an array of shape \(2, 100\); that is the "
        r"course's "
        r"\(n_x, m\) layout, 100 samples in columns: run each, \[model\(x\) for x in X\.T\]; "
        r"or nn\.predict_scores\(model, X\.T\)$"),
    Bad("model(X), rows as samples", lambda: MLP(2, [3, 1])(np.zeros((100, 2))), ValueError,
        r"^MLP: expects one sample, .*, got an array of shape \(100, 2\); that is 100 samples in rows: "
        r"run each, "
        r"\[model\(x\) for x in X\]; or nn\.predict_scores\(model, X\)$"),
    Bad("model(X), square", lambda: MLP(2, [3, 1])(np.zeros((2, 2))), ValueError,
        r"shape \(2, 2\); run one sample at a time: \[model\(x\) for x in X\] when rows are samples, "
        r"\[model\(x\) for x in X\.T\] when columns are"),
    Bad("model(X), neither", lambda: MLP(2, [3, 1])(np.zeros((3, 5))), ValueError,
        r"shape \(3, 5\); neither its rows \(5 numbers\) nor its columns \(3 numbers\) are samples of 2$"),
    Bad("model(list of lists)", lambda: MLP(2, [3, 1])([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]), ValueError,
        r"^MLP: expects one sample, .*, got a list of lists of shape \(3, 2\); that is 3 samples in rows"),
    Bad("model(5.0)", lambda: MLP(1, [1])(5.0), TypeError,
        r"^MLP: x must be a list of 1 number \(one sample\), got 5\.0 \(float\); .*: \[5\.0\]$"),
    Bad("model('ab')", lambda: MLP(2, [1])("ab"), TypeError,
        r"^MLP: x must be a list of 2 numbers .*'ab' \(str\)"),
    Bad("model([1, 'a'])", lambda: MLP(2, [1])([1, "a"]), TypeError,
        r"^MLP: input x\[1\] must be a finite number, got 'a' \(str\); a sample holds numbers or Values$"),
    Bad("model([1, nan])", lambda: MLP(2, [1])([1, math.nan]), ValueError,
        r"^MLP: input x\[1\] must be a finite number, got nan"),
    Bad("layer(X)", lambda: nn.Layer(2, 3)(np.zeros((5, 2))), ValueError,
        r"^Layer: expects one sample, .*: run each, \[layer\(x\) for x in X\]$"),
    Bad("neuron([1])", lambda: nn.Neuron(2)([1.0]), ValueError,
        r"^Neuron: expects 2 inputs per sample, got 1"),
    # -- losses ---------------------------------------------------------------------------------------
    Bad("binary_cross_entropy(model(x), y)", lambda: binary_cross_entropy(Value(0.5), 1.0), TypeError,
        r"^binary_cross_entropy: predictions must be a non-empty list of Values \(one model output per "
        r"sample\), got Value\(.*\) \(Value\); for one sample pass \[a\]; for m samples, "
        r"\[model\(x\) for x in X\]$"),
    Bad("binary_cross_entropy([a], Value(1))", lambda: binary_cross_entropy([Value(0.5)], Value(1.0)),
        TypeError,
        r"^binary_cross_entropy: targets must be a non-empty list of numbers \(one label per sample\), "
        r"got Value\(.*\) \(Value\); for one sample pass \[y\]"),
    Bad("binary_cross_entropy(a, Y (1, m))", lambda: binary_cross_entropy([Value(0.5)] * 3, np.ones((1, 3))),
        ValueError, r"targets must be .*, got an array of shape \(1, 3\); a \(1, m\) row, as the course "
        r"writes Y, goes in as Y\.ravel\(\)$"),
    Bad("binary_cross_entropy of a two-output model", lambda: binary_cross_entropy([[Value(0.5)] * 2], [1.0]),
        TypeError, r"^binary_cross_entropy: prediction 0 must be one Value, got \[.*\] \(list\); this loss "
        r"takes a model with one output unit"),
    Bad("mse(a, y)", lambda: nn.mse(Value(0.5), 1.0), TypeError,
        r"^mse: predictions must be a non-empty list"),
    Bad("mse([a], [None])", lambda: nn.mse([Value(0.5)], [None]), TypeError,
        r"^mse: target 0 must be a finite number, got None \(NoneType\)$"),
    Bad("hinge(5, [1])", lambda: nn.hinge(5, [1.0]), TypeError,
        r"^hinge: scores must be a non-empty list of Values .*, got 5 \(int\)"),
    # -- optimiser, data --------------------------------------------------------------------------------
    Bad("SGD(model)", lambda: SGD(MLP(2, [1]), lr=0.1), TypeError,
        r"^SGD: parameters must be an iterable of Values, got MLP\(.*\) \(MLP\); pass model\.parameters\(\), "
        r"not the model$"),
    Bad("SGD(5)", lambda: SGD(5, lr=0.1), TypeError,
        r"^SGD: parameters must be an iterable of Values, got 5 \(int\)"),
    Bad("SGD(lr='0.1')", lambda: SGD([Value(1.0)], lr="0.1"), TypeError,
        r"^SGD: lr must be a finite number > 0, got '0\.1' \(str\)$"),
    Bad("make_moons(seed='a')", lambda: nn.make_moons(seed="a"), TypeError,
        r"^make_moons: seed must be an integer from 0 to 2\*\*64 − 1, got 'a' \(str\); e\.g\. seed=0$"),
    Bad("make_moons(n_samples=-1)", lambda: nn.make_moons(n_samples=-1), ValueError,
        r"^make_moons: n_samples must be an integer ≥ 2, got -1$"),
    Bad("make_moons(noise='a')", lambda: nn.make_moons(noise="a"), TypeError,
        r"^make_moons: noise must be a finite number ≥ 0, got 'a' \(str\)$"),
    Bad("train_test_split(seed=None)", lambda: nn.train_test_split(*nn.make_moons(8), seed=None), TypeError,
        r"^train_test_split: seed must be an integer"),
    Bad("predict(model, x) with one sample", lambda: nn.predict(MLP(2, [1]), np.zeros(2)), ValueError,
        r"X must be an array of numbers of shape \(m, n_x\), one sample per row, got shape \(2,\); for one "
        r"sample x, pass \[x\] \(shape \(1, n_x\)\)$"),
    Bad("predict(model, 'abc')", lambda: nn.predict(MLP(2, [1]), "abc"), TypeError,
        r"X must be an array of numbers .*, got 'abc' \(str\)$"),
    Bad("load_state_dict([...])", lambda: MLP(2, [1]).load_state_dict([1.0]), TypeError,
        r"^load_state_dict: state must be a mapping label -> number, got \[1\.0\] \(list\); e\.g\. the dict "
        r"that model\.state_dict\(\) returns$"),
]


@pytest.mark.parametrize("bad", NN_ERRORS, ids=[b.case for b in NN_ERRORS])
def test_nn_bad_input_raises_a_clear_error(bad: Bad) -> None:
    with pytest.raises(bad.raises, match=bad.match):
        bad.call()


def test_cross_entropy_at_a_saturated_sigmoid_is_finite() -> None:
    """The documented outcome at a = σ(z) ≈ 1 and ≈ 0: the loss from z, finite, dz = a − y."""
    for z0, y in ((40.0, 0.0), (-40.0, 1.0), (800.0, 0.0)):
        z = Value(z0)
        loss = binary_cross_entropy([z.sigmoid()], [y])
        loss.backward()
        assert loss.data == pytest.approx(abs(z0), rel=1e-12)
        assert z.grad == pytest.approx(z.sigmoid().data - y, rel=1e-12)


def _chain(n: int) -> Value:
    y = Value(1.0, label="x")
    for _ in range(n):
        y = y + 1.0
    return y


def test_a_hundred_thousand_node_graph_is_refused_or_cut_in_seconds() -> None:
    big = _chain(100_000)
    with pytest.raises(GraphTooLargeError, match=r"has 100,001 nodes to draw, more than max_nodes=300"):
        draw(big, on_overflow="raise")
    cut = draw(big)  # truncate (the default): the 300 nodes nearest the root and one placeholder
    assert "left out" in cut.source
    assert cut.source.count("label=") < 2 * 300 + 20  # dot gets a small graph, never the 100,001 nodes


def test_missing_dot_saves_the_source_and_says_how_to_install(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(GraphvizNotFoundError, match=r"apt-get install graphviz.*brew install graphviz"):
        save_svg(Value(2.0, label="x") * 3, tmp_path / "graph.svg")
    assert (tmp_path / "graph.gv").read_text(encoding="utf-8").startswith("digraph")
    assert not (tmp_path / "graph.svg").exists()


def test_labels_cannot_inject_markup_into_the_svg() -> None:
    x = Value(1.0, label='<script>alert("x")</script>')
    y = (x * 2).tanh()
    y.label = "a>0|{x} & </text><svg onload=1>"
    svg = draw(y).pipe(format="svg")
    root = ET.fromstring(svg)
    tags = {element.tag.rsplit("}", 1)[-1] for element in root.iter()}
    assert "script" not in tags and not any("onload" in element.attrib for element in root.iter())
    texts = "".join(element.text or "" for element in root.iter())
    assert '<script>alert("x")</script>' in texts and "a>0|{x} & </text><svg onload=1>" in texts

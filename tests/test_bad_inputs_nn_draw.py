"""The bad-input catalogue, continued for nn and drawing: model files, losses, models, graphs.

Same form as tests/test_bad_inputs.py: one ``Bad`` row per case (what the user did,
the exception type, a regex the message must match), plus the cases whose outcome
is a file left intact or a graph drawn in part.
"""

from __future__ import annotations

import json
import os
import time
import xml.etree.ElementTree as ET
from pathlib import Path

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
    start = time.perf_counter()
    with pytest.raises(GraphTooLargeError, match=r"has 100,001 nodes to draw, more than max_nodes=300"):
        draw(big, on_overflow="raise")
    cut = draw(big)  # truncate (the default): the 300 nodes nearest the root and one placeholder
    assert time.perf_counter() - start < 10
    assert "left out" in cut.source


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

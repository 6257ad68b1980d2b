"""Model files: bit-exact round trips, a clear error for every malformed file, atomic saves."""

from __future__ import annotations

import collections
import decimal
import fractions
import json
import math
import os
import stat
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nn
import nn.serialize
from nn import MLP, ModelFileError, load_metadata, load_model, predict_scores, save_model


def trained_looking(activation: str = "tanh", output: str = "sigmoid") -> MLP:
    """A model whose parameters are arbitrary doubles (not just the initial ones)."""
    model = MLP(2, [5, 3, 1], activation=activation, output_activation=output, seed=3)
    rng = np.random.default_rng(0)
    model.load_state_dict({label: float(rng.normal()) / 3 for label in model.state_dict()})
    return model


def valid_document() -> dict:
    return nn.serialize.model_to_dict(trained_looking())


def leftovers(folder) -> list[str]:
    """Temporary files a save left behind."""
    return [name for name in os.listdir(folder) if name.endswith(".tmp")]


# --- round trips ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("activation", "output"), [("tanh", "sigmoid"), ("relu", "linear"), ("sigmoid", "tanh")]
)
def test_save_then_load_gives_identical_predictions_to_the_bit(tmp_path, activation, output):
    model = trained_looking(activation, output)
    path = save_model(model, tmp_path / "model.json")
    loaded = load_model(path)
    assert repr(loaded) == repr(model)
    assert [v.hex() for v in loaded.state_dict().values()] == [v.hex() for v in model.state_dict().values()]
    grid = np.random.default_rng(1).normal(size=(200, 2)) * 3
    assert predict_scores(loaded, grid).tobytes() == predict_scores(model, grid).tobytes()


def test_the_file_is_readable_json_with_format_version_architecture_labels(tmp_path):
    model = trained_looking()
    save_model(model, tmp_path / "m.json", metadata={"dataset": "moons", "steps": 3})
    document = json.loads((tmp_path / "m.json").read_text(encoding="utf-8"))
    assert document["format"] == "chainrule-mlp" and document["version"] == 1
    assert document["architecture"] == {
        "nin": 2, "sizes": [5, 3, 1], "activation": "tanh", "output_activation": "sigmoid", "seed": 3,
    }
    assert list(document["parameters"]) == [label for label, _ in model.named_parameters()]
    assert document["parameters"]["b[3]_0"] == model.layers[2].neurons[0].b.data
    assert document["metadata"] == {"dataset": "moons", "steps": 3}
    assert load_model(tmp_path / "m.json").state_dict() == model.state_dict()


def test_saving_twice_gives_the_same_bytes(tmp_path):
    model = trained_looking()
    save_model(model, tmp_path / "a.json")
    save_model(model, tmp_path / "b.json")
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()


# --- malformed files ----------------------------------------------------------------------------
def edited(change):
    document = valid_document()
    change(document)
    return json.dumps(document)


def rename_first_label(document):
    parameters = document["parameters"]
    first = next(iter(parameters))
    document["parameters"] = {("W[1]_9,9" if k == first else k): v for k, v in parameters.items()}


def set_param(value):
    return lambda d: d["parameters"].update({"W[2]_1,2": value})


def raw_param(text: str) -> str:
    # json.dumps cannot write these, so put the literal text in by hand.
    return edited(set_param(12345.5)).replace("12345.5", text)


def arch(**changes):
    return edited(lambda d: d["architecture"].update(changes))


def top(**changes):
    return edited(lambda d: d.update(changes))


def raw_metadata(text: str) -> str:
    """A valid file whose metadata is the literal JSON ``text`` (which json.dumps may not write)."""
    return edited(lambda d: d.update(metadata="@@")).replace('"@@"', text)


VALID = json.dumps(valid_document())
NOT_ONE_OF = r"must be one of 'sigmoid', 'tanh', 'relu', 'linear', got "
SEED_RULE = r"architecture\.seed must be an integer from 0 to 2\*\*64 − 1, got "

MALFORMED = {
    # -- not JSON, or not a JSON object ----------------------------------------------------------
    "empty": ("", "the file is empty"),
    "blank": ("  \n", "the file is empty"),
    "truncated": (VALID[: len(VALID) // 2], r"not valid JSON \(truncated\?\)"),
    "not json": ("hello", "not valid JSON: Expecting value at line 1 column 1"),
    "not utf-8": (b"\xff\xfe{}", "not UTF-8 text"),
    "utf-16": (VALID.encode("utf-16"), "not UTF-8 text"),
    "byte order mark": (b"\xef\xbb\xbf" + VALID.encode(), "not valid JSON: Unexpected UTF-8 BOM"),
    "trailing garbage": (VALID + "x", "not valid JSON: Extra data"),
    "two documents": (VALID + VALID, "not valid JSON: Extra data"),
    "a list": ("[1, 2]", r"the top level must be a JSON object, got \[1, 2\] \(list\)"),
    "a string": ('"model"', r"the top level must be a JSON object, got 'model' \(str\)"),
    "a number": ("42", r"the top level must be a JSON object, got 42 \(int\)"),
    "null": ("null", r"the top level must be a JSON object, got None \(NoneType\)"),
    "empty object": ("{}", "format is None"),
    "deep nesting": ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    # -- format and version ----------------------------------------------------------------------
    "other format": (top(format="keras"), "format is 'keras', expected 'chainrule-"),
    "no format": (edited(lambda d: d.pop("format")), "format is None"),
    "format list": (top(format=[]), r"format is \[\], expected"),
    "format number": (top(format=1), "format is 1, expected"),
    "newer version": (top(version=2), r"unsupported version 2 \(written by a newer"),
    "huge version": (top(version=10**30), r"unsupported version 10{30} \(written by a newer"),
    "negative version": (top(version=-1), r"unsupported version -1; this chainrule reads version 1"),
    "version text": (top(version="1"), r"version must be an integer, got '1' \(str\)"),
    "version float": (top(version=1.0), r"version must be an integer, got 1\.0 \(float\)"),
    "version bool": (top(version=True), r"version must be an integer, got True \(bool\)"),
    "version null": (top(version=None), r"version must be an integer, got None"),
    # -- keys ----------------------------------------------------------------------------------------
    "no architecture": (edited(lambda d: d.pop("architecture")), "missing key.* architecture"),
    "no parameters": (edited(lambda d: d.pop("parameters")), "missing key.* parameters"),
    "unknown key": (top(optimizer={}), "unknown key.* 'optimizer'"),
    "many unknown keys": (
        edited(lambda d: d.update({f"k{i}": i for i in range(1000)})), r"unknown key\(s\) .*\(995 more\)"
    ),
    "a very long key": (edited(lambda d: d.update({"k" * 100_000: 1})), r"unknown key\(s\) 'kkkk.*\.\.\."),
    "duplicate key": (VALID.replace('"format"', '"version": 1, "format"', 1), "'version' appears twice"),
    "duplicate label": (
        VALID.replace('"b[3]_0"', '"W[1]_0,0": 1.0, "b[3]_0"', 1), r"'W\[1\]_0,0' appears twice"
    ),
    # -- architecture --------------------------------------------------------------------------------
    "architecture list": (top(architecture=[]), r"architecture must be a JSON object, got \[\] \(list\)"),
    "architecture null": (top(architecture=None), "architecture must be a JSON object, got None"),
    "no seed": (edited(lambda d: d["architecture"].pop("seed")), "architecture is missing seed"),
    "extra arch key": (arch(dropout=0.5), "unknown key.* 'dropout'"),
    "nin zero": (arch(nin=0), "nin must be an integer ≥ 1, got 0"),
    "nin bool": (arch(nin=True), r"nin must be .* ≥ 1, got True \(bool\)"),
    "nin float": (arch(nin=2.0), r"architecture\.nin must be an integer ≥ 1, got 2\.0 \(float\)"),
    "nin text": (arch(nin="2"), r"architecture\.nin must be an integer ≥ 1, got '2' \(str\)"),
    "nin list": (arch(nin=[2]), r"architecture\.nin must be an integer ≥ 1, got \[2\] \(list\)"),
    "nin huge": (arch(nin=10**40), r"parameters has 37 entries but architecture 10{40}-5-3-1 has"),
    "sizes empty": (arch(sizes=[]),
        r"architecture\.sizes must be a non-empty list of integers ≥ 1, got \[\]"),
    "sizes text": (arch(sizes=[5, "3", 1]),
        r"architecture\.sizes\[1\] must be an integer ≥ 1, got '3' \(str\)"),
    "sizes dict": (arch(sizes={}), r"architecture\.sizes must be a non-empty list .*, got \{\} \(dict\)"),
    "sizes number": (arch(sizes=5), r"architecture\.sizes must be a non-empty list .*, got 5 \(int\)"),
    "sizes string": (arch(sizes="5,3,1"),
        r"architecture\.sizes must be a non-empty list .*, got '5,3,1' \(str"),
    "sizes null": (arch(sizes=None), r"architecture\.sizes must be a non-empty list .*, got None"),
    "sizes nested": (arch(sizes=[[5], 3, 1]), r"architecture\.sizes\[0\] must be an integer ≥ 1, got \[5\]"),
    "sizes bool": (arch(sizes=[5, True, 1]), r"architecture\.sizes\[1\] must be an integer ≥ 1, got True"),
    "sizes zero": (arch(sizes=[5, 0, 1]), r"architecture\.sizes\[1\] must be an integer ≥ 1, got 0$"),
    "sizes float": (arch(sizes=[5.0, 3, 1]), r"architecture\.sizes\[0\] must be an integer ≥ 1, got 5\.0"),
    "activation": (arch(activation="softmax"), NOT_ONE_OF + "'softmax'"),
    "activation list": (arch(activation=[]), r"architecture\.activation " + NOT_ONE_OF + r"\[\] \(list\)"),
    "activation object": (arch(activation={}), r"architecture\.activation " + NOT_ONE_OF + r"\{\} \(dict\)"),
    "activation null": (arch(activation=None), r"architecture\.activation " + NOT_ONE_OF + "None"),
    "activation number": (arch(activation=1), r"architecture\.activation " + NOT_ONE_OF + r"1 \(int\)"),
    "activation case": (arch(activation="Tanh"), r"architecture\.activation " + NOT_ONE_OF + "'Tanh'"),
    "output list": (arch(output_activation=["sigmoid"]),
        r"output_activation " + NOT_ONE_OF + r"\['sigmoid'\]"),
    "seed null": (arch(seed=None), SEED_RULE + r"None \(NoneType\)"),
    "seed float": (arch(seed=1.5), SEED_RULE + r"1\.5 \(float\)"),
    "seed text": (arch(seed="0"), SEED_RULE + r"'0' \(str\)"),
    "seed bool": (arch(seed=True), SEED_RULE + r"True \(bool\)"),
    "seed negative": (arch(seed=-1), SEED_RULE + "-1"),
    "seed huge": (arch(seed=2**64), SEED_RULE + "18446744073709551616"),
    # -- parameters ----------------------------------------------------------------------------------
    "parameters list": (top(parameters=[1.0]),
        r"parameters must be a JSON object label -> number, got \[1\.0\]"),
    "parameters null": (top(parameters=None), "parameters must be a JSON object label -> number, got None"),
    "parameters text": (top(parameters="W"), "parameters must be a JSON object label -> number, got 'W'"),
    "one missing": (
        edited(lambda d: d["parameters"].pop("b[3]_0")),
        "parameters has 36 entries but architecture 2-5-3-1 has 37",
    ),
    "wrong architecture": (arch(sizes=[4, 3, 1]),
        "parameters has 37 entries but architecture 2-4-3-1 has 31"),
    "renamed label": (edited(rename_first_label), r"missing 1: W\[1\]_0,0; unexpected 1: W\[1\]_9,9"),
    "text value": (edited(set_param("0.5")), r"W\[2\]_1,2 must be a finite number, got '0.5' \(str\)"),
    "null value": (edited(set_param(None)), r"W\[2\]_1,2 must be a finite number, got None"),
    "bool value": (edited(set_param(True)), r"W\[2\]_1,2 must be a finite number, got True"),
    "list value": (edited(set_param([1.0])), r"W\[2\]_1,2 must be a finite number, got \[1.0\]"),
    "object value": (edited(set_param({"a": 1})), r"W\[2\]_1,2 must be a finite number, got \{'a': 1\}"),
    "long text value": (edited(set_param("x" * 100_000)),
        r"W\[2\]_1,2 must be a finite number, got 'xxx.*\.\.\."),
    "NaN": (raw_param("NaN"), "non-finite number NaN"),
    "Infinity": (raw_param("Infinity"), "non-finite number Infinity"),
    "-Infinity": (raw_param("-Infinity"), "non-finite number -Infinity"),
    "overflowing float": (raw_param("1e400"), r"W\[2\]_1,2 must be a finite number, got inf"),
    "huge integer": (raw_param("1" + "0" * 400),
        r"W\[2\]_1,2 must be a finite number, got an integer too large"),
    "integer past the digit limit": (raw_param("7" * 5000), "an integer of 5,000 digits"),
    # -- metadata ------------------------------------------------------------------------------------
    "metadata list": (top(metadata=[]), r"metadata must be a JSON object, got \[\] \(list\)"),
    "metadata null": (top(metadata=None), "metadata must be a JSON object, got None"),
    "metadata text": (top(metadata="trained"), "metadata must be a JSON object, got 'trained'"),
    "metadata NaN": (raw_metadata('{"loss": NaN}'), "non-finite number NaN"),
    "metadata 1e400": (raw_metadata('{"loss": 1e400}'),
        r"metadata\['loss'\] must be a finite number, got inf"),
    "metadata too deep": (
        raw_metadata('{"a": ' + "[" * 150 + "]" * 150 + "}"),
            "metadata must be nested at most 100 levels deep"
    ),
    "metadata long integer": (raw_metadata('{"n": ' + "9" * 4301 + "}"), "an integer of 4,301 digits"),
}


def test_the_catalogue_of_malformed_files_is_large():
    assert len(MALFORMED) >= 90


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_every_malformed_file_gets_a_clear_error_naming_the_file(tmp_path, case):
    content, message = MALFORMED[case]
    path = tmp_path / "broken.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    for load in (load_model, load_metadata):
        with pytest.raises(ModelFileError, match=message) as caught:
            load(path)
        assert str(caught.value).startswith(f"{path}: ")
        assert isinstance(caught.value, ValueError)
        assert len(str(caught.value)) < len(str(path)) + 400  # huge keys and values are shortened


def test_small_integers_are_valid_parameter_values(tmp_path):
    path = tmp_path / "ints.json"
    path.write_text(edited(set_param(3)), encoding="utf-8")
    assert load_model(path).state_dict()["W[2]_1,2"] == 3.0


def test_a_missing_file_is_a_file_not_found_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "nothing.json")


# --- saving safely -----------------------------------------------------------------------------
@pytest.fixture
def existing(tmp_path):
    """A model file already on disk, with its bytes."""
    path = tmp_path / "model.json"
    save_model(MLP(2, [3, 1], seed=1), path)
    return path, path.read_bytes()


class FailingFile:
    """Stands in for the temporary file: writes half of what it is given, then fails."""

    def __init__(self, file, error: BaseException) -> None:
        self.file, self.error = file, error

    def write(self, text):
        self.file.write(text[: len(text) // 2])
        raise self.error

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.file.close()

    def __getattr__(self, name):
        return getattr(self.file, name)


def failing_fdopen(error: BaseException):
    real = os.fdopen
    return lambda fd, *args, **kwargs: FailingFile(real(fd, *args, **kwargs), error)


@pytest.mark.parametrize(
    ("target", "replacement"),
    [
        ("fdopen", failing_fdopen(OSError("disk full"))),
        ("fsync", lambda fd: (_ for _ in ()).throw(OSError("I/O error"))),
        ("replace", lambda src, dst: (_ for _ in ()).throw(OSError("rename failed"))),
    ],
)
def test_a_failed_save_leaves_the_old_file_and_no_temp_file(monkeypatch, existing, target, replacement):
    path, old_bytes = existing
    monkeypatch.setattr(os, target, replacement)
    with pytest.raises(OSError, match=r"disk full|I/O error|rename failed"):
        save_model(trained_looking(), path)
    assert path.read_bytes() == old_bytes
    assert leftovers(path.parent) == []


def test_an_interrupted_save_leaves_the_old_file_intact(monkeypatch, existing):
    path, old_bytes = existing
    monkeypatch.setattr(os, "fdopen", failing_fdopen(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        save_model(trained_looking(), path)
    assert path.read_bytes() == old_bytes and leftovers(path.parent) == []


def test_a_non_finite_parameter_is_refused_and_the_old_file_kept(existing):
    path, old_bytes = existing
    model = trained_looking()
    weight = model.layers[0].neurons[1].w[0]
    with pytest.raises(ValueError, match=r"^Value\.data: got nan"):
        weight.data = math.nan  # refused when set ...
    # ... and the file check is the last line of defence: plant a nan underneath the setter.
    type(weight)._data.__set__(weight, math.nan)
    with pytest.raises(ValueError, match="nan"):
        save_model(model, path)
    assert path.read_bytes() == old_bytes and leftovers(path.parent) == []


# --- the save/load contract: what is saved loads back the same, or the save is refused -------------
class Custom:
    def __repr__(self) -> str:
        return "Custom()"


class BrokenRepr:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")


class Text(str):
    pass


def nested(levels: int) -> dict:
    """Metadata whose innermost list sits ``levels`` containers deep (the metadata dict counts as 1)."""
    inner: list = []
    for _ in range(levels - 2):
        inner = [inner]
    return {"a": inner}


def cycle() -> dict:
    loop: dict = {}
    loop["self"] = loop
    return loop


NOT_PLAIN = r"must be plain JSON \(a dict, list, str, int, float, bool or None\), got "
KEYS = r"^save_model: the keys of metadata must be strings, got "

# (case, what save_model got, exception, regex of the message)
REFUSED_SAVES = [
    ("int and str keys collide", {"metadata": {1: "a", "1": "b"}}, TypeError, KEYS + r"1 \(int\); JSON keys"),
    ("True and 'true' collide", {"metadata": {True: 1, "true": 2}}, TypeError, KEYS + r"True \(bool\)"),
    ("None and 'null' collide", {"metadata": {None: 1, "null": 2}}, TypeError, KEYS + r"None \(NoneType\)"),
    ("a float key", {"metadata": {1.5: "x"}}, TypeError, KEYS + r"1\.5 \(float\)"),
    ("a tuple key", {"metadata": {(1, 2): "x"}}, TypeError, KEYS + r"\(1, 2\) \(tuple\)"),
    ("a nested int key", {"metadata": {"runs": {0: "x"}}}, TypeError,
     r"the keys of metadata\['runs'\] must be strings, got 0 \(int\)"),
    ("nan", {"metadata": {"loss": math.nan}}, ValueError,
     r"^save_model: metadata\['loss'\] must be a finite number, got nan; JSON has no nan or inf$"),
    ("inf", {"metadata": {"loss": math.inf}}, ValueError,
     r"metadata\['loss'\] must be a finite number, got inf"),
    ("-inf in a list", {"metadata": {"l": [1.0, -math.inf]}}, ValueError,
     r"metadata\['l'\]\[1\] must be a finite"),
    ("a tuple", {"metadata": {"shape": (2, 3)}}, TypeError,
     NOT_PLAIN + r"\(2, 3\) \(tuple\); JSON has no tuples and it would load back as a list: pass a list$"),
    ("an integer past the digit limit", {"metadata": {"n": 10**5000}}, ValueError,
     r"metadata\['n'\] must be an integer of at most 4300 digits, got an integer of more than"),
    ("a numpy float64", {"metadata": {"acc": np.float64(0.5)}}, TypeError,
     NOT_PLAIN + r".*\(float64\); write x\.item"),
    ("a numpy float32", {"metadata": {"acc": np.float32(0.5)}}, TypeError,
     NOT_PLAIN + r".*\(float32\); write x\.item"),
    ("a numpy int", {"metadata": {"steps": np.int64(3)}}, TypeError,
     NOT_PLAIN + r".*\(int64\); write x\.item"),
    ("a numpy bool", {"metadata": {"ok": np.bool_(True)}}, TypeError, NOT_PLAIN + r".*write x\.item"),
    ("a numpy array", {"metadata": {"w": np.arange(3)}}, TypeError,
     NOT_PLAIN + r".*\(ndarray\); write array\.tolist"),
    ("a set", {"metadata": {"tags": {"a"}}}, TypeError, NOT_PLAIN + r"\{'a'\} \(set\); JSON has no sets"),
    ("a frozenset", {"metadata": {"tags": frozenset()}}, TypeError, NOT_PLAIN + r".*JSON has no sets"),
    ("bytes", {"metadata": {"raw": b"ab"}}, TypeError, NOT_PLAIN + r"b'ab' \(bytes\); JSON holds text"),
    ("a custom object", {"metadata": {"x": Custom()}}, TypeError, NOT_PLAIN + r"Custom\(\) \(Custom\)"),
    ("an object whose repr fails", {"metadata": {"x": BrokenRepr()}}, TypeError,
     NOT_PLAIN + r"<BrokenRepr instance at 0x[0-9a-f]+> \(BrokenRepr\)"),
    ("a str subclass", {"metadata": {"x": Text("a")}}, TypeError, NOT_PLAIN + r".*pass str\(x\)"),
    ("an OrderedDict inside", {"metadata": {"x": collections.OrderedDict()}}, TypeError, r".*pass dict\(x\)"),
    ("a complex number", {"metadata": {"z": 1j}}, TypeError, NOT_PLAIN + r"1j \(complex\)"),
    ("a Decimal", {"metadata": {"d": decimal.Decimal("1.5")}}, TypeError, NOT_PLAIN + r"Decimal"),
    ("a Fraction", {"metadata": {"f": fractions.Fraction(1, 3)}}, TypeError, NOT_PLAIN + r"Fraction"),
    ("a function", {"metadata": {"f": len}}, TypeError, NOT_PLAIN + r"<built-in function len>"),
    ("nested 101 deep", {"metadata": nested(101)}, ValueError,
     r"^save_model: metadata must be nested at most 100 levels deep, got deeper nesting, at metadata\['a'\]"),
    ("nested 5000 deep", {"metadata": nested(5000)}, ValueError, r"nested at most 100 levels deep"),
    ("a dict that holds itself", {"metadata": cycle()}, ValueError,
     r"metadata\['self'\] must be plain JSON, got a container that holds itself"),
    ("metadata a list", {"metadata": [1, 2]}, TypeError,
     r"^save_model: metadata must be a dict with str keys, or None, got \[1, 2\] \(list\)$"),
    ("metadata a string", {"metadata": "trained"}, TypeError,
     r"metadata must be a dict with str keys, or None"),
    ("metadata an OrderedDict", {"metadata": collections.OrderedDict(a=1)}, TypeError, r"pass dict\(x\)"),
    ("not a model", {"model": [1.0]}, TypeError,
     r"^save_model: model must be an nn\.MLP, got \[1\.0\] \(list\)$"),
    ("a Layer, not a model", {"model": nn.Layer(2, 3)}, TypeError, r"model must be an nn\.MLP, got Layer"),
    ("path None", {"path": None}, TypeError,
     r"^save_model: path must be a file name \(str or pathlib\.Path\), got None \(NoneType\)$"),
    ("path a number", {"path": 3}, TypeError, r"path must be a file name .*, got 3 \(int\)"),
    ("path bytes", {"path": b"model.json"}, TypeError, r"path must be a file name .*\(bytes\)"),
    ("path empty", {"path": ""}, ValueError, r"path must be a file name .*, got ''"),
    ("path with NUL", {"path": "a\0b.json"}, ValueError, r"holds a NUL character"),
]


def mutated(change):
    """A model with one of its plain attributes edited by hand after it was built."""
    model = trained_looking()
    change(model)
    return model


REFUSED_MODELS = [
    ("seed set to None afterwards", lambda m: setattr(m, "seed", None), TypeError,
     r"^save_model: this model cannot be saved, its file would not load: "
     r"architecture\.seed must be an integer"),
    ("seed set to a numpy int", lambda m: setattr(m, "seed", np.int64(3)), TypeError,
     r"architecture\['seed'\] " + NOT_PLAIN + r"np\.int64\(3\)"),
    ("activation set to an unknown name", lambda m: setattr(m, "activation", "swish"), ValueError,
     r"its file would not load: architecture\.activation must be one of .*, got 'swish'"),
    ("sizes set to a tuple", lambda m: setattr(m, "sizes", (5, 3, 1)), TypeError,
     r"architecture\['sizes'\] " + NOT_PLAIN + r"\(5, 3, 1\) \(tuple\)"),
    ("a layer appended", lambda m: m.layers.append(m.layers[-1]), ValueError,
     r"^save_model: the model's layers \(inputs, units, activation\) are .*; no file could rebuild it$"),
    ("a layer's activation changed", lambda m: setattr(m.layers[0], "activation", "relu"), ValueError,
     r"the model's layers .*'relu'.* not what its nin, sizes and activations say"),
    ("a parameter set to a string", lambda m: setattr(m.layers[0].neurons[0].w[0], "data", "x"), TypeError,
     r"save_model: parameter W\[1\]_0,0 must be a finite number, got 'x' \(str\)"),
]


def test_a_parameter_set_to_a_bool_holds_the_float_it_means_and_saves(existing):
    """Value.data = True stores 1.0 (a float, as for every number), so the model saves and loads back."""
    path, _ = existing
    model = trained_looking()
    model.layers[0].neurons[0].w[0].data = True
    assert type(model.layers[0].neurons[0].w[0].data) is float and model.layers[0].neurons[0].w[0].data == 1.0
    save_model(model, path)
    assert load_model(path).layers[0].neurons[0].w[0].data == 1.0


def test_the_catalogue_of_refused_saves_is_large():
    assert len(REFUSED_SAVES) + len(REFUSED_MODELS) >= 45


@pytest.mark.parametrize(
    ("case", "call", "error", "message"), REFUSED_SAVES, ids=[r[0] for r in REFUSED_SAVES]
)
def test_a_save_that_would_not_load_back_is_refused_and_the_old_file_kept(
    existing, case, call, error, message
):
    path, old_bytes = existing
    arguments = {"model": trained_looking(), "path": path, "metadata": None} | call
    with pytest.raises(error, match=message) as caught:
        save_model(arguments["model"], arguments["path"], metadata=arguments["metadata"])
    assert type(caught.value) is error
    assert len(str(caught.value)) < 400
    assert path.read_bytes() == old_bytes and leftovers(path.parent) == []


@pytest.mark.parametrize(
    ("case", "change", "error", "message"), REFUSED_MODELS, ids=[r[0] for r in REFUSED_MODELS]
)
def test_a_model_edited_by_hand_is_saved_only_if_it_loads_back(existing, case, change, error, message):
    path, old_bytes = existing
    try:
        model = mutated(change)
    except (TypeError, ValueError):  # refused when the attribute is set: nothing to save
        return
    with pytest.raises(error, match=message):
        save_model(model, path)
    assert path.read_bytes() == old_bytes and leftovers(path.parent) == []


ACCEPTED_METADATA = {
    "none": None,
    "empty": {},
    "flat": {"dataset": "moons", "steps": 150, "lr": 0.3, "ok": True, "note": None},
    "nested": {"history": {"loss": [0.7, 0.5, 0.25], "accuracy": [0.5, 1.0]}, "tags": ["a", "b"]},
    "odd numbers": {"tiny": 5e-324, "neg zero": -0.0, "big": 1.7976931348623157e308, "int": -(10**100)},
    "integer at the digit limit": {"n": 10**4300 - 1},
    "odd keys": {"": 1, "a.b": 2, "[0]": 3, "W[1]_0,0": 4, "é ✓ 𝑥": 5, "\ud800": 6, "\x00": 7},
    "odd strings": {"s": "line\nbreak \"quoted\" \\ \u2028 \ud83d \x00 ✓" * 10},
    "exactly 100 deep": nested(100),
    "a long list": {"losses": [i / 7 for i in range(10_000)]},
}


@pytest.mark.parametrize("case", sorted(ACCEPTED_METADATA))
def test_metadata_that_json_holds_loads_back_equal_and_of_the_same_types(tmp_path, case):
    metadata = ACCEPTED_METADATA[case]
    model = trained_looking()
    path = save_model(model, tmp_path / "m.json", metadata=metadata)
    assert nn.serialize._same(load_metadata(path), metadata) if metadata is not None else (
        load_metadata(path) is None
    )
    assert hex_state(load_model(path)) == hex_state(model)


def hex_state(model: MLP) -> list[str]:
    return [v.hex() for v in model.state_dict().values()]


# Anything a user may put in metadata, plain or not: every save either loads back exactly or is
# refused with a TypeError/ValueError, leaving the old file.
ANYTHING = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5)
    | st.sampled_from([np.float64(1.5), np.int32(2), (1, 2), {1}, b"x", Text("t"), 1j])
    | st.builds(pow, st.just(10), st.just(4400)),  # past the digit limit (built lazily: no repr)
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(
        st.text(max_size=3) | st.integers(0, 3) | st.booleans() | st.none(), children, max_size=3
    ),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(metadata=st.dictionaries(st.text(max_size=3), ANYTHING, max_size=4))
def test_every_save_loads_back_exactly_or_is_refused_leaving_the_old_file(existing, metadata):
    path, old_bytes = existing
    try:
        save_model(MLP(2, [3, 1], seed=1), path, metadata=metadata)
    except (TypeError, ValueError):
        assert path.read_bytes() == old_bytes
        return
    assert nn.serialize._same(load_metadata(path), metadata)
    assert hex_state(load_model(path)) == hex_state(MLP(2, [3, 1], seed=1))
    path.write_bytes(old_bytes)


def test_the_read_back_check_catches_what_the_value_checks_would_miss(existing, monkeypatch):
    """The last guard: the text is parsed back with the loader and compared, type for type."""
    path, old_bytes = existing
    monkeypatch.setattr(nn.serialize, "_check_json", lambda *args, **kwargs: None)
    with pytest.raises(ValueError, match=r"^save_model: the file would not load back as the same model"):
        save_model(trained_looking(), path, metadata={"shape": (2, 3)})  # json writes the tuple as a list
    with pytest.raises(ValueError, match=r"^save_model: this model cannot be saved, .*'1' appears twice"):
        save_model(trained_looking(), path, metadata={"1": "a", 1: "b"})  # one key, written twice
    assert path.read_bytes() == old_bytes and leftovers(path.parent) == []


@pytest.mark.parametrize(
    "number", [np.float32(0.1), np.float64(-0.25), np.int64(3), 2, fractions.Fraction(1, 3)], ids=repr
)
def test_parameters_holding_numpy_scalars_or_ints_save_as_the_floats_they_load_as(tmp_path, number):
    model = trained_looking()
    weight = model.layers[1].neurons[2].w[1]
    try:
        weight.data = number
    except (TypeError, ValueError):  # a Value that refuses such data has nothing to save
        return
    path = save_model(model, tmp_path / "m.json")  # no metadata: nothing to complain about
    loaded = load_model(path)
    assert loaded.state_dict()["W[2]_2,1"] == float(number)
    assert type(loaded.state_dict()["W[2]_2,1"]) is float
    assert json.loads(path.read_text())["parameters"]["W[2]_2,1"] == float(number)


def test_load_metadata_gives_back_what_was_saved(tmp_path):
    metadata = {"dataset": "moons", "steps": 3, "history": [0.5, 0.25]}
    with_metadata = save_model(trained_looking(), tmp_path / "a.json", metadata=metadata)
    without = save_model(trained_looking(), tmp_path / "b.json")
    assert load_metadata(with_metadata) == metadata
    assert load_metadata(without) is None


@pytest.mark.parametrize(
    ("seed", "error"),
    [(None, TypeError), (1.5, TypeError), ("0", TypeError), (True, TypeError), (np.float64(2), TypeError),
     (-1, ValueError), (2**64, ValueError)],
    ids=repr,
)
def test_a_model_refuses_a_seed_it_could_not_save(seed, error):
    with pytest.raises(error, match=r"^MLP: seed must be an integer from 0 to 2\*\*64 − 1, got "):
        MLP(2, [3, 1], seed=seed)


@pytest.mark.parametrize("seed", [0, 7, np.int64(11), 2**64 - 1], ids=repr)
def test_every_seed_a_model_takes_saves_and_loads(tmp_path, seed):
    model = MLP(2, [3, 1], seed=seed)
    assert type(model.seed) is int
    loaded = load_model(save_model(model, tmp_path / "m.json"))
    assert loaded.seed == int(seed) and hex_state(loaded) == hex_state(model)


def test_model_to_dict_checks_as_save_model_does():
    with pytest.raises(TypeError, match=r"^model_to_dict: the keys of metadata must be strings, got 1 "):
        nn.serialize.model_to_dict(trained_looking(), {1: "a"})
    document = nn.serialize.model_to_dict(trained_looking(), {"a": [1]})
    assert nn.serialize.model_from_dict(json.loads(json.dumps(document))).state_dict() == (
        trained_looking().state_dict()
    )


def test_saving_into_a_missing_folder_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"folder .*nope.* does not exist"):
        save_model(trained_looking(), tmp_path / "nope" / "model.json")


def test_replacing_a_file_keeps_its_permissions_and_a_new_one_gets_the_umask(existing, tmp_path):
    path, _ = existing
    os.chmod(path, 0o640)
    save_model(trained_looking(), path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    umask = os.umask(0)
    os.umask(umask)
    fresh = save_model(trained_looking(), tmp_path / "fresh.json")
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o666 & ~umask


@pytest.mark.skipif(not hasattr(sys, "set_int_max_str_digits"), reason="Python without the digit limit")
def test_a_lowered_integer_digit_limit_still_gives_a_named_error(existing):
    path, old_bytes = existing
    before = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(640)
    try:
        with pytest.raises(ValueError, match=r"^save_model: the model cannot be written as JSON: "):
            save_model(trained_looking(), path, metadata={"n": 10**1000})
    finally:
        sys.set_int_max_str_digits(before)
    assert path.read_bytes() == old_bytes and leftovers(path.parent) == []



class _Name(str):
    """A str subclass, as a learner's own string type might be."""


@pytest.mark.parametrize("name", [np.str_("tanh"), _Name("relu")], ids=["np.str_", "a str subclass"])
def test_an_activation_given_as_a_str_subclass_is_stored_as_a_plain_str_and_saves(tmp_path, name):
    model = MLP(2, [3, 1], activation=name, output_activation=np.str_("sigmoid"), seed=0)
    assert type(model.activation) is str and model.activation == str(name)
    assert type(model.output_activation) is str
    assert all(type(layer.activation) is str for layer in model.layers)
    loaded = load_model(save_model(model, tmp_path / "model.json"))
    assert loaded.activation == str(name)
    x = np.array([[0.5, -1.0]])
    assert predict_scores(loaded, x).tolist() == predict_scores(model, x).tolist()

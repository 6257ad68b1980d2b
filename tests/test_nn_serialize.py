"""Model files: bit-exact round trips, a clear error for every malformed file, atomic saves."""

from __future__ import annotations

import json
import math
import os
import stat

import numpy as np
import pytest

import nn.serialize
from nn import MLP, ModelFileError, load_model, predict_scores, save_model


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


VALID = json.dumps(valid_document())

MALFORMED = {
    "empty": ("", "the file is empty"),
    "blank": ("  \n", "the file is empty"),
    "truncated": (VALID[: len(VALID) // 2], r"not valid JSON \(truncated\?\)"),
    "not json": ("hello", "not valid JSON: Expecting value at line 1 column 1"),
    "not utf-8": (b"\xff\xfe{}", "not UTF-8 text"),
    "a list": ("[1, 2]", "top level must be a JSON object, got list"),
    "other format": (edited(lambda d: d.update(format="keras")), "format is 'keras', expected 'chainrule-"),
    "no format": (edited(lambda d: d.pop("format")), "format is None"),
    "newer version": (edited(lambda d: d.update(version=2)), r"unsupported version 2 \(written by a newer"),
    "version text": (edited(lambda d: d.update(version="1")), "version must be an integer, got '1'"),
    "no architecture": (edited(lambda d: d.pop("architecture")), "missing key.* architecture"),
    "no parameters": (edited(lambda d: d.pop("parameters")), "missing key.* parameters"),
    "unknown key": (edited(lambda d: d.update(optimizer={})), "unknown key.* 'optimizer'"),
    "metadata list": (edited(lambda d: d.update(metadata=[])), "metadata must be an object"),
    "no seed": (edited(lambda d: d["architecture"].pop("seed")), "architecture is missing seed"),
    "extra arch key": (edited(lambda d: d["architecture"].update(dropout=0.5)), "unknown key.* 'dropout'"),
    "nin zero": (edited(lambda d: d["architecture"].update(nin=0)), "nin must be an integer ≥ 1, got 0"),
    "nin bool": (edited(lambda d: d["architecture"].update(nin=True)), "nin must be .* ≥ 1, got True"),
    "sizes empty": (edited(lambda d: d["architecture"].update(sizes=[])), "sizes must be a non-empty list"),
    "sizes text": (edited(lambda d: d["architecture"].update(sizes=[5, "3", 1])), "sizes must be a non-"),
    "activation": (edited(lambda d: d["architecture"].update(activation="softmax")), "got 'softmax'"),
    "parameters list": (edited(lambda d: d.update(parameters=[1.0])), "parameters must be an object"),
    "one missing": (
        edited(lambda d: d["parameters"].pop("b[3]_0")),
        "parameters has 36 entries but architecture 2-5-3-1 has 37",
    ),
    "wrong architecture": (
        edited(lambda d: d["architecture"].update(sizes=[4, 3, 1])),
        "parameters has 37 entries but architecture 2-4-3-1 has 31",
    ),
    "renamed label": (edited(rename_first_label), r"missing 1: W\[1\]_0,0; unexpected 1: W\[1\]_9,9"),
    "text value": (edited(set_param("0.5")), r"W\[2\]_1,2 must be a number, got '0.5'"),
    "null value": (edited(set_param(None)), r"W\[2\]_1,2 must be a number, got None"),
    "bool value": (edited(set_param(True)), r"W\[2\]_1,2 must be a number, got True"),
    "list value": (edited(set_param([1.0])), r"W\[2\]_1,2 must be a number, got \[1.0\]"),
    "NaN": (raw_param("NaN"), "non-finite number NaN"),
    "Infinity": (raw_param("Infinity"), "non-finite number Infinity"),
    "-Infinity": (raw_param("-Infinity"), "non-finite number -Infinity"),
    "overflowing float": (raw_param("1e400"), r"W\[2\]_1,2 must be finite, got inf"),
    "huge integer": (raw_param("1" + "0" * 400), r"W\[2\]_1,2 is an integer too large"),
    "duplicate key": (VALID.replace('"format"', '"version": 1, "format"', 1), "'version' appears twice"),
    "deep nesting": ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_every_malformed_file_gets_a_clear_error_naming_the_file(tmp_path, case):
    content, message = MALFORMED[case]
    path = tmp_path / "broken.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    with pytest.raises(ModelFileError, match=message) as caught:
        load_model(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert isinstance(caught.value, ValueError)


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


def half_then_fail(document, file, **kwargs):
    text = json.dumps(document, **kwargs)
    file.write(text[: len(text) // 2])
    raise OSError("disk full")


@pytest.mark.parametrize(
    ("target", "replacement"),
    [
        ("json.dump", half_then_fail),
        ("os.fsync", lambda fd: (_ for _ in ()).throw(OSError("I/O error"))),
        ("os.replace", lambda src, dst: (_ for _ in ()).throw(OSError("rename failed"))),
    ],
)
def test_a_failed_save_leaves_the_old_file_and_no_temp_file(monkeypatch, existing, target, replacement):
    path, old_bytes = existing
    module, name = target.split(".")
    monkeypatch.setattr(getattr(nn.serialize, module), name, replacement)
    with pytest.raises(OSError, match=r"disk full|I/O error|rename failed"):
        save_model(trained_looking(), path)
    assert path.read_bytes() == old_bytes
    assert leftovers(path.parent) == []


def test_an_interrupted_save_leaves_the_old_file_intact(monkeypatch, existing):
    path, old_bytes = existing

    def interrupted(document, file, **kwargs):
        file.write("{")
        raise KeyboardInterrupt

    monkeypatch.setattr(nn.serialize.json, "dump", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save_model(trained_looking(), path)
    assert path.read_bytes() == old_bytes and leftovers(path.parent) == []


def test_bad_models_and_metadata_are_refused_before_touching_the_disk(existing):
    path, old_bytes = existing
    model = trained_looking()
    # Assigning nan to .data is refused; the file check is the last line of defence, so plant it underneath.
    type(model.layers[0].neurons[1].w[0])._data.__set__(model.layers[0].neurons[1].w[0], math.nan)
    with pytest.raises(ValueError, match=r"parameter W\[1\]_1,0 is nan"):
        save_model(model, path)
    with pytest.raises(ValueError, match="metadata cannot be written as JSON"):
        save_model(trained_looking(), path, metadata={"when": object()})
    with pytest.raises(ValueError, match="metadata cannot be written as JSON"):
        save_model(trained_looking(), path, metadata={"loss": math.inf})
    with pytest.raises(TypeError, match=r"expected an nn\.MLP"):
        save_model([1.0], path)
    assert path.read_bytes() == old_bytes and leftovers(path.parent) == []


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

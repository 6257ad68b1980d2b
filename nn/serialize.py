"""Saving and loading an MLP as a JSON file, safely.

The file is plain JSON that a person can read::

    {
      "format": "chainrule-mlp",
      "version": 1,
      "architecture": {"nin": 2, "sizes": [16, 16, 1], "activation": "tanh",
                       "output_activation": "sigmoid", "seed": 0},
      "parameters": {"W[1]_0,0": 0.4187..., ..., "b[3]_0": -0.0131...},
      "metadata": {...}                      (optional, free-form, e.g. how it was trained)
    }

Numbers are written with Python's shortest round-trip ``repr``, so a loaded model
gives the same predictions to the bit. ``save_model`` replaces the file atomically
(a temporary file in the same folder, fsync, ``os.replace``): a failed save leaves
the old file as it was. ``load_model`` never runs code from the file (no pickle,
no eval) and checks everything, raising ``ModelFileError`` with the file's name.
"""

from __future__ import annotations

import itertools
import json
import math
import numbers
import os
from pathlib import Path
from typing import IO, Any

from engine import atomic_write
from nn.module import ACTIVATIONS, MLP

FORMAT = "chainrule-mlp"
"""The ``format`` field of a model file."""

VERSION = 1
"""The file format version this code writes and reads."""

_TOP_LEVEL = {"format", "version", "architecture", "parameters", "metadata"}
_ARCHITECTURE = ("nin", "sizes", "activation", "output_activation", "seed")

PathLike = str | os.PathLike


class ModelFileError(ValueError):
    """A model file is not a valid chainrule model; the message names the file and the problem."""


def model_to_dict(model: MLP, metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON document for ``model``: format, version, architecture, parameters by label."""
    if not isinstance(model, MLP):
        raise TypeError(f"save_model: expected an nn.MLP, got {type(model).__name__}")
    if metadata is not None and not isinstance(metadata, dict):
        raise TypeError(f"save_model: metadata must be a dict, got {type(metadata).__name__}")
    state = model.state_dict()
    for label, number in state.items():
        if not math.isfinite(number):
            raise ValueError(
                f"save_model: parameter {label} is {number!r}; a model file holds finite numbers"
            )
    document: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "architecture": {
            "nin": model.nin,
            "sizes": list(model.sizes),
            "activation": model.activation,
            "output_activation": model.output_activation,
            "seed": model.seed,
        },
        "parameters": state,
    }
    if metadata is not None:
        document["metadata"] = metadata
    return document


def save_model(model: MLP, path: PathLike, *, metadata: dict[str, Any] | None = None) -> Path:
    """Write ``model`` to ``path`` as JSON, atomically; returns the path.

    ``metadata`` (optional, JSON-serialisable, finite numbers) is stored as is,
    e.g. the dataset and steps it was trained with. Everything is checked before
    the file is touched; a failure while writing leaves the old file intact.
    """
    document = model_to_dict(model, metadata)
    try:  # fail here, before touching the disk, on metadata JSON cannot hold
        json.dumps(document, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise ValueError(f"save_model: metadata cannot be written as JSON: {error}") from error

    def write(file: IO[str]) -> None:
        json.dump(document, file, indent=1, allow_nan=False)
        file.write("\n")

    return atomic_write(path, write)


def _reject_constant(name: str) -> float:
    # json.loads accepts NaN, Infinity and -Infinity, which are not JSON and not finite.
    raise ValueError(f"non-finite number {name} (JSON has no NaN or Infinity)")


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"key {key!r} appears twice in one object")
        result[key] = value
    return result


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def model_from_dict(document: object) -> MLP:
    """Build an MLP from a model document (as ``model_to_dict`` makes), checking every field.

    Raises ``ValueError`` saying what is wrong; ``load_model`` adds the file name.
    """
    if not isinstance(document, dict):
        raise ValueError(f"the top level must be a JSON object, got {type(document).__name__}")
    if document.get("format") != FORMAT:
        raise ValueError(f"not a chainrule model: format is {document.get('format')!r}, expected {FORMAT!r}")
    version = document.get("version")
    if not _is_int(version):
        raise ValueError(f"version must be an integer, got {version!r}")
    if version != VERSION:
        newer = " (written by a newer chainrule)" if version > VERSION else ""
        raise ValueError(f"unsupported version {version}{newer}; this chainrule reads version {VERSION}")
    missing = sorted({"architecture", "parameters"} - document.keys())
    if missing:
        raise ValueError(f"missing key(s) {', '.join(missing)}")
    unknown = sorted(document.keys() - _TOP_LEVEL)
    if unknown:
        raise ValueError(f"unknown key(s) {', '.join(map(repr, unknown))}")
    if "metadata" in document and not isinstance(document["metadata"], dict):
        raise ValueError(f"metadata must be an object, got {type(document['metadata']).__name__}")

    arch = document["architecture"]
    if not isinstance(arch, dict):
        raise ValueError(f"architecture must be an object, got {type(arch).__name__}")
    missing = [key for key in _ARCHITECTURE if key not in arch]
    if missing:
        raise ValueError(f"architecture is missing {', '.join(missing)}")
    unknown = sorted(arch.keys() - set(_ARCHITECTURE))
    if unknown:
        raise ValueError(f"architecture has unknown key(s) {', '.join(map(repr, unknown))}")
    nin, sizes = arch["nin"], arch["sizes"]
    if not _is_int(nin) or nin < 1:
        raise ValueError(f"architecture.nin must be an integer ≥ 1, got {nin!r}")
    if not isinstance(sizes, list) or not sizes or not all(_is_int(s) and s >= 1 for s in sizes):
        raise ValueError(f"architecture.sizes must be a non-empty list of integers ≥ 1, got {sizes!r}")
    for key in ("activation", "output_activation"):
        if arch[key] not in ACTIVATIONS:
            raise ValueError(f"architecture.{key} must be one of {', '.join(ACTIVATIONS)}, got {arch[key]!r}")
    if not _is_int(arch["seed"]):
        raise ValueError(f"architecture.seed must be an integer, got {arch['seed']!r}")

    parameters = document["parameters"]
    if not isinstance(parameters, dict):
        raise ValueError(f"parameters must be an object label -> number, got {type(parameters).__name__}")
    widths = [nin, *sizes]
    expected = sum(n_prev * n + n for n_prev, n in itertools.pairwise(widths))  # W[l] and b[l]
    if len(parameters) != expected:
        raise ValueError(
            f"parameters has {len(parameters)} entries but architecture {nin}-"
            f"{'-'.join(map(str, sizes))} has {expected}"
        )
    model = MLP(nin, sizes, arch["activation"], arch["output_activation"], seed=arch["seed"])
    model.load_state_dict(parameters)
    return model


def load_model(path: PathLike) -> MLP:
    """Read an MLP saved by ``save_model``, checking everything, never executing anything.

    Raises ``ModelFileError`` (a ``ValueError``) naming the file and the problem:
    not UTF-8 or not JSON (e.g. truncated), NaN/Infinity, wrong format or version,
    missing or unknown keys, a bad architecture, a parameter count or labels that
    do not match the architecture, non-numeric or non-finite values. A missing
    file raises ``FileNotFoundError`` as usual.
    """
    name = os.fspath(path)
    raw = Path(path).read_bytes()
    try:
        if not raw.strip():
            raise ValueError("the file is empty")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise ValueError(f"not UTF-8 text ({error.reason} at byte {error.start})") from None
        try:
            document = json.loads(
                text, parse_constant=_reject_constant, object_pairs_hook=_no_duplicate_keys
            )
        except RecursionError:
            raise ValueError("JSON nested too deeply to be a model file") from None
        except json.JSONDecodeError as error:
            hint = " (truncated?)" if error.pos >= len(text.rstrip()) else ""
            raise ValueError(
                f"not valid JSON{hint}: {error.msg} at line {error.lineno} column {error.colno}"
            ) from None
        return model_from_dict(document)
    except ValueError as error:
        raise ModelFileError(f"{name}: {error}") from None

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
gives the same predictions to the bit.

The rule: ``save_model`` writes only what ``load_model`` (and ``load_metadata``)
read back as the same model and the same metadata. Before the disk is touched,
the document is checked value by value (JSON types only, finite numbers, string
keys, bounded nesting) and then parsed back with the loader's own code and
compared; anything that would not come back exactly is refused with an error
naming the offending entry, and the old file stays as it was. The file is then
replaced atomically (``engine.atomic_write``: a temporary file beside it, fsync,
``os.replace``). ``load_model`` never runs code from the file (no pickle, no
eval) and checks everything, raising ``ModelFileError`` with the file's name.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import stat
from pathlib import Path
from typing import Any

from engine.checks import (
    check_choice,
    check_instance,
    check_int,
    check_path,
    check_real,
    check_seed,
    check_sequence,
    describe,
    fail,
    short_repr,
)
from engine.files import write_file
from nn.module import ACTIVATIONS, MLP, checked_parameters, parameter_count

FORMAT = "chainrule-mlp"
"""The ``format`` field of a model file."""

VERSION = 1
"""The file format version this code writes and reads."""

MAX_DEPTH = 100
"""How deeply metadata may nest (dicts and lists inside one another), on save and on load."""

MAX_INT_DIGITS = 4300
"""The longest integer a model file holds: Python's default limit for reading one from text."""

MAX_FILE_BYTES = 2**30
"""The largest model file read: 1 GiB, room for a network of ``nn.module.MAX_PARAMETERS`` parameters."""

_INT_BOUND = 10**MAX_INT_DIGITS
_TOP_LEVEL = {"format", "version", "architecture", "parameters", "metadata"}
_ARCHITECTURE = ("nin", "sizes", "activation", "output_activation", "seed")
_JSON_TYPES = "a dict, list, str, int, float, bool or None"

PathLike = str | os.PathLike


class ModelFileError(ValueError):
    """A model file is not a valid chainrule model; the message names the file and the problem."""


def model_to_dict(model: MLP, metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON document for ``model``: format, version, architecture, parameters by label, metadata.

    Raises ``TypeError``/``ValueError`` naming the entry when the document could
    not be written as JSON exactly (see ``save_model``).
    """
    return _document(model, metadata, "model_to_dict")[0]


def save_model(model: MLP, path: PathLike, *, metadata: dict[str, Any] | None = None) -> Path:
    """Write ``model`` to ``path`` as JSON, atomically; returns the path.

    ``metadata`` (optional) is stored as is, e.g. the dataset and steps it was
    trained with, and ``load_metadata`` gives it back. It must be plain JSON, so
    that it loads back equal and of the same types: dicts with ``str`` keys,
    lists, ``str``, ``int``, finite ``float``, ``bool`` and ``None``, nested at most
    ``MAX_DEPTH`` deep. Anything else is refused, with a hint: a tuple (it would
    come back a list), a non-string key (``1`` and ``"1"`` would collide), nan or
    inf, numpy scalars and arrays (use ``.item()``/``.tolist()``), sets, bytes,
    other objects. The model's parameters must be finite; numpy floats and ints
    among them are written as floats, as they load.

    Everything is checked, and the text parsed back with the loader and compared,
    before the file is touched: a refused or failed save leaves the old file
    byte for byte. A ``path`` ending in a separator (a folder) is refused.
    ``path`` may be a symbolic link: the file it points to is
    replaced and the link kept (see ``engine.atomic_write``).
    """
    target = check_path("save_model", "path", path)
    text_path = os.fspath(path)
    if text_path.endswith((os.sep, *((os.altsep,) if os.altsep else ()))):
        # Path() drops the trailing separator: "dir/new/" would become a file named "new".
        fail(ValueError, "save_model", "path", "a file name, not a folder",
             f"{short_repr(text_path)}, which ends in a separator",
             "name the file, e.g. 'dir/new/model.json'")
    _, text = _document(model, metadata, "save_model")

    def write(file: Any) -> None:
        file.write(text)

    return write_file("save_model", target, write)  # engine.atomic_write, its errors naming save_model


def load_model(path: PathLike) -> MLP:
    """Read an MLP saved by ``save_model``, checking everything, never executing anything.

    Raises ``ModelFileError`` (a ``ValueError``) naming the file and the problem:
    not UTF-8 or not JSON (e.g. truncated), NaN/Infinity, wrong format or version,
    missing or unknown keys, a field of the wrong type or value, a parameter count
    or labels that do not match the architecture, non-numeric or non-finite
    values, metadata nested too deeply, a device or a pipe rather than a file, a
    file past ``MAX_FILE_BYTES``. A missing file raises ``FileNotFoundError`` as usual.
    """
    return _read(path, "load_model")[0]


def load_metadata(path: PathLike) -> dict[str, Any] | None:
    """The metadata saved with the model in ``path`` (None if it was saved without).

    The whole file is checked as ``load_model`` checks it: metadata from a broken
    model file is not returned.
    """
    return _read(path, "load_metadata")[1]


def model_from_dict(document: object) -> MLP:
    """Build an MLP from a model document (as ``model_to_dict`` makes), checking every field.

    Raises ``TypeError`` (a field of the wrong JSON type) or ``ValueError`` (a
    wrong value) saying which field; ``load_model`` turns both into
    ``ModelFileError`` with the file name.
    """
    document = check_instance("", "the top level", document, dict, "a JSON object")
    if document.get("format") != FORMAT:
        raise ValueError(
            f"not a chainrule model: format is {short_repr(document.get('format'))}, expected {FORMAT!r}"
        )
    version = check_int("", "version", document.get("version"))
    if version != VERSION:
        newer = " (written by a newer chainrule)" if version > VERSION else ""
        raise ValueError(
            f"unsupported version {short_repr(version)}{newer}; this chainrule reads version {VERSION}"
        )
    missing = sorted({"architecture", "parameters"} - document.keys())
    if missing:
        raise ValueError(f"missing key(s) {', '.join(missing)}")
    unknown = sorted(document.keys() - _TOP_LEVEL)
    if unknown:
        raise ValueError(f"unknown key(s) {_listed(unknown)}")
    if "metadata" in document:
        check_instance("", "metadata", document["metadata"], dict, "a JSON object")
        _check_json(document["metadata"], "metadata", "")

    arch = check_instance("", "architecture", document["architecture"], dict, "a JSON object")
    missing = [key for key in _ARCHITECTURE if key not in arch]
    if missing:
        raise ValueError(f"architecture is missing {', '.join(missing)}")
    unknown = sorted(arch.keys() - set(_ARCHITECTURE))
    if unknown:
        raise ValueError(f"architecture has unknown key(s) {_listed(unknown)}")
    nin = check_int("", "architecture.nin", arch["nin"], minimum=1)
    sizes = [
        check_int("", f"architecture.sizes[{i}]", size, minimum=1)
        for i, size in enumerate(
            check_sequence("", "architecture.sizes", arch["sizes"], of="integers ≥ 1", min_length=1)
        )
    ]
    activation = check_choice("", "architecture.activation", arch["activation"], ACTIVATIONS)
    output = check_choice("", "architecture.output_activation", arch["output_activation"], ACTIVATIONS)
    seed = check_seed("", arch["seed"], name="architecture.seed")

    parameters = check_instance(
        "", "parameters", document["parameters"], dict, "a JSON object label -> number"
    )
    expected = parameter_count([nin, *sizes])
    if len(parameters) != expected:
        raise ValueError(
            f"parameters has {len(parameters)} entries but architecture {nin}-"
            f"{'-'.join(map(str, sizes))} has {expected}"
        )
    model = MLP(nin, sizes, activation, output, seed=seed)
    model.load_state_dict(parameters)
    return model


def _document(model: object, metadata: object, function: str) -> tuple[dict[str, Any], str]:
    """The document for ``model`` and ``metadata`` and its text, checked to read back the same."""
    model = check_instance(function, "model", model, MLP, "an nn.MLP")
    if metadata is not None:
        check_instance(function, "metadata", metadata, dict, "a dict with str keys, or None")
    parameters = {
        label: check_real(function, f"parameter {label}", p.data, hint="a model file holds finite numbers")
        for label, p in checked_parameters(model, function)
    }
    document: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "architecture": {
            "nin": model.nin,
            # a copy, so the document does not share the model's list; anything else stays as it is,
            # for _check_json to refuse by name (a tuple would load back a list)
            "sizes": list(model.sizes) if type(model.sizes) is list else model.sizes,
            "activation": model.activation,
            "output_activation": model.output_activation,
            "seed": model.seed,
        },
        "parameters": parameters,
    }
    _check_json(document, "", function)
    if metadata is not None:
        _check_json(metadata, "metadata", function)  # from depth 0, as load_model checks it
        document["metadata"] = metadata
    try:  # the checks above leave nothing json.dumps refuses, unless sys.set_int_max_str_digits was lowered
        text = json.dumps(document, indent=1, allow_nan=False) + "\n"
    except (TypeError, ValueError) as error:
        raise type(error)(f"{function}: the model cannot be written as JSON: {error}") from None
    _check_reads_back(text, document, function)
    _check_structure(model, function)
    return document, text


def _check_structure(model: MLP, function: str) -> None:
    """The model's layers are the ones its architecture says (they are plain attributes a user can edit)."""
    widths = [model.nin, *model.sizes]
    activations = [model.activation] * (len(model.sizes) - 1) + [model.output_activation]
    expected = [(*pair, g) for pair, g in zip(itertools.pairwise(widths), activations, strict=True)]
    layers = [(layer.nin, layer.nout, layer.activation) for layer in model.layers]
    if layers != expected:
        raise ValueError(
            f"{function}: the model's layers (inputs, units, activation) are {short_repr(layers)}, not "
            f"what its nin, sizes and activations say, {short_repr(expected)}; no file could rebuild it"
        )


def _check_json(
    value: object, where: str, function: str, depth: int = 0, inside: tuple[int, ...] = ()
) -> None:
    """Check that ``value`` is plain JSON that parses back equal and of the same types.

    ``where`` names the entry in messages (``metadata['runs'][2]``); ``depth``
    counts the dicts and lists around it, ``inside`` their ids (a container that
    holds itself has no JSON form).
    """
    kind = type(value)
    if value is None or kind in (bool, str):
        return
    if kind is int:
        if abs(value) >= _INT_BOUND:  # type: ignore[arg-type]
            fail(ValueError, function, where, f"an integer of at most {MAX_INT_DIGITS} digits",
                 short_repr(value), "store a number this large as a string")
        return
    if kind is float:
        if not math.isfinite(value):  # type: ignore[arg-type]
            fail(ValueError, function, where, "a finite number", repr(value), "JSON has no nan or inf")
        return
    if kind is dict or kind is list:
        if id(value) in inside:
            fail(ValueError, function, where, "plain JSON", "a container that holds itself")
        if depth >= MAX_DEPTH:
            fail(ValueError, function, where.split("[")[0], f"nested at most {MAX_DEPTH} levels deep",
                 f"deeper nesting, at {where[:60]}...", "flatten it")
        inside = (*inside, id(value))
        if kind is list:
            for i, item in enumerate(value):  # type: ignore[arg-type]
                _check_json(item, f"{where}[{i}]", function, depth + 1, inside)
            return
        for key, item in value.items():  # type: ignore[union-attr]
            if type(key) is not str:
                fail(TypeError, function, f"the keys of {where}", "strings", describe(key),
                     "JSON keys are text, so 1 and '1' (or True and 'true') would become one key: "
                     "use str keys")
            _check_json(item, f"{where}[{short_repr(key)}]" if where else key, function, depth + 1, inside)
        return
    fail(TypeError, function, where, f"plain JSON ({_JSON_TYPES})", describe(value), _json_hint(value))


def _json_hint(value: object) -> str:
    """What to write instead of a value that JSON cannot give back as it was."""
    if type(value).__module__ == "numpy":
        if hasattr(value, "shape") and getattr(value, "ndim", 0) > 0:
            return "write array.tolist()"
        return "write x.item() (a Python float, int or bool)"
    if isinstance(value, tuple):
        return "JSON has no tuples and it would load back as a list: pass a list"
    if isinstance(value, (set, frozenset)):
        return "JSON has no sets: pass a sorted list"
    if isinstance(value, (bytes, bytearray)):
        return "JSON holds text, not bytes: decode it, or store it base64-encoded"
    for plain in (bool, int, float, str, list, dict):
        if isinstance(value, plain):
            return f"it would load back as a plain {plain.__name__}: pass {plain.__name__}(x)"
    return "convert it to one of these, e.g. str(x)"


def _check_reads_back(text: str, document: dict[str, Any], function: str) -> None:
    """Parse ``text`` as ``load_model`` does and require the very document that was written."""
    try:
        reread = _parse(text.encode("utf-8"))
        model_from_dict(reread)
    except (TypeError, ValueError) as error:
        raise type(error)(f"{function}: this model cannot be saved, its file would not load: {error}") \
            from None
    if not _same(reread, document):
        raise ValueError(f"{function}: the file would not load back as the same model and metadata")


def _same(a: object, b: object) -> bool:
    """Equal and of the same types all the way down (1 ≠ 1.0 ≠ True here; 0.0 ≠ −0.0)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)  # type: ignore[index]
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))  # type: ignore[arg-type]
    if isinstance(a, float):
        return a.hex() == b.hex()  # type: ignore[union-attr]
    return a == b


def _read(path: PathLike, function: str) -> tuple[MLP, dict[str, Any] | None]:
    """The model and metadata in the file ``path``, or ``ModelFileError`` naming the file."""
    name = os.fspath(check_path(function, "path", path))
    try:
        raw = _file_bytes(name)
        document = _parse(raw)
        model = model_from_dict(document)
    except (TypeError, ValueError) as error:
        raise ModelFileError(f"{name}: {error}") from None
    return model, document.get("metadata")  # type: ignore[union-attr]


def _file_bytes(name: str) -> bytes:
    """The bytes of the regular file ``name``, at most ``MAX_FILE_BYTES`` of them (a device such as
    /dev/zero, a pipe or a huge file would never end or fill the memory)."""
    mode = os.stat(name).st_mode  # before opening: opening a pipe would wait for a writer
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):  # a missing file or a folder: OSError, as usual
        raise ValueError("not a regular file (a device, a pipe or a socket): a model file is a file")
    with open(name, "rb") as file:
        raw = file.read(MAX_FILE_BYTES + 1)
    if len(raw) > MAX_FILE_BYTES:
        raise ValueError(f"the file is larger than MAX_FILE_BYTES = {MAX_FILE_BYTES:,} bytes")
    return raw


def _parse(raw: bytes) -> object:
    """The JSON in ``raw``, strictly: UTF-8, no NaN/Infinity, no repeated keys, bounded integers."""
    if not raw.strip():
        raise ValueError("the file is empty")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"not UTF-8 text ({error.reason} at byte {error.start})") from None
    try:
        return json.loads(
            text, parse_constant=_reject_constant, parse_int=_parse_int, object_pairs_hook=_no_duplicate_keys
        )
    except RecursionError:
        raise ValueError("JSON nested too deeply to be a model file") from None
    except json.JSONDecodeError as error:
        hint = " (truncated?)" if error.pos >= len(text.rstrip()) else ""
        raise ValueError(
            f"not valid JSON{hint}: {error.msg} at line {error.lineno} column {error.colno}"
        ) from None


def _reject_constant(name: str) -> float:
    # json.loads accepts NaN, Infinity and -Infinity, which are not JSON and not finite.
    raise ValueError(f"non-finite number {name} (JSON has no NaN or Infinity)")


def _parse_int(digits: str) -> int:
    # The file's own limit, whatever sys.set_int_max_str_digits allows (int() of many digits is slow).
    count = len(digits.lstrip("-"))
    if count > MAX_INT_DIGITS:
        raise ValueError(f"an integer of {count:,} digits (a model file holds at most {MAX_INT_DIGITS})")
    return int(digits)


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"key {short_repr(key)} appears twice in one object")
        result[key] = value
    return result


def _listed(keys: list[str], shown: int = 5) -> str:
    """A few keys for a message, shortened: a hostile file may have thousands of long ones."""
    more = f", ... ({len(keys) - shown} more)" if len(keys) > shown else ""
    return ", ".join(map(short_repr, keys[:shown])) + more

"""Small 2-D classification datasets, generated from a seed (``numpy.random.default_rng``).

Every generator returns ``(X, y)`` with **one sample per row**, as scikit-learn does:

    X : ndarray of shape (m, 2), float64   (row i is sample x⁽ⁱ⁾)
    y : ndarray of shape (m,), int64       (labels in {0, 1}; {0..k−1} for k blobs)

The course writes samples in **columns**: X has shape (n_x, m) and Y shape (1, m).
``to_course_layout(X, y)`` gives that layout (it is ``X.T`` and ``y.reshape(1, m)``).
The same seed gives the same arrays, to the bit, on every run. A generator makes
at most ``MAX_SAMPLES`` samples, with a noise of at most ``MAX_NOISE``, so X is finite.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from engine import Value
from engine.checks import check_int, check_real, check_seed, describe, fail, short_repr

MAX_SAMPLES = 10_000_000
"""The most samples a generator makes: 160 MB of X, and far more than a scalar engine trains on."""

MAX_NOISE = 1e100
"""The largest noise (standard deviation) a generator takes: X and its squares stay finite floats
(a noise near 1.8e308 gave ±inf coordinates)."""


def _check_args(
    function: str, n_samples: object, noise: object, seed: object, minimum: int
) -> tuple[int, float, int]:
    """The common arguments, checked and converted; errors name the function and the value."""
    count = _count(function, "n_samples", n_samples, minimum)
    deviation = check_real(function, "noise", noise, minimum=0.0)
    if deviation > MAX_NOISE:
        fail(ValueError, function, "noise", f"at most MAX_NOISE = {MAX_NOISE:g}", short_repr(noise),
             "a larger noise makes coordinates (or their squares) overflow to inf")
    return count, deviation, check_seed(function, seed)


def _count(function: str, name: str, value: object, minimum: int) -> int:
    return check_int(function, name, value, minimum=minimum, maximum=MAX_SAMPLES, limit="MAX_SAMPLES")


def _shuffled(
    rng: np.random.Generator, points: np.ndarray, labels: np.ndarray, noise: float
) -> tuple[np.ndarray, np.ndarray]:
    """Add Gaussian noise of standard deviation ``noise`` to each coordinate, then shuffle the rows.

    The noise is drawn even when it is 0, so the same seed gives the same order
    whatever the noise: the noise is then the only difference.
    """
    points = points + rng.normal(0.0, noise, size=points.shape)
    order = rng.permutation(len(labels))
    return np.ascontiguousarray(points[order], dtype=np.float64), labels[order].astype(np.int64)


def make_moons(n_samples: int = 100, noise: float = 0.1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half moons: class 0 is (cos t, sin t), class 1 is (1 − cos t, ½ − sin t), t ∈ [0, π].

    ``noise`` is the standard deviation of the Gaussian noise added to each
    coordinate. Returns X (m, 2) float64 and y (m,) in {0, 1}, samples in rows;
    class 0 gets ⌊m/2⌋ samples.
    """
    n_samples, noise, seed = _check_args("make_moons", n_samples, noise, seed, minimum=2)
    rng = np.random.default_rng(seed)
    n_outer = n_samples // 2
    n_inner = n_samples - n_outer
    t_outer = np.linspace(0.0, math.pi, n_outer)
    t_inner = np.linspace(0.0, math.pi, n_inner)
    points = np.concatenate(
        [
            np.column_stack([np.cos(t_outer), np.sin(t_outer)]),
            np.column_stack([1.0 - np.cos(t_inner), 0.5 - np.sin(t_inner)]),
        ]
    )
    labels = np.concatenate([np.zeros(n_outer), np.ones(n_inner)])
    return _shuffled(rng, points, labels, noise)


def make_circles(
    n_samples: int = 100, noise: float = 0.05, seed: int = 0, factor: float = 0.5
) -> tuple[np.ndarray, np.ndarray]:
    """Two concentric circles: class 0 on the unit circle, class 1 on the circle of radius ``factor``.

    ``factor`` ∈ (0, 1); ``noise`` is the per-coordinate Gaussian standard
    deviation. Returns X (m, 2) float64 and y (m,) in {0, 1}, samples in rows.
    """
    n_samples, noise, seed = _check_args("make_circles", n_samples, noise, seed, minimum=2)
    factor = check_real("make_circles", "factor", factor, above=0.0, below=1.0)
    rng = np.random.default_rng(seed)
    n_outer = n_samples // 2
    n_inner = n_samples - n_outer
    t_outer = np.linspace(0.0, 2.0 * math.pi, n_outer, endpoint=False)
    t_inner = np.linspace(0.0, 2.0 * math.pi, n_inner, endpoint=False)
    points = np.concatenate(
        [
            np.column_stack([np.cos(t_outer), np.sin(t_outer)]),
            factor * np.column_stack([np.cos(t_inner), np.sin(t_inner)]),
        ]
    )
    labels = np.concatenate([np.zeros(n_outer), np.ones(n_inner)])
    return _shuffled(rng, points, labels, noise)


def make_blobs(
    n_samples: int = 100, noise: float = 0.5, seed: int = 0, n_classes: int = 2
) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian blobs, one per class, centred at 2·(cos 2πk/K, sin 2πk/K) for class k of K.

    ``noise`` is each blob's standard deviation. Samples are dealt to the classes
    in turn (sizes differ by at most one). Returns X (m, 2) float64 and y (m,) in
    {0, ..., K−1} ({0, 1} by default), samples in rows.
    """
    n_classes = _count("make_blobs", "n_classes", n_classes, 2)
    n_samples, noise, seed = _check_args("make_blobs", n_samples, noise, seed, minimum=n_classes)
    rng = np.random.default_rng(seed)
    labels = np.arange(n_samples) % n_classes
    angles = 2.0 * math.pi * labels / n_classes
    points = 2.0 * np.column_stack([np.cos(angles), np.sin(angles)])
    return _shuffled(rng, points, labels, noise)


def make_xor(n_samples: int = 100, noise: float = 0.2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Four Gaussian clusters at (±1, ±1); y = 1 where the centre's coordinates differ in sign (XOR).

    Class 1 is the clusters at (1, −1) and (−1, 1). ``noise`` is each cluster's
    standard deviation. Returns X (m, 2) float64 and y (m,) in {0, 1}, samples in rows.
    """
    n_samples, noise, seed = _check_args("make_xor", n_samples, noise, seed, minimum=4)
    rng = np.random.default_rng(seed)
    corners = np.array([[1.0, 1.0], [-1.0, -1.0], [1.0, -1.0], [-1.0, 1.0]])
    which = np.arange(n_samples) % 4
    points = corners[which]
    labels = (which >= 2).astype(np.int64)
    return _shuffled(rng, points, labels, noise)


DATASETS: dict[str, Callable[..., tuple[np.ndarray, np.ndarray]]] = {
    "moons": make_moons,
    "circles": make_circles,
    "blobs": make_blobs,
    "xor": make_xor,
}
"""The generators by name; each is called as ``DATASETS[name](n_samples, noise, seed)``."""


def float_array(
    value: object, function: str, name: str, expected: str = "an array of numbers", *, copy: bool = True
) -> np.ndarray:
    """``value`` (a number, a list or an array of numbers; bools count as 0/1) as a float64 array.

    Text, None, complex numbers, dicts and other objects are refused with a
    ``TypeError``, rows of different lengths with a ``ValueError``; both name
    ``function`` and the argument ``name``, saying it must be ``expected``. In a
    list (an object array) each entry is checked as the engine checks a number,
    naming its position: text such as '2' is a ``TypeError``, an integer too large
    for a float a ``ValueError``. A masked entry of a ``numpy.ma`` array is a
    missing value: a ``ValueError`` naming its position.
    ``copy=False`` returns a float64 array itself rather than a copy.
    """
    if type(value) is np.ndarray and value.dtype == np.float64:  # the common case, at once
        return value.copy() if copy else value
    if isinstance(value, np.ma.MaskedArray):
        refuse_masked(value, function, name)
        value = value.data
    try:
        raw = np.asarray(value)
    except ValueError:  # numpy refuses rows of different lengths
        fail(ValueError, function, name, expected, f"rows of different lengths: {short_repr(value)}")
    if raw.dtype.kind in "US" and raw.ndim > 0 and not isinstance(value, np.ndarray):
        raw = np.asarray(value, dtype=object)  # a list with text in it: say which entry
    if raw.dtype.kind == "O" and raw.ndim > 0:
        return _object_entries(raw, function, name)
    if raw.dtype.kind not in "biuf":
        fail(TypeError, function, name, expected, describe(value))
    return raw.astype(np.float64, copy=copy)


def _position(name: str, index: tuple[int, ...]) -> str:
    """``X[3, 1]``: an entry's place, as the learner would index it."""
    return f"{name}[{', '.join(map(str, index))}]" if index else name


def refuse_masked(value: np.ma.MaskedArray, function: str, name: str) -> None:
    """A ValueError naming the first masked (missing) entry, if there is one."""
    mask = np.ma.getmaskarray(value)
    if mask.any():
        index = tuple(int(i) for i in np.argwhere(mask)[0])
        raise ValueError(
            f"{function}: {name} has a masked (missing) value at {_position(name, index)}; a masked entry "
            f"has no number to compute with: fill it (e.g. {name}.filled(0.0)) or leave that sample out"
        )


def _object_entries(raw: np.ndarray, function: str, name: str) -> np.ndarray:
    """An object array (a list holding mixed entries) as float64, each entry checked where it is."""
    out = np.empty(raw.shape, dtype=np.float64)
    for index, item in np.ndenumerate(raw):
        if isinstance(item, (bool, np.bool_)):
            out[index] = float(item)
        elif isinstance(item, Value):
            out[index] = item.data
        else:
            out[index] = check_real(function, _position(name, index), item)
    return out


def check_features(X: object, function: str = "check_features") -> np.ndarray:
    """X as a finite float64 array of shape (m, n_x), m ≥ 1, rows as samples.

    ``TypeError`` when X is not an array of numbers (None, a string, a dict, text
    or complex entries); ``ValueError`` for a wrong shape (ragged rows, one sample
    given as a flat vector, no rows) or a nan/inf entry. Messages name ``function``.
    """
    expected = "an array of numbers of shape (m, n_x), one sample per row"
    x_matrix = float_array(X, function, "X", expected)
    if x_matrix.ndim != 2 or x_matrix.shape[0] == 0:
        hint = "for one sample x, pass [x] (shape (1, n_x))" if x_matrix.ndim == 1 else ""
        fail(ValueError, function, "X", expected, f"shape {x_matrix.shape}", hint)
    if not np.all(np.isfinite(x_matrix)):
        row = int(np.argwhere(~np.isfinite(x_matrix))[0][0])
        raise ValueError(f"{function}: X has a non-finite value in row {row}: {x_matrix[row].tolist()}")
    return x_matrix


def check_dataset(X: object, y: object, function: str = "check_dataset") -> tuple[np.ndarray, np.ndarray]:
    """X as a finite float64 array (m, n_x) (see ``check_features``) and y as an array (m,).

    Rows are samples (scikit-learn's layout); a course-layout X of shape (n_x, m)
    must be transposed first (``X.T``). A label row of shape (1, m) is flattened.
    """
    x_matrix = check_features(X, function)
    if isinstance(y, np.ma.MaskedArray):
        refuse_masked(y, function, "y")
        y = y.data
    y_vector = np.asarray(y)
    if y_vector.dtype.kind in "US" and y_vector.ndim > 0 and not isinstance(y, np.ndarray):
        y_vector = np.asarray(y, dtype=object)  # a list with text in it: say which entry
    if y_vector.dtype.kind == "O" and y_vector.ndim > 0:  # a list of mixed entries: each one checked
        y_vector = _object_entries(y_vector, function, "y")
    if y_vector.dtype.kind not in "biuf":  # text, complex, None...: not labels
        fail(TypeError, function, "y", f"an array of numbers of shape ({len(x_matrix)},), one label per "
             "row of X", describe(y))
    if y_vector.ndim == 2 and 1 in y_vector.shape:
        y_vector = y_vector.reshape(-1)  # a (1, m) row of labels, as the course writes Y
    if y_vector.ndim != 1 or len(y_vector) != len(x_matrix):
        transposed = y_vector.shape[-1:] == x_matrix.shape[1:]
        raise ValueError(
            f"{function}: y must have shape ({len(x_matrix)},), one label per row of X, "
            f"got shape {y_vector.shape}" + (" (X looks transposed: pass X.T)" if transposed else "")
        )
    return x_matrix, y_vector


def train_test_split(
    X: np.ndarray,
    y: np.ndarray,
    test_fraction: float = 0.25,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Shuffle the rows with ``seed`` and hold out ⌈test_fraction·m⌉ of them for testing.

    A product test_fraction·m that is an integer up to float rounding counts as that
    integer: 0.07 of 100 samples is 7 (the float product is 7.000000000000001).
    Returns ``(X_train, X_test, y_train, y_test)`` (scikit-learn's order), rows as
    samples. ``test_fraction`` ∈ (0, 1) and both parts must be non-empty.
    """
    x_matrix, y_vector = check_dataset(X, y, "train_test_split")
    test_fraction = check_real("train_test_split", "test_fraction", test_fraction, above=0.0, below=1.0)
    seed = check_seed("train_test_split", seed)
    m = len(y_vector)
    n_test = _test_count(test_fraction, m)
    if not 0 < n_test < m:
        raise ValueError(
            f"train_test_split: test_fraction={test_fraction!r} of m={m} samples leaves an empty part"
        )
    order = np.random.default_rng(seed).permutation(m)
    test, train = order[:n_test], order[n_test:]
    return x_matrix[train], x_matrix[test], y_vector[train], y_vector[test]


def _test_count(test_fraction: float, m: int) -> int:
    """⌈test_fraction·m⌉, where a product within rounding (a relative 1e−12) of an integer is that integer."""
    product = test_fraction * m
    nearest = round(product)
    if math.isclose(product, nearest, rel_tol=1e-12):
        return nearest
    return math.ceil(product)


def to_course_layout(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The course's layout, samples in columns: X (n_x, m) = Xᵀ and Y (1, m)."""
    x_matrix, y_vector = check_dataset(X, y, "to_course_layout")
    return x_matrix.T, y_vector.reshape(1, -1)

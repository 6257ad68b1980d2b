"""Generated datasets: shapes, exact geometry without noise, the noise itself, seeds, and the split."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nn import DATASETS, make_blobs, make_circles, make_moons, make_xor, to_course_layout, train_test_split


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_shapes_dtypes_labels_and_balance(name):
    x, y = DATASETS[name](101, 0.1, 3)
    assert x.shape == (101, 2) and x.dtype == np.float64 and x.flags.c_contiguous
    assert y.shape == (101,) and y.dtype == np.int64
    assert set(np.unique(y).tolist()) == {0, 1}
    assert abs(int(np.sum(y == 0)) - int(np.sum(y == 1))) <= 3  # balanced (xor: 2 corners per class)


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_same_seed_same_bytes_other_seed_other_data(name):
    x1, y1 = DATASETS[name](50, 0.2, 7)
    x2, y2 = DATASETS[name](50, 0.2, 7)
    assert x1.tobytes() == x2.tobytes() and y1.tobytes() == y2.tobytes()
    x3, _ = DATASETS[name](50, 0.2, 8)
    assert not np.array_equal(x1, x3)


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_noise_is_gaussian_with_the_given_deviation_and_nothing_else(name):
    clean, y_clean = DATASETS[name](4000, 0.0, 1)
    noisy, y_noisy = DATASETS[name](4000, 0.15, 1)
    assert np.array_equal(y_clean, y_noisy)  # the same order: only the noise differs
    difference = noisy - clean
    assert abs(difference.mean()) < 0.01
    assert difference.std() == pytest.approx(0.15, rel=0.03)


def test_moons_without_noise_lie_on_their_half_circles():
    x, y = make_moons(40, 0.0, 0)
    outer, inner = x[y == 0], x[y == 1]
    assert np.allclose(np.hypot(outer[:, 0], outer[:, 1]), 1.0) and np.all(outer[:, 1] >= -1e-12)
    assert np.allclose(np.hypot(inner[:, 0] - 1.0, inner[:, 1] - 0.5), 1.0)
    assert np.all(inner[:, 1] <= 0.5 + 1e-12)
    assert len(outer) == len(inner) == 20


def test_circles_without_noise_have_radius_one_and_factor():
    x, y = make_circles(30, 0.0, 0, factor=0.3)
    radii = np.hypot(x[:, 0], x[:, 1])
    assert np.allclose(radii[y == 0], 1.0) and np.allclose(radii[y == 1], 0.3)


def test_blobs_without_noise_sit_on_their_centres_and_take_n_classes():
    x, y = make_blobs(12, 0.0, 0, n_classes=3)
    assert set(y.tolist()) == {0, 1, 2} and np.bincount(y).tolist() == [4, 4, 4]
    for k in range(3):
        centre = 2.0 * np.array([math.cos(2 * math.pi * k / 3), math.sin(2 * math.pi * k / 3)])
        assert np.allclose(x[y == k], centre)


def test_xor_label_is_the_sign_disagreement_of_the_corner():
    x, y = make_xor(40, 0.0, 0)
    assert np.all(np.abs(x) == 1.0)
    assert np.array_equal(y, (x[:, 0] * x[:, 1] < 0).astype(np.int64))


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: make_moons(1), ValueError, r"make_moons: n_samples must be an integer ≥ 2, got 1"),
        (lambda: make_moons(10.5), TypeError,
         r"make_moons: n_samples must be an integer ≥ 2, got 10\.5 \(float\)"),
        (lambda: make_moons(True), TypeError, "n_samples must be an integer ≥ 2, got True"),
        (lambda: make_moons(n_samples=-1), ValueError,
         "make_moons: n_samples must be an integer ≥ 2, got -1$"),
        (lambda: make_xor(3), ValueError, r"make_xor: n_samples must be an integer ≥ 4"),
        (lambda: make_circles(10, -0.1), ValueError,
         "make_circles: noise must be a finite number ≥ 0, got -0.1"),
        (lambda: make_moons(10, math.nan), ValueError, "noise must be a finite number"),
        (lambda: make_moons(10, "0.1"), TypeError,
         "make_moons: noise must be a finite number ≥ 0, got '0.1'"),
        (lambda: make_moons(10, 0.1, "0"), TypeError,
         "make_moons: seed must be an integer .*, got '0' \\(str\\)"),
        (lambda: make_moons(seed="a"), TypeError,
         "make_moons: seed must be an integer .*, got 'a' \\(str\\)"),
        (lambda: make_moons(seed=-1), ValueError,
         "make_moons: seed must be an integer from 0 to 2\\*\\*64 − 1, got -1"),
        (lambda: make_xor(seed=1.0), TypeError, "make_xor: seed must be an integer"),
        (lambda: make_circles(10, 0.1, 0, factor=1.0), ValueError,
         r"factor must be a number in \(0, 1\), got 1.0"),
        (lambda: make_circles(10, 0.1, 0, factor="0.5"), TypeError,
         r"factor must be a number in \(0, 1\), got '0.5'"),
        (lambda: make_blobs(10, 0.1, 0, n_classes=1), ValueError, "n_classes must be an integer ≥ 2, got 1"),
        (lambda: make_blobs(10, 0.1, 0, n_classes=2.0), TypeError,
         "n_classes must be an integer ≥ 2, got 2.0"),
        (lambda: make_blobs(2, 0.1, 0, n_classes=3), ValueError, "n_samples must be an integer ≥ 3"),
    ],
)
def test_bad_arguments_are_named(call, error, message):
    with pytest.raises(error, match=message):
        call()


@settings(max_examples=40, deadline=None)
@given(m=st.integers(2, 200), fraction=st.floats(0.01, 0.99), seed=st.integers(0, 2**32))
def test_split_is_a_partition_that_keeps_rows_and_labels_together(m, fraction, seed):
    x = np.column_stack([np.arange(m, dtype=float), -np.arange(m, dtype=float)])
    y = np.arange(m) % 2
    n_test = math.ceil(fraction * m)
    if not 0 < n_test < m:
        with pytest.raises(ValueError, match="leaves an empty part"):
            train_test_split(x, y, fraction, seed)
        return
    x_train, x_test, y_train, y_test = train_test_split(x, y, fraction, seed)
    assert len(x_test) == len(y_test) == n_test and len(x_train) == len(y_train) == m - n_test
    assert sorted(np.concatenate([x_train[:, 0], x_test[:, 0]]).tolist()) == list(range(m))
    for rows, labels in ((x_train, y_train), (x_test, y_test)):
        assert np.array_equal(rows[:, 1], -rows[:, 0]) and np.array_equal(labels, rows[:, 0].astype(int) % 2)
    again = train_test_split(x, y, fraction, seed)
    assert all(np.array_equal(a, b) for a, b in zip(again, (x_train, x_test, y_train, y_test), strict=True))


def test_split_arguments_are_checked():
    x, y = make_moons(10)
    with pytest.raises(ValueError, match=r"test_fraction must be a number in \(0, 1\), got 1.0"):
        train_test_split(x, y, 1.0)
    with pytest.raises(ValueError, match=r"y must have shape \(10,\)"):
        train_test_split(x, y[:5])
    with pytest.raises(ValueError, match=r"X looks transposed: pass X.T"):
        train_test_split(x.T, y)
    bad = x.copy()
    bad[3, 1] = math.inf
    with pytest.raises(ValueError, match="non-finite value in row 3"):
        train_test_split(bad, y)


def test_course_layout_puts_samples_in_columns():
    x, y = make_moons(10)
    columns, labels = to_course_layout(x, y)
    assert columns.shape == (2, 10) and labels.shape == (1, 10)
    assert np.array_equal(columns[:, 4], x[4]) and labels[0, 4] == y[4]


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_noise_is_bounded_so_the_data_is_finite(name):
    with pytest.raises(ValueError) as caught:
        DATASETS[name](100, 1e308)
    assert caught.match(
        rf"^make_{name}: noise must be at most MAX_NOISE = 1e\+100, got 1e\+308; a larger noise makes "
        r"coordinates \(or their squares\) overflow to inf$"
    )
    x, _ = DATASETS[name](10_000, 1e100)
    assert np.isfinite(x).all() and np.isfinite(x * x).all()


@pytest.mark.parametrize(("fraction", "m", "expected"), [(0.07, 100, 7), (0.7, 10, 7), (0.29, 100, 29),
                                                         (0.1, 30, 3), (0.25, 10, 3), (0.071, 100, 8)])
def test_split_holds_out_the_integer_that_the_fraction_names(fraction, m, expected):
    x, y = make_moons(m)
    assert len(train_test_split(x, y, test_fraction=fraction)[3]) == expected

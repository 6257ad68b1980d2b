"""The collector after a big backward: relaxed for the next graph, restored at its next collection.

``engine.modes.relax_collector`` raises only the first generation's threshold, only
after a backward pass over ``RELAX_AFTER`` nodes or more, only with the collector
on, and puts the user's thresholds back when the next collection starts, unless
the user set others meanwhile.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

import engine
from engine import Value, modes


@pytest.fixture(autouse=True)
def thresholds() -> Iterator[tuple[int, int, int]]:
    """Each test starts from Python's usual thresholds and leaves them as it found them."""
    before = gc.get_threshold()
    gc.collect()  # ends any relaxation left by an earlier test
    gc.set_threshold(700, 10, 10)
    yield (700, 10, 10)
    gc.collect()
    gc.set_threshold(*before)


def chain(steps: int) -> Value:
    x = Value(0.5)
    for _ in range(steps):
        x = x * 1.0001 + 0.0001
    return x


def test_a_big_backward_raises_the_first_threshold_until_the_next_collection(thresholds) -> None:
    root = chain(modes.RELAX_AFTER)  # 2 nodes a step: twice RELAX_AFTER nodes
    root.backward()
    t0, t1, t2 = gc.get_threshold()
    assert t0 >= 4 * modes.RELAX_AFTER and (t1, t2) == thresholds[1:]
    gc.collect()  # the next collection starts: the user's thresholds are back
    assert gc.get_threshold() == thresholds


def test_a_small_backward_changes_nothing(thresholds) -> None:
    chain(100).backward()
    assert gc.get_threshold() == thresholds


def test_with_the_collector_off_nothing_changes(thresholds) -> None:
    gc.disable()
    try:
        chain(modes.RELAX_AFTER).backward()
        assert gc.get_threshold() == thresholds
    finally:
        gc.enable()


def test_thresholds_the_user_sets_meanwhile_are_kept() -> None:
    chain(modes.RELAX_AFTER).backward()
    gc.set_threshold(5000, 20, 20)  # the user's own choice, after the relaxation
    gc.collect()
    assert gc.get_threshold() == (5000, 20, 20)


def test_two_big_backward_passes_restore_the_first_thresholds(thresholds) -> None:
    root = chain(modes.RELAX_AFTER)
    root.backward()
    root.backward()  # relaxed again while relaxed: what comes back is still the user's
    gc.collect()
    assert gc.get_threshold() == thresholds


def test_inside_gc_paused_the_collector_is_left_alone(thresholds) -> None:
    with engine.gc_paused():
        chain(modes.RELAX_AFTER).backward()
    assert gc.get_threshold() == thresholds and gc.isenabled()

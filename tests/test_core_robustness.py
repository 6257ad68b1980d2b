"""Backward keeps its state in the call: Ctrl-C at any moment, or threads, leave every grad right.

Two ways of stopping a call at many points:

- a real SIGINT sent at a random moment of a call on a graph of 10⁵+ nodes, delivered
  to a handler that raises (as Ctrl-C does; the handler raises ``Interrupted``, not
  KeyboardInterrupt, so a stray late signal cannot stop pytest itself);
- a trace function that raises at the k-th line the engine runs, for many k spread
  over the whole call, on smaller graphs (tracing every line is slow).

After each stop, every ``grad`` must be as it was before the call or as it is after
a whole call, never a mix, and the next call must work.
"""

from __future__ import annotations

import gc
import math
import random
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

import pytest

import engine
from engine import Value, backward, chain_rule, draw, explain, grad, set_grads, topological_order, zero_grad


class Interrupted(BaseException):
    """What the test's SIGINT handler raises: Ctrl-C's KeyboardInterrupt, under another name."""


def network(steps: int, width: int = 40) -> tuple[list[Value], Value]:
    """A deep graph over ``width`` shared parameters: unary, binary, n-ary and number-operand ops.

    About 4 nodes a step, so ``steps = 25_000`` makes 10⁵ nodes.
    """
    params = [Value(0.5 + 0.01 * k, label=f"w{k}") for k in range(width)]
    h = Value(0.3, label="x")
    sums = []
    for i in range(steps):
        w = params[i % width]
        h = (h * w + 0.01).tanh() * 0.9 + 0.05
        if i % 1000 == 999:
            sums.append(engine.sum_values([h, params[(i + 1) % width], 2.0]))
    root = engine.linear(params[: len(sums)], sums, h) if sums else h
    return params, root


def grads(nodes: list[Value]) -> list[float]:
    return [node.grad for node in nodes]


@contextmanager
def sigint_raises() -> Iterator[None]:
    """SIGINT raises ``Interrupted`` inside the block; stray signals are absorbed at the end."""
    def handler(signum: int, frame: object) -> None:
        raise Interrupted

    previous = signal.signal(signal.SIGINT, handler)
    collector = gc.isenabled()
    gc.disable()  # a signal landing in a gc callback (hypothesis times collections) is only ignored
    try:
        yield
    finally:
        if collector:
            gc.enable()
        deadline = time.monotonic() + 0.05
        while time.monotonic() < deadline:  # a signal sent just before the end arrives here
            with suppress(Interrupted):
                time.sleep(0.005)
        signal.signal(signal.SIGINT, previous)


def interrupted_at_random(call: Callable[[], object], duration: float, rng: random.Random) -> bool:
    """Run ``call`` with a SIGINT sent after a random delay within ``duration``; True if it stopped."""
    timer = threading.Timer(rng.uniform(0.0, duration), signal.raise_signal, (signal.SIGINT,))
    stopped = False
    try:
        timer.start()  # inside the try: with a delay near 0 the signal may come before start returns
        call()
    except Interrupted:
        stopped = True
    while True:  # a signal sent just after the call ended arrives here: it stopped nothing
        try:
            timer.cancel()
            timer.join()
            time.sleep(0.002)  # the main thread handles a signal sent from the timer's thread by now
            break
        except Interrupted:
            continue
    return stopped


def timed(call: Callable[[], object]) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


@pytest.fixture(scope="module")
def big() -> tuple[list[Value], Value, list[Value]]:
    params, root = network(25_000)
    order = topological_order(root)
    assert len(order) >= 100_000
    return params, root, order


CALLS_THAT_CHANGE_NO_GRAD: dict[str, Callable[[Value, list[Value]], object]] = {
    "topological_order": lambda root, params: topological_order(root),
    "chain_rule": lambda root, params: chain_rule(root),
    "grad": lambda root, params: grad(root, params),
    "draw": lambda root, params: draw(root),
    "explain": lambda root, params: explain(root, max_steps=5),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CALLS_THAT_CHANGE_NO_GRAD))
def test_ctrl_c_in_a_call_that_changes_no_grad_changes_no_grad(big, name: str) -> None:
    params, root, order = big
    zero_grad(root)
    root.backward()
    before = grads(order)
    call = CALLS_THAT_CHANGE_NO_GRAD[name]
    duration = timed(lambda: call(root, params))
    rng = random.Random(name)
    stopped = 0
    with sigint_raises():
        for _ in range(8):
            stopped += interrupted_at_random(lambda: call(root, params), duration, rng)
            assert grads(order) == before
    assert stopped >= 1  # the test did stop the call, not only time out after it
    assert grad(root, params[:3]) == [chain_rule(root)[p] for p in params[:3]]  # and it still works


@pytest.mark.slow
def test_ctrl_c_in_backward_leaves_the_old_or_the_new_gradients_never_a_mix(big) -> None:
    _params, root, order = big
    zero_grad(root)
    root.backward()
    once = grads(order)
    twice = [2.0 * g for g in once]  # exactly: each grad is g + g
    duration = timed(root.backward)
    zero_grad(root)
    root.backward()
    rng = random.Random(7)
    outcomes = set()
    with sigint_raises():
        for _ in range(12):
            stopped = interrupted_at_random(root.backward, duration, rng)
            now = grads(order)
            assert now in (once, twice), "a mix of old and new gradients"
            outcomes.add((stopped, now == twice))
            if now == twice:  # back to the state after one backward, for the next trial
                zero_grad(root)
                root.backward()
    assert (True, False) in outcomes  # at least one backward was stopped before its commit
    root.backward()  # the next call works: exactly twice the gradients
    assert grads(order) == twice


@pytest.mark.slow
def test_ctrl_c_in_zero_grad_leaves_all_or_none(big) -> None:
    _params, root, order = big
    rng = random.Random(3)
    zero_grad(root)
    root.backward()
    before = grads(order)
    zeros = [0.0] * len(order)
    duration = timed(lambda: zero_grad(root))
    with sigint_raises():
        for _ in range(8):
            root.backward() if grads(order) == zeros else None
            after_backward = grads(order)
            interrupted_at_random(lambda: zero_grad(root), duration, rng)
            assert grads(order) in (after_backward, zeros)
    zero_grad(root)
    root.backward()
    assert grads(order) == before


@pytest.mark.slow
def test_the_reported_case_a_long_chain_stopped_in_its_second_backward() -> None:
    """333k steps, Ctrl-C in the second backward(): w.grad stays the first result, the third works."""
    w = Value(1.0001, label="w")
    x = Value(0.5, label="x")
    for _ in range(333_000):
        x = x * w
    x.backward()
    first = w.grad
    duration = timed(x.backward)
    zero_grad([w])
    x.backward()
    rng = random.Random(333)
    with sigint_raises():
        for _ in range(3):
            if not interrupted_at_random(x.backward, duration, rng):
                zero_grad(x)
                x.backward()
            assert w.grad in (first, 2.0 * first)
    zero_grad(x)
    x.backward()
    assert w.grad == first


# ---------------------------------------------------------------------------
# A trace function that raises at the k-th engine line: deterministic stops at many points.
# ---------------------------------------------------------------------------
class TraceStop(BaseException):
    pass


def _stopped(
    call: Callable[[], object], stop_at: int | None, traced: Callable[[str], bool], event: str
) -> int:
    """Run ``call`` counting the ``event``s ("line" or "call": a function's entry) in the modules
    ``traced`` accepts, while Ctrl-C is not held (the SIGINT handler is Python's usual one: the
    engine defers it around its commits, where no Ctrl-C can stop it); raise TraceStop at the
    ``stop_at``-th."""
    count = 0

    def stop_here() -> None:
        nonlocal count
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            count += 1
            if count == stop_at:
                raise TraceStop

    def local(frame, kind, arg):  # type: ignore[no-untyped-def]
        if kind == "line":
            stop_here()
        return local

    def tracer(frame, kind, arg):  # type: ignore[no-untyped-def]
        if not traced(frame.f_globals.get("__name__", "")):
            return None
        if event == "call":
            stop_here()
            return None
        return local

    sys.settrace(tracer)
    try:
        call()
    finally:
        sys.settrace(None)
    return count


def engine_lines(call: Callable[[], object], stop_at: int | None = None) -> int:
    """Run ``call`` counting the lines executed in engine/; raise TraceStop at line ``stop_at``.

    engine.modes holds the deferral and the bookkeeping around it: its own points are stopped at
    by ``_mode_calls``, at the moments a Ctrl-C can land there.
    """
    return _stopped(call, stop_at, lambda module: module.startswith("engine") and module != "engine.modes",
                    "line")


@pytest.mark.parametrize("name", ["backward", "zero_grad", "set_grads", "grad", "chain_rule"])
def test_an_exception_at_any_line_of_the_engine_leaves_every_grad_old_or_new(name: str) -> None:
    """Stopped at 60 points spread over the call (including inside the commit, where the stores
    are rolled back), every grad is as before or as after, and the next call works."""
    params, root = network(300, width=7)
    order = topological_order(root)
    root.backward()
    before = grads(order)
    calls = {
        "backward": root.backward,
        "zero_grad": lambda: zero_grad(root),
        "set_grads": lambda: set_grads(order, [2.0 * g + 1.0 for g in before]),
        "grad": lambda: grad(root, params),
        "chain_rule": lambda: chain_rule(root),
    }
    call = calls[name]
    total = engine_lines(call)
    after = grads(order)
    zero_grad(root)
    root.backward()
    assert grads(order) == before
    for stop_at in sorted({1 + (total * k) // 60 for k in range(60)} | {total - 2, total - 1}):
        with pytest.raises(TraceStop):
            engine_lines(call, stop_at)
        assert grads(order) in (before, after), f"a mix after a stop at line {stop_at} of {total}"
        # nothing else is left behind: the collector, the modes, Ctrl-C's handler
        assert gc.isenabled() and not engine.modes.active
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
        if grads(order) == after:
            zero_grad(root)
            root.backward()
    call()
    assert grads(order) == after


# ---------------------------------------------------------------------------
# Threads
# ---------------------------------------------------------------------------
@contextmanager
def frequent_thread_switches() -> Iterator[None]:
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(previous)


def run_threads(target: Callable[[int], None], count: int) -> None:
    errors: list[BaseException] = []

    def guarded(k: int) -> None:
        try:
            target(k)
        except BaseException as error:  # reported below, in the test's thread
            errors.append(error)

    threads = [threading.Thread(target=guarded, args=(k,)) for k in range(count)]
    with frequent_thread_switches():
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert not errors, errors


def test_concurrent_backward_into_shared_parameters_adds_up_exactly() -> None:
    """Integer-valued graphs, so any order of the additions gives the exact sum: nothing lost."""
    params = [Value(float(k + 1), label=f"w{k}") for k in range(6)]

    def loss(k: int) -> Value:
        total = Value(0.0)
        for i in range(400):
            a, b = params[(i + k) % 6], params[(i * 5 + k) % 6]
            total = total + a * b + 2.0 * a
        return total

    expected = [0.0] * len(params)
    for k in range(4):
        gradients = chain_rule(loss(k))
        for i, p in enumerate(params):
            expected[i] += 25 * gradients[p]

    def worker(k: int) -> None:
        root = loss(k)
        for _ in range(25):
            root.backward()

    run_threads(worker, 4)
    assert grads(params) == expected


def test_concurrent_backward_on_float_graphs_matches_one_after_the_other() -> None:
    params = [Value(0.1 * (k + 1), label=f"w{k}") for k in range(5)]

    def loss(k: int) -> Value:
        h = Value(0.2 + 0.1 * k)
        for i in range(300):
            h = (h * params[i % 5] + params[(i + k) % 5]).tanh()
        return h

    single = {p: 0.0 for p in params}
    for k in range(3):
        for _ in range(10):
            for p, g in zip(params, grad(loss(k), params)):
                single[p] += g

    def worker(k: int) -> None:
        root = loss(k)
        for _ in range(10):
            root.backward()

    run_threads(worker, 3)
    for p in params:  # the same additions in another order: equal to rounding
        assert p.grad == pytest.approx(single[p], rel=1e-13, abs=1e-300)


def test_grad_from_several_threads_agrees_with_one_thread() -> None:
    params, root = network(400, width=5)
    alone = grad(root, params)
    results: dict[int, list[list[float]]] = {}

    def worker(k: int) -> None:
        results[k] = [grad(root, params) for _ in range(15)]

    run_threads(worker, 4)
    assert all(result == alone for runs in results.values() for result in runs)
    assert all(p.grad == 0.0 for p in params)  # grad changes no node


def test_no_grad_in_one_thread_leaves_another_threads_training_alone() -> None:
    w = Value(0.5, label="w")
    stop = threading.Event()
    trained: list[float] = []

    def predictor(_: int) -> None:
        while not stop.is_set():
            with engine.no_grad():
                assert (w * 3.0).parents == ()
                assert not engine.is_grad_enabled()

    def trainer(_: int) -> None:
        try:
            for _ in range(300):
                w.grad = 0.0
                loss = (w * 2.0 - 1.0) ** 2
                assert loss.parents and engine.is_grad_enabled()
                loss.backward()
                trained.append(w.grad)
        finally:
            stop.set()

    run_threads(lambda k: (predictor if k == 0 else trainer)(k), 2)
    assert len(trained) == 300 and all(g == pytest.approx(4.0 * (2 * 0.5 - 1.0)) for g in trained)


def test_detect_anomaly_is_per_thread_too() -> None:
    caught: list[bool] = []
    stop = threading.Event()

    def checker(_: int) -> None:
        try:
            with engine.detect_anomaly():
                for _ in range(200):
                    try:
                        Value(1e200) * Value(1e200)
                    except engine.AnomalyError:
                        caught.append(True)
        finally:
            stop.set()

    def plain(_: int) -> None:
        while not stop.is_set():
            assert math.isinf((Value(1e200) * Value(1e200)).data)  # no checks in this thread

    run_threads(lambda k: (checker if k == 0 else plain)(k), 2)
    assert len(caught) == 200
    assert not engine.modes.active  # every mode block has ended


def test_gc_paused_from_two_threads_keeps_the_collector_paused_until_both_end() -> None:
    import gc

    assert gc.isenabled()
    inside = threading.Barrier(2)
    first_done = threading.Event()
    states: list[bool] = []

    def worker(k: int) -> None:
        with engine.gc_paused():
            inside.wait()
            if k == 0:
                first_done.set()
            else:
                first_done.wait()
                states.append(gc.isenabled())  # the other block has ended: still paused here

    run_threads(worker, 2)
    assert states == [False] and gc.isenabled()


def test_backward_and_zero_grad_in_threads_leave_each_grad_whole() -> None:
    """zero_grad racing backward: each grad is 0, or a whole number of backward contributions."""
    params = [Value(float(k + 1)) for k in range(4)]
    root = engine.sum_values([p * p for p in params])  # ∂/∂p = 2p: exact

    def worker(k: int) -> None:
        for _ in range(200):
            if k == 0:
                zero_grad(params)
            else:
                backward(root)

    run_threads(worker, 3)
    for p in params:
        assert p.grad % (2 * p.data) == 0.0  # 0 or a multiple of one backward's 2p


def test_set_grads_puts_each_number_in_its_node() -> None:
    import numpy as np

    a, b = Value(1.0), Value(2.0)
    set_grads([a, b], [0.25, np.float32(-1.5)])
    assert (a.grad, b.grad) == (0.25, -1.5) and type(b.grad) is float
    set_grads((), [])  # nothing to set: nothing changes, no error
    assert (a.grad, b.grad) == (0.25, -1.5)


def _mode_calls(call: Callable[[], object], stop_at: int | None = None) -> int:
    """Run ``call`` counting the function entries (and generator resumptions) in engine.modes and in
    contextlib's context managers, where Ctrl-C is not held; raise TraceStop at entry ``stop_at``.

    CPython runs a signal handler only at such points (a function's entry, a loop's backward jump,
    a call), never between two plain assignments: a stop at every entry is a Ctrl-C at every moment
    it can land around a mode block, e.g. at the start of gc_paused's cleanup.
    """
    return _stopped(call, stop_at, lambda module: module in ("engine.modes", "contextlib"), "call")


@pytest.mark.parametrize("block", ["gc_paused", "no_grad", "detect_anomaly", "nested"])
def test_a_ctrl_c_at_any_moment_of_a_mode_block_leaves_the_modes_and_the_collector_as_they_were(
    block: str,
) -> None:
    """A Ctrl-C landing at the start of gc_paused's cleanup, before it held Ctrl-C, once left its
    count up: every later gc_paused then left the collector on (found by CI, in the random
    Ctrl-C tests). Stopped at every point of engine.modes that a Ctrl-C can reach, each block
    undoes what it did, and the next block works."""
    def run() -> None:
        if block == "nested":
            with engine.gc_paused(), engine.no_grad(), engine.gc_paused(), engine.detect_anomaly():
                Value(2.0) * Value(3.0)
        else:
            with getattr(engine, block)():
                Value(2.0) * Value(3.0)

    total = _mode_calls(run)
    assert total > 5
    for stop_at in range(1, total + 1):
        with suppress(TraceStop):
            _mode_calls(run, stop_at)
        assert gc.isenabled() and not engine.modes.active and engine.is_grad_enabled(), stop_at
        assert not engine.modes.anomaly_checks_enabled(), stop_at
        with engine.gc_paused():  # the next block pauses the collector again
            assert not gc.isenabled(), stop_at
        assert gc.isenabled()

"""How calls run: grad mode and anomaly checks (per thread), the collector pause, deferred Ctrl-C.

Grad mode and anomaly checks belong to the thread that sets them, as in PyTorch:
``no_grad()`` in one thread leaves another thread's training step alone. Every op
reads one module flag, ``active``, which is False unless some thread is inside a
mode block; only then does an op look up its own thread's modes, so the common
case costs one lookup.
"""

from __future__ import annotations

import gc
import signal
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

active = False
"""True while some thread has grad mode off or anomaly checks on: ops then read their thread's modes."""


class _ThreadModes(threading.local):
    def __init__(self) -> None:
        self.grad_enabled = True
        self.anomaly_checks = False

    @property
    def special(self) -> bool:
        return not self.grad_enabled or self.anomaly_checks


_modes = _ThreadModes()
# Re-entrant: a lock stranded by an exception raised at the very end of a `with` block (where no
# try can catch it) cannot then block the thread that holds it. Ctrl-C itself is held (deferred)
# wherever these locks are held, see interrupts_deferred.
_lock = threading.RLock()
_special_threads = 0


def is_grad_enabled() -> bool:
    """True unless this thread is inside ``no_grad()``: ops record their parents and local derivatives."""
    return _modes.grad_enabled


def anomaly_checks_enabled() -> bool:
    """True inside ``detect_anomaly()`` in this thread."""
    return _modes.anomaly_checks


@contextmanager
def _thread_mode(name: str, value: bool) -> Iterator[None]:
    """Set this thread's mode ``name`` inside the block, restoring it after (also on errors)."""
    previous = getattr(_modes, name)
    entered = False
    try:  # entered inside the try, for the reason given in gc_paused
        entered = _set(name, value)
        yield
    finally:
        interruption: BaseException | None = None
        while entered:  # as in gc_paused: a Ctrl-C before _set holds it is raised after (_set can repeat)
            try:
                _set(name, previous)
                entered = False
            except BaseException as error:
                interruption = interruption if interruption is not None else error
        if interruption is not None:
            raise interruption


def _set(name: str, value: bool) -> bool:
    global active, _special_threads
    with interrupts_deferred(), _lock:  # the flag and the count change together or not at all
        was_special = _modes.special
        setattr(_modes, name, value)
        _special_threads += _modes.special - was_special
        active = _special_threads > 0
        return True


def no_grad() -> AbstractContextManager[None]:
    """Build no graph inside this block (this thread only): results are leaves with no parents.

    Use it for predictions and plots, where no gradient is needed; it is much
    faster, keeps no memory alive, and skips local derivatives (so ``a ** 0.5``
    at 0 gives its value).
    """
    return _thread_mode("grad_enabled", False)


def enable_grad() -> AbstractContextManager[None]:
    """Record graphs again inside a ``no_grad()`` block (used by ``grad(create_graph=True)``)."""
    return _thread_mode("grad_enabled", True)


def detect_anomaly() -> AbstractContextManager[None]:
    """Check every op and every backward pass inside this block (this thread only).

    The first op whose result or local derivative is nan or inf raises
    ``AnomalyError``: the message names the op, its inputs (with their labels),
    its local derivatives and the formula that made it, written over the labels
    of the nodes that led to it, e.g. ``(tanh(a * 2.0) + a) * b``. A backward
    pass whose gradients overflow raises it too, naming the node, and changes no
    ``grad``. Like PyTorch's ``torch.autograd.detect_anomaly``.
    """
    return _thread_mode("anomaly_checks", True)


_gc_pauses = 0
_gc_was_enabled = False


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector inside this block (restored after).

    Values form no reference cycles, so reference counting frees every graph and
    the cyclic collector has nothing to find in them; yet it would walk every live
    node again and again while a big graph is built. Wrap a training step in this
    block to skip that work. The collector is process-wide: nested or concurrent
    blocks (other threads) keep it paused until the last one ends, and it is then
    restored to what it was before the first. Cycles your code makes inside the
    block are collected after it.
    """
    global _gc_pauses, _gc_was_enabled
    counted = False
    try:  # counted inside the try: a Ctrl-C held during the count is raised when it ends
        with interrupts_deferred(), _lock:  # the count and the collector's state change together
            if _gc_pauses == 0:
                _gc_was_enabled = gc.isenabled()
                gc.disable()
            _gc_pauses += 1
            counted = True
        yield
    finally:
        # A Ctrl-C can land here before interrupts_deferred holds it: the count would stay up, and
        # every later block would leave the collector as it found it. Count down whatever happens
        # (the count and `counted` change together, Ctrl-C held), then raise the Ctrl-C.
        interruption: BaseException | None = None
        while counted:
            try:
                with interrupts_deferred(), _lock:
                    _gc_pauses -= 1
                    counted = False
                    if _gc_pauses == 0 and _gc_was_enabled:
                        gc.enable()
            except BaseException as error:
                interruption = interruption if interruption is not None else error
        if interruption is not None:
            raise interruption


RELAX_AFTER = 10_000
"""A backward pass over at least this many nodes relaxes the collector for the next graph (below)."""

_set_thresholds: tuple[int, int, int] | None = None  # what relax_collector set, if still in force
_user_thresholds: tuple[int, int, int] | None = None  # what to put back at the next collection


def relax_collector(graph_nodes: int) -> None:
    """After a backward pass over ``graph_nodes`` nodes: let the next graph be built without walks.

    Python's cyclic collector, left as it is, walks every live node again and again
    while a big graph is built (about half the time of a learner's own training
    loop), though Values form no cycles. So after a backward pass over a graph of
    ``RELAX_AFTER`` nodes or more, with the collector on, the first collection
    threshold is raised to four allocations per node of that graph: the next
    graph of a similar size is built with at most one collection. Your thresholds
    come back at the next collection that starts (a ``gc.callbacks`` hook); if you
    set thresholds yourself meanwhile, yours are kept. Nothing is turned off: a
    cycle your code makes is collected as usual, at most one graph's worth of
    allocations later. ``gc_paused()`` is the other way, for a block you choose.
    """
    global _set_thresholds, _user_thresholds
    if graph_nodes < RELAX_AFTER or not gc.isenabled():
        return
    current = gc.get_threshold()
    wanted = (max(current[0], 4 * graph_nodes), *current[1:])
    if current == wanted:
        return
    with interrupts_deferred(), _lock:
        if _collector_hook not in gc.callbacks:
            gc.callbacks.append(_collector_hook)
        if _set_thresholds != current:  # not ours in force: these are the user's
            _user_thresholds = current
        gc.set_threshold(*wanted)
        _set_thresholds = wanted


def _collector_hook(phase: str, info: dict) -> None:
    # Runs in whichever thread collects, possibly inside code holding _lock: no locking here.
    global _set_thresholds, _user_thresholds
    if phase != "start" or _set_thresholds is None:
        return
    if gc.get_threshold() == _set_thresholds and _user_thresholds is not None:
        gc.set_threshold(*_user_thresholds)
    _set_thresholds = _user_thresholds = None


@contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Hold Ctrl-C (SIGINT) until the block ends: for the short commits that must not stop halfway.

    Only the main thread receives SIGINT in Python, so elsewhere this does nothing.
    A Ctrl-C that arrives inside the block is delivered, to whatever handler was
    installed, as soon as the block ends.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)
    if not callable(previous):  # SIG_IGN, SIG_DFL or a handler not set from Python: nothing to defer
        yield
        return
    received: list[int] = []
    signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if received:
            signal.raise_signal(signal.SIGINT)

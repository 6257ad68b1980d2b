"""Graph shapes, accumulation, no_grad, deep chains, and the seeds' single-neuron facts."""

from __future__ import annotations

import gc
import math
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import engine
from engine import Value, gc_paused, grad, no_grad, topological_order, zero_grad


def test_a_plus_a_keeps_two_edges() -> None:
    a = Value(3.0)
    b = a + a
    b.backward()
    assert b.parents == (a, a)
    assert a.grad == 2.0


def test_a_times_a() -> None:
    a = Value(-1.5)
    (a * a).backward()
    assert a.grad == -3.0  # d(a²)/da = 2a


def test_diamond() -> None:
    # a feeds b and c, both feed d: ∂d/∂a sums the two paths.
    a = Value(2.0, label="a")
    b = a * 3.0
    c = a.exp()
    d = b * c
    d.backward()
    assert a.grad == pytest.approx(3.0 * math.exp(2.0) + 6.0 * math.exp(2.0), rel=1e-14)
    assert b.grad == pytest.approx(math.exp(2.0)) and c.grad == 6.0


def test_node_used_in_many_branches() -> None:
    x = Value(0.7)
    branches = [x * k for k in range(1, 6)] + [x.tanh(), x**2]
    total = engine.sum_values(branches)
    total.backward()
    expected = sum(range(1, 6)) + (1 - math.tanh(0.7) ** 2) + 2 * 0.7
    assert x.grad == pytest.approx(expected, rel=1e-14)


def test_parent_reached_again_after_its_child() -> None:
    # r = p * n with n = p * 2: p must be processed after n, or it misses n's share.
    p = Value(3.0)
    n = p * 2.0
    r = p * n
    r.backward()
    assert p.grad == 12.0  # d(2p²)/dp = 4p


def test_backward_accumulates_and_twice_is_double() -> None:
    x = Value(0.3)
    y = (x * x).sigmoid() * x
    y.backward()
    once = {id(node): node.grad for node in topological_order(y)}
    y.backward()
    for node in topological_order(y):
        assert node.grad == pytest.approx(2 * once[id(node)], rel=1e-15)
    zero_grad(y)
    assert all(node.grad == 0.0 for node in topological_order(y))


def test_backward_with_a_seed_gradient() -> None:
    x = Value(2.0)
    y = x * x
    y.backward(0.5)
    assert x.grad == 2.0 and y.grad == 0.5


def test_zero_grad_on_an_iterable_and_on_a_value() -> None:
    a, b = Value(1.0), Value(2.0)
    (a * b).backward()
    zero_grad([a])
    assert a.grad == 0.0 and b.grad == 1.0
    b.zero_grad()
    assert b.grad == 0.0


def test_no_grad_builds_nothing_and_restores() -> None:
    x = Value(1.0)
    with no_grad():
        assert not engine.is_grad_enabled()
        y = (x * 2 + 1).tanh()
        z = engine.linear([x], [Value(2.0)], Value(0.5))
    assert engine.is_grad_enabled()
    assert y.parents == () and y.op is None and z.parents == ()
    assert y.data == pytest.approx(math.tanh(3.0))
    y.backward()
    assert x.grad == 0.0
    with pytest.raises(RuntimeError), no_grad():
        raise RuntimeError("restored even on error")
    assert engine.is_grad_enabled()


def test_topological_order_is_deterministic_and_root_first() -> None:
    def build() -> Value:
        xs = [Value(float(i), label=f"x{i}") for i in range(5)]
        h = [xs[i] * xs[(i + 1) % 5] for i in range(5)]
        return engine.sum_values(h).tanh()

    first = [node.label or node.op.name for node in topological_order(build())]
    second = [node.label or node.op.name for node in topological_order(build())]
    assert first == second and first[0] == "tanh"
    order = topological_order(build())
    position = {id(node): i for i, node in enumerate(order)}
    for node in order:
        for parent in node.parents:
            assert position[id(parent)] > position[id(node)]


@pytest.mark.slow
def test_million_deep_chain() -> None:
    """No recursion: a 1,000,000-deep chain backpropagates (micrograd stops near 500)."""
    assert sys.getrecursionlimit() < 1_000_000
    x = Value(1.0)
    with gc_paused():
        y = x
        for _ in range(1_000_000):
            y = y * 1.000001 + 0.000001
        y.backward()
    # y = (x + 1)·1.000001ᴺ − 1, so dy/dx = 1.000001ᴺ = e^(N·ln 1.000001).
    assert x.grad == pytest.approx(math.exp(1_000_000 * math.log1p(1e-6)), rel=1e-9)
    del y
    gc.collect()


def test_graph_is_freed_without_the_cyclic_collector() -> None:
    import weakref

    class Probe:
        pass

    gc.disable()
    try:
        x = Value(1.0)
        y = (x * 2).sigmoid().log()
        y.backward()
        probe = Probe()
        ref = weakref.ref(probe)
        holder = {"graph": y, "probe": probe}
        del probe, y
        holder.clear()
        assert ref() is None  # reference counting alone freed it: no cycles
    finally:
        gc.enable()


def test_grad_is_functional_and_leaves_grad_untouched() -> None:
    x, w = Value(2.0), Value(-1.0)
    y = (w * x).exp()
    x.grad = 5.0
    dx, dw = grad(y, [x, w])
    assert dx == pytest.approx(w.data * math.exp(-2.0)) and dw == pytest.approx(2.0 * math.exp(-2.0))
    assert x.grad == 5.0 and w.grad == 0.0 and y.grad == 0.0
    assert grad(y, Value(1.0)) == 0.0  # not in the graph
    outside = Value(1.0)
    outside.grad = 3.0  # a gradient of its own does not count as being in the graph, and is kept
    assert grad(y, [outside, x, outside]) == [0.0, pytest.approx(dx), 0.0] and outside.grad == 3.0


# ---- the seeds' facts --------------------------------------------------------------------

@settings(max_examples=80, deadline=None)
@given(st.floats(0.01, 0.99), st.floats(0.0, 1.0))
def test_dl_da_is_minus_y_over_a_plus_one_minus_y_over_one_minus_a(a0: float, y: float) -> None:
    """d/da[−y ln a − (1−y) ln(1−a)] = −y/a + (1−y)/(1−a)."""
    a = Value(a0)
    loss = -(y * a.log() + (1 - y) * (1 - a).log())
    loss.backward()
    assert a.grad == pytest.approx(-y / a0 + (1 - y) / (1 - a0), rel=1e-12, abs=1e-12)


@settings(max_examples=80, deadline=None)
@given(st.floats(-3, 3), st.floats(-3, 3), st.floats(-3, 3), st.sampled_from([0.0, 1.0]))
def test_single_neuron_dz_dw_db(w0: float, b0: float, x: float, y: float) -> None:
    """a = σ(wx + b) with the cross-entropy: dz = a − y, dw = x(a − y), db = a − y."""
    w, b = Value(w0), Value(b0)
    z = w * x + b
    a = z.sigmoid()
    loss = -(y * a.log() + (1 - y) * (1 - a).log())
    loss.backward()
    assert z.grad == pytest.approx(a.data - y, rel=1e-9, abs=1e-12)
    assert w.grad == pytest.approx(x * (a.data - y), rel=1e-9, abs=1e-12)
    assert b.grad == pytest.approx(a.data - y, rel=1e-9, abs=1e-12)
    assert a.grad == pytest.approx(-y / a.data + (1 - y) / (1 - a.data), rel=1e-12)


def test_products_and_wide_sums_read_their_derivatives_from_the_parents() -> None:
    a, b = Value(3.0), Value(-2.0)
    product = a * b
    total = engine.sum_values([a, b, product])
    assert product.local_grads == (-2.0, 3.0) and total.local_grads == (1.0, 1.0, 1.0)
    total.backward()
    assert a.grad == 1.0 + -2.0 and b.grad == 1.0 + 3.0
    # Documented: a product's backward uses its parents' data as it is at backward time.
    a.zero_grad()
    b.zero_grad()
    product.grad = total.grad = 0.0
    b.data = 5.0
    product.backward()
    assert a.grad == 5.0


def test_deepcopy_copies_a_deep_graph_whole_and_keeps_shared_nodes_shared() -> None:
    """copy.deepcopy's own walk recursed through the parents: RecursionError near 100 nodes deep."""
    import copy

    x = Value(2.0, label="x")
    y = x
    with gc_paused():
        for _ in range(100_000):
            y = y * 1.0 + 0.5
    y_copy, x_copy = copy.deepcopy([y, x])
    assert y_copy.data == y.data and x_copy is not x and x_copy.label == "x"
    y_copy.backward()
    assert x_copy.grad == 1.0 and x.grad == 0.0  # the copy's leaf is the leaf inside the copied graph
    assert y_copy.op is y.op and y_copy.parents[0] is not y.parents[0]

"""Differential fuzzing: random expression DAGs (tests/strategies.py) against independent oracles.

Each property runs a few dozen graphs in the normal suite; ``make fuzz`` runs
them on thousands (``--hypothesis-profile=fuzz``, see conftest.py).
"""

from __future__ import annotations

import gc

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from strategies import BY_HAND, FORMS, MAX_DEPTH, Expression, Step, expressions, fuzz_settings, replay

import engine
from engine import Value

# Graphs the fuzz campaign found, kept as explicit examples (each test says what its own showed).
STEEP = Expression(  # slope 22,942 with f''' ≈ 3e11: central differences at ε = 1e−6 are off by 0.3
    (0.0,),
    (
        Step("mul", (0, 0)), Step("radd_const", (1,), 0.109375), Step("div", (0, 2)),
        Step("mul", (3, 3)), Step("radd_const", (4,), 0.109375), Step("div", (3, 5)),
        Step("mul", (6, 6)), Step("radd_const", (7,), 0.1015625), Step("div", (6, 8)),
        Step("add", (9, 8)), Step("add", (10, 10)), Step("add", (11, 11)), Step("add", (12, 12)),
        Step("exp", (13,)), Step("log", (13,)), Step("sum", (14, 15)),
    ),
)
CANCELLING_EXPONENT = Expression(  # exponent e^(4(tanh(8.85) − 1)) − 1 ≈ −1.6e−7: cancellation
    (0.0, 1.0, 2.0),
    (
        Step("add_const", (0,), 0), Step("add_const", (3,), -1.049549242589741), Step("add", (2, 4)),
        Step("rmul_const", (5,), 3), Step("add_const", (6,), 2), Step("add", (7, 7)), Step("add", (2, 7)),
        Step("add", (9, 9)), Step("add_const", (9,), 2), Step("tanh", (11,)), Step("add", (12, 12)),
        Step("add_const", (13,), -1), Step("exp", (14,)), Step("sub_const", (14,), 1), Step("sum", (16,)),
        Step("add", (17, 17)), Step("exp", (18,)), Step("exp", (19,)), Step("exp", (20,)),
        Step("add_const", (19,), -1), Step("add", (1, 22)), Step("add", (23, 23)), Step("pow", (24, 22)),
        Step("sum", (8, 10, 15, 21, 25)),
    ),
)
TINY_EXPONENT = Expression(  # f''(0) = 2·2.4e−85, computed as (1 + 2.4e−85) − 1 = 0 by one order of sums
    (0.0,),
    (
        Step("mul", (0, 0)), Step("radd_const", (1,), 1.0), Step("pow_const", (2,), 2.3736124789575335e-85),
        Step("sub", (2, 2)), Step("sum", (3, 4)),
    ),
)
ZERO_EXPONENT = Expression(  # v3 ** (2 ln v3) at v3 = 1: f''(0) = 4; PyTorch's own a ** b says 2
    (0.0,),
    (
        Step("mul", (0, 0)), Step("radd_const", (1,), 1.0), Step("div", (0, 2)), Step("add", (3, 2)),
        Step("log", (4,)), Step("add", (5, 5)), Step("pow", (4, 6)),
    ),
)
SATURATED_TANH = Expression(  # tanh(10): 1 − a² ≈ 8e−9 is a node of the second-order graph
    (0.0, 0.0, -1.0),
    (
        Step("add", (0, 2)), Step("add", (3, 3)), Step("mul", (1, 1)), Step("radd_const", (5,), 0.5),
        Step("pow", (6, 4)), Step("add", (7, 7)), Step("add", (6, 6)), Step("add", (9, 9)),
        Step("add", (8, 10)), Step("tanh", (11,)), Step("exp", (12,)),
    ),
)
SUBNORMAL = Expression((0.375,), (Step("rdiv_const", (0,), 5e-324),))  # gradients ≈ 1e−322: ulps are 5e−324


def rounding_scale(root: Value) -> dict[Value, float]:
    """Σ over paths of |product of local derivatives| from ``root`` to each node.

    The chain rule with every local derivative replaced by its absolute value: a
    gradient is a sum of such path products, so its rounding error (whatever the
    order the terms are added in) is a few ulps of this, not of the gradient,
    which can cancel to ~0 while its terms are large.
    """
    order = engine.topological_order(root)
    scale = dict.fromkeys(order, 0.0)
    scale[root] = 1.0
    for node in order:
        for parent, local in zip(node.parents, node.local_grads, strict=True):
            scale[parent] += abs(local) * scale[node]
    return scale


LIBM_OPS = frozenset(("exp", "log", "tanh", "sigmoid", "pow", "power"))
"""Ops whose results libm (Python) and PyTorch may round an ulp apart; × ÷ are IEEE, identical."""
SUM_OPS = frozenset(("add", "sub", "sum", "linear"))
"""Ops whose terms PyTorch may add in another order (its gradient accumulation does)."""


def _rounding_magnitude(node: Value) -> float:
    """How large the rounding of ``node``'s number can be, in units of u, between two engines.

    An ulp of the result for exp/log/tanh/σ/**; for sums, an ulp of the terms, since a
    sum whose terms cancel (1 + 2e−85 − 1) keeps only their rounding. 0 for ops that
    give the same bits from the same inputs.
    """
    name = node.op.name if node.op is not None else ""
    if name in LIBM_OPS:
        return abs(node.data)
    if name not in SUM_OPS:
        return 0.0
    terms = [abs(x.data if isinstance(x, Value) else x) for x in (*node.parents, node.const or 0.0)]
    if name == "linear":  # w₁..wₙ, x₁..xₙ, b
        n = (len(terms) - 2) // 2
        return sum(w * x for w, x in zip(terms[:n], terms[n : 2 * n], strict=True)) + terms[-2]
    return sum(terms)


def ulp_sensitivity(result: Value) -> float:
    """Σ |∂result/∂t|·(rounding of t) over the nodes t that ``result`` is built from.

    How far ``result`` moves when each number that two float64 engines may round
    differently moves by one unit of its rounding: an ulp of tanh(10) moves
    1 − tanh²(10) ≈ 8e−9 by 1e−8 of itself, and every gradient made from it.
    """
    nodes = [node for node in engine.topological_order(result) if _rounding_magnitude(node) > 0.0]
    if not nodes:
        return 0.0
    sensitivities = engine.grad(result, nodes)
    return sum(abs(s) * _rounding_magnitude(t) for s, t in zip(sensitivities, nodes, strict=True))


def torch_tolerance(result: Value, scale: float) -> float:
    """1e−9 of ``result``'s rounding scale: the order its terms are summed in, and libm vs PyTorch.

    ``scale`` is the sum of the magnitudes of the terms that add up to it (see
    ``rounding_scale``). Below 1e−300 floats lose relative precision (subnormals),
    so that much is allowed absolutely.
    """
    return 1e-9 * (scale + ulp_sensitivity(result)) + 1e-300


def test_generator_covers_every_op_shares_nodes_and_reaches_depth() -> None:
    """The generator's graphs, taken together, use every op in engine.OPS, reuse nodes, go deep."""
    ops: set[str] = set()
    depths: list[int] = []
    shared: list[bool] = []

    @given(expressions())
    @settings(max_examples=150, deadline=None, database=None)
    def collect(expression: Expression) -> None:
        root = expression(*expression.leaf_values())
        order = engine.topological_order(root)
        ops.update(node.op.name for node in order if node.op is not None)
        depths.append(max(expression.depths()))
        uses = [i for step in expression.steps for i in set(step.args)]
        shared.append(len(uses) > len(set(uses)))

    collect()
    assert ops == set(engine.BUILT_IN_OPS)
    assert max(depths) <= MAX_DEPTH
    assert max(depths) >= 20
    assert sum(shared) >= len(shared) // 2
    assert {form.op for form in FORMS.values()} == set(engine.BUILT_IN_OPS)


@example(STEEP)
@given(expressions())
@fuzz_settings(60)
def test_gradients_match_central_differences(expression: Expression) -> None:
    """engine.grad agrees with central differences: gradcheck, atol widened by what they err by.

    A central difference D(ε) errs by rounding, ≈ u·S/ε with S = Σ_nodes |∂̃f/∂node|·|node|
    and u = 1.1e−16 (so ≈ 1.1e−10·S at ε = 1e−6: atol ≥ 1e−9·S keeps 9× headroom), and by
    truncation, ε²f'''/6, which is measured rather than guessed: D(2ε) − D(ε) ≈ 3·ε²f'''/6.
    Neither lets a wrong gradient through: D(ε) and D(2ε) agree with each other, not with it.
    """
    leaves = expression.leaf_values()
    root = expression(*leaves)
    scale = rounding_scale(root)
    condition = sum(scale[node] * abs(node.data) for node in scale)
    fine, coarse = (engine.numerical_grad(lambda: expression(*leaves), leaves, eps) for eps in (1e-6, 2e-6))
    truncation = max(abs(a - b) for a, b in zip(fine, coarse, strict=True))
    engine.gradcheck(expression, leaves, eps=1e-6, atol=max(1e-6, 1e-9 * condition) + truncation)


@given(expressions())
@fuzz_settings(60)
def test_backward_twice_doubles_every_node(expression: Expression) -> None:
    """Gradients accumulate: a second backward adds exactly the same gradient to every node."""
    root = expression(*expression.leaf_values())
    order = engine.topological_order(root)
    root.backward()
    once = [node.grad for node in order]
    root.backward()
    assert [node.grad for node in order] == [2.0 * g for g in once]


@given(expressions())
@fuzz_settings(60)
def test_no_grad_builds_nothing(expression: Expression) -> None:
    """Under no_grad the output has the same number and no parents, so nothing else is kept alive."""
    leaves = expression.leaf_values()
    with engine.no_grad():
        result = expression(*leaves)
    assert result.data == expression(*leaves).data
    assert (result.parents, result.local_grads, result.op, result.const) == ((), (), None, None)
    assert engine.topological_order(result) == [result]


def test_no_grad_frees_every_intermediate_node() -> None:
    """Counted live: a graph keeps its nodes alive; the same computation under no_grad keeps none."""
    # 40 steps on two leaves: x0 * x1, then tanh / mul-by-x0 in turn, each using the newest node.
    steps = [Step("mul", (0, 1))]
    for j in range(1, 40):
        newest = 1 + j
        steps.append(Step("tanh", (newest,)) if j % 2 else Step("mul", (newest, 0)))
    expression = Expression((0.5, -1.25), tuple(steps))
    leaves = expression.leaf_values()

    def live_values() -> int:
        gc.collect()
        return sum(type(o) is Value for o in gc.get_objects())  # type(): isinstance would wake lazy modules

    before = live_values()
    with engine.no_grad():
        result = expression(*leaves)
    assert live_values() - before == 1  # the result alone
    del result
    with_graph = expression(*leaves)
    assert live_values() - before == 40  # every node of the graph
    assert len(engine.topological_order(with_graph)) == 42  # the 40 and both leaves


@pytest.mark.parametrize("form", sorted(FORMS))
@fuzz_settings(15, share=1 / len(FORMS))
@given(data=st.data())
def test_create_graph_first_order_equals_float_path(form: str, data: st.DataObject) -> None:
    """grad(create_graph=True) gives, as Values, exactly the floats of grad(), for graphs using ``form``.

    Both come from each Op's single ``local_grads`` rule: called with floats when
    the node is made, with Values here. Equal to the bit means the derivative
    stored at forward time and the one the rule builds as a graph are the same.
    """
    expression = data.draw(expressions(required=form))
    leaves = expression.leaf_values()
    root = expression(*leaves)
    floats = engine.grad(root, leaves)
    graphs = engine.grad(root, leaves, create_graph=True)
    assert all(isinstance(g, Value) for g in graphs)
    assert [g.data for g in graphs] == floats


@pytest.mark.torch
@example(CANCELLING_EXPONENT)
@given(expressions())
@fuzz_settings(60)
def test_value_and_gradients_match_torch_float64(expression: Expression) -> None:
    """The same program run by PyTorch in float64: output and every ∂f/∂xᵢ to 1e−9 relative.

    Relative to what a float64 result can be trusted to (``torch_tolerance``):
    PyTorch adds a gradient's terms in another order, and its exp/log/tanh/σ/**
    may round an ulp away from libm's, which cancellation can magnify.
    """
    torch = pytest.importorskip("torch")
    leaves = expression.leaf_values()
    root = expression(*leaves)
    grads = engine.grad(root, leaves)
    graphs = engine.grad(root, leaves, create_graph=True)  # the same numbers, as graphs to differentiate
    scale = rounding_scale(root)

    tensors = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in expression.leaves]
    out = replay(expression, tensors, BY_HAND)
    torch_grads = torch.autograd.grad(out, tensors, allow_unused=True)

    forward_scale = sum(scale[node] * abs(node.data) for node in scale)
    assert abs(root.data - out.item()) <= torch_tolerance(root, forward_scale)
    for leaf, g, graph, t in zip(leaves, grads, graphs, torch_grads, strict=True):
        expected = 0.0 if t is None else t.item()
        assert abs(g - expected) <= torch_tolerance(graph, scale.get(leaf, 0.0)), (leaf.label, g, expected)


# PyTorch 2.13's double backward of tensor ** tensor is wrong where the exponent is exactly 0:
# (c + x) ** x at x = 0 gets f'' = 0.98 for c = 2 and 1 for c = 1, where the exact values (and
# central differences) are 1 + ln²2 ≈ 1.48 and 2; higher-order pow bugs of this kind are reported in
# pytorch/pytorch#89757. So for second derivatives the oracle writes aᵇ as e^(b·ln a).
TORCH_SECOND_ORDER = BY_HAND._replace(power=lambda a, b: (b * a.log()).exp())


@pytest.mark.torch
@example(ZERO_EXPONENT)
@example(TINY_EXPONENT)
@example(SATURATED_TANH)
@example(SUBNORMAL)
@given(expressions(max_steps=25))
@fuzz_settings(40)
def test_second_derivatives_match_torch_float64(expression: Expression) -> None:
    """grad of (Σᵢ ∂f/∂xᵢ) built with create_graph=True, i.e. the Hessian's row sums, against PyTorch.

    To 1e−9 relative in the sense of ``torch_tolerance``, the sensitivities taken
    from the third-order graph.
    """
    torch = pytest.importorskip("torch")
    leaves = expression.leaf_values()
    first = engine.grad(expression(*leaves), leaves, create_graph=True)
    total = engine.sum_values(first)
    second = engine.grad(total, leaves)
    graphs = engine.grad(total, leaves, create_graph=True)
    scale = rounding_scale(total)

    tensors = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in expression.leaves]
    out = replay(expression, tensors, TORCH_SECOND_ORDER)
    torch_first = torch.autograd.grad(out, tensors, create_graph=True, allow_unused=True)
    torch_total = sum(g for g in torch_first if g is not None and g.requires_grad)
    if isinstance(torch_total, int):  # f is linear in every leaf: no second derivative
        torch_second = [None] * len(tensors)
    else:
        torch_second = torch.autograd.grad(torch_total, tensors, allow_unused=True)
    for leaf, g, graph, t in zip(leaves, second, graphs, torch_second, strict=True):
        expected = 0.0 if t is None else t.item()
        assert abs(g - expected) <= torch_tolerance(graph, scale.get(leaf, 0.0)), (leaf.label, g, expected)

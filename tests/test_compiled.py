"""engine.compile: the Wengert list and its replays give the engine's numbers, or refuse clearly.

Every replay is compared with the engine itself (values and gradients): on random
graphs over every op (tests/strategies.py), on user-defined ops, on number operands
on either side; the source is checked as Python (it parses, labels stay in comments,
its forward lines recompute the graph's numbers); the batched replay is compared
with the per-sample one; nn.fit's three ways of training with one another.
"""

from __future__ import annotations

import ast
import io
import math
import re
import tokenize

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import FORMS, RADIUS, Expression, expressions, fuzz_settings

import engine
import nn
from engine import DomainError, TraceError, Value
from engine.batched import array_form
from engine.compiled import MAX_PATHS, op_function_names

REPLAY_RTOL = 1e-10
"""Replay and engine differ by rounding only: a linear node adds its terms in another order, and
tanh's rule 1 − a·a is written 1 − a²; measured ≤ 4e−15 of the largest number on 2,000 graphs."""


def engine_result(f, numbers, parameters=()):
    """(value, gradients) of ``f`` at ``numbers`` by the engine: f on Values, then the chain rule."""
    leaves = [Value(x) for x in numbers]
    root = f(*leaves)
    grads = engine.chain_rule(root)
    return root.data, [grads.get(v, 0.0) for v in [*leaves, *parameters]]


def assert_close(replayed, expected):
    value, gradients = replayed
    expected_value, expected_gradients = expected
    scale = max([1.0, abs(expected_value), *map(abs, expected_gradients)])
    assert abs(value - expected_value) <= REPLAY_RTOL * scale
    assert len(gradients) == len(expected_gradients)
    for mine, theirs in zip(gradients, expected_gradients, strict=True):
        assert abs(mine - theirs) <= REPLAY_RTOL * scale


def nudged(expression: Expression, offsets: list[float]) -> list[list[float]]:
    """One column per leaf: the drawn point moved by each offset (inside the box whose domain is proved)."""
    return [[x + d for d in offsets] for x in expression.leaves]


# ---------------------------------------------------------------------------
# The replays equal the engine
# ---------------------------------------------------------------------------
@given(expressions(max_steps=30))
@fuzz_settings(60)
def test_every_replay_equals_the_engine_on_random_graphs(expression: Expression) -> None:
    g = engine.compile(lambda *xs: expression(*xs))
    assert_close(g(*expression.leaves), engine_result(expression, expression.leaves))
    offsets = [0.0, RADIUS / 3, -RADIUS / 2]
    columns = nudged(expression, offsets)
    one_by_one = [g(*point) for point in zip(*columns)]
    values, gradients = g.over_samples(*columns)
    assert values == [v for v, _ in one_by_one]  # the same code in a loop: the same bits
    for j, column in enumerate(gradients):
        assert column == [grads[j] for _, grads in one_by_one]
    for fuse in (True, False):
        batch_values, batch_gradients = g.batch(*columns, fuse=fuse)
        for i, (value, grads) in enumerate(one_by_one):
            assert_close((batch_values[i], [column[i] for column in batch_gradients]), (value, grads))


@pytest.mark.parametrize("form", sorted(FORMS))
@given(data=st.data())
@fuzz_settings(4, share=1 / len(FORMS))
def test_each_op_and_each_way_of_writing_it_replays(form: str, data: st.DataObject) -> None:
    """x * 2, 2 * x, 2 - x, 2 ** x, x ** 2, linear, sum, ...: each form, first in its graph."""
    expression = data.draw(expressions(max_steps=3, required=form))
    g = engine.compile(lambda *xs: expression(*xs))
    assert_close(g(*expression.leaves), engine_result(expression, expression.leaves))
    report = g.check(*expression.leaves)  # the graph, the value and every gradient, against the engine
    assert report.value_difference <= REPLAY_RTOL and report.gradient_difference <= REPLAY_RTOL * 1e3


def test_the_seed_neurons_replay_is_the_engine_to_the_bit() -> None:
    g = engine.compile(seed_neuron_cost)
    value, (dw, db) = g(0.8, -0.4)
    w, b = Value(0.8), Value(-0.4)
    cost = seed_neuron_cost(w, b)
    cost.backward()
    assert (value, dw, db) == (cost.data, w.grad, b.grad)
    assert (dw, db) == (1.5 * (value_a(0.8, -0.4) - 1.0), value_a(0.8, -0.4) - 1.0)


def seed_neuron_cost(w: Value, b: Value) -> Value:
    x, y = 1.5, 1.0
    z = w * x + b
    z.label = "z"
    a = z.sigmoid()
    a.label = "a"
    return -(y * a.log() + (1 - y) * (1 - a).log())


def value_a(w: float, b: float) -> float:
    return engine.sigmoid(w * 1.5 + b)


@pytest.mark.parametrize(
    ("f", "written"),
    [
        (lambda x: 2.0 - x, "2.0 - x"),
        (lambda x: x - 2.5, "x - 2.5"),
        (lambda x: 3.0 / x, "3.0 / x"),
        (lambda x: x / 3.0, "x / 3.0"),
        (lambda x: 2.0 ** x, "2.0 ** x"),
        (lambda x: x ** 3.0, "x ** 3.0"),
        (lambda x: 0.1 * x, "0.1 * x"),
        (lambda x: x + 1e-300, "x + 1e-300"),
        (lambda x: -x * -0.5, "* -0.5"),
    ],
)
def test_number_operands_on_either_side_are_exact_literals(f, written) -> None:
    g = engine.compile(f)
    replayed = g(1.7)
    assert written in g.source
    assert replayed == tuple([engine_result(f, [1.7])[0], tuple(engine_result(f, [1.7])[1])])


# ---------------------------------------------------------------------------
# User-defined ops
# ---------------------------------------------------------------------------
SIN = engine.define_op("sin", forward=math.sin, local_grads=lambda out, a: (COS(a),),
                       formula="∂(sin a)/∂a = cos a")
COS = engine.define_op("cos", forward=math.cos, local_grads=lambda out, a: (-SIN(a),),
                       formula="∂(cos a)/∂a = −sin a")
SOFTSIGN = engine.define_op(  # a rule written with math: it cannot run on symbols
    "softsign", forward=lambda z: z / (1.0 + abs(z)),
    local_grads=lambda out, z: (1.0 / (1.0 + math.fabs(z)) ** 2,), formula="softsign'(z) = 1/(1 + |z|)²",
)


def test_a_user_defined_pair_of_ops_compiles_from_its_definition() -> None:
    def f(x, y):
        return SIN(x * y) * COS(x) + SIN(SIN(y))

    g = engine.compile(f)
    assert_close(g(0.3, -1.2), engine_result(f, [0.3, -1.2]))
    assert "sin(" in g.source and "cos(" in g.source  # the forward, called by the op's name
    assert "-sin(" in g.source  # cos's rule, run on symbols: d = upstream · −sin a
    assert_close(g(2.0, 0.5), engine_result(f, [2.0, 0.5]))
    columns = [[0.3, 2.0, -0.7], [-1.2, 0.5, 0.1]]
    values, gradients = g.batch(*columns)
    for i in range(3):
        assert_close((values[i], [gradients[0][i], gradients[1][i]]), g(columns[0][i], columns[1][i]))


def test_a_rule_that_cannot_run_on_symbols_is_called_on_the_numbers() -> None:
    def f(x):
        return SOFTSIGN(x * 2.0).tanh()

    g = engine.compile(f)
    assert_close(g(-0.7), engine_result(f, [-0.7]))
    assert "_rule_softsign(" in g.source
    values, (gradients,) = g.batch([-0.7, 0.4])
    assert_close((values[1], [gradients[1]]), engine_result(f, [0.4]))


def test_the_built_in_array_forms_are_the_ops_forward_elementwise() -> None:
    z = np.array([-800.0, -40.0, -3.5, -1e-300, 0.0, 1e-300, 0.3, 2.0, 40.0, 800.0])
    for name in ("sigmoid", "tanh", "relu", "step"):
        op = engine.OPS[name]
        expected = [op.forward(x) for x in z.tolist()]
        assert np.allclose(array_form(op)(z), expected, rtol=1e-15, atol=0.0), name
    positive = np.array([1e-300, 0.5, 1.0, 3.0, 700.0])
    for name in ("exp", "log"):
        op = engine.OPS[name]
        assert np.allclose(array_form(op)(positive), [op.forward(x) for x in positive.tolist()], rtol=1e-15)


# ---------------------------------------------------------------------------
# The source: valid Python, labels only in comments, forward lines recompute the numbers
# ---------------------------------------------------------------------------
def forward_part(source: str) -> str:
    """The generated function cut after its forward lines, returning every variable it made."""
    lines = source.splitlines()
    end = next(k for k, line in enumerate(lines) if line.strip().startswith("# backward"))
    return "\n".join([*lines[:end], "    return locals()"]) + "\n"


def op_namespace() -> dict:
    return {name: op.forward for op in engine.OPS.values() for name in (op.name, op.notation.code)}


@given(expressions(max_steps=25))
@fuzz_settings(30)
def test_the_source_is_python_whose_forward_lines_recompute_the_graph(expression: Expression) -> None:
    def labelled(*xs):
        root = expression(*xs)
        for k, node in enumerate(reversed(engine.topological_order(root))):
            node.label = f"n{k}"  # every node named: the variables can be matched with the nodes
        return root

    g = engine.compile(labelled)
    g(*expression.leaves)
    ast.parse(g.source)
    scope = dict(op_namespace())
    exec(compile(forward_part(g.source), "<forward>", "exec"), scope)  # noqa: S102 - the code under test
    variables = scope[g.name](*expression.leaves)
    root = labelled(*[Value(x) for x in expression.leaves])
    for node in engine.topological_order(root):
        assert variables[node.label] == pytest.approx(node.data, rel=1e-12, abs=1e-300), node.label


HOSTILE_LABELS = [
    "x\nimport os", "__import__('os').system('x')", "a; b = 1", "print", "lambda", "ﬁ", "dL", "z", "z",
    "t·1", "W[1]_0,0", "W[1]_0,0", "# comment", "\u2028", "'''", "_grads", "np", "exp", "1x",
]


def test_labels_never_become_code() -> None:
    def f(x, y):
        nodes = [x * y, x + y, x - y, (x * y).exp()]
        for k, label in enumerate(HOSTILE_LABELS):
            node = nodes[k % 4] * (k + 1.0)
            node.label = label
            nodes.append(node)
        total = engine.sum_values(nodes)
        total.label = "dL"
        return total

    g = engine.compile(f)
    assert_close(g(0.3, 0.2), engine_result(f, [0.3, 0.2]))
    tokens = list(tokenize.generate_tokens(io.StringIO(g.source).readline))
    code_names = {t.string for t in tokens if t.type == tokenize.NAME}
    tree = ast.parse(g.source)
    nodes = list(ast.walk(tree))
    variables = {node.id for node in nodes if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store)}
    variables |= {arg.arg for node in nodes if isinstance(node, ast.arguments) for arg in node.args}
    for label in HOSTILE_LABELS:
        if label in ("dL", "z"):
            continue  # usable as it is: then it is the variable's name
        assert label not in variables
    comments = " ".join(t.string for t in tokens if t.type == tokenize.COMMENT)
    assert "# W[1]_0,0 = " in comments and "import os" in comments  # shown, only ever in comments
    assert {"W1_0_0", "W1_0_0_2", "z", "z_2", "dL", "dL_2"} <= code_names  # course names, deduplicated
    assert "import" not in code_names and "os" not in code_names
    ast.parse(g.source)


def test_source_before_the_first_call_says_how_to_trace() -> None:
    g = engine.compile(seed_neuron_cost)
    with pytest.raises(TraceError, match=r"seed_neuron_cost.source: nothing is traced yet; call it once"):
        _ = g.source


# ---------------------------------------------------------------------------
# Control flow on the numbers: detected where it can be
# ---------------------------------------------------------------------------
def test_a_retrace_finds_an_if_on_data() -> None:
    def f(x):
        return x * 2.0 if x.data > 0 else (x * 3.0).exp()

    g = engine.compile(f)
    assert g(1.0) == (2.0, (2.0,))
    g.retrace(2.0)  # the same path: nothing to say
    with pytest.raises(TraceError, match=r"builds another graph at \[-1.0\] than when traced: 3 nodes here, "
                       r"2 when traced \(an `if` on .data, .*\); the replay follows the traced graph"):
        g.retrace(-1.0)
    with pytest.raises(TraceError, match="builds another graph"):
        g.check(-1.0)
    checked = engine.compile(f, check=True)
    assert checked(1.0) == (2.0, (2.0,))
    with pytest.raises(TraceError, match="builds another graph"):
        checked(-1.0)


def test_a_retrace_finds_a_number_taken_from_data() -> None:
    g = engine.compile(lambda x: x * x.data)
    g(2.0)
    with pytest.raises(TraceError, match=r"is mul\(x, 3.0\) here, mul\(x, 2.0\) when traced"):
        g.retrace(3.0)
    h = engine.compile(lambda x: x * Value(x.data))
    h(2.0)
    with pytest.raises(TraceError, match=r"holds 3.0 here, 2.0 when traced \(f makes it from numbers"):
        h.retrace(3.0)


def test_a_decision_recorded_with_branch_on_takes_the_other_path_when_it_changes() -> None:
    """nn.binary_cross_entropy takes a saturated sigmoid's loss from z: a second path, replayed exactly."""
    def f(z):
        return nn.binary_cross_entropy([z.sigmoid()], [1.0])

    g = engine.compile(f)
    assert_close(g(2.0), engine_result(f, [2.0]))
    assert len(g.paths) == 1
    for z in (-30.0, 40.0, 800.0, 3.0):  # σ(z) within 1e−6 of 0 or 1 (softplus's own z > 0 decided too)
        assert_close(g(z), engine_result(f, [z]))
    assert len(g.paths) == 3
    assert "σ output within 1e-06 of 0 or 1" in g.sources[1]
    zs = [2.0, -30.0, 40.0, 800.0, 0.5]
    for batch in (g.batch, g.over_samples):
        values, (gradients,) = batch(zs)
        for i, z in enumerate(zs):
            assert_close((values[i], [gradients[i]]), engine_result(f, [z]))


def test_a_decision_on_an_argument_is_checked_in_every_replay() -> None:
    def f(x):
        return x * 2.0 if engine.branch_on(x, lambda v: v > 0.0, "x > 0") else x * 3.0

    g = engine.compile(f)
    xs = [1.0, -1.0, 2.0, -0.5]
    expected = [engine_result(f, [x]) for x in xs]
    for replay in (g.batch, g.over_samples):
        values, (gradients,) = replay(xs)
        assert [(v, [d]) for v, d in zip(values, gradients)] == expected


def test_too_many_paths_is_an_error() -> None:
    def f(x):
        y = x
        for k in range(MAX_PATHS + 3):  # x in (k, k + 1) doubles y k + 1 times: a path per interval
            if engine.branch_on(x, lambda v, k=k: v > k, f"x > {k}"):
                y = y * 2.0
        return y

    g = engine.compile(f)
    with pytest.raises(TraceError, match=f"more than {MAX_PATHS} different paths"):
        for k in range(MAX_PATHS + 3):
            g(k + 0.5)


def test_what_the_engine_refuses_the_replay_refuses_with_the_engines_message() -> None:
    g = engine.compile(lambda x: (x - 1.0).log())
    g(3.0)
    with pytest.raises(DomainError, match=r"log: needs an input > 0, got a = 0.0"):
        g(1.0)
    with pytest.raises(DomainError, match=r"log: needs an input > 0"):
        g.batch([3.0, 0.5])
    with pytest.raises(DomainError, match=r"log: needs an input > 0"):
        g.over_samples([3.0, 0.5])
    def overflowing(x):
        return x * x * 1e200  # inf, and an inf slope: float results the engine gives too

    h = engine.compile(overflowing)
    h(1.0)
    value, (slope,) = h(1e200)
    assert (value, [slope]) == engine_result(overflowing, [1e200]) and value == slope == math.inf


# ---------------------------------------------------------------------------
# Parameters, several outputs, the batched form
# ---------------------------------------------------------------------------
def test_parameters_are_read_at_each_call_and_their_gradients_returned() -> None:
    model = nn.MLP(2, [3, 1], seed=1)

    def f(x0, x1):
        a = model([x0, x1])
        return nn.binary_cross_entropy([a], [1.0]), a

    g = engine.compile(f, parameters=model.parameters())
    (cost, a), gradients = g(0.5, -1.0)  # both outputs' values, the first's gradients
    assert len(gradients) == 2 + model.num_parameters()
    model.zero_grad()
    output = model([0.5, -1.0])
    expected = nn.binary_cross_entropy([output], [1.0])
    expected.backward()
    assert cost == pytest.approx(expected.data, rel=1e-15) and a == pytest.approx(output.data, rel=1e-15)
    assert gradients[2:] == pytest.approx([p.grad for p in model.parameters()], rel=1e-13, abs=1e-16)
    for p in model.parameters():
        p.data += 0.1
    (moved, _), _ = g(0.5, -1.0)
    assert moved == pytest.approx(nn.binary_cross_entropy([model([0.5, -1.0])], [1.0]).data, rel=1e-15)


def test_the_names_generated_code_calls_are_ops_or_names_no_op_can_take() -> None:
    """An op named like a helper of the generated code (stack, np, _changed) would be shadowed by it
    (the batched replay then failed and fell back to the slow loop): define_op refuses such names."""
    from engine.checks import CODE_NAMES

    model = nn.MLP(2, [3, 1], seed=2)

    def f(x_0, x_1):
        return nn.binary_cross_entropy([model([x_0, x_1])], [1.0])

    g = engine.compile(f, parameters=model.parameters())
    g(0.1, 0.2)
    called = set()
    for source in (g.source, g.batch_source(reduce="mean"), g.batch_source(reduce="mean", fuse=False)):
        called |= {node.func.id if isinstance(node.func, ast.Name) else node.func.value.id
                   for node in ast.walk(ast.parse(source))
                   if isinstance(node, ast.Call) and isinstance(node.func, (ast.Name, ast.Attribute))
                   and isinstance(getattr(node.func, "value", node.func), ast.Name)}
    op_names = {name for op in engine.OPS.values() for name in op_function_names(op)}
    helpers = called - op_names
    assert helpers and all(name in CODE_NAMES or name.startswith("_") for name in helpers), helpers
    for name in (*CODE_NAMES, "_changed", "_stack"):
        with pytest.raises(ValueError, match=r"^define_op: name must be a name that compiled code does not"):
            engine.define_op(name, forward=math.sin, local_grads=lambda out, a: (a,), formula="∂/∂a = a")


def engine_over_samples(f, columns, reduce="sum", parameters=()):
    """Each sample's value and gradients by the engine, the parameters' summed (or averaged)."""
    m = len(columns[0])
    scale = 1.0 / m if reduce == "mean" else 1.0
    values, per_sample, totals = [], [], [0.0] * len(parameters)
    for point in zip(*columns):
        value, gradients = engine_result(f, point, parameters)
        values.append(value)
        per_sample.append([scale * x for x in gradients[: len(point)]])
        totals = [t + scale * x for t, x in zip(totals, gradients[len(point):], strict=True)]
    return values, [list(column) for column in zip(*per_sample)], totals


@pytest.mark.parametrize("label", ["m", "dL", "np", "stack", "x", "dx", "f", "f_batch", "tanh"])
@pytest.mark.parametrize("reduce", ["sum", "mean"])
def test_a_label_or_argument_named_like_the_codes_own_names_changes_nothing(label, reduce) -> None:
    """The batched code's sample count m, its helpers np and stack, the seed dL: a node labelled so
    gets another identifier (a node labelled m overwrote the count: 1/m scaled by 2x instead)."""
    w = Value(0.5, label=label)

    def f(x):
        y = w * x * 2.0
        y.label = label
        L = y.tanh()
        L.label = "L"
        return L

    g = engine.compile(f, parameters=[w])
    columns = [[0.3, 0.4, -1.5]]
    expected_values, (expected_dx,), expected_totals = engine_over_samples(f, columns, reduce, [w])
    for fuse in (True, False):
        values, (dx, dw) = g.batch(np.array(columns[0]), reduce=reduce, fuse=fuse)
        assert values.tolist() == pytest.approx(expected_values, rel=1e-15)
        assert dx.tolist() == pytest.approx(expected_dx, rel=1e-14)
        assert dw == pytest.approx(expected_totals[0], rel=1e-14)
    values, (dx, dw) = g.over_samples(columns[0], reduce=reduce)
    assert values == pytest.approx(expected_values, rel=1e-15) and dx == pytest.approx(expected_dx, rel=1e-14)
    assert dw == pytest.approx(expected_totals[0], rel=1e-14)
    if label in ("m", "np", "stack", "tanh"):  # the code's own: never a variable of it
        for source in (g.source, g.batch_source(reduce=reduce)):
            code = "\n".join(line.split("#")[0] for line in source.splitlines())
            assert not re.search(rf"(?<![\w.]){label} =", code)
        assert re.findall(r"\bm\b", g.batch_source().splitlines()[0]) == ["m"]  # the count, alone


def test_an_argument_or_parameter_named_m_batches() -> None:
    """An argument named m was a second parameter m of the batched code: a raw SyntaxError."""
    g = engine.compile(lambda m: m * 2.0)
    assert g.batch(np.array([1.0, 2.0]))[1][0].tolist() == [2.0, 2.0]
    assert g.over_samples([1.0, 2.0])[1] == ([2.0, 2.0],)
    w = Value(0.5, label="m")
    h = engine.compile(lambda x: (w * x).tanh(), parameters=[w])
    values, (dx, dw) = h.batch(np.array([0.3, 0.4]), reduce="mean")
    expected_values, (expected_dx,), (expected_dw,) = engine_over_samples(
        lambda x: (w * x).tanh(), [[0.3, 0.4]], "mean", [w])
    assert values.tolist() == pytest.approx(expected_values, rel=1e-15)
    assert dx.tolist() == pytest.approx(expected_dx, rel=1e-14)
    assert dw == pytest.approx(expected_dw, rel=1e-14)
    assert "def f_batch(x, m_2, m, dt3):" in h.batch_source()


@pytest.mark.parametrize("op", ["sigmoid", "tanh", "relu", "exp", "log", "step", "linear", "stack", "np"])
def test_a_function_named_after_an_op_it_calls_replays(op) -> None:
    """``def sigmoid(z): return z.sigmoid() * 2.0`` was written ``def sigmoid(...)`` calling sigmoid:
    the generated function hid the op and called itself (RecursionError on every call)."""
    def f(z):
        applied = z * 1.0 if op in ("stack", "np") else engine.OPS[op](z)
        return engine.OPS["sigmoid"](engine.OPS["relu"](applied)) * 2.0

    f.__name__ = op
    g = engine.compile(f)
    value, gradients = g(0.5)
    assert (value, list(gradients)) == engine_result(f, [0.5])
    values, (dz,) = g.batch(np.array([0.5, 0.7]))
    expected_values, (expected_dz,), _ = engine_over_samples(f, [[0.5, 0.7]])
    assert values.tolist() == pytest.approx(expected_values, rel=1e-15)
    assert dz.tolist() == pytest.approx(expected_dz, rel=1e-14)
    assert g.source.startswith(f"def {op}_2(")
    with pytest.raises(TypeError, match=rf"^{op}: argument 0 \(z\)"):  # messages keep f's own name
        g("a")
    expected_value, expected_gradients = engine_result(Value.tanh, [0.5])
    assert engine.compile(Value.tanh)(0.5) == (expected_value, tuple(expected_gradients))


def test_an_op_redefined_after_compiling_is_traced_again() -> None:
    """A notebook cell defining an op run again: the replay kept the old definition, silently."""
    from engine.compiled import _difference

    def square() -> None:
        engine.define_op("sq_twice_defined", forward=lambda a: a * a, local_grads=lambda out, a: (2.0 * a,),
                         formula="∂(sq a)/∂a = 2a")

    def cube() -> None:
        engine.define_op("sq_twice_defined", forward=lambda a: a * a * a,
                         local_grads=lambda out, a: (3.0 * a * a,), formula="∂(sq a)/∂a = 3a²")

    def f(x):
        return engine.OPS["sq_twice_defined"](x) + 1.0

    square()
    g = engine.compile(f)
    assert g(3.0) == (10.0, (6.0,))
    before = g.trace_at([3.0])
    cube()
    with pytest.raises(TraceError, match=r"^f\.source: the op 'sq_twice_defined' was redefined \(define_op"):
        g.source  # noqa: B018
    assert "redefined (define_op) since" in _difference(before, g.trace_at([3.0]))
    assert g(3.0) == (28.0, (27.0,)) == (engine_result(f, [3.0])[0], tuple(engine_result(f, [3.0])[1]))
    assert "3.0 * x * x" in g.source and len(g.paths) == 1
    square()
    values, (dx,) = g.batch(np.array([3.0, 2.0]))
    assert values.tolist() == [10.0, 5.0] and dx.tolist() == [6.0, 4.0]
    cube()
    assert g.over_samples([3.0, 2.0]) == ([28.0, 9.0], ([27.0, 12.0],))
    square()
    g.retrace(3.0)
    assert g.check(3.0) == (0.0, 0.0)
    # f holding the op object itself keeps calling the old definition: so does the replay
    old = engine.OPS["sq_twice_defined"]
    h = engine.compile(lambda x: old(x) + 1.0)
    cube()
    assert h(3.0) == (10.0, (6.0,)) and h.batch([3.0])[0].tolist() == [10.0]


def test_a_node_built_before_f_ran_is_a_constant_of_f() -> None:
    """The engine keeps a captured node's number from when it was built; the replay recomputed it
    from its leaves' current numbers (28 instead of the engine's 20 once y0 changed)."""
    y0 = Value(5.0, label="y0")
    z0 = y0 * 2.0
    w = Value(0.5, label="w")

    def f(x):
        return z0 * x + w * w  # w * w is built by f: recomputed from w's number at each call

    g = engine.compile(f, parameters=[w])
    assert g(2.0) == (20.25, (10.0, 1.0))
    y0.data, w.data = 7.0, 1.5
    expected_value, expected_gradients = engine_result(f, [2.0], [w])
    assert expected_value == 22.25  # z0 is still 10
    assert g(2.0) == (expected_value, tuple(expected_gradients))
    values, (dx, dw) = g.batch(np.array([2.0, 3.0]))
    assert values.tolist() == [22.25, 32.25] and dx.tolist() == [10.0, 10.0] and dw == 6.0
    assert g.over_samples([2.0, 3.0]) == ([22.25, 32.25], ([10.0, 10.0], 6.0))
    g.retrace(2.0)
    assert g.check(3.0) == (0.0, 0.0)
    assert not any("y0" in line.split("#")[0] for line in g.source.splitlines())  # z0 read, not recomputed
    z0.data = 4.0  # a number set by hand: the engine uses it, so does the replay
    assert g(2.0)[0] == engine_result(f, [2.0], [w])[0] == 10.25
    h = engine.compile(lambda x: z0 * x, parameters=[y0])
    with pytest.raises(TraceError, match=r"^engine\.compile: f reads a node built before it ran \(Value"
                       r".*parameters\[0\] \(Value\(data=7\.0.*build the node inside"):
        h(2.0)


def test_a_wrong_array_forward_is_refused_naming_the_op() -> None:
    """A user's array_forward was never compared with its forward: g.batch gave its numbers silently."""
    wrong = engine.define_op("twice_wrong_on_arrays", forward=lambda a: a * 2.0,
                             local_grads=lambda out, a: (2.0,), formula="∂(2a)/∂a = 2",
                             array_forward=lambda a: 1.0)
    g = engine.compile(lambda x: wrong(x))
    with pytest.raises(TraceError, match=r"^engine\.compile: the array_forward of op 'twice_wrong_on_arrays' "
                       r"gives 1\.0 at 0\.1, its forward 0\.2: array_forward must be the forward on arrays"):
        g.batch(np.array([0.1, 0.2]))
    # wrong for negative numbers only: found on the batch's own numbers
    half = engine.define_op("abs_half_wrong", forward=abs, local_grads=lambda out, a: (1.0,), formula="1",
                            array_forward=lambda a: a)
    with pytest.raises(TraceError, match=r"'abs_half_wrong' gives -0\.5 at -0\.5, its forward 0\.5"):
        engine.compile(lambda x: half(x) * 3.0).batch(np.array([0.5, 0.25, -0.5]))
    shaped = engine.define_op("wrong_shape_on_arrays", forward=lambda a: a, local_grads=lambda out, a: (1.0,),
                              formula="1", array_forward=lambda a: np.zeros(7))
    with pytest.raises(TraceError, match=r"'wrong_shape_on_arrays' returned .* for inputs of shape \(2,\)"):
        engine.compile(lambda x: shaped(x)).batch(np.array([0.1, 0.2]))
    right = engine.define_op("twice_on_arrays", forward=lambda a: a * 2.0, local_grads=lambda out, a: (2.0,),
                             formula="∂(2a)/∂a = 2", array_forward=lambda a: a * 2.0)
    h = engine.compile(lambda x: right(x).tanh())
    values, (dx,) = h.batch(np.array([0.1, -0.2]))
    expected_values, (expected_dx,), _ = engine_over_samples(lambda x: right(x).tanh(), [[0.1, -0.2]])
    assert values.tolist() == pytest.approx(expected_values, rel=1e-15)
    assert dx.tolist() == pytest.approx(expected_dx, rel=1e-14)


def test_the_fused_batched_code_is_the_courses_vectorized_form() -> None:
    model = nn.MLP(2, [3, 3, 1], seed=2)

    def f(x_0, x_1):
        return nn.binary_cross_entropy([model([x_0, x_1])], [1.0])

    g = engine.compile(f, parameters=model.parameters())
    g(0.1, 0.2)
    source = g.batch_source(reduce="mean")
    for line in ("Z1 = W1 @ A0 + b1", "A1 = tanh(Z1)", "Z2 = W2 @ A1 + b2", "A3 = sigmoid(Z3)",
                 "dW1 = 1 / m * dZ1 @ A0.T", "db1 = 1 / m * np.sum(dZ1, axis=1, keepdims=True)",
                 "dA1 = W2.T @ dZ2", "dZ1 = dA1 * (1.0 - A1 * A1)"):
        assert line in source
    X, _ = nn.make_moons(7, noise=0.1, seed=3)
    fused = g.batch(X[:, 0], X[:, 1], reduce="mean")
    plain = g.batch(X[:, 0], X[:, 1], reduce="mean", fuse=False)
    looped = g.over_samples(X[:, 0], X[:, 1], reduce="mean")
    assert np.allclose(fused[0], looped[0], rtol=1e-14) and np.allclose(plain[0], looped[0], rtol=1e-14)
    for a, b, c in zip(fused[1], plain[1], looped[1], strict=True):
        assert np.allclose(a, c, rtol=1e-12, atol=1e-16) and np.allclose(b, c, rtol=1e-12, atol=1e-16)


def test_a_shared_argument_gets_the_sum_of_its_gradients() -> None:
    g = engine.compile(lambda w, x: (w * x).tanh())
    _, (dw, dx) = g.batch(0.5, [1.0, 2.0, 3.0])
    singles = [g(0.5, x) for x in (1.0, 2.0, 3.0)]
    assert dw == pytest.approx(sum(grads[0] for _, grads in singles), rel=1e-14)
    assert dx.tolist() == pytest.approx([grads[1] for _, grads in singles], rel=1e-14)
    _, (dw_mean, _) = g.over_samples(0.5, [1.0, 2.0, 3.0], reduce="mean")
    assert dw_mean == pytest.approx(dw / 3, rel=1e-14)


def test_a_function_returning_one_of_its_arguments_replays_too() -> None:
    """No op at all: the value is the argument, its gradient the seed (summed when it is shared)."""
    g = engine.compile(lambda w, x: w)
    assert g(0.5, 1.0) == (0.5, (1.0, 0.0))
    for replay in (g.over_samples, g.batch):
        values, (dw, dx) = replay(0.5, [1.0, 2.0, 3.0], gradient=[1.0, 2.0, 4.0])
        assert list(values) == [0.5] * 3 and dw == 7.0 and list(dx) == [0.0] * 3
    h = engine.compile(lambda w, x: x)
    for replay in (h.over_samples, h.batch):
        values, (dw, dx) = replay(0.5, [1.0, 2.0, 3.0], gradient=[1.0, 2.0, 4.0])
        assert list(values) == [1.0, 2.0, 3.0] and dw == 0.0 and list(dx) == [1.0, 2.0, 4.0]


# ---------------------------------------------------------------------------
# Arguments are checked
# ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: engine.compile(3), TypeError, r"^engine\.compile: f must be a function of Values, got 3"),
        (lambda: engine.compile(abs, parameters=Value(1.0)), TypeError, "parameters must be a list of leaf"),
        (lambda: engine.compile(abs, parameters=[Value(1.0) * 2]), ValueError, r"parameters\[0\] is not a"),
        (lambda: engine.compile(abs, check="yes"), TypeError, "check must be True or False"),
        (lambda: engine.compile(lambda x, y: x * y)(1.0), TypeError, r"takes 2 arguments \(x, y\), got 1"),
        (lambda: engine.compile(lambda x: x * 2)("a"), TypeError, r"0 \(x\): expected a real number"),
        (lambda: engine.compile(lambda x: x * 2)(math.nan), ValueError, r"argument 0 \(x\): got nan"),
        (lambda: engine.compile(lambda x: 2.0)(1.0), TypeError, "must return a Value"),
        (lambda: engine.compile(lambda x, y: x * y).batch([1.0, 2.0], [1.0]), ValueError,
         r"argument 1 \(y\): 1 samples, but the arguments before it have 2"),
        (lambda: engine.compile(lambda x: x * 2).batch(1.0), ValueError, "give at least one argument as a"),
        (lambda: engine.compile(lambda x: x * 2).batch([1.0, math.inf]), ValueError, r"\(x\)\[1\]: got inf"),
        (lambda: engine.compile(lambda x: x * 2).batch([[1.0]]), TypeError, r"argument 0 \(x\)\[0\]"),
        (lambda: engine.compile(lambda x: x * 2).over_samples([1.0], reduce="max"), ValueError,
         "reduce must be one of 'sum', 'mean', got 'max'"),
        (lambda: engine.compile(lambda x, y: x * y).batch({0.1, 0.2}, 1.0), TypeError,
         r"^f: argument 0 \(x\): one number per sample, in order \(a list or an array\); got a set"),
        (lambda: engine.compile(lambda x, y: x * y).over_samples({0.1: 1, 0.2: 2}, 1.0), TypeError,
         r"^f: argument 0 \(x\): one number per sample, in order .* got a dict"),
        (lambda: engine.compile(lambda x: x * 2).batch([1.0, 2.0], gradient={1.0, 2.0}), TypeError,
         r"^f: gradient: one number per sample, in order .* got a set"),
        (lambda: engine.compile(lambda x: x * 2.0 if engine.branch_on(x, lambda v: np.array([v, v]) > 0,
                                                                      "x > 0") else x)(1.0), TypeError,
         r"^branch_on: test must return one truth value \(True or False\) for the number 1\.0 \(x > 0\)"),
        (lambda: engine.compile(lambda x, y=3.0: x * y)(2.0, 4.0), TypeError,
         r"^f: takes 1 argument \(x\), got 2; engine\.compile traces only the arguments without a default "
         r"\(y keeps its default\)"),
        (lambda: engine.compile(lambda x, y=3.0: x * y)(2.0, y=4.0), TypeError,
         r"^f: engine\.compile traces only the arguments without a default \(x\); y keeps its default"),
        (lambda: engine.compile(lambda x: x * 2)(z=1.0), TypeError,
         r"^f: no argument named 'z' \(its arguments: x\)"),
        (lambda: engine.compile(lambda x: x * 2)(1.0, x=1.0), TypeError, r"^f: argument 0 \(x\) given twice"),
        (lambda: engine.compile(lambda x, y: x * y)(y=1.0), TypeError, r"^f: missing argument x$"),
    ],
)
def test_bad_arguments_are_refused_clearly(call, error, message) -> None:
    with pytest.raises(error, match=message):
        call()


def test_arguments_may_be_given_by_name() -> None:
    """g(x=1.0) was refused by Python's own 'unexpected keyword argument' message, naming __call__."""
    def f(x, y, z=2.0):
        return (x * y + z).tanh()

    g = engine.compile(f)
    expected_value, expected_gradients = engine_result(f, [0.5, -1.0])
    assert g(y=-1.0, x=0.5) == g(0.5, y=-1.0) == g(0.5, -1.0) == (expected_value, tuple(expected_gradients))
    assert g.over_samples(x=[0.5, 0.5], y=-1.0) == g.over_samples([0.5, 0.5], -1.0)
    values, (dx, dy) = g.batch(y=np.array([-1.0, -1.0]), x=0.5, reduce="mean")
    assert values.tolist() == pytest.approx([expected_value] * 2, rel=1e-15)
    assert dx == pytest.approx(expected_gradients[0], rel=1e-14)
    assert dy.tolist() == pytest.approx([expected_gradients[1] / 2] * 2, rel=1e-14)
    g.retrace(y=2.0, x=1.0)
    assert g.check(x=0.5, y=-1.0) == (0.0, 0.0)


# ---------------------------------------------------------------------------
# nn.fit: the three ways of training agree
# ---------------------------------------------------------------------------
@pytest.mark.parametrize(("loss", "output", "batch_size"), [("bce", "sigmoid", None), ("mse", "sigmoid", 16),
                                                           ("hinge", "tanh", None)])
def test_fit_gives_the_same_losses_and_parameters_three_ways(loss, output, batch_size) -> None:
    X, y = nn.make_moons(40, noise=0.2, seed=4)
    results = []
    for mode in (False, True, "numpy"):
        model = nn.MLP(2, [8, 8, 1], output_activation=output, seed=5)
        history = nn.fit(model, X, y, loss=loss, steps=20, lr=0.5, batch_size=batch_size, progress=False,
                         compile=mode)
        results.append((history, [p.data for p in model.parameters()], [p.grad for p in model.parameters()]))
    (engine_history, engine_parameters, engine_grads), *compiled = results
    for history, parameters, grads in compiled:
        assert history.accuracy == engine_history.accuracy
        assert max(abs(a - b) for a, b in zip(history.loss, engine_history.loss, strict=True)) <= 1e-12
        assert max(abs(a - b) for a, b in zip(parameters, engine_parameters, strict=True)) <= 1e-12
        assert max(abs(a - b) for a, b in zip(grads, engine_grads, strict=True)) <= 1e-12


def test_fit_compiled_past_saturation_still_agrees() -> None:
    """Trained long enough, some σ outputs come within 1e−6 of 1: the loss's other path is traced."""
    X, y = nn.make_blobs(20, seed=6)
    finals = []
    for mode in (False, True, "numpy"):
        model = nn.MLP(2, [4, 1], seed=7)
        history = nn.fit(model, X, y, steps=40, lr=1.0, progress=False, compile=mode)
        finals.append((history.loss, [p.data for p in model.parameters()]))
    assert min(finals[0][0]) < 1e-8  # every σ output is within 1e−6 of its label by then
    for losses, parameters in finals[1:]:
        assert losses == pytest.approx(finals[0][0], rel=1e-9, abs=1e-12)
        assert parameters == pytest.approx(finals[0][1], rel=1e-9, abs=1e-12)


def test_fit_compile_argument_is_checked_and_a_loss_must_be_a_mean() -> None:
    X, y = nn.make_moons(10, seed=0)
    model = nn.MLP(2, [2, 1], seed=0)
    before = model.state_dict()
    with pytest.raises(ValueError, match=r"fit: compile must be False, True or 'numpy', got 'gpu'"):
        nn.fit(model, X, y, compile="gpu", progress=False)
    with pytest.raises(TypeError, match=r"fit: compile must be False, True or 'numpy', got 1 \(int\)"):
        nn.fit(model, X, y, compile=1, progress=False)

    def total_loss(predictions, targets):  # a sum, not a mean
        return engine.sum_values([(a - t) ** 2 for a, t in zip(predictions, targets)])

    with pytest.raises(ValueError, match="compile needs a loss that is a mean over the samples"):
        nn.fit(model, X, y, loss=total_loss, compile=True, progress=False)
    assert model.state_dict() == before


def test_a_batched_decision_that_changes_on_the_same_numbers_goes_per_sample() -> None:
    """A branch test whose second batched run, on the samples it kept, decides otherwise (it is
    not of the number alone): batch replays those samples one by one, as over_samples does,
    instead of letting the replay's internal exception out."""
    batched_calls = []

    def test(v):
        if np.ndim(v) == 0:  # one number: decided on it
            return v > 0
        batched_calls.append(v)
        if len(batched_calls) == 1:  # the first batched run sends sample 0 elsewhere
            return (v > 0) & (np.arange(np.size(v)) != 0)
        return np.zeros(np.shape(v), dtype=bool)  # the second, on the same numbers, decides otherwise

    def f(x):
        return x * 2.0 if engine.branch_on(x, test, "flaky") else x * 3.0

    g = engine.compile(f)
    values, (grads,) = g.batch(np.array([1.0, 2.0, 3.0]))
    assert len(batched_calls) == 2
    assert values.tolist() == [2.0, 4.0, 6.0] and grads.tolist() == [2.0, 2.0, 2.0]  # x > 0: 2x

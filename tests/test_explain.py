"""engine.explain: the chain rule written out must carry the hand-derived numbers and change no grad."""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_draw import seeds_neuron

import nn
from engine import (
    OPS,
    ChainRule,
    Value,
    explain,
    gc_paused,
    grad,
    linear,
    numerical_grad,
    sum_values,
    topological_order,
)
from engine.explain import NodeNames, walk
from engine.symbolic import Expression


def step(text: str, name: str, of: str = "L") -> list[str]:
    """The lines of the step for d<of>/d<name> (one line, or several that go on with '= ...')."""
    lines = text.splitlines()
    start = next(k for k, line in enumerate(lines) if line.startswith(f"d{of}/d{name} = "))
    block = [lines[start]]
    for line in lines[start + 1 :]:
        if not line.startswith(" ") or line.lstrip().startswith("where "):
            break
        block.append(line)
    return block


def result(text: str, name: str, of: str = "L") -> float:
    """The number a step ends with: d<of>/d<name>."""
    return float(step(text, name, of)[-1].rsplit(" = ", 1)[1])


@pytest.mark.parametrize("y", [1.0, 0.0, 0.3])
def test_seeds_neuron_steps_carry_the_hand_formulas(y):
    x = 1.5
    n = seeds_neuron(x, y, backward=False)
    text = explain(n["L"])
    a = n["a"].data
    four = lambda v: pytest.approx(v, rel=5e-4, abs=1e-9)  # the text keeps 4 significant digits
    assert result(text, "a") == four(-y / a + (1 - y) / (1 - a))  # dL/da = −y/a + (1−y)/(1−a)
    assert result(text, "z") == four(a - y)  # dz = a − y
    assert result(text, "w") == four(x * (a - y))  # dw = x(a − y)
    assert result(text, "b") == four(a - y)  # db = a − y
    dz = step(text, "z")[0]
    assert "dL/dz = dL/da · ∂a/∂z = dL/da · a(1−a) = " in dz
    assert f"· {a * (1 - a):.4g} = " in dz  # σ'(z) = a(1−a), evaluated
    # dL/da gathers two branches, through ln a and through 1 − a: written as a sum
    da = " ".join(step(text, "a"))
    assert "dL/d(ln a) · ∂(ln a)/∂a + dL/d(1−a) · ∂(1−a)/∂a" in da
    assert "dL/d(ln a) · 1/a + dL/d(1−a) · (−1)" in da
    assert f"{1 / a:.4g}" in da


def test_explain_changes_no_grad():
    n = seeds_neuron(backward=False)
    nodes = topological_order(n["L"])
    explain(n["L"])
    assert [v.grad for v in nodes] == [0.0] * len(nodes)
    n["L"].backward()
    before = [v.grad for v in nodes]
    explain(n["L"], wrt=n["w"])
    n["L"].explain()
    assert [v.grad for v in nodes] == before


def test_wrt_keeps_only_the_paths_to_that_node():
    n = seeds_neuron(backward=False)
    text = explain(n["L"], wrt=n["b"])
    steps = [line for line in text.splitlines() if line.startswith("dL/d")]
    assert "to b:" in text.splitlines()[0]
    assert not any(line.startswith(("dL/dw ", "dL/d(w·1.5) ")) for line in steps)
    # all 12 nodes but w and w·1.5 lie on a path from L to b
    assert len(steps) == 12 - 2 and {"dL/db", "dL/dz", "dL/da"} <= {s.split(" = ")[0] for s in steps}
    assert result(text, "b") == pytest.approx(n["a"].data - 1.0, rel=5e-4)  # db = a − y


def test_branches_are_summed_and_match_central_differences():
    x = Value(0.7, label="x")
    y = x * x + x.exp()
    y.label = "y"
    text = explain(y)
    dy_dx = step(text, "x", of="y")
    assert dy_dx[0].count(" + ") == 2  # three uses of x: two in x·x, one in exp(x)
    assert dy_dx[1].endswith("= dy/d(x·x) · x + dy/d(x·x) · x + dy/d(exp(x)) · exp(x)")
    expected = 2 * 0.7 + math.exp(0.7)  # dy/dx = 2x + eˣ
    numeric = numerical_grad(lambda: (x * x + x.exp()).data, [x], 1e-6)[0]
    assert result(text, "x", of="y") == pytest.approx(expected, rel=5e-4)
    assert numeric == pytest.approx(expected, rel=1e-8)


def test_a_linear_node_writes_dw_as_x_times_dz_over_samples():
    model = nn.MLP(2, [1], output_activation="sigmoid")
    samples, targets = [[0.5, -1.0], [2.0, 1.0]], [1.0, 0.0]
    cost = nn.binary_cross_entropy([model(s) for s in samples], targets)
    cost.label = "L"
    weight = model.layers[0].neurons[0].w[0]
    text = explain(cost, wrt=weight)
    block = " ".join(step(text, re.escape("W[1]_0,0").replace("\\", "")))
    assert "dL/dz[1]_0 · x_0 + dL/dz[1]_0#2 · x_0#2" in block  # dW = Σ over samples of dz · x
    # dW[1] = 1/m Σᵢ (aᵢ − yᵢ) xᵢ for the sigmoid + cross-entropy output
    activations = [model(s).data for s in samples]
    hand = sum((a - y) * s[0] for a, y, s in zip(activations, targets, samples, strict=True)) / 2
    assert float(block.rsplit(" = ", 1)[1]) == pytest.approx(hand, rel=5e-4)


def test_output_is_bounded_on_a_big_graph():
    with gc_paused():
        node = Value(0.5, label="x")
        for _ in range(20_000):
            node = (node * 0.999).tanh()
        terms = sum_values([node * k for k in range(1, 50)])
    text = explain(terms, max_steps=60, max_terms=4)  # bounded work: no time asserted (project rule)
    lines = text.splitlines()
    assert len(lines) < 60 * 4 + 10
    assert "more steps not shown (max_steps=60)" in text
    assert "… (45 more terms)" in text  # x feeds 49 products: 4 terms are written out


LOCAL_FORMULAS = [
    # (how to build out from p, q), slot, formula of ∂out/∂operand in the names
    (lambda p, q: p + q, 0, "1"),
    (lambda p, q: p - q, 1, "−1"),
    (lambda p, q: p * q, 0, "q"),
    (lambda p, q: p / q, 1, "−out/q"),  # DIV's rule −out/b: −a/b² without squaring b
    (lambda p, q: p ** q, 0, "q·out/p"),  # POW's rule b·out/a = b·aᵇ⁻¹
    (lambda p, q: p ** q, 1, "out·ln p"),
    (lambda p, q: p ** 3, 0, "3·p²"),
    (lambda p, q: p ** 0.5, 0, "0.5·p^(−0.5)"),
    (lambda p, q: 2 ** p, 0, "out·ln 2"),
    (lambda p, q: 5 - p, 0, "−1"),
    (lambda p, q: 4 / p, 0, "−out/p"),
    (lambda p, q: p / 4, 0, "1/4"),
    (lambda p, q: -p, 0, "−1"),
    (lambda p, q: p.exp(), 0, "out"),
    (lambda p, q: p.log(), 0, "1/p"),
    (lambda p, q: p.sigmoid(), 0, "out(1−out)"),
    (lambda p, q: p.tanh(), 0, "1−out²"),
    (lambda p, q: p.relu(), 0, "1 if p > 0 else 0"),
    (lambda p, q: sum_values([p, q, p]), 2, "1"),
]


def count_expressions(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many symbols (engine.symbolic.Expression) the views build from here on: [count]."""
    built = [0]
    init = Expression.__init__

    def counted(self: Expression, *args: object, **kwargs: object) -> None:
        built[0] += 1
        init(self, *args, **kwargs)

    monkeypatch.setattr(Expression, "__init__", counted)
    return built


def test_a_wide_node_writes_only_the_formulas_it_shows(monkeypatch):
    # each of the 40 steps shown wrote the formulas of all 2n + 1 inputs of the linear node and
    # kept one: 40 × 40,001 symbols, 4.2 s for 20,000 inputs (27.6 s for a sum of 200,000)
    n = 20_000
    xs = [Value(float(i), label=f"x{i}") for i in range(n)]
    z = linear([Value(0.5, label=f"w{i}") for i in range(n)], xs, Value(1.0, label="b"))
    z.label = "z"
    built = count_expressions(monkeypatch)
    text = explain(z)
    assert "dz/dw3 = ∂z/∂w3 = x3 = 3" in text
    assert built[0] <= (2 * n + 1) + 100  # a stand-in for each input, once, and what is shown
    built[0] = 0
    assert "\ndt0/dx7 = ∂t0/∂x7 = 1\n" in explain(sum_values(xs))
    assert built[0] <= n + 100


@pytest.mark.parametrize(("build", "slot", "formula"), LOCAL_FORMULAS)
def test_each_op_writes_its_local_derivative(build, slot, formula):
    p, q = Value(1.5, label="p"), Value(2.0, label="q")
    out = build(p, q)
    out.label = "out"
    names = NodeNames({})
    assert names.local_formula(out, slot) == formula


def test_every_op_in_the_registry_writes_its_derivative_from_its_own_rule():
    """No template per op: each derivative's text comes from running the op's local_grads on names."""
    from engine import BUILT_IN_OPS
    from engine.symbolic import Expression, derivative_formulas

    for op in (OPS[name] for name in BUILT_IN_OPS):
        arity = op.arity or 3
        names = [Expression(name) for name in (op.input_names if op.arity else ("p", "q", "r"))][:arity]
        if op.name == "power":  # its exponent n is always a number
            names[1] = Expression.constant(3.0)
        formulas = derivative_formulas(op, Expression("out"), names)
        assert formulas is not None and len(formulas) == arity, op.name


def test_names_are_unique_and_readable():
    a = Value(0.2, label="a")
    other = Value(0.9, label="a")  # the same label on another node
    out = (1 - a).log() + other
    names = NodeNames({id(v): k for k, v in enumerate(walk(out)[0])})
    names.name_all(topological_order(out))
    assert [names(v) for v in topological_order(out)] == ["ln(1−a)+a#2", "ln(1−a)", "1−a", "a", "a#2"]
    longer = (1 - a).log() * other.exp()  # too long to write out: named by its walk position
    names = NodeNames({id(v): k for k, v in enumerate(walk(longer)[0])})
    names.name_all(topological_order(longer))
    assert names(longer) == "t0" and names(longer.parents[1]) == "exp(a#2)"


def test_value_explain_is_engine_explain():
    n = seeds_neuron(y=0.0)
    assert n["L"].explain(wrt=n["z"], digits=6) == explain(n["L"], n["z"], digits=6)


@pytest.mark.parametrize(("kwargs", "error"), [({"digits": 0}, ValueError), ({"max_steps": -1}, ValueError),
                                                ({"wrt": 3.0}, TypeError)])
def test_bad_arguments_are_named(kwargs, error):
    with pytest.raises(error, match=next(iter(kwargs))):
        explain(Value(1.0) * 2, **kwargs)


def test_wrt_outside_the_graph_is_refused():
    with pytest.raises(ValueError, match=r"^explain: wrt must be a node of root's graph, got Value\(data=3"):
        explain(Value(1.0) * 2, wrt=Value(3.0))


# ---------------------------------------------------------------------------
# Lines that read as what they are: no circular steps, every made-up name defined
# ---------------------------------------------------------------------------
def test_a_use_by_the_root_has_no_trivial_upstream_factor():
    x, y = Value(2.0, label="x"), Value(3.0, label="y")
    z = x * y + 1.0
    z.label = "z"
    text = explain(z)
    assert "dz/dz ·" not in text  # the line that read dz/d(x·y) = dz/dz · dz/d(x·y)
    assert "dz/d(x·y) = ∂z/∂(x·y) = 1" in text.splitlines()
    assert "dz/dx = dz/d(x·y) · ∂(x·y)/∂x = dz/d(x·y) · y = 1 · 3 = 3" in text.splitlines()
    square = x * x  # the root uses x twice: both local derivatives, summed
    square.label = "s"
    assert "ds/dx = ∂s/∂x + ∂s/∂x = x + x = 2 + 2 = 4" in explain(square).splitlines()


MADE_UP = re.compile(r"(?<![\w\[\],.#′'])(t\d+|[\w\[\],.′']+#\d+)(?![\w#])")


def assert_made_up_names_defined_at_first_use(text: str) -> None:
    """Each t7 or a#2 is defined on the 'where' line that follows the step (or header) where it first
    appears, or earlier; a name first used inside a definition is defined on the same line (unless
    that line holds the most definitions explain writes at once)."""
    defined: set[str] = set()
    lines = text.splitlines()

    def used(line: str) -> list[str]:
        bare = re.sub(r"(^|/|\s|\()[d∂](?=[\w(])", r"\1", line)  # dL/dp#2 → L/p#2 (no name starts with d)
        return MADE_UP.findall(bare)

    def where(k: int) -> list[str]:
        """The definitions of the where line after line k (before the next step)."""
        for line in lines[k + 1 :]:
            if line.lstrip().startswith("where "):
                return line.lstrip().removeprefix("where ").split("; ")
            if not line.startswith(" "):
                return []
        return []

    for k, line in enumerate(lines):
        if line.startswith("rules used") or line.lstrip().startswith("where "):
            continue
        new = [name for name in used(line) if name not in defined]
        definitions = where(k)
        names = {re.split(r" = | is ", definition)[0] for definition in definitions}
        assert set(new) <= names, f"{set(new) - names} used in {line!r} but not defined there"
        if len(definitions) < 8:
            for definition in definitions:
                inner = used(definition.split(" = ", 1)[1] if " = " in definition else "")
                assert set(inner) <= defined | names, f"{inner} used in {definition!r}, not defined"
        defined |= names


def test_made_up_names_are_defined_where_first_used():
    n = seeds_neuron(backward=False)
    text = explain(n["L"])
    assert "    where t1 = 1·ln a+0·ln(1−a)" in text.splitlines()
    assert_made_up_names_defined_at_first_use(text)
    model = nn.MLP(2, [2, 1], seed=0)
    samples = [[0.5, -1.0], [2.0, 1.0]]
    cost = nn.binary_cross_entropy([model(s) for s in samples], [1.0, 0.0])
    text = explain(cost, max_steps=200)
    assert "x_0#2 is a 2nd node named x_0" in text
    assert_made_up_names_defined_at_first_use(text)
    x = Value(0.3, label="x")
    root = ((x * 2).exp() + x.tanh()) * (1 - x).log()  # unlabelled all the way: t names everywhere
    assert_made_up_names_defined_at_first_use(explain(root))


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 30), st.integers(0, 30), st.sampled_from("+*-et")), min_size=1,
                max_size=15))
def test_any_graph_defines_its_made_up_names(steps):
    nodes = [Value(0.5, label="p"), Value(-0.7, label="p")]  # one label on two leaves: p and p#2
    for i, j, op in steps:
        a, b = nodes[i % len(nodes)], nodes[j % len(nodes)]
        nodes.append({"+": a + b, "*": a * b, "-": a - b, "e": (a * 0.1).exp(), "t": a.tanh()}[op])
    assert_made_up_names_defined_at_first_use(explain(nodes[-1], max_steps=100))


def test_chain_rule_steps_are_the_engines_numbers():
    n = seeds_neuron(backward=False)
    rule = ChainRule(n["L"])
    order = topological_order(n["L"])
    assert rule.order == order and rule.forward_order == order[::-1]
    grads = grad(n["L"], order)
    for node, expected in zip(order, grads, strict=True):
        step = rule.backward_step(node)
        assert step.gradient == expected
        if step.terms:  # dL/dv = Σ upstream × local, term by term
            assert sum(term.product for term in step.terms) == pytest.approx(expected, rel=1e-12)
            for term in step.terms:
                assert term.upstream == grads[order.index(term.consumer)]
                assert term.local == term.consumer.local_grads[term.slot]
    assert rule.forward_parts(n["z"]) == ["z", "w·1.5+b", "1.2+(-0.4)", "0.8"]
    assert rule.forward_parts(n["a"]) == ["a", "σ(z)", "σ(0.8)", "0.69"]
    assert rule.forward_parts(n["w"]) == ["w", "0.8"]
    assert [v.grad for v in order] == [0.0] * len(order)


def test_long_and_control_character_labels_are_cut_and_cleaned():
    x = Value(1.0, label="x" * 17_000)
    y = Value(2.0, label="a\x00b\x1b[31mc")
    out = x * y
    text = explain(out)
    assert "x" * 39 + "…" in text and "x" * 41 not in text
    assert "a b [31mc" in text and "\x00" not in text and "\x1b" not in text

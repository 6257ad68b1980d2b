"""engine.draw: the SVG must hold every node, edge, label and number, escaped, bounded and reproducible."""

from __future__ import annotations

import importlib.util
import itertools
import math
import os
import random
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from types import ModuleType

import graphviz
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import nn
from engine import (
    GraphTooLargeError,
    GraphvizNotFoundError,
    RenderError,
    Value,
    draw,
    gc_paused,
    linear,
    save_svg,
    sum_values,
    to_dot,
    topological_order,
)
from engine.draw import HIGHLIGHT_COLOR, ROLE_COLORS
from engine.explain import walk

SVG = "{http://www.w3.org/2000/svg}"
DEMOS = Path(__file__).resolve().parents[1] / "demos"
X, Y, W, B = 1.5, 1.0, 0.8, -0.4


def load_demo(name: str) -> ModuleType:
    """A demo script as a module (demos/ is not a package)."""
    spec = importlib.util.spec_from_file_location(f"demo_{name}", DEMOS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def seeds_neuron(x: float = X, y: float = Y, backward: bool = True) -> dict[str, Value]:
    """The seeds' neuron z = wx + b, a = σ(z), L = −[y ln a + (1−y) ln(1−a)] (the draw demo's), by name."""
    w, b = Value(W, label="w"), Value(B, label="b")
    z, a, loss = load_demo("draw_graph").neuron_loss(w, b, x, y)
    if backward:
        loss.backward()
    return {"w": w, "b": b, "z": z, "a": a, "L": loss}


def parse(graph: graphviz.Digraph) -> ET.Element:
    return ET.fromstring(graph.pipe(format="svg"))


def groups(svg: ET.Element, kind: str) -> dict[str, ET.Element]:
    """SVG <g> elements of one kind ('node' or 'edge') by their title (the DOT name).

    Nodes leave out the copies a wrapped drawing makes of a box in another column.
    """
    found = {}
    for g in svg.iter(f"{SVG}g"):
        classes = g.get("class", "").split()
        if kind in classes and "copy" not in classes:
            found[g.find(f"{SVG}title").text] = g
    return found


def legend_text(svg: ET.Element) -> str:
    """The title and legend: the graph's own label, the texts outside every node and edge."""
    graph = next(g for g in svg.iter(f"{SVG}g") if g.get("class") == "graph")
    return " ".join(t.text or "" for t in graph.findall(f"{SVG}text"))


def edge_titles(svg: ET.Element) -> list[str]:
    titles = []
    for g in svg.iter(f"{SVG}g"):
        if "edge" in g.get("class", "").split():
            titles.append(g.find(f"{SVG}title").text.replace("&#45;", "-"))
    return titles


def texts(element: ET.Element) -> list[str]:
    return [t.text or "" for t in element.iter(f"{SVG}text")]


def value_box(svg: ET.Element, name: str) -> ET.Element:
    """The node whose first text is ``name``."""
    matches = [g for g in groups(svg, "node").values() if texts(g)[:1] == [name]]
    assert len(matches) == 1, f"{len(matches)} boxes named {name!r}"
    return matches[0]


def fmt(x: float) -> str:
    return f"{x + 0.0:.4g}"


# ---------------------------------------------------------------------------
# What the picture holds
# ---------------------------------------------------------------------------
def test_neuron_svg_has_every_value_op_and_edge_with_hand_numbers():
    n = seeds_neuron()
    svg = parse(draw(n["L"]))
    nodes = groups(svg, "node")
    order = topological_order(n["L"])
    values = [t for t in nodes if t.startswith("v")]
    ops = [t for t in nodes if t.startswith("o") and t != "omitted"]
    assert len(values) == len(order) == 12
    assert len(ops) == sum(1 for v in order if v.parents) == 10
    # each op: one edge per operand in, one edge out to its value
    assert len(edge_titles(svg)) == sum(len(v.parents) + 1 for v in order if v.parents)

    a = n["a"].data
    hand = {
        "a": (a, -Y / a + (1 - Y) / (1 - a)),  # dL/da = −y/a + (1−y)/(1−a)
        "z": (W * X + B, a - Y),  # dz = a − y
        "w": (W, X * (a - Y)),  # dw = x(a − y)
        "b": (B, a - Y),  # db = a − y
        "L": (-(Y * math.log(a) + (1 - Y) * math.log(1 - a)), 1.0),
    }
    for name, (data, grad) in hand.items():
        assert texts(value_box(svg, name)) == [name, f"data {fmt(data)}", f"grad {fmt(grad)}"]
    op_labels = sorted(texts(nodes[t])[0] for t in ops)
    # op symbols as the course writes them; a number operand where it was written (1.0 * ln a, w * 1.5)
    assert op_labels == sorted(["−", "+", "1 ·", "0 ·", "ln", "ln", "1 −", "σ", "+", "· 1.5"])


def test_local_derivatives_on_edges_follow_the_chain_rule():
    n = seeds_neuron()
    a = n["a"].data
    svg = parse(draw(n["L"], show_local_grads=True))
    labels = [texts(g) for t, g in groups(svg, "edge").items()]
    sigma_prime = a * (1 - a)  # σ'(z) = a(1−a)
    dl_da = -Y / a + (1 - Y) / (1 - a)
    contribution = f"{fmt(dl_da)} × {fmt(sigma_prime)} = {fmt(dl_da * sigma_prime)}"
    assert [f"∂a/∂z = {fmt(sigma_prime)}", contribution] in labels
    assert [f"∂(w·1.5)/∂w = {fmt(X)}", f"{fmt(a - Y)} × {fmt(X)} = {fmt(X * (a - Y))}"] in labels


def test_contributions_leaving_each_node_add_up_to_its_grad():
    x, y = Value(0.7, label="x"), Value(-1.3, label="y")
    out = (x * y + x.exp() - y / x + (x * 2).tanh()) * x
    out.label = "out"
    out.backward()
    graph = draw(out, show_local_grads=True, digits=12)
    svg = parse(graph)
    sent: dict[str, float] = {}
    for title, g in groups(svg, "edge").items():
        source = title.replace("&#45;", "-").split("->")[0].split("_in")[0]  # a copy stands for its box
        lines = texts(g)
        if len(lines) == 2:
            sent[source] = sent.get(source, 0.0) + float(lines[1].split(" = ")[-1])
    assert len(sent) == len(topological_order(out)) - 1  # every node but the root sends gradient
    for source, total in sent.items():  # grad = Σ over consumers of upstream × local
        grad = float(texts(groups(svg, "node")[source])[2].removeprefix("grad "))
        assert total == pytest.approx(grad, rel=1e-9, abs=1e-12)
    assert x.grad == pytest.approx(float(texts(value_box(svg, "x"))[2].removeprefix("grad ")), rel=1e-11)


def test_a_plus_a_draws_two_edges():
    a = Value(3.0, label="a")
    y = a + a
    y.backward()
    svg = parse(draw(y, show_local_grads=True))
    assert edge_titles(svg).count("v1->o0") == 2
    assert texts(value_box(svg, "a"))[2] == "grad 2"


def test_many_parallel_edges_become_one_counted_edge():
    a = Value(3.0, label="a")
    y = sum_values([a] * 10)
    svg = parse(draw(y))
    assert edge_titles(svg).count("v1->o0") == 1
    assert ["×10"] in [texts(g) for g in groups(svg, "edge").values()]


def test_number_operands_are_written_in_the_op_node():
    x = Value(2.0, label="x")
    y = (1 - x * 2) ** 3
    ops = {title: texts(g) for title, g in groups(parse(draw(y)), "node").items() if title.startswith("o")}
    assert sorted(map(tuple, ops.values())) == [("1 −",), ("^ 3",), ("· 2",)]


def test_non_commutative_operands_are_marked():
    x, y = Value(2.0, label="x"), Value(5.0, label="y")
    svg = parse(draw(x - y))
    marks = {title: texts(g) for title, g in groups(svg, "edge").items()}
    assert marks == {"o0->v0": [], "v1->o0": ["a"], "v2->o0": ["b"]}  # x is a (first), y is b


def test_roles_are_coloured_and_explained_in_the_legend():
    w, b, x = Value(0.5, label="W[1]_0,0"), Value(0.1, label="b[1]_0"), Value(2.0, label="x_0")
    out = (w * x + b).tanh()
    svg = parse(draw(out))
    boxes = [g for g in groups(svg, "node").values() if "value" in g.get("class")]
    roles = {texts(g)[0]: set(g.get("class").split()) for g in boxes}
    assert "parameter" in roles["W[1]_0,0"] and "parameter" in roles["b[1]_0"]
    assert "input" in roles["x_0"] and "output" in roles["t0"]
    assert "intermediate" in roles["t1"]
    fills = {p.get("fill") for p in value_box(svg, "W[1]_0,0").iter(f"{SVG}polygon")}
    assert ROLE_COLORS["parameter"][0] in fills
    legend = legend_text(svg)
    for role in ("output", "input", "parameter", "intermediate", "op"):
        assert ROLE_COLORS[role][1] in legend
    assert "t1, t7, …: values with no label, numbered from the root" in legend  # t0, t1 are explained
    explicit = parse(draw(out, parameters=[x]))  # the caller says what the parameters are
    assert "parameter" in value_box(explicit, "x_0").get("class")
    assert "input" in value_box(explicit, "W[1]_0,0").get("class")


def test_options_show_grad_digits_rankdir_title():
    x = Value(1 / 3, label="x")
    y = x * 3.0
    y.backward()
    svg = parse(draw(y, show_grad=False, digits=7, rankdir="TB", title="one <third> & more"))
    assert texts(value_box(svg, "x")) == ["x", "data 0.3333333"]
    assert "one <third> & more" in texts(svg)
    assert "rankdir=TB" in to_dot(y, rankdir="TB")


@pytest.mark.parametrize(
    ("option", "value", "error"),
    [("rankdir", "sideways", ValueError), ("max_nodes", 0, ValueError), ("on_overflow", "drop", ValueError),
     ("digits", 0, ValueError), ("digits", 2.5, TypeError), ("rankdir", None, TypeError),
     ("max_nodes", "9", TypeError), ("show_grad", 1, TypeError)],
)
def test_bad_options_are_named(option, value, error):
    with pytest.raises(error, match=rf"^draw: {option} must be "):
        draw(Value(1.0), **{option: value})


def test_root_must_be_a_value():
    with pytest.raises(TypeError, match=r"draw: root must be a Value, got 3\.0"):
        draw(3.0)


# ---------------------------------------------------------------------------
# Escaping and reproducibility
# ---------------------------------------------------------------------------
NASTY = [
    "a>0|{x}", "<script>alert(1)</script>", "&amp; & \"q\" 'r'", "x\\N\\G\\l",
    "]; node [shape=box", "<B>bold</B>",
]


@pytest.mark.parametrize("label", NASTY)
def test_labels_render_as_text_never_as_markup(label):
    x = Value(2.0, label=label)
    y = x * x
    y.label = label + "!"
    svg = parse(draw(y, title=label, show_local_grads=True))
    all_text = texts(svg)
    assert label in all_text and label + "!" in all_text
    assert not list(svg.iter(f"{SVG}script")) and not list(svg.iter("script"))
    assert all(t.get("font-weight") != "bold" for t in svg.iter(f"{SVG}text") if t.text == "bold")


@settings(max_examples=15, deadline=None)
@example("]")  # dot's HTML parser fails on a text of only ] unless it is an entity (found by this test)
@example("]]")
@given(  # invisible (Cf), unassigned and control characters are drawn as spaces on purpose
    st.text(st.characters(blacklist_categories=("Cs", "Cc", "Cf", "Cn", "Co", "Zl", "Zp", "Zs")),
            min_size=1, max_size=10)
)
def test_any_printable_label_survives_dot(label):
    x = Value(1.5, label=label)
    assert label in texts(parse(draw(x.exp())))


def build_expression():
    a, b = Value(0.3, label="a"), Value(-2.0, label="b")
    c = (a * b + a.tanh()) / (b.exp() + 1)
    c.backward()
    return c


def test_same_graph_gives_identical_dot_and_svg_bytes():
    first, second = build_expression(), build_expression()
    assert to_dot(first, show_local_grads=True) == to_dot(second, show_local_grads=True)
    one = draw(first, show_local_grads=True, highlight=first.parents[0]).pipe(format="svg")
    two = draw(second, show_local_grads=True, highlight=second.parents[0]).pipe(format="svg")
    assert one == two
    names = re.findall(r"^\t+(\S+) (?:\[|->)", to_dot(first), flags=re.MULTILINE)
    allowed = r"v\d+|o\d+|legend|graph|node|edge"  # walk positions, never id()
    assert names and all(re.fullmatch(allowed, name) for name in names)


# ---------------------------------------------------------------------------
# Highlight
# ---------------------------------------------------------------------------
def paths_by_enumeration(root: Value, target: Value) -> set[int]:
    """Every node on a root → target path, by listing the paths (fine on small graphs)."""
    on_path: set[int] = set()

    def visit(node: Value, path: list[Value]) -> None:
        path = [*path, node]
        if node is target:
            on_path.update(id(n) for n in path)
        for parent in node.parents:
            visit(parent, path)

    visit(root, [])
    return on_path


def highlighted_values(root: Value, target: Value) -> set[int]:
    graph = draw(root, highlight=target)
    nodes = groups(parse(graph), "node")
    order = {f"v{k}": node for k, node in enumerate(walk(root)[0])}  # boxes are numbered in walk order
    return {id(order[t]) for t, g in nodes.items() if t in order and "highlight" in g.get("class")}


def test_highlight_colours_exactly_the_paths_to_the_node():
    x, y, z = Value(0.5, label="x"), Value(2.0, label="y"), Value(-1.0, label="z")
    xy = x * y
    out = xy + z.exp() + xy.tanh() * x
    svg = parse(draw(out, highlight=y))
    lit = {texts(g)[0] for g in groups(svg, "node").values() if "highlight" in g.get("class", "")}
    assert lit == {"y", "x·y", "tanh(x·y)", "tanh(x·y)·x", "x·y+exp(z)", "t0", "·", "+", "tanh"}
    red = [g for g in groups(svg, "edge").values() if "highlight" in g.get("class", "")]
    # op → value for t0, x·y+exp(z), tanh(x·y)·x, tanh(x·y), x·y; and the 6 operand edges between them
    assert len(red) == 5 + 6
    assert all(p.get("stroke") == HIGHLIGHT_COLOR for g in red for p in g.iter(f"{SVG}path"))


@settings(max_examples=15, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 50), st.integers(0, 50), st.sampled_from("+*-")), min_size=1,
             max_size=12),
    st.integers(0, 100),
)
def test_highlight_matches_path_enumeration(steps, pick):
    nodes = [Value(0.5, label="p"), Value(-0.7, label="q")]
    for i, j, op in steps:
        a, b = nodes[i % len(nodes)], nodes[j % len(nodes)]
        nodes.append(a + b if op == "+" else a * b if op == "*" else a - b)
    root = nodes[-1]
    below = topological_order(root)
    target = below[pick % len(below)]
    assert highlighted_values(root, target) == paths_by_enumeration(root, target)


def test_highlight_outside_the_graph_is_refused():
    x = Value(1.0, label="x")
    with pytest.raises(ValueError, match=r"^draw: highlight must be a node of root's graph, got Value\(.*"
                                         r"label='stranger'\), which root does not depend on"):
        draw(x * 2, highlight=Value(3.0, label="stranger"))


def test_highlight_takes_a_set_but_not_a_dict():
    # draw(y, highlight={x: 1}) drew the paths to the dict's keys: keys or values, which was meant?
    x, w = Value(1.0, label="x"), Value(2.0, label="w")
    y = (x * w).tanh()
    assert to_dot(y, highlight={x, w}) == to_dot(y, highlight=[x, w]) == to_dot(y, highlight=(w, x))
    for option in ("highlight", "parameters"):
        message = (
            f"draw: {option} must be a Value or a list (or set) of Values, got {{{x!r}: 1}} (dict); pass "
            f"list({option}.keys()) or list({option}.values()), whichever holds the Values"
        )
        with pytest.raises(TypeError) as caught:
            draw(y, **{option: {x: 1}})
        assert str(caught.value) == message


# ---------------------------------------------------------------------------
# Size limits
# ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def chain_100k():
    with gc_paused():
        node = Value(0.5, label="x")
        for i in range(66_667):
            node = node * 1.0001 if i % 2 else (node + 0.001).tanh()
    return node  # 100,002 nodes


def test_truncate_draws_the_nodes_nearest_the_root_and_counts_the_rest(chain_100k):
    total = len(topological_order(chain_100k))
    assert total > 100_000
    graph = draw(chain_100k, max_nodes=300)
    svg = parse(graph)
    nodes = groups(svg, "node")
    assert sum(t.startswith("v") for t in nodes) == 300
    said = f"… {total - 300:,} more nodes not drawn (max_nodes=300: those nearest the root are drawn)"
    assert said in legend_text(svg)  # said at the top, legend or not
    assert legend_text(parse(draw(chain_100k, max_nodes=300, legend=False))).strip() == said
    assert "v299" in nodes and "v300" not in nodes
    stubs = {t: texts(g) for t, g in nodes.items() if t.startswith("cut")}  # where the graph goes on
    assert stubs == {"cut299": ["… 1 input"]}


def test_raise_names_the_count_the_limit_and_the_way_out(chain_100k):
    total = len(topological_order(chain_100k))
    with pytest.raises(GraphTooLargeError) as caught:
        draw(chain_100k, on_overflow="raise")
    message = str(caught.value)
    assert f"{total:,} nodes" in message and "max_nodes=300" in message
    assert "on_overflow='truncate'" in message and "collapse_neurons=True" in message


def test_a_wide_node_counts_its_undrawn_inputs_in_one_note():
    leaves = [Value(float(i), label=f"x{i}") for i in range(5_000)]
    total = sum_values(leaves)
    svg = parse(draw(total, max_nodes=50))
    notes = {t: texts(g) for t, g in groups(svg, "node").items() if t.startswith("cut")}
    assert notes == {"cut0": ["… 4,951 inputs"]}
    assert "cut0->o0" in edge_titles(svg)  # the note feeds the sum's op
    assert draw(total, max_nodes=5_001).source.count("->") == 5_001  # 5,000 inputs + the op's edge


def test_a_wide_sum_reads_its_local_derivatives_once(monkeypatch):
    # a sum makes its local derivatives from all n parents on every read: one read per edge (up to
    # 6 × max_nodes + 50 of them) was time n × edges, 8 s for 20,000 uses of one x
    reads = []
    local_grads = Value.local_grads
    counted = property(lambda node: reads.append(node) or local_grads.fget(node))
    monkeypatch.setattr(Value, "local_grads", counted)
    x = Value(1.0, label="x")
    total = sum_values([x] * 20_000)
    total.backward()
    reads.clear()
    dot = to_dot(total)
    assert "label=<×1850>" in dot  # the edge budget, 6 × max_nodes + 50
    assert "… 18,150 inputs" in dot
    assert len(reads) == 1


def test_collapsing_a_wide_neuron_takes_time_linear_in_its_inputs(monkeypatch):
    # each box's inputs were found by testing every slot against a tuple of the folded slots, on
    # every one of the ~6 times they are asked for: n² steps, 25 s for 20,000 inputs. Count the
    # slots such membership tests scan: the drawing may read each slot a few times, not n times.
    scanned = [0]

    class Slots(tuple):
        def __contains__(self, slot: object) -> bool:
            scanned[0] += len(self)
            return tuple.__contains__(self, slot)

    module = sys.modules["engine.draw"]  # engine.draw is the function
    folded_slots = module._folded_slots
    monkeypatch.setattr(module, "_folded_slots", lambda z: Slots(folded_slots(z)))
    n = 20_000
    weights = [Value(0.01, label=f"w{i}") for i in range(n)]
    z = linear(weights, [float(i % 7) for i in range(n)], Value(0.5, label="b"))
    dot = to_dot(z.tanh(), collapse_neurons=True)
    assert scanned[0] <= 10 * n
    assert "w0 … w19999 (20000)" in dot  # the weights, folded into the neuron box
    assert "… 19,701 inputs" in dot  # the x's past max_nodes=300, counted in one note


def test_graph_exactly_at_the_limit_is_drawn_whole():
    x = Value(1.0, label="x")
    y = (x * 2).exp()  # 3 nodes
    assert "omitted" not in to_dot(y, max_nodes=3, on_overflow="raise")
    with pytest.raises(GraphTooLargeError, match="3 nodes"):
        draw(y, max_nodes=2, on_overflow="raise")


# ---------------------------------------------------------------------------
# Collapsed neurons
# ---------------------------------------------------------------------------
def test_collapsed_mlp_has_one_box_per_neuron():
    model = nn.MLP(2, [16, 16, 1])
    loss = nn.binary_cross_entropy([model([0.5, -1.0])], [1.0])
    loss.backward()
    svg = parse(draw(loss, collapse_neurons=True))
    nodes = groups(svg, "node")
    neurons = [g for g in nodes.values() if "neuron" in g.get("class", "").split()]
    assert len(neurons) == 33
    titles = {texts(g)[0] for g in neurons}
    expected = {f"neuron a[1]_{i} (tanh)" for i in range(16)} | {f"neuron a[2]_{i} (tanh)" for i in range(16)}
    assert titles == expected | {"neuron a[3]_0 (sigmoid)"}
    assert not [g for g in nodes.values() if "parameter" in g.get("class", "")]  # all folded in
    first = next(g for g in neurons if texts(g)[0] == "neuron a[1]_0 (tanh)")
    w00 = model.layers[0].neurons[0].w[0]
    assert ["W[1]_0,0", f"data {fmt(w00.data)}", f"grad {fmt(w00.grad)}"] == texts(first)[7:10]
    second = next(g for g in neurons if texts(g)[0] == "neuron a[2]_3 (tanh)")
    row = texts(second)[7:10]
    weights = model.layers[1].neurons[3].w
    assert row[0] == "W[2]_3,0 … W[2]_3,15 (16)"
    assert row[2] == f"‖dw‖ {fmt(math.sqrt(sum(w.grad ** 2 for w in weights)))}"
    # layer 1 → layer 2 is fully connected: not 16 × 16 edges (a black band) but 16 + 16 through a
    # junction; layer 2 → the output neuron: 16 edges of its own
    neuron_ids = {t for t, g in nodes.items() if g in neurons}
    edges = [t.split("->") for t in edge_titles(svg)]
    junctions = [t for t, g in nodes.items() if "junction" in g.get("class", "")]
    assert len(junctions) == 1
    assert sum(tail in neuron_ids and head in junctions for tail, head in edges) == 16
    assert sum(tail in junctions and head in neuron_ids for tail, head in edges) == 16
    assert sum(tail in neuron_ids and head in neuron_ids for tail, head in edges) == 16
    assert "each of the 16 boxes before it feeds each of the 16 after it" in legend_text(svg)


def neuron_positions(svg: ET.Element) -> dict[str, float]:
    """Each neuron box's title and the y of its top edge in the drawing."""
    found = {}
    for g in groups(svg, "node").values():
        if "neuron" in g.get("class", "").split():
            points = " ".join(p.get("points") for p in g.iter(f"{SVG}polygon"))
            ys = [float(y) for y in re.findall(r",(-?[\d.]+)", points)]
            found[texts(g)[0]] = min(ys)
    return found


def test_collapsed_neurons_are_drawn_in_index_order():
    model = nn.MLP(3, [6, 5, 1], seed=0)
    loss = nn.binary_cross_entropy([model([0.5, -1.0, 2.0])], [1.0])
    svg = parse(draw(loss, collapse_neurons=True, rankdir="LR"))  # a layer is a column, top down
    top = neuron_positions(svg)
    for layer, width in ((1, 6), (2, 5)):
        ys = [top[f"neuron a[{layer}]_{i} (tanh)"] for i in range(width)]
        assert ys == sorted(ys), f"layer {layer} out of order: {ys}"


def test_a_weight_shared_by_samples_shows_its_total_once_and_each_samples_part():
    model = nn.MLP(2, [2, 1], seed=0)
    samples, targets = [[0.5, -1.0], [2.0, 1.0]], [1.0, 0.0]
    loss = nn.binary_cross_entropy([model(x) for x in samples], targets)
    loss.backward()
    svg = parse(draw(loss, collapse_neurons=True))
    w = model.layers[0].neurons[0].w[0]
    rows = [texts(g) for g in groups(svg, "node").values() if "W[1]_0,0" in texts(g)]
    assert len(rows) == 2  # one neuron box a[1]_0 per sample
    parts = []
    for row in rows:
        k = row.index("W[1]_0,0")
        assert row[k + 2] == f"grad {fmt(w.grad)} (Σ of 2)"  # the total, said to be a sum
        parts.append(float(row[k + 3].removeprefix("this use ")))
    # each sample's part is dL/dz · x for that sample; the parts add up to the total
    zs = [v for v in topological_order(loss) if len(v.parents) == 5 and v.parents[0] is w]  # z = w·x + b
    assert sorted(parts) == pytest.approx(sorted(z.grad * z.parents[2].data for z in zs), rel=1e-3)
    assert sum(parts) == pytest.approx(w.grad, rel=1e-3)
    assert "(Σ of k): a W or b used by k boxes" in legend_text(svg)


def test_highlighting_a_folded_parameter_lights_its_neuron():
    model = nn.MLP(2, [3, 1])
    out = model([1.0, 2.0])
    target = model.layers[0].neurons[1].b
    svg = parse(draw(out, collapse_neurons=True, highlight=target))
    lit = {texts(g)[0] for g in groups(svg, "node").values() if "highlight" in g.get("class", "")}
    assert lit == {"neuron a[1]_1 (tanh)", "neuron a[2]_0 (sigmoid)"}


# ---------------------------------------------------------------------------
# Files, Graphviz missing, Jupyter
# ---------------------------------------------------------------------------
def test_save_svg_writes_the_file_and_returns_its_path(tmp_path):
    n = seeds_neuron()
    path = save_svg(n["L"], tmp_path / "sub" / "neuron", show_local_grads=True)
    assert path == tmp_path / "sub" / "neuron.svg"
    assert ET.parse(path).getroot().tag == f"{SVG}svg"
    assert sorted(p.name for p in path.parent.iterdir()) == ["neuron.svg"]  # no temporary left


def test_render_of_the_returned_digraph_works(tmp_path):
    out = draw(seeds_neuron()["L"]).render(outfile=tmp_path / "g.svg")
    assert ET.parse(out).getroot().tag == f"{SVG}svg"


def test_missing_dot_gives_install_advice_and_keeps_the_dot_source(tmp_path, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    n = seeds_neuron()
    target = tmp_path / "neuron.svg"
    with pytest.raises(GraphvizNotFoundError) as caught:
        save_svg(n["L"], target)
    message = str(caught.value)
    source = tmp_path / "neuron.gv"
    assert "apt-get install graphviz" in message and "brew install graphviz" in message
    assert str(source) in message and caught.value.source_path == source
    assert source.read_text(encoding="utf-8") == to_dot(n["L"])
    assert not target.exists()
    assert isinstance(caught.value, graphviz.ExecutableNotFound)
    assert to_dot(n["L"]).startswith("digraph chainrule {")  # DOT needs no dot program


def test_jupyter_gets_an_svg_mimebundle():
    bundle = draw(seeds_neuron()["L"])._repr_mimebundle_()
    assert list(bundle) == ["image/svg+xml"]
    assert ET.fromstring(bundle["image/svg+xml"]).tag == f"{SVG}svg"


def test_demo_writes_both_graphs_and_explains_the_neuron(tmp_path):
    root = DEMOS.parent
    env = {**os.environ, "PYTHONPATH": str(root)}
    run = subprocess.run(
        [sys.executable, str(DEMOS / "draw_graph.py"), "--out", str(tmp_path)],
        capture_output=True, text=True, env=env, timeout=120, check=True,
    )
    assert f"neuron graph: {tmp_path / 'neuron.svg'}" in run.stdout
    assert f"MLP graph:    {tmp_path / 'mlp.svg'}" in run.stdout
    neuron_svg = ET.parse(tmp_path / "neuron.svg").getroot()
    assert any(t.startswith("∂a/∂z = ") for t in texts(neuron_svg))  # local derivatives on edges
    mlp_svg = ET.parse(tmp_path / "mlp.svg").getroot()
    neurons = [g for g in groups(mlp_svg, "node").values() if "neuron" in g.get("class", "").split()]
    assert len(neurons) == 2 * (4 + 4 + 1)  # 2-4-4-1 on two samples: one box per neuron per sample
    pages = [tmp_path / "neuron_backprop.html", tmp_path / "mlp_backprop.html"]
    assert f"step through backprop in a browser: {pages[0]} and {pages[1]}" in run.stdout
    assert all(page.read_text(encoding="utf-8").startswith("<!DOCTYPE html>") for page in pages)
    a = 1 / (1 + math.exp(-(W * X + B)))
    assert "dL/dw = dL/d(w·1.5) · ∂(w·1.5)/∂w = dL/d(w·1.5) · 1.5 = " in run.stdout
    assert run.stdout.rstrip().endswith(f"dw = x(a − y) = {X * (a - Y):.4g}, db = a − y = {a - Y:.4g}")


# ---------------------------------------------------------------------------
# Drawings that fit a screen, legends, file formats, absurd labels, time bounds
# ---------------------------------------------------------------------------
def fit_scale(svg: ET.Element, window: tuple[int, int] = (1280, 720)) -> float:
    """The scale at which the drawing fits the window (SVG points are 4/3 pixels)."""
    width, height = (float(svg.get(side).removesuffix("pt")) * 4 / 3 for side in ("width", "height"))
    return min(window[0] / width, window[1] / height)


def deep_chain(n: int) -> Value:
    x = Value(0.5, label="x")
    for _ in range(n):
        x = (x * 1.1).tanh()
    return x


def test_small_graphs_fit_a_16_by_9_window_legibly():
    neuron = seeds_neuron()
    model = nn.MLP(3, [3, 2, 1], seed=0)
    mlp = nn.binary_cross_entropy([model([0.5, -1.0, 2.0])], [1.0])
    # (graph, options, the smallest scale to 1280×720: 11 pt text × 4/3 × scale ≥ 8 px)
    cases = [
        (neuron["L"], {}, 0.9), (neuron["L"], {"show_local_grads": True, "title": "the seed neuron"}, 0.85),
        (deep_chain(20), {}, 0.6), (mlp, {}, 0.55),  # 41 nodes in a chain; 43 in an MLP with its cost
    ]
    for root, options, smallest in cases:
        assert len(topological_order(root)) <= 43
        assert fit_scale(parse(draw(root, **options))) >= smallest, options
    assert fit_scale(parse(draw(neuron["L"], rankdir="LR"))) < 0.5  # what one long row used to give


def test_a_wrapped_drawing_continues_from_copies_not_back_edges():
    svg = parse(draw(deep_chain(20)))
    copies = [g for g in svg.iter(f"{SVG}g") if "copy" in g.get("class", "").split()]
    assert copies  # 41 nodes in a chain: wrapped into columns
    boxes = {texts(g)[0]: g for g in groups(svg, "node").values() if "value" in g.get("class", "")}
    for copy in copies:
        name, where = texts(copy)[0].strip(), texts(copy)[1]
        assert name in boxes and re.fullmatch(r"\(from column \d\)", where)
    assert "constraint=false" not in to_dot(deep_chain(20))


def test_the_legend_is_compact_and_can_be_left_out():
    n = seeds_neuron()
    svg = parse(draw(n["L"], show_local_grads=True))
    legend = legend_text(svg)
    assert "output (root)" in legend and "edge v → c: ∂c/∂v" in legend and "t1, t7, …:" in legend
    graph = next(g for g in svg.iter(f"{SVG}g") if g.get("class") == "graph")
    ys = [float(t.get("y")) for t in graph.findall(f"{SVG}text")]  # the legend's own lines
    legend_height = max(ys) - min(ys)
    assert legend_height < 0.15 * float(svg.get("height").removesuffix("pt"))  # a strip, not a column
    bare = parse(draw(n["L"], show_local_grads=True, legend=False))
    assert legend_text(bare).strip() == ""
    titled = parse(draw(n["L"], legend=False, title="just a title"))
    assert legend_text(titled).strip() == "just a title"
    with pytest.raises(TypeError, match="draw: legend must be True or False"):
        draw(n["L"], legend="no")


def test_per_sample_copies_are_explained_on_the_drawing():
    model = nn.MLP(2, [1], seed=0)
    loss = nn.binary_cross_entropy([model([0.5, -1.0]), model([1.0, 2.0])], [1.0, 0.0])
    legend = legend_text(parse(draw(loss)))
    assert "a#2: a 2nd node with the same name (e.g. the same unit for another sample)" in legend


@pytest.mark.parametrize(("suffix", "magic"), [(".svg", b"<?xml"), (".png", b"\x89PNG"), (".pdf", b"%PDF"),
                                              (".PNG", b"\x89PNG")])
def test_save_svg_writes_the_format_the_suffix_names(tmp_path, suffix, magic):
    path = save_svg(seeds_neuron()["L"], tmp_path / f"neuron{suffix}")
    assert path == tmp_path / f"neuron{suffix}" and path.read_bytes().startswith(magic)


def test_save_svg_refuses_other_suffixes_before_writing(tmp_path):
    refused = r"save_svg: cannot write '\.jpg' files .* must be \.svg, \.png or \.pdf"
    with pytest.raises(ValueError, match=refused):
        save_svg(seeds_neuron()["L"], tmp_path / "sub" / "neuron.jpg")
    assert list(tmp_path.iterdir()) == []  # not even the folder
    with pytest.raises(TypeError, match=r"save_svg: path must be a file name \(str or pathlib\.Path\)"):
        save_svg(seeds_neuron()["L"], None)
    with pytest.raises(ValueError, match=r"save_svg: path must be a file name, got '\.', which names a"):
        save_svg(seeds_neuron()["L"], ".")


def test_absurd_labels_are_cut_and_cleaned_in_drawings(tmp_path):
    x = Value(1.0, label="x" * 17_000)
    y = Value(2.0, label="ctl\x00\x07\x1b[0m\r\n\tend")
    out = x * y
    path = save_svg(out, tmp_path / "g.svg", show_local_grads=True, title="T" * 17_000)
    all_text = texts(ET.parse(path).getroot())
    assert "x" * 39 + "…" in all_text and not any("x" * 41 in t for t in all_text)
    title = "".join(t for t in all_text if set(t) <= {"T", "…"})  # cut, then wrapped into lines
    assert title.startswith("T" * 50) and title.endswith("…") and len(title) == 200
    assert any(t.startswith("ctl") and t.endswith("end") for t in all_text)


def test_a_failing_dot_becomes_an_error_naming_the_function(tmp_path, monkeypatch):
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "dot").write_text("#!/bin/sh\necho 'Error: syntax error in line 9' >&2\nexit 1\n")
    (fake / "dot").chmod(0o755)
    monkeypatch.setenv("PATH", str(fake))
    target = tmp_path / "g.svg"
    target.write_text("old")
    failed = r"save_svg: Graphviz's dot failed \(exit status 1\) .*syntax error"
    with pytest.raises(RenderError, match=failed):
        save_svg(Value(1.0, label="x") * 2, target)
    assert target.read_text() == "old"  # the file is left as it was


def dense_graph(n: int = 300, fan: int = 6, seed: int = 0) -> tuple[Value, list[Value]]:
    """n nodes, each the sum of ``fan`` random earlier ones: edges that span many ranks."""
    rng = random.Random(seed)
    nodes = [Value(rng.uniform(-1, 1), label=f"x{i}") for i in range(5)]
    while len(nodes) < n:
        nodes.append(sum_values(rng.sample(nodes, min(fan, len(nodes)))))
    root = sum_values(nodes[-20:])
    root.backward()
    return root, nodes


def test_a_dense_graph_is_cut_to_what_dot_lays_out_in_seconds():
    root, nodes = dense_graph()
    svg = parse(draw(root, show_local_grads=True, highlight=nodes[3]))
    assert "not drawn (too many long edges for dot to lay out in seconds" in legend_text(svg)
    drawn = [t for t in groups(svg, "node") if t.startswith("v")]
    assert 20 < len(drawn) < 300
    with pytest.raises(GraphTooLargeError, match="too many edges spanning many ranks"):
        draw(root, on_overflow="raise")


def test_many_edges_leave_off_their_labels_and_say_so():
    leaves = [Value(float(i), label=f"x{i}") for i in range(70)]
    root = sum_values([a * b for a, b in itertools.pairwise(leaves)])  # 138 operand edges, 69 + 1 more
    svg = parse(draw(root, show_local_grads=True))
    assert not any(t.startswith("∂") for t in texts(svg))
    assert "local derivatives left off: 207 edges, more than 120" in legend_text(svg)
    small = parse(draw(sum_values(leaves[:10]) * 2, show_local_grads=True))
    assert any(t.startswith("∂") for t in texts(small))

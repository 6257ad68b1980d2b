"""See the graph: a computation graph drawn with Graphviz, local derivatives on the edges.

``draw(root)`` returns a ``graphviz.Digraph`` (it shows inline in Jupyter);
``save_svg(root, path)`` writes an SVG, PNG or PDF file; ``to_dot(root)`` gives
the DOT text and needs no Graphviz install. Every value is a box with its name,
``data`` and ``grad``; every op is a small node of its own between its inputs
and its result, with a number operand (the 2 of ``x * 2``) written in it. With
``show_local_grads=True`` each edge from an input v into the op making c carries

    ∂c/∂v = local          and          upstream × local = contribution,

the two factors of the chain rule dL/dv = Σ_c dL/dc · ∂c/∂v, so the sum of the
contributions on the edges leaving a node is that node's grad.

The drawing is made to fit a 16:9 screen: the direction (left to right or top
down) and, for a graph of up to 60 boxes, a wrap into columns or rows are
chosen from the boxes' estimated sizes. It is bounded: ``dot`` takes about 37 s
for 5,500 nodes, and minutes for a few hundred nodes whose edges span many
ranks, so past ``max_nodes`` boxes, or past a budget of such long edges, only
the boxes nearest the root are drawn (with one node saying how many were left
out), or ``GraphTooLargeError`` is raised; past 120 edges the local derivatives
are left off the edges. Node names in the DOT text come from the walk from the
root, never from ``id()``, so the same graph always gives the same DOT and the
same SVG bytes.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import textwrap
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import graphviz

from engine.checks import check_bool, check_choice, check_instance, check_int, describe, fail
from engine.explain import (
    COUNT_LIMIT,
    NodeNames,
    check_digits,
    check_root,
    format_number,
    neuron_z,
    nodes_on_paths,
    op_name,
    op_rule,
    op_symbol,
    walk,
)
from engine.files import file_path, write_file
from engine.notation import linear_parts
from engine.value import Value

ROLE_COLORS: dict[str, tuple[str, str]] = {
    "output": ("#b7e4c7", "output (root)"),
    "input": ("#cfe2ff", "input"),
    "parameter": ("#ffe08a", "parameter (W, b)"),
    "intermediate": ("#f1f3f5", "intermediate"),
    "neuron": ("#e5d4ff", "neuron: z = Σ w·x + b, a = g(z)"),
    "op": ("#ffffff", "op (with its number operand)"),
    "omitted": ("#ffd6d6", "nodes left out"),
}
"""Fill colour and legend text of each role a box can have."""

HIGHLIGHT_COLOR = "#d62828"
_BORDER = "#495057"
_MAX_PARALLEL = 4  # more parallel edges than this between two boxes are drawn as one "×k" edge
_FOLD_LIMIT = 4  # a neuron lists its weights one by one up to this many, else sums them up
_PARAMETER_LABEL = re.compile(r"^(?:[Ww]|b)(?:\[\d+\])?(?:_?[\d,]+)?$")
_TITLE_LIMIT = 200  # characters of a title drawn
_LABELLED_EDGES = 120  # more edges than this: no local derivatives on them (labels double dot's ranks)
_LONG_EDGE_BUDGET = 3_000  # dummy nodes dot may add for edges that span ranks, before boxes are cut
_QUICK_LAYOUT_FROM = 100  # boxes: from here dot's crossing and placement passes are cut short
_WRAP_LIMIT = 60  # boxes: a graph up to this size may be wrapped into columns or rows
_BUS_MIN = 3  # a layer of at least this many boxes, all fed by the same ≥ 3 boxes, gets a junction
SCREEN = (1280, 720)
"""The window (pixels) a default drawing is laid out to fit."""

Overflow = Literal["truncate", "raise"]


class GraphTooLargeError(ValueError):
    """The graph has more boxes than ``max_nodes``, or too many long edges: dot would take minutes."""


class GraphvizNotFoundError(graphviz.ExecutableNotFound):
    """The Graphviz ``dot`` program is not installed (``source_path``: where the DOT source was saved)."""

    def __init__(self, message: str, source_path: Path | None = None) -> None:
        RuntimeError.__init__(self, message)
        self.source_path = source_path


class RenderError(RuntimeError):
    """Graphviz's ``dot`` failed on a drawing; the message names the call and gives dot's own words."""


# ---------------------------------------------------------------------------
# Options
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class DrawOptions:
    """The options of ``draw`` (see there), checked, plus the window the layout should fit."""

    rankdir: str = "auto"
    show_grad: bool = True
    show_local_grads: bool = False
    max_nodes: int = 300
    on_overflow: str = "truncate"
    collapse_neurons: bool = False
    digits: int = 4
    title: str | None = None
    legend: bool = True
    screen: tuple[int, int] = SCREEN

    def check(self, caller: str = "draw") -> None:
        """Raise TypeError/ValueError naming ``caller`` and the option for a bad option."""
        check_choice(caller, "rankdir", self.rankdir, RANKDIRS)
        check_int(caller, "max_nodes", self.max_nodes, minimum=1)
        check_choice(caller, "on_overflow", self.on_overflow, ("truncate", "raise"))
        check_digits(self.digits, caller)
        for option in ("show_grad", "show_local_grads", "collapse_neurons", "legend"):
            check_bool(caller, option, getattr(self, option))
        if self.title is not None:
            check_instance(caller, "title", self.title, str, "a string or None")


RANKDIRS = ("auto", "LR", "TB", "RL", "BT")
"""``draw``'s directions: chosen to fit the screen, left to right, top down, and the two reversed."""


def _values(value: object, option: str, caller: str) -> list[Value]:
    """``value`` (a Value, or a list, tuple, set or other iterable of Values; order does not matter
    to ``highlight`` or ``parameters``) as a list, or a TypeError naming ``option``. A dict is
    refused: whether its keys or its values were meant cannot be told."""
    if isinstance(value, Value):
        return [value]
    if isinstance(value, Mapping):
        fail(TypeError, caller, option, "a Value or a list (or set) of Values", describe(value),
             f"pass list({option}.keys()) or list({option}.values()), whichever holds the Values")
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        fail(TypeError, caller, option, "a Value or a list of Values", describe(value))
    values = list(value)
    for k, item in enumerate(values):
        check_instance(caller, f"{option}[{k}]", item, Value, "a Value")
    return values


# ---------------------------------------------------------------------------
# Boxes: which nodes are drawn, and which share a box
# ---------------------------------------------------------------------------
@dataclass
class _Box:
    """One box of the drawing: a value, or (collapsed) a neuron's z and a with its parameters."""

    node: Value  # the node whose inputs enter this box (a neuron's z)
    index: int
    activation: Value | None = None  # a neuron's a = g(z)
    folded: tuple[int, ...] = ()  # slots of node.parents drawn inside the box (a neuron's w, b)
    edges_left_out: int = 0
    members: list[Value] = field(default_factory=list)

    @property
    def is_neuron(self) -> bool:
        """Drawn as a neuron: a linear node with its activation or its leaf parameters inside."""
        return bool(self.folded) or self.activation is not None


def _folded_slots(z: Value) -> tuple[int, ...]:
    """The slots of a linear node's weights and bias that are leaves: they go inside its box."""
    parents = z.parents
    n = len(linear_parts(parents)[0])
    slots = (*range(n), 2 * n)
    return tuple(slot for slot in slots if not parents[slot].parents)


class _Boxing:
    """Which box each node belongs to; with ``collapse`` a neuron's z and a share one."""

    def __init__(self, collapse: bool) -> None:
        self.collapse = collapse
        self.activation_of: dict[int, Value] = {}  # id(z) -> a, for the neurons found so far
        self._inputs: dict[int, list[tuple[int, Value]]] = {}  # id(node) -> inputs(node), found once

    def key(self, node: Value) -> Value:
        """The node that stands for ``node``'s box: a neuron's z stands for its a too."""
        z = neuron_z(node) if self.collapse else None
        if z is not None:
            self.activation_of.setdefault(id(z), node)
            if self.activation_of[id(z)] is node:
                return z
        return node

    def folded(self, node: Value) -> tuple[int, ...]:
        return _folded_slots(node) if self.collapse and op_name(node) == "linear" else ()

    def inputs(self, node: Value) -> list[tuple[int, Value]]:
        """(slot, parent) for the parents drawn as boxes of their own; found once per node, in time
        linear in its parents (a neuron may have 100,000 inputs, and this is asked for every box)."""
        found = self._inputs.get(id(node))
        if found is None:
            folded = set(self.folded(node))
            found = [(slot, parent) for slot, parent in enumerate(node.parents) if slot not in folded]
            self._inputs[id(node)] = found
        return found

    def input_boxes(self, node: Value) -> list[Value]:
        return [self.key(parent) for _, parent in self.inputs(node)]


@dataclass
class _Cut:
    """What was left out of a drawing, to say so on it."""

    left_out: int  # boxes not drawn
    total: int  # boxes in the graph (more than COUNT_LIMIT: stopped counting)
    too_dense: bool  # boxes were cut for long edges, not for max_nodes


def _box_levels(inputs: list[list[int]]) -> list[int]:
    """Each box's level from its inputs (1 + the highest input's; 0 with none); a box with no
    inputs sits just below its lowest consumer, as dot would place it. Boxes by index."""
    count = len(inputs)
    consumers: list[list[int]] = [[] for _ in range(count)]
    waiting = [len(set(parents)) for parents in inputs]
    for child, parents in enumerate(inputs):
        for parent in set(parents):
            consumers[parent].append(child)
    level = [0] * count
    ready = [k for k in range(count) if waiting[k] == 0]
    while ready:  # Kahn's order: a box after all its inputs
        box = ready.pop()
        for child in consumers[box]:
            level[child] = max(level[child], level[box] + 1)
            waiting[child] -= 1
            if waiting[child] == 0:
                ready.append(child)
    for box in range(count):
        if not inputs[box] and consumers[box]:
            level[box] = min(level[child] for child in consumers[box]) - 1
    return level


def _long_edge_cost(inputs: list[list[int]], labelled: bool) -> int:
    """About how many dummy nodes dot adds for edges spanning ranks (each box is two ranks: op, value)."""
    level = _box_levels(inputs)
    cost = sum(
        max(0, 2 * (level[child] - level[parent]) - 2)
        for child, parents in enumerate(inputs) for parent in set(parents)
    )
    return 2 * cost if labelled else cost


_STEP_THROUGH_LESS = (
    "The page draws the whole graph: step through a smaller sub-expression (one sample's loss, one neuron)"
)


def _pick_boxes(
    root: Value, boxing: _Boxing, options: DrawOptions, caller: str = "draw"
) -> tuple[list[Value], _Cut]:
    """The box keys to draw, nearest the root first: at most ``max_nodes``, and fewer when their
    long edges would keep dot busy for seconds. Raises GraphTooLargeError if told to, with the
    advice ``caller`` can follow (the stepper draws the whole graph: it has no truncating)."""
    keys, total = walk(boxing.key(root), keep=options.max_nodes, neighbours=boxing.input_boxes)
    if total > len(keys) and options.on_overflow == "raise":
        count = f"more than {COUNT_LIMIT:,}" if total > COUNT_LIMIT else f"{total:,}"
        advice = (
            f"Draw a smaller sub-expression, pass collapse_neurons=True, raise max_nodes (at your own "
            f"wait), or pass on_overflow='truncate' to draw the {options.max_nodes:,} nodes nearest the root"
            if caller == "draw" else _STEP_THROUGH_LESS
        )
        raise GraphTooLargeError(
            f"{caller}: the graph has {count} nodes to draw, more than max_nodes={options.max_nodes:,}. dot "
            f"needs about 37 s for 5,500 nodes and hangs past 13,000. {advice}"
        )
    index = {id(key): k for k, key in enumerate(keys)}
    inputs = [[index[id(p)] for p in boxing.input_boxes(key) if id(p) in index] for key in keys]

    def fits(count: int) -> bool:
        kept = [[p for p in parents if p < count] for parents in inputs[:count]]
        labelled = options.show_local_grads and sum(map(len, kept)) <= _LABELLED_EDGES
        return _long_edge_cost(kept, labelled) <= _LONG_EDGE_BUDGET

    kept = len(keys)
    if not fits(kept):
        low, high = 1, kept  # fits(low) holds: one box has no edges
        while high - low > 1:
            middle = (low + high) // 2
            low, high = (middle, high) if fits(middle) else (low, middle)
        kept = low
        if options.on_overflow == "raise":
            advice = (
                f"Draw a smaller sub-expression, or pass on_overflow='truncate' to draw those {kept:,}"
                if caller == "draw" else _STEP_THROUGH_LESS
            )
            raise GraphTooLargeError(
                f"{caller}: the graph's {len(keys):,} boxes have too many edges spanning many ranks for "
                f"dot to lay them out in seconds (the {kept:,} nearest the root fit). {advice}"
            )
    return keys[:kept], _Cut(total - kept, total, kept < len(keys))


# ---------------------------------------------------------------------------
# Painting: boxes, ops, edges and the legend, as DOT nodes with estimated sizes
# ---------------------------------------------------------------------------
def _html(text: str) -> str:
    """``text`` safe inside a Graphviz HTML-like label: markup characters become entities."""
    text = "".join(ch if ch.isprintable() else " " for ch in str(text))
    return (  # dot expands \N, \G, ... even in HTML labels: a doubled backslash is one backslash
        text.replace("\\", "\\\\").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        .replace('"', "&quot;").replace("'", "&#39;")
        .replace("]", "&#93;")  # dot's HTML parser fails on a text of only ] (found by hypothesis)
    )


def _text_width(text: str, size: float = 11) -> float:
    """About how wide ``text`` is drawn in Helvetica at ``size`` points (for choosing a layout)."""
    return 0.56 * size * len(text)


@dataclass
class _Scene:
    """The DOT nodes and edges of a drawing before layout, with what the layout needs to know."""

    nodes: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    edges: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    level: dict[str, int] = field(default_factory=dict)  # DOT name -> level of its box
    size: dict[str, tuple[float, float]] = field(default_factory=dict)  # DOT name -> (w, h) in points
    label_size: list[tuple[int, float, float]] = field(default_factory=list)  # (level, w, h) of edge labels
    title_of: dict[str, str] = field(default_factory=dict)  # box id -> the name it shows
    screen: tuple[int, int] = SCREEN


@dataclass
class Drawing:
    """A drawing, and where each node went in it (DOT ids), for views that animate it (the stepper)."""

    graph: graphviz.Digraph
    names: NodeNames
    box_of: dict[int, str] = field(default_factory=dict)  # id(node) -> id of its box
    op_of: dict[int, str] = field(default_factory=dict)  # id(node) -> id of the op node making it
    result_edge_of: dict[int, str] = field(default_factory=dict)  # id(node) -> id of the edge op -> box
    edge_of: dict[tuple[int, int], str] = field(default_factory=dict)  # (id(child), slot) -> edge id
    copies: dict[str, list[str]] = field(default_factory=dict)  # box id -> its copies in a wrapped drawing


class _Painter:
    """Writes boxes, op nodes, edges and the legend into a scene; remembers what the legend must say."""

    def __init__(
        self, names: NodeNames, options: DrawOptions, on_path: set[int], parameter_ids: set[int] | None,
        root: Value, gradient: Callable[[Value], float],
    ) -> None:
        self.names, self.options = names, options
        self.on_path, self.parameter_ids = on_path, parameter_ids
        self.root, self.gradient = root, gradient
        self.scene = _Scene(screen=options.screen)
        self.roles_used: dict[str, None] = {}
        self.notes: dict[str, None] = {}  # legend lines, in the order first needed
        self.warnings: list[str] = []  # lines shown even without a legend: what was left out
        self.label_edges = options.show_local_grads
        self.shares: Counter[int] = Counter()  # id(parameter) -> how many neuron boxes hold it
        self._local_grads: dict[int, tuple[float, ...]] = {}  # id(node) -> node.local_grads, read once
        self.ids = Drawing(graphviz.Digraph(), names)  # where each node goes; the graph comes last

    def number(self, x: float) -> str:
        return format_number(x, self.options.digits)

    def local_grads(self, node: Value) -> tuple[float, ...]:
        """``node.local_grads``, computed once per node: a sum's are made from all its n parents on
        every read, so reading them once per edge would take time n × edges."""
        found = self._local_grads.get(id(node))
        if found is None:
            found = self._local_grads[id(node)] = node.local_grads
        return found

    def paint(self, boxes: dict[int, _Box], boxing: _Boxing, cut: _Cut) -> _Scene:
        """Every box, op and edge of the drawing, and the notes of what was left out."""
        self.shares = Counter(id(box.node.parents[slot]) for box in boxes.values() for slot in box.folded)
        labelled = sum(len(boxing.inputs(box.node)) for box in boxes.values())
        if self.label_edges and labelled > _LABELLED_EDGES:
            self.label_edges = False
            self.notes[
                f"local derivatives left off: {labelled:,} edges, more than {_LABELLED_EDGES} "
                "(dot would take seconds); draw a smaller sub-expression to see them"
            ] = None
        inputs: dict[int, list[int]] = {}
        for box in boxes.values():
            self.add_box(box)
            sources = (boxes.get(id(boxing.key(parent))) for _, parent in boxing.inputs(box.node))
            inputs[box.index] = [source.index for source in sources if source is not None]
        levels = _box_levels([inputs[k] for k in range(len(boxes))])
        for box in boxes.values():
            self._set_level(box.index, levels[box.index])
        self._add_all_edges(boxes, boxing, levels)
        if cut.left_out or any(box.edges_left_out for box in boxes.values()):
            self.add_omitted(boxes.values(), cut, levels)
        self._note_names(boxes.values())
        return self.scene

    def _set_level(self, index: int, level: int) -> None:
        for name in (f"v{index}", f"o{index}"):
            if name in self.scene.size:
                self.scene.level[name] = level

    # -- boxes and ops ----------------------------------------------------
    def role(self, box: _Box) -> str:
        node = box.node
        if node is self.root or box.activation is self.root:
            return "output"
        if box.is_neuron:
            return "neuron"
        if node.parents:
            return "intermediate"
        return "parameter" if self._is_parameter(node) else "input"

    def _is_parameter(self, node: Value) -> bool:
        if self.parameter_ids is not None:
            return id(node) in self.parameter_ids
        return bool(_PARAMETER_LABEL.match(node.label))

    def highlighted(self, nodes: Iterable[Value]) -> bool:
        return any(id(node) in self.on_path for node in nodes)

    def entry(self, box: _Box) -> str:
        """Where a box's incoming edges end: its op node, or the box itself for a neuron or a leaf."""
        if not box.node.parents or box.is_neuron:
            return f"v{box.index}"
        return f"o{box.index}"

    def _value_cells(self, name: str, node: Value, italic: bool = False) -> list[str]:
        name_html = f"<I>{_html(name)}</I>" if italic else f"<B>{_html(name)}</B>"
        cells = [name_html, f"data {_html(self.number(node.data))}"]
        if self.options.show_grad:
            cells.append(f"grad {_html(self.number(self.gradient(node)))}")
        return cells

    def add_box(self, box: _Box) -> None:
        role = self.role(box)
        self.roles_used[role] = None
        lit = self.highlighted(box.members)
        node = box.node
        if box.is_neuron:
            rows = self._neuron_rows(box)
        else:
            rows = [self._value_cells(self.names(node), node, italic=not node.label)]
        span = max(len(row) for row in rows)
        table = (
            f'<TABLE BORDER="{3 if lit else 1}" CELLBORDER="1" CELLSPACING="0" CELLPADDING="3" '
            f'BGCOLOR="{ROLE_COLORS[role][0]}" COLOR="{HIGHLIGHT_COLOR if lit else _BORDER}">'
        )
        body = "".join(
            f'<TR><TD COLSPAN="{span}">{row[0]}</TD></TR>' if len(row) == 1 and span > 1
            else "<TR>" + "".join(f"<TD>{cell}</TD>" for cell in row) + "</TR>"
            for row in rows
        )
        name = f"v{box.index}"
        self.scene.nodes.append((name, {
            "label": f"<{table}{body}</TABLE>>", "id": name,
            "tooltip": f"data = {node.data!r}; grad = {self.gradient(node)!r}",
            "class": f"value {role}" + (" highlight" if lit else ""),
        }))
        width = max(sum(_text_width(re.sub("<[^>]*>", "", cell)) + 8 for cell in row) for row in rows)
        self.scene.size[name] = (width + 4, 20.0 * len(rows) + 4)
        self.scene.title_of[name] = self.names(box.activation if box.activation is not None else node)
        for member in box.members:
            self.ids.box_of.setdefault(id(member), name)
        if self.entry(box).startswith("o"):
            self._add_op(box, lit)

    def _neuron_rows(self, box: _Box) -> list[list[str]]:
        z, a = box.node, box.activation
        kind = op_name(a) if a is not None else "no activation"
        title = f"neuron {self.names(a if a is not None else z)} ({kind})"
        rows = [[f"<B>{_html(title)}</B>"], self._value_cells(f"{self.names(z)} = Σ w·x + b", z)]
        if a is not None:
            rows.append(self._value_cells(f"{self.names(a)} = {op_symbol(a)}(z)", a))
        n = len(linear_parts(z.parents)[0])
        weights = [slot for slot in box.folded if slot < n]
        if len(weights) <= _FOLD_LIMIT:
            rows += [self._parameter_cells(z, slot) for slot in weights]
        else:
            rows.append(self._weights_summary(z, weights))
        if 2 * n in box.folded:
            rows.append(self._parameter_cells(z, 2 * n))
        return rows

    def _parameter_cells(self, z: Value, slot: int) -> list[str]:
        """A folded W or b: its name, data and grad; a shared one (several boxes, e.g. one per
        sample) says its grad is the sum over them, and shows this box's part dL/dz · ∂z/∂w."""
        parameter = z.parents[slot]
        cells = self._value_cells(self.names(parameter), parameter)
        uses = self.shares[id(parameter)]
        if uses > 1 and self.options.show_grad:
            cells[-1] += f" (Σ of {uses})"
            cells.append(f"this use {_html(self.number(self.gradient(z) * self.local_grads(z)[slot]))}")
            self.notes[
                "(Σ of k): a W or b used by k boxes (e.g. one per sample) has one grad, the sum of "
                "its uses; 'this use' is this box's part, dL/dz · ∂z/∂w"
            ] = None
        return cells

    def _weights_summary(self, z: Value, slots: list[int]) -> list[str]:
        weights = [z.parents[slot] for slot in slots]
        cells = [
            f"{_html(self.names(weights[0]))} … {_html(self.names(weights[-1]))} ({len(weights)})",
            f"‖w‖ {_html(self.number(math.hypot(*(w.data for w in weights))))}",
        ]
        if self.options.show_grad:
            cells.append(f"‖dw‖ {_html(self.number(math.hypot(*map(self.gradient, weights))))}")
            if self.shares[id(weights[0])] > 1:
                cells[-1] += f" (Σ of {self.shares[id(weights[0])]})"
                local = self.local_grads(z)
                parts = (self.gradient(z) * local[slot] for slot in slots)
                cells.append(f"this use ‖·‖ {_html(self.number(math.hypot(*parts)))}")
        return cells

    def _add_op(self, box: _Box, lit: bool) -> None:
        node = box.node
        text = op_symbol(node)
        if node.const is not None:
            constant = self.number(node.const)
            number_first = not isinstance(node.inputs[0], Value)
            if node.op.notation.kind == "call":  # a function, e.g. a user's atan2: · marks the Value's place
                operands = f"{constant}, ·" if number_first else f"·, {constant}"
                text = f"{text.rstrip()}({operands})"
            else:
                text = f"{constant} {text}" if number_first else f"{text} {constant}"
        self.roles_used["op"] = None
        name = f"o{box.index}"
        self.scene.nodes.append((name, {
            "label": f"<{_html(text)}>", "id": name, "shape": "ellipse", "style": "filled",
            "fillcolor": ROLE_COLORS["op"][0], "color": HIGHLIGHT_COLOR if lit else _BORDER,
            "penwidth": "2.5" if lit else "1", "margin": "0.03,0.01", "height": "0.3", "fontsize": "10",
            "tooltip": op_rule(node), "class": "op" + (" highlight" if lit else ""),
        }))
        self.scene.size[name] = (max(_text_width(text, 10) + 16, 40.0), 22.0)
        self.ids.op_of[id(node)] = name
        result_edge = self.ids.result_edge_of[id(node)] = f"r{box.index}"
        self._edge(name, f"v{box.index}", result_edge, self._edge_style(lit))

    # -- edges ------------------------------------------------------------
    def _edge(self, tail: str, head: str, edge_id: str, attributes: dict[str, str]) -> None:
        self.scene.edges.append((tail, head, {"id": edge_id, **attributes}))

    def _edge_style(self, lit: bool) -> dict[str, str]:
        if lit:
            return {"color": HIGHLIGHT_COLOR, "penwidth": "2.5", "class": "highlight"}
        return {}

    def _add_all_edges(self, boxes: dict[int, _Box], boxing: _Boxing, levels: list[int]) -> None:
        """The edges into each box, grouped by source box; a dense layer goes through a junction."""
        edge_budget = 6 * self.options.max_nodes + 50  # dense graphs: dot's time grows with edges too
        sources_of: dict[int, dict[int, list[tuple[int, Value]]]] = {}
        for box in boxes.values():
            groups: dict[int, list[tuple[int, Value]]] = {}
            for slot, parent in boxing.inputs(box.node):
                source = boxes.get(id(boxing.key(parent)))
                if source is None or edge_budget <= 0:
                    box.edges_left_out += 1
                    continue
                groups.setdefault(source.index, []).append((slot, parent))
                edge_budget -= 1
            sources_of[box.index] = groups
        layers = self._dense_layers(boxes, sources_of) if boxing.collapse else []
        bused = {target for _, targets in layers for target in targets}
        by_index = {box.index: box for box in boxes.values()}
        for target, groups in sources_of.items():
            if target in bused:
                continue
            box = by_index[target]
            for source, slots in groups.items():
                self.add_edges(f"v{source}", self.entry(box), box, slots, levels[target])
        for number, (sources, targets) in enumerate(layers):
            self._add_junction(number, sources, [by_index[t] for t in targets], sources_of, levels)

    @staticmethod
    def _dense_layers(
        boxes: dict[int, _Box], sources_of: dict[int, dict[int, list[tuple[int, Value]]]]
    ) -> list[tuple[tuple[int, ...], list[int]]]:
        """Groups of ≥ 3 neuron boxes fed by the same ≥ 3 boxes: a fully connected layer."""
        layers: dict[tuple[int, ...], list[int]] = {}
        for box in boxes.values():
            sources = tuple(sorted(sources_of[box.index]))
            if box.is_neuron and len(sources) >= _BUS_MIN:
                layers.setdefault(sources, []).append(box.index)
        return [(sources, targets) for sources, targets in layers.items() if len(targets) >= _BUS_MIN]

    def _add_junction(
        self, number: int, sources: tuple[int, ...], targets: list[_Box],
        sources_of: dict[int, dict[int, list[tuple[int, Value]]]], levels: list[int],
    ) -> None:
        """One point between a layer and the next: each source → point → each target."""
        junction = f"j{number}"
        lit_targets = {box.index for box in targets if self.highlighted([box.node])}
        into_first = sources_of[targets[0].index]  # every target has the same sources
        lit_sources = {s for s in sources if self.highlighted(p for _, p in into_first[s])}
        lit = bool(lit_targets) and bool(lit_sources)
        self.scene.nodes.append((junction, {
            "label": "", "id": junction, "shape": "circle", "width": "0.12", "height": "0.12",
            "fixedsize": "true", "style": "filled", "fillcolor": HIGHLIGHT_COLOR if lit else _BORDER,
            "color": HIGHLIGHT_COLOR if lit else _BORDER, "class": "junction",
            "tooltip": f"{len(sources)} × {len(targets)} connections: every box before feeds every box after",
        }))
        self.scene.size[junction] = (9.0, 9.0)
        self.scene.level[junction] = min(levels[box.index] for box in targets)  # wraps with its layer
        for source in sources:
            self._edge(f"v{source}", junction, f"{junction}_{source}",
                       {"arrowhead": "none", **self._edge_style(lit and source in lit_sources)})
        for box in targets:
            edge_id = f"{junction}_to_{box.index}"
            self._edge(junction, f"v{box.index}", edge_id, self._edge_style(lit and box.index in lit_targets))
            for slots in sources_of[box.index].values():
                for slot, _ in slots:
                    self.ids.edge_of[(id(box.node), slot)] = edge_id
        self.notes[
            f"● a full connection: each of the {len(sources)} boxes before it feeds each of the "
            f"{len(targets)} after it ({len(sources) * len(targets):,} edges drawn as one point)"
        ] = None

    def add_edges(
        self, source: str, target: str, box: _Box, slots: list[tuple[int, Value]], level: int
    ) -> None:
        """Edges from one box into ``box``'s op (or neuron box): one per use, or one "×k" edge."""
        child = box.node
        lit = id(child) in self.on_path and self.highlighted(p for _, p in slots)
        style = self._edge_style(lit)
        if len(slots) > _MAX_PARALLEL:
            local_grads = self.local_grads(child)
            local = sum(local_grads[slot] for slot, _ in slots)
            text = f"×{len(slots)}"
            if self.label_edges:
                text += f" (Σ ∂ = {self.number(local)}; {self._contribution(child, local)})"
            edge_id = f"e{box.index}_{slots[0][0]}"
            self._label_size(level, [text])
            self._edge(source, target, edge_id, {"label": f"<{_html(text)}>", **style})
            for slot, _ in slots:
                self.ids.edge_of[(id(child), slot)] = edge_id
            return
        for slot, parent in slots:
            lines = self._edge_label(child, slot, parent)
            label = {"label": "<" + "<BR/>".join(map(_html, lines)) + ">"} if lines else {}
            self._label_size(level, lines)
            edge_id = f"e{box.index}_{slot}"
            self._edge(source, target, edge_id, {**label, **style})
            self.ids.edge_of[(id(child), slot)] = edge_id

    def _label_size(self, level: int, lines: list[str]) -> None:
        if lines:
            width = max(_text_width(line, 9) for line in lines)
            self.scene.label_size.append((level, width, 12.0 * len(lines)))

    def _contribution(self, child: Value, local: float) -> str:
        upstream = self.gradient(child)
        return f"{self.number(upstream)} × {self.number(local)} = {self.number(upstream * local)}"

    def _edge_label(self, child: Value, slot: int, parent: Value) -> list[str]:
        if self.label_edges:
            local = self.local_grads(child)[slot]
            self.notes["edge v → c: ∂c/∂v, then dL/dc × ∂c/∂v = what v gets from c (chain rule)"] = None
            partial = f"{self.names.partial(child, parent)} = {self.number(local)}"
            return [partial, self._contribution(child, local)]
        if len(child.parents) == 2 and op_name(child) in ("sub", "div", "pow"):
            return ["ab"[slot]]  # which operand, in the notation of the op's rule
        return []

    # -- notes --------------------------------------------------------------
    def add_omitted(self, boxes: Iterable[_Box], cut: _Cut, levels: list[int]) -> None:
        """Say what was left out: how many nodes (at the top, legend or not), and at each box whose
        inputs were not all drawn, a small note with their count (one long edge each from a single
        note would cost dot more than the drawing)."""
        self.roles_used["omitted"] = None
        max_nodes = self.options.max_nodes
        if cut.left_out:
            count = f"{cut.left_out:,}"
            if cut.total > COUNT_LIMIT:
                count = f"more than {COUNT_LIMIT - max_nodes:,}"
            why = f"max_nodes={max_nodes:,}"
            if cut.too_dense:
                why = "too many long edges for dot to lay out in seconds"
            self.warnings.append(f"… {count} more nodes not drawn ({why}: those nearest the root are drawn)")
        for box in boxes:
            if box.edges_left_out:
                count = box.edges_left_out
                stub = f"cut{box.index}"
                self.scene.nodes.append((stub, {
                    "label": f"… {count:,} input{'s' if count > 1 else ''}", "shape": "note",
                    "style": "filled", "fillcolor": ROLE_COLORS["omitted"][0], "fontsize": "9",
                    "margin": "0.05,0.02", "class": "omitted",
                }))
                self.scene.edges.append((stub, self.entry(box), {"style": "dashed"}))
                self.scene.size[stub] = (_text_width(f"… {count:,} inputs", 9) + 16, 24.0)
                self.scene.level[stub] = levels[box.index]

    def _note_names(self, boxes: Iterable[_Box]) -> None:
        kinds = {self.names.made_up(member) for box in boxes for member in box.members}
        if "t" in kinds:
            self.notes["t1, t7, …: values with no label, numbered from the root (set .label to name one)"] = (
                None
            )
        if "#" in kinds:
            self.notes["a#2: a 2nd node with the same name (e.g. the same unit for another sample)"] = None

    def legend_label(self) -> tuple[str, tuple[float, float]] | None:
        """The title, what was left out, and the compact legend (one row of role colours, then notes)
        as one HTML label, with its estimated size in points; None when there is nothing to say.

        Every line is wrapped to the colour row's width: dot spreads a wider line's extra width
        over the row's cells, which would push each colour away from its word.
        """
        legend = self.options.legend
        roles = [ROLE_COLORS[role] for role in ROLE_COLORS if role in self.roles_used] if legend else []
        notes = list(self.notes) if legend else []
        title = _cut(self.options.title or "", _TITLE_LIMIT)
        if not (title or roles or notes or self.warnings):
            return None
        width = max(45, sum(len(text) + 3 for _, text in roles))  # characters; a colour is about 3
        span = f'COLSPAN="{max(1, 2 * len(roles))}" ALIGN="LEFT"'
        swatch = '<TD BGCOLOR="{}" BORDER="1" WIDTH="10" HEIGHT="10" FIXEDSIZE="TRUE"></TD>'
        rows = [f'<TD {span}><FONT POINT-SIZE="12"><B>{_html(line)}</B></FONT></TD>'
                for line in textwrap.wrap(title, int(width / 1.45))]
        rows += [f'<TD {span}><FONT COLOR="{HIGHLIGHT_COLOR}">{_html(line)}</FONT></TD>'
                 for warning in self.warnings for line in textwrap.wrap(warning, width)]
        if roles:
            cells = (swatch.format(color) + f'<TD ALIGN="LEFT">{_html(text)}</TD>' for color, text in roles)
            rows.append("".join(cells))
        if legend and self.on_path:
            rest = f'COLSPAN="{max(1, 2 * len(roles) - 1)}" ALIGN="LEFT"'
            text = "on a path from the root to the highlighted node"
            rows.append(swatch.format(HIGHLIGHT_COLOR) + f"<TD {rest}>{text}</TD>")
        rows += [f"<TD {span}>{_html(line)}</TD>" for note in notes for line in textwrap.wrap(note, width)]
        table = "".join(f"<TR>{row}</TR>" for row in rows)
        table = f'<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="1" CELLPADDING="1">{table}</TABLE>'
        size = (_text_width("x" * width, 9), 13.0 * len(rows) + (6.0 if title else 0.0))
        return f'<<FONT POINT-SIZE="9">{table}</FONT>>', size


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ---------------------------------------------------------------------------
# Layout: direction and wrapping, chosen to fit the screen
# ---------------------------------------------------------------------------
_RANKSEP, _NODESEP, _BAND_GAP = 21.6, 10.8, 36.0  # points (0.3 in, 0.15 in, 0.5 in)


def _level_extent(scene: _Scene, rankdir: str) -> dict[int, tuple[float, float]]:
    """Estimated (along, across) extent in points of each level, along being the edges' direction:
    a level is a rank of boxes, one of ops above it and one of edge labels, if any."""
    deepest: dict[int, dict[str, float]] = {}  # level -> kind (v box, o op, l label) -> depth
    across: Counter[int] = Counter()

    def add(level: int, kind: str, width: float, height: float, share: float) -> None:
        depth, breadth = (height, width) if rankdir == "TB" else (width, height)
        kinds = deepest.setdefault(level, {})
        kinds[kind] = max(kinds.get(kind, 0.0), depth)
        across[level] += share * breadth

    for name, level in scene.level.items():
        add(level, name[0], *scene.size[name], share=1.0 if name[0] == "v" else 0.0)
        across[level] += _NODESEP if name[0] == "v" else 0.0
    for level, width, height in scene.label_size:
        add(level, "l", width, height, share=0.5)  # labels sit beside their edges, half overlapping
    return {
        level: (sum(depth + _RANKSEP for depth in kinds.values()), across[level])
        for level, kinds in deepest.items()
    }


def _bands(along: list[float], count: int) -> list[int]:
    """For each level, which of at most ``count`` bands (columns or rows) of consecutive levels it
    goes in, so that the longest band is as short as it can be."""

    def split(limit: float) -> list[int]:  # fill each band up to ``limit``
        band_of, band, filled = [], 0, 0.0
        for length in along:
            if filled and filled + length > limit:
                band, filled = band + 1, 0.0
            band_of.append(band)
            filled += length
        return band_of

    low, high = max(along, default=0.0), sum(along)
    for _ in range(30):  # bisect the limit: the smallest one that needs at most ``count`` bands
        middle = (low + high) / 2
        low, high = (low, middle) if split(middle)[-1] < count else (middle, high)
    return split(high)


def _fit(scene: _Scene, rankdir: str, count: int, legend: tuple[float, float]) -> tuple[float, list[int]]:
    """The scale at which the drawing, wrapped into ``count`` bands, fits the screen (at most 1),
    and the band of each level: bands of equal length, or of equally many levels, the better."""
    extent = _level_extent(scene, rankdir)
    levels = max(extent, default=0) + 1
    along = [extent.get(level, (0.0, 0.0))[0] for level in range(levels)]
    per = -(-levels // count)
    fits = []
    for band_of in (_bands(along, count), [level // per for level in range(levels)]):
        length, breadth = [0.0] * count, [0.0] * count
        for level, (depth, across) in extent.items():
            length[band_of[level]] += depth
            breadth[band_of[level]] = max(breadth[band_of[level]], across)
        copy = 90.0 if rankdir == "LR" else 26.0  # a band after the first starts at copies of boxes
        length = [length[0], *(band + copy + _RANKSEP for band in length[1:])]
        width, height = sum(breadth) + _BAND_GAP * band_of[-1], max(length)
        if rankdir == "LR":
            width, height = height, width
        width, height = max(width, legend[0]), height + legend[1]
        screen_width, screen_height = (px * 0.75 for px in scene.screen)  # pixels to points
        fits.append((min(1.0, screen_width / width, screen_height / height), band_of))
    return max(fits, key=lambda fit: fit[0])


def _choose_layout(
    scene: _Scene, rankdir: str, legend: tuple[float, float], ordered: bool = False
) -> tuple[str, list[int]]:
    """(rankdir, band of each level): the asked direction unwrapped, or for "auto" the candidate
    that fits the screen at the largest scale; wrapping must gain 5% over fewer bands. An
    ``ordered`` drawing (neurons in index order) wraps only into columns: dot turns the order of
    nodes within rows of a left-to-right drawing upside down."""
    levels = max(scene.level.values(), default=0) + 1
    if rankdir != "auto":
        return rankdir, [0] * levels
    boxes = sum(name.startswith("v") for name in scene.level)
    counts = range(1, 7) if boxes <= _WRAP_LIMIT else [1]
    best, best_scale = ("LR", [0] * levels), 0.0
    for count in counts:
        for direction in ("LR", "TB"):
            if count > 1 and (levels < 2 * count or (ordered and direction == "LR")):
                continue
            scale, band_of = _fit(scene, direction, count, legend)
            if scale > best_scale * (1.05 if count > 1 else 1.0):
                best, best_scale = (direction, band_of), scale
    return best


@dataclass(frozen=True)
class _Layout:
    rankdir: str
    band_of_level: list[int]  # the column (top down) or row (left to right) each level is wrapped into
    quick: bool = False  # a big drawing: dot's crossing and placement passes cut short
    ordered: bool = False  # in-edges keep the order they are written in (neurons in index order)


def _digraph(
    scene: _Scene, layout: _Layout, legend: str | None
) -> tuple[graphviz.Digraph, dict[str, list[str]]]:
    """The scene as a Digraph, and the copies made of each box (DOT id -> ids of its copies)."""
    graph_attr = {"rankdir": layout.rankdir, "fontname": "Helvetica", "nodesep": "0.15", "ranksep": "0.3"}
    if legend:
        graph_attr.update(label=legend, labelloc="t", labeljust="l")
    if layout.quick:  # seconds, not minutes, on a big graph
        graph_attr.update(mclimit="0.3", nslimit="3", nslimit1="3")
    if layout.ordered:
        graph_attr["ordering"] = "in"
    graph = graphviz.Digraph(
        name="chainrule", graph_attr=graph_attr,
        node_attr={"fontname": "Helvetica", "fontsize": "11", "shape": "plain"},
        edge_attr={"fontname": "Helvetica", "fontsize": "9", "color": _BORDER, "arrowsize": "0.6"},
    )
    band = _band_of_nodes(scene, layout)
    members: list[list[tuple[str, dict[str, str]]]] = [[] for _ in range(layout.band_of_level[-1] + 1)]
    for name, attributes in scene.nodes:
        members[band.get(name, 0)].append((name, attributes))
    edges, copies = _wrapped_edges(scene, layout, band, members)
    if len(members) > 1:
        # dot stacks clusters of a left-to-right drawing bottom up: declared in reverse, they read down
        numbered = list(enumerate(members))
        for number, nodes in numbered[::-1] if layout.rankdir == "LR" else numbered:
            with graph.subgraph(name=f"cluster_band{number}") as cluster:
                cluster.attr(style="invis", label="")  # not the graph's legend again
                for name, attributes in nodes:
                    cluster.node(name, **attributes)
    else:
        for name, attributes in members[0]:
            graph.node(name, **attributes)
    for tail, head, attributes in edges:
        graph.edge(tail, head, **attributes)
    return graph, copies


def _band_of_nodes(scene: _Scene, layout: _Layout) -> dict[str, int]:
    """The band each DOT node is drawn in: its level's, but a leaf goes with its first consumer."""
    band = {name: layout.band_of_level[level] for name, level in scene.level.items()}
    fed = {head for _, head, _ in scene.edges}
    first_use: dict[str, int] = {}
    for tail, head, _ in scene.edges:
        if tail not in fed and tail in band:
            first_use[tail] = min(first_use.get(tail, len(band)), band.get(head, 0))
    band.update(first_use)
    return band


def _wrapped_edges(
    scene: _Scene, layout: _Layout, band: dict[str, int], members: list[list[tuple[str, dict[str, str]]]]
) -> tuple[list[tuple[str, str, dict[str, str]]], dict[str, list[str]]]:
    """The edges, each from a box in another band redrawn from a copy of that box in the op's band
    (``z (from column 1)``), so no edge runs back across the drawing; the copies go into ``members``."""
    copies: dict[str, list[str]] = {}
    edges = []
    place = "column" if layout.rankdir in ("TB", "BT") else "row"
    for tail, head, attributes in scene.edges:
        if band.get(tail, 0) != band.get(head, 0):
            where = band[head]
            copy = f"{tail}_in{where}"
            if copy not in copies.setdefault(tail, []):
                copies[tail].append(copy)
                members[where].append((copy, {
                    "label": f"<{_html(scene.title_of[tail])} <I>(from {place} {band[tail] + 1})</I>>",
                    "id": copy, "shape": "box", "style": "dashed,rounded", "fontsize": "10",
                    "margin": "0.05,0.02", "class": "copy",
                }))
            tail = copy
        edges.append((tail, head, attributes))
    return edges, copies


# ---------------------------------------------------------------------------
# The public calls
# ---------------------------------------------------------------------------
def draw(
    root: Value,
    *,
    rankdir: str = "auto",
    show_grad: bool = True,
    show_local_grads: bool = False,
    highlight: Value | Iterable[Value] | None = None,
    max_nodes: int = 300,
    on_overflow: Overflow = "truncate",
    collapse_neurons: bool = False,
    digits: int = 4,
    title: str | None = None,
    parameters: Iterable[Value] | None = None,
    legend: bool = True,
) -> graphviz.Digraph:
    """The graph below ``root`` as a ``graphviz.Digraph``: values, ops, and how gradients flow.

    Boxes show each value's name, ``data`` and ``grad`` (``digits`` significant
    digits), coloured by role: output (``root``), inputs, parameters (the
    ``parameters`` given, else leaves labelled like ``W[l]_i,j``, ``b[l]_i``, ``w``,
    ``b``), intermediate values; a compact legend (``legend=False``: none) says
    which is which and what made-up names such as ``t7`` or ``a#2`` mean. Ops are
    separate small nodes. ``show_local_grads`` writes on each edge v → op of c
    the local derivative ∂c/∂v and the contribution dL/dc · ∂c/∂v (from the
    stored grads); ``highlight`` (a Value, or a list or set of them) colours every
    path from ``root`` to the given node(s). ``collapse_neurons`` draws each
    ``linear`` node and the activation on it as one neuron box, its leaf weights
    and bias inside, in index order, a fully connected layer's edges through one
    junction, so an MLP stays readable.

    ``rankdir="auto"`` picks left-to-right or top-down, and for up to 60 boxes a
    wrap into columns or rows, so the drawing fits a 16:9 screen; ``"LR"``,
    ``"TB"``, ``"RL"``, ``"BT"`` force a direction. At most ``max_nodes`` boxes
    are drawn, and fewer if their long edges would keep dot busy for seconds:
    past that, ``on_overflow="truncate"`` draws the boxes nearest the root and
    one node counting the rest, and ``on_overflow="raise"`` raises
    ``GraphTooLargeError``.
    """
    options = DrawOptions(
        rankdir, show_grad, show_local_grads, max_nodes, on_overflow, collapse_neurons, digits, title, legend
    )
    return drawing(root, options, highlight=highlight, parameters=parameters).graph


def drawing(
    root: Value,
    options: DrawOptions,
    *,
    highlight: Value | Iterable[Value] | None = None,
    parameters: Iterable[Value] | None = None,
    gradient: Callable[[Value], float] | None = None,
    names: NodeNames | None = None,
    caller: str = "draw",
) -> Drawing:
    """``draw``, with where each node went (``Drawing``); ``gradient(node)`` replaces ``node.grad``
    and ``names`` the names made from the walk over the boxes (the stepper's text uses its own)."""
    check_root(root, caller)
    options.check(caller)
    targets = _values(highlight, "highlight", caller) if highlight is not None else []
    parameter_ids = None if parameters is None else set(map(id, _values(parameters, "parameters", caller)))
    boxing = _Boxing(options.collapse_neurons)
    keys, cut = _pick_boxes(root, boxing, options, caller)
    boxes = {id(key): _Box(key, k, boxing.activation_of.get(id(key))) for k, key in enumerate(keys)}
    for box in boxes.values():
        box.folded = boxing.folded(box.node)
        box.members = [box.node, *([box.activation] if box.activation is not None else [])]
        box.members += [box.node.parents[slot] for slot in box.folded]
    on_path = nodes_on_paths(root, targets, caller, "highlight") if targets else set()
    names = names or NodeNames({id(key): k for k, key in enumerate(keys)}, options.digits)
    names.name_all(member for box in boxes.values() for member in box.members)
    painter = _Painter(names, options, on_path, parameter_ids, root, gradient or (lambda node: node.grad))
    scene = painter.paint(boxes, boxing, cut)
    legend = painter.legend_label()
    rankdir, band_of_level = _choose_layout(
        scene, options.rankdir, legend[1] if legend else (0.0, 0.0), options.collapse_neurons
    )
    layout = _Layout(rankdir, band_of_level, len(boxes) >= _QUICK_LAYOUT_FROM, options.collapse_neurons)
    painter.ids.graph, painter.ids.copies = _digraph(scene, layout, legend[0] if legend else None)
    return painter.ids


def to_dot(root: Value, **options: object) -> str:
    """The DOT source of ``draw(root, **options)``; needs no Graphviz install."""
    return draw(root, **options).source  # type: ignore[arg-type]


_FORMATS = {".svg": "svg", ".png": "png", ".pdf": "pdf"}
_INSTALL_GRAPHVIZ = (
    "Install Graphviz (Debian/Ubuntu: sudo apt-get install graphviz; macOS: brew install graphviz; "
    "conda: conda install graphviz)"
)


def render(source: str, file_format: str, caller: str) -> bytes:
    """``source`` laid out by Graphviz's ``dot`` as ``file_format`` bytes.

    A missing ``dot`` raises ``GraphvizNotFoundError`` and any failure of dot
    ``RenderError``, each naming ``caller``, never a bare subprocess error.
    """
    try:
        done = subprocess.run(  # noqa: S603 - Graphviz's dot, found on PATH, on DOT text we generated
            ["dot", f"-T{file_format}"],  # noqa: S607
            input=source.encode("utf-8"), capture_output=True, check=False,
        )
    except FileNotFoundError:
        raise GraphvizNotFoundError(
            f"{caller}: the Graphviz program 'dot' was not found on PATH. {_INSTALL_GRAPHVIZ}"
        ) from None
    except OSError as error:
        raise RenderError(f"{caller}: could not run Graphviz's dot: {error}") from None
    if done.returncode != 0:
        said = done.stderr.decode("utf-8", "replace").strip()[:500] or "no message"
        raise RenderError(
            f"{caller}: Graphviz's dot failed (exit status {done.returncode}) on this graph: {said}"
        )
    return done.stdout


def save_svg(root: Value, path: str | os.PathLike[str], **options: object) -> Path:
    """Draw ``root`` (options as for ``draw``) into ``path``; returns the path.

    The suffix says the format: ``.svg``, ``.png`` or ``.pdf`` (``.svg`` is added
    when there is none; any other suffix is refused before anything is written).
    Missing folders are made. If the Graphviz ``dot`` program is missing, the DOT
    source is written beside it (same name, ``.gv``) and ``GraphvizNotFoundError``
    says how to install Graphviz; if dot fails, ``RenderError`` says why.
    """
    path = file_path("save_svg", path, ".svg")
    file_format = _FORMATS.get(path.suffix.lower())
    if file_format is None:
        raise ValueError(
            f"save_svg: cannot write {path.suffix!r} files ({path}): the suffix must be .svg, .png or .pdf"
        )
    source = draw(root, **options).source  # type: ignore[arg-type]
    try:
        data = render(source, file_format, "save_svg")
    except GraphvizNotFoundError:
        source_path = path.with_suffix(".gv")
        write_file("save_svg", source_path, lambda file: file.write(source), make_folders=True)
        raise GraphvizNotFoundError(
            f"save_svg: the Graphviz program 'dot' was not found on PATH, so {path} was not written. "
            f"{_INSTALL_GRAPHVIZ} and try again. The DOT source is saved in {source_path}: render it "
            f"later with dot -T{file_format} {source_path} -o {path}",
            source_path,
        ) from None
    write_file("save_svg", path, lambda file: file.write(data), binary=True, make_folders=True)
    return path

"""See the graph: a computation graph drawn with Graphviz, local derivatives on the edges.

``draw(root)`` returns a ``graphviz.Digraph`` (it shows inline in Jupyter);
``save_svg(root, path)`` writes an SVG file; ``to_dot(root)`` gives the DOT text
and needs no Graphviz install. Every value is a box with its name, ``data`` and
``grad``; every op is a small node of its own between its inputs and its result,
with a number operand (the 2 of ``x * 2``) written in it. With
``show_local_grads=True`` each edge from an input v into the op making c carries

    ∂c/∂v = local          and          upstream × local = contribution,

the two factors of the chain rule dL/dv = Σ_c dL/dc · ∂c/∂v, so the sum of the
contributions on the edges leaving a node is that node's grad.

The drawing is bounded: ``dot`` takes about 37 s for 5,500 nodes and hangs past
about 13,000, so past ``max_nodes`` only the nodes nearest the root are drawn
(with one node saying how many were left out), or ``GraphTooLargeError`` is
raised. Node names in the DOT text come from the walk from the root, never from
``id()``, so the same graph always gives the same DOT and the same SVG bytes.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import graphviz

from engine.explain import COUNT_LIMIT, NodeNames, d, format_number, nodes_on_paths, walk
from engine.files import atomic_write
from engine.value import OPS, Value

_LINEAR = OPS["linear"]
_ACTIVATIONS = frozenset(OPS[name] for name in ("sigmoid", "tanh", "relu"))

ROLE_COLORS: dict[str, tuple[str, str]] = {
    "output": ("#b7e4c7", "output (the root)"),
    "input": ("#cfe2ff", "input (leaf)"),
    "parameter": ("#ffe08a", "parameter (W, b: leaf)"),
    "intermediate": ("#f1f3f5", "intermediate value"),
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

Overflow = Literal["truncate", "raise"]


class GraphTooLargeError(ValueError):
    """The graph has more nodes than ``max_nodes``: drawing it would take dot minutes or hang."""


class GraphvizNotFoundError(graphviz.ExecutableNotFound):
    """The Graphviz ``dot`` program is not installed; the DOT source was saved instead."""

    def __init__(self, message: str, source_path: Path) -> None:
        RuntimeError.__init__(self, message)
        self.source_path = source_path


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
    n = (len(parents) - 1) // 2
    slots = (*range(n), 2 * n)
    return tuple(slot for slot in slots if not parents[slot].parents)


class _Boxing:
    """Which box each node belongs to; with ``collapse`` a neuron's z and a share one."""

    def __init__(self, collapse: bool) -> None:
        self.collapse = collapse
        self.activation_of: dict[int, Value] = {}  # id(z) -> a, for the neurons found so far

    def key(self, node: Value) -> Value:
        """The node that stands for ``node``'s box: a neuron's z stands for its a too."""
        if self.collapse and node.op in _ACTIVATIONS and node.parents[0].op is _LINEAR:
            z = node.parents[0]
            self.activation_of.setdefault(id(z), node)
            if self.activation_of[id(z)] is node:
                return z
        return node

    def folded(self, node: Value) -> tuple[int, ...]:
        return _folded_slots(node) if self.collapse and node.op is _LINEAR else ()

    def inputs(self, node: Value) -> list[tuple[int, Value]]:
        """(slot, parent) for the parents drawn as boxes of their own."""
        folded = self.folded(node)
        return [(slot, parent) for slot, parent in enumerate(node.parents) if slot not in folded]

    def input_boxes(self, node: Value) -> list[Value]:
        return [self.key(parent) for _, parent in self.inputs(node)]


def _html(text: str) -> str:
    """``text`` safe inside a Graphviz HTML-like label: markup characters become entities."""
    text = "".join(ch if ch.isprintable() else " " for ch in str(text))
    return (  # dot expands \N, \G, ... even in HTML labels: a doubled backslash is one backslash
        text.replace("\\", "\\\\").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        .replace('"', "&quot;").replace("'", "&#39;")
    )


def _check_options(
    rankdir: str, max_nodes: int, on_overflow: str, digits: int
) -> None:
    if rankdir not in ("LR", "TB", "RL", "BT"):
        raise ValueError(f"draw: rankdir must be 'LR', 'TB', 'RL' or 'BT', got {rankdir!r}")
    if not isinstance(max_nodes, int) or isinstance(max_nodes, bool) or max_nodes < 1:
        raise ValueError(f"draw: max_nodes must be an integer ≥ 1, got {max_nodes!r}")
    if on_overflow not in ("truncate", "raise"):
        raise ValueError(f"draw: on_overflow must be 'truncate' or 'raise', got {on_overflow!r}")
    if not isinstance(digits, int) or isinstance(digits, bool) or not 1 <= digits <= 17:
        raise ValueError(f"draw: digits must be an integer from 1 to 17, got {digits!r}")


def draw(
    root: Value,
    *,
    rankdir: str = "LR",
    show_grad: bool = True,
    show_local_grads: bool = False,
    highlight: Value | Iterable[Value] | None = None,
    max_nodes: int = 300,
    on_overflow: Overflow = "truncate",
    collapse_neurons: bool = False,
    digits: int = 4,
    title: str | None = None,
    parameters: Iterable[Value] | None = None,
) -> graphviz.Digraph:
    """The graph below ``root`` as a ``graphviz.Digraph``: values, ops, and how gradients flow.

    Boxes show each value's name, ``data`` and ``grad`` (``digits`` significant
    digits), coloured by role: output (``root``), inputs, parameters (the
    ``parameters`` given, else leaves labelled like ``W[l]_i,j``, ``b[l]_i``, ``w``,
    ``b``), intermediate values; a legend says which is which. Ops are separate
    small nodes. ``show_local_grads`` writes on each edge v → op of c the local
    derivative ∂c/∂v and the contribution dL/dc · ∂c/∂v (from the stored grads);
    ``highlight`` colours every path from ``root`` to the given node(s).
    ``collapse_neurons`` draws each ``linear`` node and the activation on it as
    one neuron box, its leaf weights and bias inside, so an MLP stays readable.

    At most ``max_nodes`` boxes are drawn: past that, ``on_overflow="truncate"``
    draws the ``max_nodes`` nearest the root and one node counting the rest, and
    ``on_overflow="raise"`` raises ``GraphTooLargeError``.
    """
    if not isinstance(root, Value):
        raise TypeError(f"draw: root must be a Value, got {root!r} ({type(root).__name__})")
    _check_options(rankdir, max_nodes, on_overflow, digits)
    boxing = _Boxing(collapse_neurons)
    root_key = boxing.key(root)
    keys, total = walk(root_key, keep=max_nodes, neighbours=boxing.input_boxes)
    left_out = total - len(keys)
    if left_out and on_overflow == "raise":
        count = f"more than {COUNT_LIMIT:,}" if total > COUNT_LIMIT else f"{total:,}"
        raise GraphTooLargeError(
            f"draw: the graph has {count} nodes to draw, more than max_nodes={max_nodes:,}. dot needs about "
            f"37 s for 5,500 nodes and hangs past 13,000. Draw a smaller sub-expression, pass "
            f"collapse_neurons=True, raise max_nodes (at your own wait), or pass "
            f"on_overflow='truncate' to draw the {max_nodes:,} nodes nearest the root"
        )
    boxes = {id(key): _Box(key, k, boxing.activation_of.get(id(key))) for k, key in enumerate(keys)}
    for box in boxes.values():
        box.folded = boxing.folded(box.node)
        box.members = [box.node, *([box.activation] if box.activation is not None else [])]
        box.members += [box.node.parents[slot] for slot in box.folded]

    on_path: set[int] = set()
    if highlight is not None:
        targets = [highlight] if isinstance(highlight, Value) else list(highlight)
        for target in targets:
            if not isinstance(target, Value):
                raise TypeError(f"draw: highlight must be a Value or Values, got {target!r}")
        on_path = nodes_on_paths(root, targets)

    names = NodeNames({id(key): k for k, key in enumerate(keys)}, digits)
    names.name_all(member for box in boxes.values() for member in box.members)
    parameter_ids = None if parameters is None else {id(p) for p in parameters}
    painter = _Painter(
        names, digits, show_grad, show_local_grads, on_path, parameter_ids, root, root_key
    )
    graph = graphviz.Digraph(
        name="chainrule",
        graph_attr={
            "rankdir": rankdir, "fontname": "Helvetica", "nodesep": "0.25", "ranksep": "0.4",
            **({"label": f"<<B>{_html(title)}</B>>", "labelloc": "t"} if title else {}),
        },
        node_attr={"fontname": "Helvetica", "fontsize": "11", "shape": "plain"},
        edge_attr={"fontname": "Helvetica", "fontsize": "9", "color": _BORDER, "arrowsize": "0.6"},
    )
    edge_budget = 6 * max_nodes + 50  # dense graphs: dot's time grows with edges too
    for box in boxes.values():
        painter.add_box(graph, box)
        target = painter.entry(box)
        groups: dict[int, list[tuple[int, Value]]] = {}
        for slot, parent in boxing.inputs(box.node):
            source = boxes.get(id(boxing.key(parent)))
            if source is None or edge_budget <= 0:
                box.edges_left_out += 1
                continue
            groups.setdefault(source.index, []).append((slot, parent))
        for source_index, slots in groups.items():
            edge_budget -= painter.add_edges(graph, f"v{source_index}", target, box.node, slots)
    if left_out or any(box.edges_left_out for box in boxes.values()):
        painter.add_omitted(graph, boxes.values(), left_out, total, max_nodes)
    painter.add_legend(graph)
    return graph


class _Painter:
    """Writes boxes, op nodes, edges and the legend into a Digraph; remembers the roles used."""

    def __init__(
        self, names: NodeNames, digits: int, show_grad: bool, show_local_grads: bool,
        on_path: set[int], parameter_ids: set[int] | None, root: Value, root_key: Value,
    ) -> None:
        self.names, self.digits = names, digits
        self.show_grad, self.show_local_grads = show_grad, show_local_grads
        self.on_path, self.parameter_ids = on_path, parameter_ids
        self.root, self.root_key = root, root_key
        self.roles_used: dict[str, None] = {}

    def number(self, x: float) -> str:
        return format_number(x, self.digits)

    def role(self, box: _Box) -> str:
        node = box.node
        if node is self.root_key:
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
        """Where a box's incoming edges end: its op node, or the box itself for a neuron."""
        if box.node.op is None or box.is_neuron:
            return f"v{box.index}"
        return f"o{box.index}"

    def _value_row(self, name: str, node: Value, italic: bool = False) -> str:
        name_html = f"<I>{_html(name)}</I>" if italic else f"<B>{_html(name)}</B>"
        cells = [name_html, f"data {_html(self.number(node.data))}"]
        if self.show_grad:
            cells.append(f"grad {_html(self.number(node.grad))}")
        return "".join(f"<TD>{cell}</TD>" for cell in cells)

    def add_box(self, graph: graphviz.Digraph, box: _Box) -> None:
        role = self.role(box)
        self.roles_used[role] = None
        lit = self.highlighted(box.members)
        fill = ROLE_COLORS[role][0]
        border = HIGHLIGHT_COLOR if lit else _BORDER
        table = (
            f'<TABLE BORDER="{3 if lit else 1}" CELLBORDER="1" CELLSPACING="0" CELLPADDING="3" '
            f'BGCOLOR="{fill}" COLOR="{border}">'
        )
        node = box.node
        if box.is_neuron:
            rows = self._neuron_rows(box)
        else:
            rows = [self._value_row(self.names(node), node, italic=not node.label)]
        label = "<" + table + "".join(f"<TR>{row}</TR>" for row in rows) + "</TABLE>>"
        classes = f"value {role}" + (" highlight" if lit else "")
        tooltip = f"data = {node.data!r}; grad = {node.grad!r}"
        graph.node(f"v{box.index}", label=label, tooltip=tooltip, **{"class": classes})
        if self.entry(box).startswith("o"):
            self._add_op(graph, box, lit)

    def _neuron_rows(self, box: _Box) -> list[str]:
        z, a = box.node, box.activation
        span = 3 if self.show_grad else 2
        kind = a.op.name if a is not None else "no activation"
        title = f"neuron {self.names(a if a is not None else z)} ({kind})"
        rows = [f'<TD COLSPAN="{span}"><B>{_html(title)}</B></TD>']
        rows.append(self._value_row(f"{self.names(z)} = Σ w·x + b", z))
        if a is not None:
            rows.append(self._value_row(f"{self.names(a)} = {a.op.symbol}(z)", a))
        n = (len(z.parents) - 1) // 2
        weights = [z.parents[slot] for slot in box.folded if slot < n]
        if len(weights) <= _FOLD_LIMIT:
            rows += [self._value_row(self.names(w), w) for w in weights]
        else:
            cells = [
                f"{_html(self.names(weights[0]))} … {_html(self.names(weights[-1]))} ({len(weights)})",
                f"‖w‖ {_html(self.number(math.hypot(*(w.data for w in weights))))}",
            ]
            if self.show_grad:
                cells.append(f"‖dw‖ {_html(self.number(math.hypot(*(w.grad for w in weights))))}")
            rows.append("".join(f"<TD>{cell}</TD>" for cell in cells))
        if 2 * n in box.folded:
            rows.append(self._value_row(self.names(z.parents[2 * n]), z.parents[2 * n]))
        return rows

    def _add_op(self, graph: graphviz.Digraph, box: _Box, lit: bool) -> None:
        node = box.node
        op = node.op
        text = op.symbol
        if node.const is not None:
            constant = self.number(node.const)
            const_first = not isinstance(node.inputs[0], Value)
            text = f"{constant} {text}" if const_first else f"{text} {constant}"
        self.roles_used["op"] = None
        graph.node(
            f"o{box.index}", label=f"<{_html(text)}>", shape="ellipse", style="filled",
            fillcolor=ROLE_COLORS["op"][0], color=HIGHLIGHT_COLOR if lit else _BORDER,
            penwidth="2.5" if lit else "1", margin="0.03,0.01", height="0.3", fontsize="10",
            tooltip=op.formula, **{"class": "op" + (" highlight" if lit else "")},
        )
        graph.edge(f"o{box.index}", f"v{box.index}", **self._edge_style(lit))

    def _edge_style(self, lit: bool) -> dict[str, str]:
        if lit:
            return {"color": HIGHLIGHT_COLOR, "penwidth": "2.5", "class": "highlight"}
        return {}

    def add_edges(
        self, graph: graphviz.Digraph, source: str, target: str, child: Value,
        slots: list[tuple[int, Value]],
    ) -> int:
        """Edges from one box into ``child``'s op (or neuron box); returns how many were drawn."""
        lit = id(child) in self.on_path and self.highlighted(p for _, p in slots)
        style = self._edge_style(lit)
        if len(slots) > _MAX_PARALLEL:
            local = sum(child.local_grads[slot] for slot, _ in slots)
            text = f"×{len(slots)}"
            if self.show_local_grads:
                text += f" (Σ ∂ = {self.number(local)}; {self._contribution(child, local)})"
            graph.edge(source, target, label=f"<{_html(text)}>", **style)
            return 1
        for slot, parent in slots:
            label = self._edge_label(child, slot, parent)
            graph.edge(source, target, **({"label": label} if label else {}), **style)
        return len(slots)

    def _contribution(self, child: Value, local: float) -> str:
        number = self.number
        return f"{number(child.grad)} × {number(local)} = {number(child.grad * local)}"

    def _edge_label(self, child: Value, slot: int, parent: Value) -> str:
        if self.show_local_grads:
            local = child.local_grads[slot]
            partial = f"{d(self.names(child), '∂')}/{d(self.names(parent), '∂')} = {self.number(local)}"
            return f"<{_html(partial)}<BR/>{_html(self._contribution(child, local))}>"
        if len(child.parents) == 2 and child.op.name in ("sub", "div", "pow"):
            return f"<{'ab'[slot]}>"  # which operand, in the notation of Op.formula
        return ""

    def add_omitted(
        self, graph: graphviz.Digraph, boxes: Iterable[_Box], left_out: int, total: int, max_nodes: int
    ) -> None:
        self.roles_used["omitted"] = None
        if left_out:
            count = f"more than {COUNT_LIMIT - max_nodes:,}" if total > COUNT_LIMIT else f"{left_out:,}"
            text = (
                f"… {count} more nodes not drawn<BR/>"
                f"(max_nodes={max_nodes:,}: those nearest the root are drawn)"
            )
        else:
            text = "… edges left out (too many to draw)"
        graph.node(
            "omitted", label=f"<{text}>", shape="note", style="filled",
            fillcolor=ROLE_COLORS["omitted"][0], margin="0.1,0.05", **{"class": "omitted"},
        )
        for box in boxes:
            if box.edges_left_out:
                label = f"{box.edges_left_out:,} inputs" if box.edges_left_out > 1 else ""
                graph.edge("omitted", self.entry(box), style="dashed",
                           **({"label": label} if label else {}))

    def add_legend(self, graph: graphviz.Digraph) -> None:
        rows = [
            f'<TR><TD BGCOLOR="{ROLE_COLORS[role][0]}" WIDTH="16"> </TD>'
            f"<TD ALIGN=\"LEFT\">{_html(ROLE_COLORS[role][1])}</TD></TR>"
            for role in ROLE_COLORS if role in self.roles_used
        ]
        if self.on_path:
            rows.append(
                f'<TR><TD BGCOLOR="{HIGHLIGHT_COLOR}"> </TD>'
                '<TD ALIGN="LEFT">on a path from the root to the highlighted node</TD></TR>'
            )
        if self.show_local_grads:
            rows.append(
                '<TR><TD COLSPAN="2" ALIGN="LEFT">edge v → c: ∂c/∂v = local<BR ALIGN="LEFT"/>'
                "dL/dc × local = what v gets from c (chain rule)</TD></TR>"
            )
        table = '<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="0" CELLPADDING="3">'
        with graph.subgraph(name="cluster_legend") as legend:
            legend.attr(label="legend", fontsize="10", color="#adb5bd", style="rounded")
            legend.node("legend", label=f"<{table}{''.join(rows)}</TABLE>>", fontsize="9",
                        **{"class": "legend"})


def to_dot(root: Value, **options: object) -> str:
    """The DOT source of ``draw(root, **options)``; needs no Graphviz install."""
    return draw(root, **options).source  # type: ignore[arg-type]


def save_svg(root: Value, path: str | os.PathLike[str], **options: object) -> Path:
    """Draw ``root`` (options as for ``draw``) into the SVG file ``path``; returns the path.

    ``.svg`` is added when ``path`` has no suffix; missing folders are made. If the
    Graphviz ``dot`` program is missing, the DOT source is written beside it (same
    name, ``.gv``) and ``GraphvizNotFoundError`` says how to install Graphviz.
    """
    path = Path(path)
    if not path.suffix:
        path = path.with_suffix(".svg")
    graph = draw(root, **options)  # type: ignore[arg-type]
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        svg = graph.pipe(format="svg")
    except graphviz.ExecutableNotFound:
        source_path = path.with_suffix(".gv")
        atomic_write(source_path, lambda file: file.write(graph.source))
        raise GraphvizNotFoundError(
            f"save_svg: the Graphviz program 'dot' was not found on PATH, so {path} was not "
            f"written. Install Graphviz (Debian/Ubuntu: sudo apt-get install graphviz; macOS: "
            f"brew install graphviz; conda: conda install graphviz) and try again. The DOT source "
            f"is saved in {source_path}: render it later with dot -Tsvg {source_path} -o {path}",
            source_path,
        ) from None
    atomic_write(path, lambda file: file.write(svg), binary=True)
    return path

"""Watch backprop: a page that steps through the forward and backward passes of any graph.

``save_html(root, path)`` writes the page as ONE self-contained HTML file (the
graph's SVG, the script and the style inline; it makes no network request, so it
works offline and from a ``file://`` URL). ``stepper(root)`` returns a ``Stepper``
that Jupyter shows inline, the same page in a frame of its own.

The page shows the graph as ``draw`` draws it, nodes not yet reached dimmed. The
forward pass computes one value a step (``z = w·1.5+b = 1.2+(-0.4) = 0.8``); the
backward pass starts from dL/dL = 1 and fills in one gradient a step, upstream ×
local (``dL/dz = dL/da · ∂a/∂z = dL/da · a(1−a) = (-1.449) · 0.2139 = -0.31``); a node
used several times gets one contribution from each use, then their sum. The
current node, the nodes its numbers come from and the edges carrying them are
highlighted. Previous/Next, a slider and the keys ←/→, Home/End move through the
steps. The element ``#step`` holds the current step's text and ``#step-number``
its number (from 1), for scripts of your own. Every number comes from
``engine.explain.ChainRule``, the same as ``explain``'s.
"""

from __future__ import annotations

import html
import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from engine.checks import check_instance, check_int
from engine.draw import Drawing, DrawOptions, GraphTooLargeError, drawing, render
from engine.explain import (
    COUNT_LIMIT,
    BackwardStep,
    ChainRule,
    check_root,
    distinct_parts,
    op_rule,
    op_symbol,
    walk,
)
from engine.files import file_path, write_file
from engine.value import Value

PANEL_WIDTH = 380
"""Pixels of the text panel beside the graph; the graph is laid out for the rest of a 1280×720 window."""
_GRAPH_AREA = (1280 - PANEL_WIDTH, 620)
_LEAVES_LISTED = 12  # the first step names this many leaves, then says how many more


@dataclass(frozen=True)
class Step:
    """One step of the page: what it says, and what it lights up in the drawing (DOT ids)."""

    phase: str  # "forward" or "backward"
    title: str  # "z = w·1.5+b", "dL/dz"
    note: str  # one sentence on what happens in this step
    lines: tuple[str, ...]  # the worked equation: one "= ..." part a line, or one contribution a line
    current: tuple[str, ...]  # the node's box (and its op, its copies)
    sources: tuple[str, ...] = ()  # the boxes its numbers come from: operands, or consumers
    edges: tuple[str, ...] = ()  # the edges those numbers travel along

    @property
    def text(self) -> str:
        """The step as plain text, as the page shows it in ``#step``."""
        return "\n".join([self.title, self.note, *self.lines])


@dataclass
class _Timeline:
    """When each part of the drawing is reached: forward (value known), backward (gradient known)."""

    boxes: dict[str, dict[str, object]] = field(default_factory=dict)
    ops: dict[str, int] = field(default_factory=dict)
    edges: dict[str, dict[str, int]] = field(default_factory=dict)


class Stepper:
    """The step-through page of one graph: ``html`` (the page), ``steps``, ``save(path)``.

    In Jupyter the object shows the page inline (in a frame of its own, so its
    ids, style and keys stay apart from the notebook's).
    """

    def __init__(self, title: str, steps: list[Step], page: str) -> None:
        self.title = title
        self.steps = steps
        self.html = page

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the page to ``path`` (``.html`` or ``.htm``; ``.html`` added when there is no
        suffix); returns the path."""
        return _write(self.html, path, "Stepper.save")

    def _repr_html_(self) -> str:
        return (
            f'<iframe srcdoc="{html.escape(self.html, quote=True)}" title="{html.escape(self.title)}" '
            'style="width:100%;max-width:1280px;height:720px;border:1px solid #ced4da"></iframe>'
        )

    def __repr__(self) -> str:
        forward = sum(step.phase == "forward" for step in self.steps)
        return (
            f"<Stepper {self.title!r}: {len(self.steps)} steps, {forward} forward and "
            f"{len(self.steps) - forward} backward; save(path) writes the page>"
        )


def stepper(
    root: Value,
    *,
    digits: int = 4,
    max_nodes: int = 200,
    max_terms: int = 6,
    rankdir: str = "auto",
    title: str | None = None,
) -> Stepper:
    """The page that steps through the forward and backward passes below ``root``.

    ``digits`` significant digits; at most ``max_terms`` contributions are
    written out at a node used many times (the sum is always complete). The
    graph is drawn whole, so it may have at most ``max_nodes`` nodes (two steps
    a node): a bigger one raises ``GraphTooLargeError`` saying what to do.
    ``rankdir`` as for ``draw``; ``title`` heads the page (default: the root and its value).
    No ``.grad`` changes: the gradients come from ``engine.grad``.
    """
    options = DrawOptions(
        rankdir=rankdir, show_local_grads=True, max_nodes=max_nodes, on_overflow="raise", digits=digits,
        screen=_GRAPH_AREA,
    )
    _check(root, options, max_terms, title)
    _, count = walk(root, keep=1)  # counted before any work: a huge graph is refused at once
    if count > max_nodes:
        many = f"more than {COUNT_LIMIT:,}" if count > COUNT_LIMIT else f"{count:,}"
        raise GraphTooLargeError(
            f"stepper: the graph has {many} nodes, more than max_nodes={max_nodes:,}: the page would "
            "have two steps a node and a drawing too big to follow. Step through a smaller "
            "sub-expression (one sample's loss, one neuron) or raise max_nodes"
        )
    rule = ChainRule(root, digits=digits, caller="stepper")
    picture = drawing(  # the text's names and numbers, so the page and the picture speak alike
        root, options, gradient=lambda node: rule.gradients[id(node)], names=rule.names, caller="stepper"
    )
    steps, timeline = _steps(rule, picture, max_terms)
    heading = title if title is not None else f"{rule.names(root)} = {rule.number(root.data)}"
    svg = _inline_svg(render(picture.graph.source, "svg", "stepper"), heading)
    return Stepper(heading, steps, _page(heading, svg, steps, timeline))


def save_html(root: Value, path: str | os.PathLike[str], **options: object) -> Path:
    """Write the step-through page of ``root`` (options as for ``stepper``) to ``path``; returns it.

    One self-contained HTML file: open it in any browser, offline or from disk.
    The suffix must be ``.html`` or ``.htm`` (``.html`` is added when there is none;
    any other suffix is refused before anything is written); missing folders are made.
    """
    _html_path("save_html", path)  # checked before the page is made
    page = stepper(root, **options)  # type: ignore[arg-type]
    return _write(page.html, path, "save_html")


# ---------------------------------------------------------------------------
# Checking the arguments and writing the file
# ---------------------------------------------------------------------------
def _check(root: object, options: DrawOptions, max_terms: object, title: object) -> None:
    check_root(root, "stepper")
    options.check("stepper")
    check_int("stepper", "max_terms", max_terms, minimum=1)
    if title is not None:
        check_instance("stepper", "title", title, str, "a string or None")


def _html_path(caller: str, path: object) -> Path:
    """``path`` checked to name an HTML file (``.html`` or ``.htm``, in any case), ``.html`` added
    when it has no suffix; a ValueError naming ``caller`` and the path for any other suffix."""
    path = file_path(caller, path, ".html")
    if path.suffix.lower() not in (".html", ".htm"):
        raise ValueError(
            f"{caller}: cannot write {path.suffix!r} files ({path}): the page is HTML, so the suffix "
            "must be .html or .htm"
        )
    return path


def _write(page: str, path: str | os.PathLike[str], caller: str) -> Path:
    path = _html_path(caller, path)
    return write_file(caller, path, lambda file: file.write(page), make_folders=True)


# ---------------------------------------------------------------------------
# The steps: text from ChainRule, highlights from the drawing's ids
# ---------------------------------------------------------------------------
def _steps(rule: ChainRule, picture: Drawing, max_terms: int) -> tuple[list[Step], _Timeline]:
    """Every step of both passes, and when each box, op and edge of the drawing is reached."""
    boxes = _BoxIds(picture)
    timeline = _Timeline()
    leaves = [node for node in rule.forward_order if not node.parents]
    steps = [_leaves_step(rule, leaves, boxes)]
    for node in leaves:
        timeline.boxes[boxes.box(node)] = {"f": 0}
    for node in rule.forward_order:
        if node.parents:
            index = len(steps)
            steps.append(_forward_step(rule, node, boxes))
            timeline.boxes[boxes.box(node)] = {"f": index}
            timeline.ops[boxes.op(node)] = index
            timeline.edges[boxes.result_edge(node)] = {"f": index, "b": index}
            for slot in range(len(node.parents)):
                timeline.edges[boxes.edge(node, slot)] = {"f": index}
    for node in rule.order:
        index = len(steps)
        step = rule.backward_step(node)
        steps.append(_backward_step(rule, step, boxes, max_terms))
        timeline.boxes[boxes.box(node)]["b"] = index
        for term in step.terms:
            timeline.edges[boxes.edge(term.consumer, term.slot)]["b"] = index
    for box, times in timeline.boxes.items():
        times["copies"] = boxes.copies(box)
    return steps, timeline


class _BoxIds:
    """The drawing's ids for a node's box (with its copies), its op, and its edges."""

    def __init__(self, picture: Drawing) -> None:
        self.picture = picture

    def box(self, node: Value) -> str:
        return self.picture.box_of[id(node)]

    def copies(self, box: str) -> list[str]:
        return self.picture.copies.get(box, [])

    def op(self, node: Value) -> str:
        return self.picture.op_of[id(node)]

    def result_edge(self, node: Value) -> str:
        return self.picture.result_edge_of[id(node)]

    def edge(self, child: Value, slot: int) -> str:
        return self.picture.edge_of[(id(child), slot)]

    def lit(self, node: Value, with_op: bool = True) -> tuple[str, ...]:
        """The node's box, its copies and (computing it, forward) its op: what "current" lights up."""
        box = self.box(node)
        ops = (self.op(node),) if node.parents and with_op else ()
        return (box, *self.copies(box), *ops)


def _leaves_step(rule: ChainRule, leaves: list[Value], boxes: _BoxIds) -> Step:
    listed = ", ".join(" = ".join(rule.forward_parts(leaf)) for leaf in leaves[:_LEAVES_LISTED])
    more = f", and {len(leaves) - _LEAVES_LISTED} more" if len(leaves) > _LEAVES_LISTED else ""
    kinds = "this value is" if len(leaves) == 1 else f"these {len(leaves)} values are"
    return Step(
        "forward", "The inputs",
        f"The forward pass starts from the leaves: {kinds} given, not computed.",
        (listed + more,), tuple(box for leaf in leaves for box in boxes.lit(leaf)),
    )


def _forward_step(rule: ChainRule, node: Value, boxes: _BoxIds) -> Step:
    """``z = w·1.5+b = 1.2+(-0.4) = 0.8``: a value from its operands' values."""
    parts = rule.forward_parts(node)
    operands = _unique(node.parents)
    names = " and ".join(rule.names(operand) for operand in operands)
    return Step(
        "forward", f"Compute {parts[0]}",
        f"{rule.names(node)} is computed from {names} by the op {op_symbol(node)}.",
        _equation(parts),
        boxes.lit(node),
        tuple(boxes.box(operand) for operand in operands),
        (*(boxes.edge(node, slot) for slot in range(len(node.parents))), boxes.result_edge(node)),
    )


def _backward_step(rule: ChainRule, step: BackwardStep, boxes: _BoxIds, max_terms: int) -> Step:
    """dL/dv: upstream × local for each use of v, and the sum when there are several."""
    names, node = rule.names, step.node
    lhs = rule.gradient_name(node)
    if node is rule.root:
        return Step(
            "backward", lhs,
            f"The backward pass starts at {names(node)}: the derivative of {names(node)} with respect "
            "to itself is 1.",
            (f"{lhs} = 1",), boxes.lit(node, with_op=False),
        )
    terms = step.terms
    consumers = _unique(term.consumer for term in terms)
    sources = tuple(boxes.box(consumer) for consumer in consumers)
    edges = tuple(dict.fromkeys(boxes.edge(term.consumer, term.slot) for term in terms))
    if len(terms) == 1:
        consumer = terms[0].consumer
        local = names.partial(consumer, node)
        upstream = "1" if consumer is rule.root else f"the gradient reaching {names(consumer)}"
        note = (
            f"{names(consumer)} uses {names(node)}, so {lhs} is {upstream} times the local derivative "
            f"{local} (the rule of {op_symbol(consumer)}: {op_rule(consumer)})."
        )
        lines = _equation(rule.backward_parts(step))
        return Step("backward", lhs, note, lines, boxes.lit(node, with_op=False), sources, edges)
    lines = []
    repeated = len(consumers) < len(terms)  # a node used twice by one op (x + x): say which operand
    for term in terms[:max_terms]:  # one block a use: where it comes from, then upstream × local
        parts = distinct_parts([*rule.term_parts(node, term), rule.number(term.product)])
        where = f"from {names(term.consumer)}" + (f", operand {term.slot + 1}" if repeated else "")
        lines += [f"{where}:", f"  {parts[0]}", *(f"  = {part}" for part in parts[1:])]
    if len(terms) > max_terms:
        lines.append(f"… and {len(terms) - max_terms} more contributions")
    products = " + ".join(_bracket(rule.number(term.product)) for term in terms[:max_terms])
    products += " + …" if len(terms) > max_terms else ""
    lines += ["sum:", *_equation([lhs, products, rule.number(step.gradient)])]
    note = (
        f"{names(node)} is used {len(terms)} times: each use sends back upstream × local, and the "
        "contributions add up."
    )
    return Step("backward", lhs, note, tuple(lines), boxes.lit(node, with_op=False), sources, edges)


def _equation(parts: list[str]) -> tuple[str, ...]:
    """``a = b = c`` as lines: ``a = b``, then ``  = c`` aligned under the first ``=``."""
    indent = " " * len(parts[0])
    return (f"{parts[0]} = {parts[1]}", *(f"{indent} = {part}" for part in parts[2:]))


def _bracket(number: str) -> str:
    return f"({number})" if number.startswith("-") else number


def _unique(nodes: Iterable[Value]) -> list[Value]:
    return list({id(node): node for node in nodes}.values())


# ---------------------------------------------------------------------------
# The page: HTML, style and script, all inline
# ---------------------------------------------------------------------------
def _inline_svg(svg: bytes, heading: str) -> str:
    """dot's SVG ready to sit inside HTML: no XML prolog, doctype or comments; labelled for readers."""
    text = svg.decode("utf-8")
    text = text[text.index("<svg"):]
    text = re.sub(r"<!--.*?-->\n?", "", text, flags=re.DOTALL)
    label = html.escape(f"The computation graph of {heading}", quote=True)
    fitted = 'preserveAspectRatio="xMidYMin meet"'  # fitted to the window: at the top, centred
    return text.replace("<svg", f'<svg role="img" aria-label="{label}" {fitted}', 1)


def _json(value: object) -> str:
    """JSON safe inside a <script> element: no character can close the element."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _page(heading: str, svg: str, steps: list[Step], timeline: _Timeline) -> str:
    data = {
        "steps": [
            {"phase": s.phase, "title": s.title, "note": s.note, "lines": list(s.lines),
             "current": list(s.current), "sources": list(s.sources), "edges": list(s.edges)}
            for s in steps
        ],
        "boxes": timeline.boxes, "ops": timeline.ops, "edges": timeline.edges,
    }
    first = steps[0]
    forward = sum(step.phase == "forward" for step in steps)
    return _TEMPLATE.format(
        title=html.escape(f"Watch backprop: {heading}"),
        heading=html.escape(heading),
        svg=svg,
        count=len(steps),
        forward=forward,
        backward=forward + 1,
        phase="Forward pass",
        step_title=html.escape(first.title),
        note=html.escape(first.note),
        lines=html.escape("\n".join(first.lines)),
        data=_json(data),
        style=_STYLE,
        script=_SCRIPT,
        panel=PANEL_WIDTH,
    )


_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy"
      content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
<link rel="icon" href="data:,">
<title>{title}</title>
<style>{style}</style>
</head>
<body>
<header>
  <h1>Watch backprop: {heading}</h1>
  <p class="keys">Keys: <kbd>←</kbd> <kbd>→</kbd> step, <kbd>Home</kbd> <kbd>End</kbd> first and last</p>
</header>
<main style="grid-template-columns: minmax(0, 1fr) {panel}px">
  <section id="graph" class="fit" aria-label="The graph">{svg}</section>
  <section id="panel" aria-label="The current step">
    <p id="phase" class="phase forward">{phase}</p>
    <div id="step" aria-live="polite">
      <h2 id="step-title">{step_title}</h2>
      <p id="step-note">{note}</p>
      <pre id="step-lines">{lines}</pre>
    </div>
    <p class="colours"><span class="swatch current"></span> this step's node
      <span class="swatch source"></span> where its numbers come from
      <span class="swatch dim"></span> not reached yet</p>
  </section>
</main>
<nav aria-label="Steps">
  <button type="button" id="first">First</button>
  <button type="button" id="prev">◀ Previous</button>
  <input type="range" id="slider" min="1" max="{count}" value="1" aria-label="Step">
  <button type="button" id="next">Next ▶</button>
  <button type="button" id="last">Last</button>
  <span class="counter">Step <span id="step-number">1</span> of {count}
    (forward 1–{forward}, backward {backward}–{count})</span>
  <button type="button" id="zoom" aria-pressed="false">Actual size</button>
</nav>
<script type="application/json" id="steps-data">{data}</script>
<script>{script}</script>
</body>
</html>
"""

_STYLE = """
:root { --red: #d62828; --blue: #1d4ed8; }
* { box-sizing: border-box; }
html, body { height: 100%; margin: 0; }
body { display: grid; grid-template-rows: auto minmax(0, 1fr) auto; font: 15px/1.45 system-ui,
       -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color: #212529;
       background: #fff; }
header { display: flex; align-items: baseline; gap: 1.5em; padding: 6px 16px;
         border-bottom: 1px solid #dee2e6; }
h1 { font-size: 18px; margin: 0; }
.keys { margin: 0; color: #495057; font-size: 13px; }
kbd { border: 1px solid #adb5bd; border-radius: 3px; padding: 0 4px; font-size: 12px; background: #f8f9fa; }
main { display: grid; min-height: 0; }
#graph { overflow: auto; min-height: 0; padding: 6px; }
#graph.fit svg { width: 100%; height: 100%; }
#panel { overflow: auto; padding: 10px 16px; border-left: 1px solid #dee2e6; background: #fcfcfd; }
.phase { margin: 0 0 4px; font-size: 13px; font-weight: 600; text-transform: uppercase;
         letter-spacing: .04em; }
.phase.forward { color: #2b8a3e; }
.phase.backward { color: var(--red); }
#step h2 { font-size: 19px; margin: 0 0 6px; font-family: ui-monospace, Menlo, Consolas, monospace; }
#step p { margin: 0 0 10px; }
#step pre { margin: 0; padding: 10px; background: #f1f3f5; border-radius: 4px; white-space: pre-wrap;
            font: 15px/1.5 ui-monospace, Menlo, Consolas, "DejaVu Sans Mono", monospace; }
.colours { margin-top: 14px; font-size: 13px; color: #495057; }
.swatch { display: inline-block; width: 12px; height: 12px; vertical-align: -1px; border: 2px solid; }
.swatch.current { border-color: var(--red); }
.swatch.source { border-color: var(--blue); }
.swatch.dim { border-color: #ced4da; background: #f1f3f5; }
nav { display: flex; align-items: center; gap: 10px; padding: 8px 16px; border-top: 1px solid #dee2e6; }
nav button { font: inherit; padding: 4px 12px; border: 1px solid #868e96; border-radius: 4px;
             background: #f8f9fa; cursor: pointer; }
nav button:disabled { opacity: .45; cursor: default; }
#slider { flex: 1; min-width: 120px; }
.counter { white-space: nowrap; }
button:focus-visible, input:focus-visible { outline: 3px solid var(--blue); outline-offset: 2px; }
svg .unreached { opacity: .22; }
svg .untold text { visibility: hidden; }
svg .current polygon, svg .current ellipse, svg .current path { stroke: var(--red); stroke-width: 3px; }
svg .source polygon, svg .source ellipse { stroke: var(--blue); stroke-width: 2.5px; }
svg .carrying path { stroke: var(--red); stroke-width: 3px; }
svg .carrying polygon { stroke: var(--red); fill: var(--red); }
svg .carrying text { fill: var(--red); font-weight: bold; }
"""

_SCRIPT = r"""
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("steps-data").textContent);
  var steps = data.steps, count = steps.length, at = 0;
  var $ = function (id) { return document.getElementById(id); };
  var slider = $("slider"), graph = $("graph");

  // The data and grad texts of each box, to hide the numbers a pass has not reached yet.
  var numbers = {};
  Object.keys(data.boxes).forEach(function (id) {
    var found = {};
    [id].concat(data.boxes[id].copies).forEach(function (part) {
      var element = $(part);
      if (!element) { return; }
      element.querySelectorAll("text").forEach(function (text) {
        var words = text.textContent;
        if (words.indexOf("data ") === 0) { found.data = { element: text, shown: words }; }
        if (words.indexOf("grad ") === 0) { found.grad = { element: text, shown: words }; }
      });
    });
    numbers[id] = found;
  });

  function mark(id, name, on) {
    var element = id && $(id);
    if (element) { element.classList.toggle(name, on); }
  }
  function say(number, hidden) {
    if (number) { number.element.textContent = hidden ? number.shown.split(" ")[0] + " ?" : number.shown; }
  }

  function show(index) {
    at = Math.max(0, Math.min(count - 1, index));
    var step = steps[at];
    Object.keys(data.boxes).forEach(function (id) {
      var box = data.boxes[id], reached = box.f <= at, known = box.b <= at;
      [id].concat(box.copies).forEach(function (part) { mark(part, "unreached", !reached); });
      say(numbers[id].data, !reached);
      say(numbers[id].grad, !known);
    });
    Object.keys(data.ops).forEach(function (id) { mark(id, "unreached", data.ops[id] > at); });
    Object.keys(data.edges).forEach(function (id) {
      var edge = data.edges[id];
      mark(id, "unreached", edge.f > at);
      mark(id, "untold", !(edge.b <= at));
    });
    document.querySelectorAll("svg .current, svg .source, svg .carrying").forEach(function (element) {
      element.classList.remove("current", "source", "carrying");
    });
    step.current.forEach(function (id) { mark(id, "current", true); });
    step.sources.forEach(function (id) { mark(id, "source", true); });
    step.edges.forEach(function (id) { mark(id, "carrying", true); });

    $("phase").textContent = step.phase === "forward" ? "Forward pass" : "Backward pass";
    $("phase").className = "phase " + step.phase;
    $("step-title").textContent = step.title;
    $("step-note").textContent = step.note;
    $("step-lines").textContent = step.lines.join("\n");
    $("step-number").textContent = String(at + 1);
    slider.value = String(at + 1);
    slider.setAttribute("aria-valuetext", "Step " + (at + 1) + " of " + count + ": " + step.title);
    $("prev").disabled = $("first").disabled = at === 0;
    $("next").disabled = $("last").disabled = at === count - 1;
    if (!graph.classList.contains("fit")) { follow(step); }
  }

  // Zoomed in: scroll to where this step's numbers travel (its sources and edges, which end at the
  // node or a copy of it), or to the node itself when there are none or they do not fit in view.
  function follow(step) {
    var view = graph.getBoundingClientRect();
    function around(ids) {
      var union = null;
      ids.forEach(function (id) {
        var element = $(id);
        if (!element) { return; }
        var r = element.getBoundingClientRect();
        union = union ? { left: Math.min(union.left, r.left), top: Math.min(union.top, r.top),
                          right: Math.max(union.right, r.right), bottom: Math.max(union.bottom, r.bottom) }
                      : { left: r.left, top: r.top, right: r.right, bottom: r.bottom };
      });
      return union;
    }
    var region = around(step.sources.concat(step.edges));
    if (!region || region.right - region.left > view.width || region.bottom - region.top > view.height) {
      region = around(step.current.slice(0, 1));
    }
    if (!region) { return; }
    graph.scrollLeft += (region.left + region.right) / 2 - (view.left + view.width / 2);
    graph.scrollTop += (region.top + region.bottom) / 2 - (view.top + view.height / 2);
  }

  $("prev").addEventListener("click", function () { show(at - 1); });
  $("next").addEventListener("click", function () { show(at + 1); });
  $("first").addEventListener("click", function () { show(0); });
  $("last").addEventListener("click", function () { show(count - 1); });
  slider.addEventListener("input", function () { show(Number(slider.value) - 1); });
  $("zoom").addEventListener("click", function () {
    var fit = graph.classList.toggle("fit");
    this.textContent = fit ? "Actual size" : "Fit to window";
    this.setAttribute("aria-pressed", String(!fit));
    show(at);
  });
  document.addEventListener("keydown", function (event) {
    if (event.target === slider || event.altKey || event.ctrlKey || event.metaKey) { return; }
    var moves = { ArrowLeft: at - 1, ArrowRight: at + 1, Home: 0, End: count - 1 };
    if (event.key in moves) {
      event.preventDefault();
      show(moves[event.key]);
    }
  });
  // A graph too big to read when fitted starts at its actual size, following the current node.
  var svg = graph.querySelector("svg"), box = svg.viewBox.baseVal;
  if (box && Math.min(graph.clientWidth / box.width, graph.clientHeight / box.height) < 0.75) {
    $("zoom").click();
  }
  show(0);
})();
"""

"""The chain rule written out, step by step, with the numbers: ``explain(root, wrt=None)``.

For each node v, in backward order (the root first), the gradient is the sum over
the nodes c that consume v of upstream × local:

    dL/dv = Σ_c dL/dc · dc/dv

Each local derivative dc/dv is written as the formula of c's op in the names of
the graph (a(1−a) for a sigmoid, 1/a for ln, ...) and then evaluated. The
numbers come from ``engine.grad``, so no ``.grad`` is changed.

This module also names nodes for people (a label, else a short expression such
as ``ln a`` or ``1−a``, else ``t7``) and finds the nodes on the paths between two
nodes; ``engine.draw`` uses the same names and paths so that a drawing and an
explanation speak alike.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Iterable

from engine.backprop import grad
from engine.notation import format_number, number, write
from engine.symbolic import Expression, derivative_formulas, name_precedence
from engine.value import Value, topological_order

COUNT_LIMIT = 1_000_000
"""Walks that count or search a graph stop after this many nodes (they then say "more than")."""

_SHORT_NAME = 12  # an unlabeled node is named by its expression when it is at most this long
_NAME = re.compile(r"^[\w\[\],.#′']+$")


def _top_level(text: str) -> str:
    """``text`` with every bracketed part removed: what an operator outside brackets would see."""
    depth, kept = 0, []
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif depth == 0:
            kept.append(char)
    return "".join(kept)


def _factor(text: str) -> str:
    """``text`` as a factor of a product: bracketed if it has a top-level + or − (``a·(1−a)``)."""
    if text.startswith("ln ") and _NAME.match(text[3:]):
        return text
    outside = _top_level(text)
    if text.startswith(("-", "−")) or any(op in outside for op in ("+", "−", " ")):
        return f"({text})"
    return text


def d(name: str, symbol: str = "d") -> str:
    """The differential of a named node: ``dz``, ``d(ln a)`` (``∂z`` with ``symbol="∂"``)."""
    return symbol + (name if _NAME.match(name) and not name.startswith("-") else f"({name})")


_BIAS_LABEL = re.compile(r"^b(\[\d+\]_\d+)$")


def _op_name(node: Value) -> str:
    return node.op.name if node.op is not None else ""


def _course_name(node: Value) -> str | None:
    """``z[l]_i`` for an unlabeled linear node whose bias is ``b[l]_i``; ``a[l]_i`` for g(z[l]_i)."""
    letter = "z"
    if _op_name(node) in ("sigmoid", "tanh", "relu") and _op_name(node.parents[0]) == "linear":
        node, letter = node.parents[0], "a"
    elif _op_name(node) != "linear":
        return None
    match = _BIAS_LABEL.match(node.parents[-1].label)
    return letter + match.group(1) if match else None


class NodeNames:
    """Readable, unique names for nodes: the label, else a short expression, else ``t<k>``.

    ``index`` gives each node's position in a walk from the root (breadth first),
    which numbers the ``t<k>`` names, so the same graph always gets the same
    names. A label used by two nodes (one per sample, say) gets ``#2``, ``#3``
    on its later uses.
    """

    def __init__(self, index: dict[int, int], digits: int = 4) -> None:
        self._index = index
        self._digits = digits
        self._names: dict[int, str] = {}
        self._taken: dict[str, int] = {}
        self._next_index = max(index.values(), default=-1) + 1  # for nodes outside the walk

    def __call__(self, node: Value) -> str:
        """The name of ``node`` (assigned on first use)."""
        name = self._names.get(id(node))
        if name is None:
            base = (
                node.label or _course_name(node) or self._expression(node, depth=3)
                or f"t{self._position(node)}"
            )
            uses = self._taken.get(base, 0) + 1
            self._taken[base] = uses
            name = base if uses == 1 else f"{base}#{uses}"
            self._names[id(node)] = name
        return name

    def name_all(self, nodes: Iterable[Value]) -> None:
        """Name ``nodes`` parents first, so each expression is written over its operands' names."""
        wanted = {id(node): node for node in nodes}
        done: set[int] = set()
        for start in wanted.values():
            if id(start) in done:
                continue
            done.add(id(start))
            stack = [(start, iter(start.parents))]
            while stack:  # depth-first, a node named once all its wanted parents are
                node, parents = stack[-1]
                for parent in parents:
                    if id(parent) in wanted and id(parent) not in done:
                        done.add(id(parent))
                        stack.append((parent, iter(parent.parents)))
                        break
                else:
                    stack.pop()
                    self(node)

    def _position(self, node: Value) -> int:
        position = self._index.get(id(node))
        if position is None:
            position = self._index[id(node)] = self._next_index
            self._next_index += 1
        return position

    def _expression(self, node: Value, depth: int) -> str | None:
        """``ln a``, ``1−a``, ``2·x``: the op written over its operands' names, if short."""
        op = node.op
        if op is None or depth == 0:
            return None
        if op.name == "linear" or (op.name == "sum" and not 2 <= len(node.parents) <= 3):
            return None
        operands = []
        for x in node.inputs:
            if not isinstance(x, Value):
                operands.append(number(x, "text", self._digits))
                continue
            name = self._operand_name(x, depth - 1)
            if name is None:
                return None
            operands.append((name, name_precedence(name)))
        text = write(op.notation, operands, "text")[0]
        return text if len(text) <= _SHORT_NAME else None

    def _operand_name(self, node: Value, depth: int) -> str | None:
        """How an operand is written inside an expression: its name if that needs no expression
        of its own, else its expression one level down (None past the depth: no expression)."""
        if id(node) in self._names or node.label or node.op is None or _course_name(node):
            return self(node)
        return self._expression(node, depth)

    def local_formula(self, node: Value, slot: int) -> str:
        """d node / d parent for ``node.parents[slot]``, written in the graph's names.

        Written by running the op's own ``local_grads`` rule on the names (engine.symbolic),
        so it is the rule that computes the number; ``∂c/∂v`` if the rule cannot run on names.
        """
        inputs = node.inputs
        value_slots = [k for k, x in enumerate(inputs) if isinstance(x, Value)]
        symbols = [
            Expression(self(x)) if isinstance(x, Value) else Expression.constant(x, self._digits)
            for x in inputs
        ]
        formulas = derivative_formulas(node.op, Expression(self(node)), symbols)  # type: ignore[arg-type]
        if formulas is None or formulas[value_slots[slot]] is None:
            return f"{d(self(node), '∂')}/{d(self(node.parents[slot]), '∂')}"
        formula = formulas[value_slots[slot]]
        if isinstance(formula, Expression):
            return formula.write("text", self._digits)
        return number(formula, "text", self._digits)[0]


def walk(
    root: Value,
    *,
    keep: int = COUNT_LIMIT,
    neighbours: Callable[[Value], Iterable[Value]] | None = None,
    limit: int = COUNT_LIMIT,
) -> tuple[list[Value], int]:
    """Breadth-first walk from ``root``: (the first ``keep`` nodes found, how many were found).

    Nodes come nearest first (root, its parents, theirs, ...), each once; the walk
    follows ``neighbours(node)`` (default: the node's parents) and stops counting
    once it has found more than ``limit`` nodes, so it is bounded on any graph.
    """
    neighbours = neighbours or (lambda node: node.parents)
    kept = [root]
    seen = {id(root)}
    queue = deque(kept)
    while queue and len(seen) <= limit:
        for parent in neighbours(queue.popleft()):
            if id(parent) not in seen:
                seen.add(id(parent))
                queue.append(parent)
                if len(kept) < keep:
                    kept.append(parent)
    return kept, len(seen)


def nodes_on_paths(root: Value, targets: Iterable[Value], limit: int = COUNT_LIMIT) -> set[int]:
    """ids of the nodes on some path from ``root`` down to any of ``targets`` (ends included).

    A node is on such a path when it is below ``root`` and a target is below it;
    found by walking from the targets back towards the root along consumer links.
    Raises ``ValueError`` if a target is not in the graph of ``root``.
    """
    consumers: dict[int, list[Value]] = {}

    def parents_noting_consumers(node: Value) -> tuple[Value, ...]:
        for parent in node.parents:
            consumers.setdefault(id(parent), []).append(node)
        return node.parents

    _, found = walk(root, keep=1, neighbours=parents_noting_consumers, limit=limit)
    if found > limit:
        raise ValueError(
            f"the graph has more than {limit:,} nodes: too many to search for paths; "
            "pick a smaller sub-expression"
        )
    on_path: set[int] = set()
    stack = []
    for target in targets:
        if target is not root and id(target) not in consumers:
            raise ValueError(f"node {target!r} is not in the graph of {root!r}: no path leads to it")
        stack.append(target)
    while stack:
        node = stack.pop()
        if id(node) not in on_path:
            on_path.add(id(node))
            stack.extend(consumers.get(id(node), ()))
    return on_path


def explain(
    root: Value,
    wrt: Value | None = None,
    *,
    digits: int = 4,
    max_steps: int = 40,
    max_terms: int = 6,
) -> str:
    """The chain rule from ``root`` back to every node (or only to ``wrt``), step by step.

    Each step reads, for a node v consumed by nodes c:

        dL/dv = Σ_c dL/dc · dc/dv = Σ_c dL/dc · (formula) = Σ_c (number) · (number) = result

    e.g. ``dL/dz = dL/da · da/dz = dL/da · a(1−a) = -1.606 · 0.235 = -0.3775``.
    Gradients reaching a node from several consumers are summed, term by term.
    With ``wrt=node`` only the nodes on the paths from ``root`` to ``node`` are
    shown. Output is bounded: at most ``max_steps`` steps and ``max_terms``
    terms per sum are written (every sum is still computed in full).
    No ``.grad`` changes: the numbers come from ``engine.grad``.
    """
    if not isinstance(root, Value):
        raise TypeError(f"explain: root must be a Value, got {root!r} ({type(root).__name__})")
    if wrt is not None and not isinstance(wrt, Value):
        raise TypeError(f"explain: wrt must be a Value or None, got {wrt!r} ({type(wrt).__name__})")
    for option, value in (("digits", digits), ("max_steps", max_steps), ("max_terms", max_terms)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"explain: {option} must be an integer ≥ 1, got {value!r}")

    order = topological_order(root)
    if wrt is not None:
        on_path = nodes_on_paths(root, [wrt])
        order = [node for node in order if id(node) in on_path]
    gradients = dict(zip(map(id, order), grad(root, order), strict=True))  # dL/dv for each v, .grad untouched
    position = {id(node): k for k, node in enumerate(walk(root)[0])}
    number = lambda x: format_number(x, digits)
    factor = lambda x: _factor(number(x))

    # consumers[v] = (c, slot) for every slot where v is an operand of c, in backward order.
    consumers: dict[int, list[tuple[Value, int]]] = {}
    kept = {id(node) for node in order}
    for node in order:
        for slot, parent in enumerate(node.parents):
            if id(parent) in kept:
                consumers.setdefault(id(parent), []).append((node, slot))
    names = NodeNames(position, digits)
    shown = order[: max_steps + 1]  # name only what is written: big graphs stay fast
    names.name_all([*shown, *(c for v in shown for c, _ in consumers.get(id(v), [])[:max_terms])])

    out = names(root)
    dout = d(out)
    target = f" to {names(wrt)}" if wrt is not None else ""
    lines = [
        f"Chain rule backward from {out} = {number(root.data)}{target}: "
        f"{dout}/dv = Σ over the nodes c that use v of {dout}/dc · dc/dv",
        f"{dout}/{dout} = 1",
    ]
    steps = order[1:]
    for node in steps[:max_steps]:
        terms = consumers.get(id(node), [])
        shown = terms[:max_terms]
        more = f" + … ({len(terms) - len(shown)} more terms)" if len(terms) > len(shown) else ""
        chain = " + ".join(f"{dout}/{d(names(c))} · {d(names(c))}/{d(names(node))}" for c, _ in shown)
        formula = " + ".join(f"{dout}/{d(names(c))} · {_factor(names.local_formula(c, s))}" for c, s in shown)
        numbers = " + ".join(f"{factor(gradients[id(c)])} · {factor(c.local_grads[s])}" for c, s in shown)
        parts = [f"{dout}/{d(names(node))}", chain + more, formula + more, numbers + more,
                 number(gradients[id(node)])]
        lines.append(_join_step(parts))
    if len(steps) > max_steps:
        lines.append(
            f"… {len(steps) - max_steps} more steps not shown (max_steps={max_steps}); "
            "pass wrt=node to follow the paths to one node"
        )
    rules = {}
    for node in order[: max_steps + 1]:
        if node.op is not None:
            rules.setdefault(node.op.name, node.op.formula)
    if rules:
        lines.append("rules used: " + "; ".join(f"{rule} ({name})" for name, rule in rules.items()))
    return "\n".join(lines)


def _join_step(parts: list[str], width: int = 110) -> str:
    """``a = b = c = d`` on one line, or one ``= ...`` per line when that is too long."""
    one_line = " = ".join(parts)
    if len(one_line) <= width:
        return one_line
    indent = " " * len(parts[0])
    return parts[0] + " = " + "\n".join(
        part if k == 0 else f"{indent} = {part}" for k, part in enumerate(parts[1:])
    )

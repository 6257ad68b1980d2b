"""The chain rule written out, step by step, with the numbers: ``explain(root, wrt=None)``.

For each node v, in backward order (the root first), the gradient is the sum over
the nodes c that consume v of upstream × local:

    dL/dv = Σ_c dL/dc · ∂c/∂v

Each local derivative ∂c/∂v is written as the formula of c's op in the names of
the graph (a(1−a) for a sigmoid, 1/a for ln, ...) and then evaluated. The
numbers come from ``engine.grad``, so no ``.grad`` is changed.

``ChainRule`` holds those steps as data (each node's value, formula, gradient and
contributions), computed in one place for ``explain`` and for the step-through
page (``engine.stepper``), so both show the same numbers.

This module also names nodes for people (a label, else a short expression such
as ``ln a`` or ``1−a``, else ``t7``) and finds the nodes on the paths between two
nodes; ``engine.draw`` uses the same names and paths so that a drawing and an
explanation speak alike.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from engine.backprop import grad
from engine.checks import check_instance, check_int
from engine.notation import MAX_DIGITS, Precedence, format_number, linear_parts, number, readable, write
from engine.symbolic import Expression, derivative_formulas, name_precedence
from engine.value import Value, topological_order

COUNT_LIMIT = 1_000_000
"""Walks that count or search a graph stop after this many nodes (they then say "more than")."""

"""The most significant digits a view shows: 17 write any float exactly."""


def check_root(root: object, caller: str, wrt: object = None) -> None:
    """The Value a view starts from (and ``wrt``, None or a Value), or a TypeError naming ``caller``."""
    check_instance(caller, "root", root, Value, "a Value", hint="the node to start from, e.g. the loss")
    if wrt is not None:
        check_instance(caller, "wrt", wrt, Value, "a Value or None")


def check_digits(digits: object, caller: str) -> int:
    """The significant digits a view writes numbers with: an integer from 1 to ``MAX_DIGITS``."""
    return check_int(caller, "digits", digits, minimum=1, maximum=MAX_DIGITS)


# ---------------------------------------------------------------------------
# Reading a node's op: the views (explain, draw, the stepper) ask these, which read the op's
# one definition (``node.op``).
# ---------------------------------------------------------------------------
def op_name(node: Value) -> str | None:
    """The name of the op that made ``node`` (``"mul"``, ``"sigmoid"``); None for a leaf."""
    return node.op.name if node.op is not None else None


def op_symbol(node: Value) -> str:
    """How the op that made ``node`` is drawn (``·``, ``σ``); '' for a leaf."""
    return node.op.symbol if node.op is not None else ""


def op_rule(node: Value) -> str:
    """The derivative rule of the op that made ``node``, in the course's notation; '' for a leaf."""
    return node.op.formula if node.op is not None else ""


ACTIVATIONS = frozenset(("sigmoid", "tanh", "relu"))
"""The ops the course names g in a[l] = g(z[l]): views call their outputs a[l] (or A[l])."""


def neuron_z(node: Value) -> Value | None:
    """z when ``node`` is a neuron's activation a = g(z) (sigmoid, tanh, relu) of a linear node z;
    else None. Explanations name such a pair ``z[l]_i``, ``a[l]_i``; drawings may box it as one neuron."""
    if op_name(node) in ACTIVATIONS and op_name(node.parents[0]) == "linear":
        return node.parents[0]
    return None


_DEFINED_AT_ONCE = 8  # made-up names defined on one "where" line
_SHORT_NAME = 12  # an unlabeled node is named by its expression when it is at most this long
_NAME = re.compile(r"^[\w\[\],.#′'…]+$")


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


def _course_name(node: Value) -> str | None:
    """``z[l]_i`` for an unlabeled linear node whose bias is ``b[l]_i``; ``a[l]_i`` for g(z[l]_i)."""
    letter = "z"
    z = neuron_z(node)
    if z is not None:
        node, letter = z, "a"
    elif op_name(node) != "linear":
        return None
    match = _BIAS_LABEL.match(node.parents[-1].label)
    return letter + match.group(1) if match else None


def _ordinal(k: int) -> str:
    return f"{k}{'th' if 10 <= k % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(k % 10, 'th')}"


class NodeNames:
    """Readable, unique names for nodes: the label, else a short expression, else ``t<k>``.

    ``index`` gives each node's position in a walk from the root (breadth first),
    which numbers the ``t<k>`` names, so the same graph always gets the same
    names. A label used by two nodes (one per sample, say) gets ``#2``, ``#3``
    on its later uses. Those generated names are explained by ``definition``.
    """

    def __init__(self, index: dict[int, int], digits: int = 4) -> None:
        self._index = index
        self._digits = digits
        self._names: dict[int, str] = {}
        self._taken: dict[str, int] = {}
        self._generated: dict[int, tuple[str, int]] = {}  # id -> (base name, use) for t<k> and #k names
        self._inner: dict[int, list[Value]] = {}  # id -> the made-up names inside its expression name
        self._next_index = max(index.values(), default=-1) + 1  # for nodes outside the walk
        self._mentioned: dict[int, Value] | None = None
        self._rules: dict[int, _StandInRule] = {}  # id(node) -> its op's rule run on stand-ins

    def __call__(self, node: Value) -> str:
        """The name of ``node`` (assigned on first use), noted as mentioned when recording."""
        name = self._name(node)
        if self._mentioned is not None:
            self._mention(node)
        return name

    def _mention(self, node: Value) -> None:
        for mentioned in (*self._inner.get(id(node), ()), node):
            self._mentioned.setdefault(id(mentioned), mentioned)

    def _name(self, node: Value) -> str:
        name = self._names.get(id(node))
        if name is None:
            base = readable(node.label) if node.label else _course_name(node)
            if base is None:
                inner: list[Value] = []
                base = self._expression(node, 3, inner)
                if base in self._taken:  # "p+p#2" would read as p + p#2: a second p+p gets a t name
                    base = None
                if inner and base is not None:
                    self._inner[id(node)] = inner
            numbered = base is None
            if numbered:
                base = f"t{self._position(node)}"
            uses = self._taken.get(base, 0) + 1
            self._taken[base] = uses
            name = base if uses == 1 else f"{base}#{uses}"
            self._names[id(node)] = name
            if numbered or uses > 1:
                self._generated[id(node)] = (base, uses)
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

    def record(self) -> list[Value]:
        """The nodes named since the last call (in order of first mention); starts recording."""
        mentioned = list((self._mentioned or {}).values())
        self._mentioned = {}
        return mentioned

    def made_up(self, node: Value) -> str | None:
        """How ``node``'s name was made up: ``"t"`` (``t7``: no label), ``"#"`` (``a#2``: a label
        used before), or None (a label, a course name or an expression: read off the graph)."""
        generated = self._generated.get(id(node))
        if generated is None:
            return None
        return "#" if generated[1] > 1 else "t"

    def definition(self, node: Value) -> str | None:
        """What a generated name stands for (``t1 = ln a+ln(1−a)``, ``x#2 is a 2nd node named x``)."""
        generated = self._generated.get(id(node))
        if generated is None:
            return None
        base, uses = generated
        if uses > 1:
            return f"{self(node)} is a {_ordinal(uses)} node named {base}"
        if not node.parents:
            return f"{self(node)} is an unlabelled leaf"
        return f"{self(node)} = {self.written(node, self)}"

    def _position(self, node: Value) -> int:
        position = self._index.get(id(node))
        if position is None:
            position = self._index[id(node)] = self._next_index
            self._next_index += 1
        return position

    def written(self, node: Value, operand: Callable[[Value], str], max_terms: int = 4) -> str:
        """The op that made ``node`` written over its operands: ``ln a``, ``1−a``, ``w·x+b``.

        ``operand(parent)`` gives each operand's text (its name, or its number).
        A linear node or a sum of more than ``max_terms`` terms is written with … .
        """
        name = op_name(node)
        parents = node.parents
        if name not in ("linear", "sum"):
            operands = []
            for x in node.inputs:
                if isinstance(x, Value):
                    text = operand(x)
                    operands.append((text, name_precedence(text)))
                else:
                    operands.append(number(x, "text", self._digits))
            return write(node.op.notation, operands, "text")[0]  # type: ignore[union-attr]
        n = len(linear_parts(parents)[0]) if name == "linear" else len(parents)
        kept = list(range(n)) if n <= max_terms else [*range(max_terms - 1), -1, n - 1]
        if name == "linear":  # w₁x₁ + … + wₙxₙ + b
            terms = [
                f"{_factor(operand(parents[k]))}·{_factor(operand(parents[n + k]))}" if k >= 0 else "…"
                for k in kept
            ]
            terms.append(_factor(operand(parents[-1])))
        else:
            terms = [_factor(operand(parents[k])) if k >= 0 else "…" for k in kept]
        return "+".join(terms)

    def _expression(self, node: Value, depth: int, inner: list[Value]) -> str | None:
        """``ln a``, ``1 − a``, ``2·x``: the op written over its operands' names, if short.

        Adds to ``inner`` the nodes with made-up names (``a#2``) written inside it;
        an operand named ``t<k>`` is never written inside: the node gets a ``t`` name too.
        """
        name = op_name(node)
        if name is None or depth == 0:
            return None
        if name == "linear" or (name == "sum" and not 2 <= len(node.parents) <= 3):
            return None
        operands: dict[int, str] = {}
        for parent in node.parents:
            text = self._operand_name(parent, depth - 1, inner)
            if text is None:
                return None
            operands[id(parent)] = text
        text = self.written(node, lambda parent: operands[id(parent)])
        return text if len(text) <= _SHORT_NAME else None

    def _operand_name(self, node: Value, depth: int, inner: list[Value]) -> str | None:
        """How an operand is written inside an expression: its name if that needs no expression
        of its own, else its expression one level down (None past the depth or for a ``t`` name)."""
        if id(node) in self._names or node.label or not node.parents or _course_name(node):
            name = self(node)
            generated = self._generated.get(id(node))
            if generated is not None and generated[1] == 1:  # t<k>: say "t9", not "ln t7"
                return None
            if generated is not None:
                inner.append(node)
            inner.extend(self._inner.get(id(node), ()))
            return name
        return self._expression(node, depth, inner)

    def partial(self, node: Value, operand: Value) -> str:
        """``∂c/∂v``: the local derivative of ``node`` with respect to its ``operand``, in these names."""
        return f"{d(self(node), '∂')}/{d(self(operand), '∂')}"

    def local_formula(self, node: Value, slot: int) -> str:
        """∂ node / ∂ parent for ``node.parents[slot]``, written in the graph's names.

        Written by running the op's own ``local_grads`` rule on the names (engine.symbolic),
        so it is the rule that computes the number; ``∂c/∂v`` if the rule cannot run on names.
        Only the names the formula writes are noted as mentioned. The rule runs once per node
        on stand-ins, then on the names of only those operands this slot's formula uses: a
        sum of n terms is not written n times over for each of the terms shown.
        """
        rule = self._rules.get(id(node)) or self._stand_in_rule(node)
        position = rule.value_slots[slot]
        formula = None if rule.formulas is None else rule.formulas[position]
        if formula is None:
            return self.partial(node, node.parents[slot])
        used = {rule.operand[id(symbol)] for symbol in _symbols_in(formula) if id(symbol) in rule.operand}
        if used:  # the same rule again, on names where this formula needs them
            named: dict[int, Value] = {}
            out, symbols = rule.out, list(rule.symbols)
            for k in sorted(used):
                x = node if k < 0 else rule.inputs[k]
                symbol = Expression(self._name(x))
                named[id(symbol)] = x
                if k < 0:
                    out = symbol
                else:
                    symbols[k] = symbol
            formulas = derivative_formulas(node.op, out, symbols)  # type: ignore[arg-type]
            formula = None if formulas is None else formulas[position]
            if formula is None:
                return self.partial(node, node.parents[slot])
            if self._mentioned is not None:
                for symbol in _symbols_in(formula):
                    if id(symbol) in named:
                        self._mention(named[id(symbol)])
        if isinstance(formula, Expression):
            return formula.write("text", self._digits)
        return number(formula, "text", self._digits)[0]

    def _stand_in_rule(self, node: Value) -> _StandInRule:
        """``node``'s op rule run on a stand-in for its result and for each Value operand (numbers
        as themselves), kept for every slot asked about; names the node and its operands in order."""
        inputs = node.inputs
        self._name(node)
        out = Expression("", precedence=Precedence.ATOM)
        operand = {id(out): -1}
        symbols = []
        for k, x in enumerate(inputs):
            if isinstance(x, Value):
                self._name(x)  # named in slot order, as when the formulas were written over all names
                symbol = Expression("", precedence=Precedence.ATOM)
                operand[id(symbol)] = k
            else:
                symbol = Expression.constant(x, self._digits)
            symbols.append(symbol)
        value_slots = [k for k, x in enumerate(inputs) if isinstance(x, Value)]
        formulas = derivative_formulas(node.op, out, symbols)  # type: ignore[arg-type]
        rule = self._rules[id(node)] = _StandInRule(inputs, value_slots, out, symbols, operand, formulas)
        return rule


@dataclass(frozen=True)
class _StandInRule:
    """An op's local derivatives over stand-ins: which operands each slot's formula uses."""

    inputs: tuple
    value_slots: list[int]  # the position in ``inputs`` of each parent
    out: Expression
    symbols: list[Expression]  # a stand-in for each Value operand, a constant for a number
    operand: dict[int, int]  # id(stand-in) -> its position in ``inputs`` (-1: the result)
    formulas: tuple | None


def _symbols_in(formula: object) -> list[Expression]:
    """The named symbols a derived formula is written over."""
    if not isinstance(formula, Expression):
        return []
    if formula.op is None:
        return [formula]
    return [leaf for operand in formula.inputs for leaf in _symbols_in(operand)]


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


def nodes_on_paths(
    root: Value, targets: Iterable[Value], caller: str, name: str, limit: int = COUNT_LIMIT
) -> set[int]:
    """ids of the nodes on some path from ``root`` down to any of ``targets`` (ends included).

    A node is on such a path when it is below ``root`` and a target is below it;
    found by walking from the targets back towards the root along consumer links.
    Raises ``ValueError`` naming ``caller`` and the argument ``name`` if a target
    is not in the graph of ``root``.
    """
    consumers: dict[int, list[Value]] = {}

    def parents_noting_consumers(node: Value) -> tuple[Value, ...]:
        for parent in node.parents:
            consumers.setdefault(id(parent), []).append(node)
        return node.parents

    _, found = walk(root, keep=1, neighbours=parents_noting_consumers, limit=limit)
    if found > limit:
        raise ValueError(
            f"{caller}: the graph has more than {limit:,} nodes: too many to search for the paths to "
            f"{name}; pick a smaller sub-expression"
        )
    on_path: set[int] = set()
    stack = []
    for target in targets:
        if target is not root and id(target) not in consumers:
            raise ValueError(
                f"{caller}: {name} must be a node of root's graph, got {target!r}, which root does not "
                f"depend on (root is {root!r})"
            )
        stack.append(target)
    while stack:
        node = stack.pop()
        if id(node) not in on_path:
            on_path.add(id(node))
            stack.extend(consumers.get(id(node), ()))
    return on_path


# ---------------------------------------------------------------------------
# The steps of the forward and backward passes, as data and as text
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Term:
    """One contribution to dL/dv: what the consumer c of v sends back through operand ``slot``."""

    consumer: Value
    slot: int
    upstream: float
    """dL/dc, the consumer's own gradient."""
    local: float
    """∂c/∂v, the local derivative of the consumer's op for this operand."""

    @property
    def product(self) -> float:
        """upstream × local: this contribution to dL/dv."""
        return self.upstream * self.local


@dataclass(frozen=True)
class BackwardStep:
    """dL/dv for one node v: its contributions (one per use of v) and their sum, ``gradient``."""

    node: Value
    gradient: float
    terms: tuple[Term, ...]


class ChainRule:
    """The graph below ``root`` as the steps of backprop, with names and numbers for people.

    The forward pass is ``forward_order`` (each node after its parents; a value is
    its ``data``); the backward pass is ``backward_steps`` (the root first; each
    gradient from ``engine.grad``, so no ``.grad`` changes). With ``wrt`` only the
    nodes on the paths from ``root`` to ``wrt`` are kept. ``explain`` and the
    step-through page both write their text from here, so they show the same numbers.
    """

    def __init__(
        self, root: Value, wrt: Value | None = None, *, digits: int = 4, caller: str = "ChainRule"
    ) -> None:
        """The steps below ``root`` (to ``wrt``), numbers to ``digits``; errors name ``caller``."""
        check_root(root, caller, wrt)
        check_digits(digits, caller)
        order = topological_order(root)
        if wrt is not None:
            on_path = nodes_on_paths(root, [wrt], caller, "wrt")
            order = [node for node in order if id(node) in on_path]
        self.root, self.digits = root, digits
        self.order = order
        """Every node kept, the root first, each node before its parents."""
        self.gradients = dict(zip(map(id, order), grad(root, order), strict=True))
        self.consumers: dict[int, list[tuple[Value, int]]] = {}
        """(c, slot) for every slot where a node is an operand of c, in backward order."""
        kept = set(self.gradients)
        for node in order:
            for slot, parent in enumerate(node.parents):
                if id(parent) in kept:
                    self.consumers.setdefault(id(parent), []).append((node, slot))
        self.names = NodeNames({id(node): k for k, node in enumerate(walk(root)[0])}, digits)
        self._defined: set[int] = set()
        self._local_grads: dict[int, tuple[float, ...]] = {}  # id(consumer) -> its local_grads

    @property
    def forward_order(self) -> list[Value]:
        """Every node kept, each after its parents: the order of the forward pass (leaves first)."""
        return self.order[::-1]

    def backward_step(self, node: Value) -> BackwardStep:
        """dL/d``node`` with one term per use of ``node``, upstream × local."""
        gradients, local_grads = self.gradients, self._local_grads
        terms = []
        for consumer, slot in self.consumers.get(id(node), ()):
            local = local_grads.get(id(consumer))
            if local is None:  # read once: a sum makes its local derivatives from all n terms
                local = local_grads[id(consumer)] = consumer.local_grads
            terms.append(Term(consumer, slot, gradients[id(consumer)], local[slot]))
        terms = tuple(terms)
        return BackwardStep(node, gradients[id(node)], terms)

    def gradient_name(self, node: Value) -> str:
        """``dL/dz``: the gradient of the root with respect to ``node``, in the graph's names."""
        return f"{d(self.names(self.root))}/{d(self.names(node))}"

    def number(self, x: float) -> str:
        """``x`` to the chosen significant digits."""
        return format_number(x, self.digits)

    def forward_parts(self, node: Value) -> list[str]:
        """``z``, ``w·x+b``, ``0.8·1.5+(-0.4)``, ``0.8``: a value as its formula over names and numbers."""
        name = self.names
        if not node.parents:
            return [name(node), self.number(node.data)]
        numbers = name.written(node, lambda parent: self.number(parent.data))
        return distinct_parts([name(node), name.written(node, name), numbers, self.number(node.data)])

    def term_parts(self, node: Value, term: Term, in_sum: bool = False) -> list[str]:
        """One contribution to dL/d``node``: ``dL/da · ∂a/∂z``, ``dL/da · a(1−a)``, numbers, product.

        The upstream factor dL/dc is left out when c is the root (it is 1), so a
        step never reads dL/dv = dL/dL · ∂L/∂v.
        """
        name, number = self.names, self.number
        consumer = term.consumer
        local = name.partial(consumer, node)
        formula = name.local_formula(consumer, term.slot)
        if consumer is self.root:
            formula = _factor(formula) if in_sum else formula
            return [local, formula, _factor(number(term.local)) if in_sum else number(term.local)]
        upstream = self.gradient_name(consumer)
        return [
            f"{upstream} · {local}",
            f"{upstream} · {_factor(formula)}",
            f"{_factor(number(term.upstream))} · {_factor(number(term.local))}",
        ]

    def backward_parts(self, step: BackwardStep, max_terms: int = 6) -> list[str]:
        """``dL/dz = dL/da · ∂a/∂z = dL/da · a(1−a) = -1.449 · 0.2139 = -0.31`` as its parts.

        A node used several times gets one term per use, summed; at most
        ``max_terms`` terms are written (the sum is always complete).
        """
        lhs = self.gradient_name(step.node)
        if step.node is self.root:
            return [lhs, "1"]
        shown = step.terms[:max_terms]
        more = f" + … ({len(step.terms) - len(shown)} more terms)" if len(step.terms) > len(shown) else ""
        columns = zip(*(self.term_parts(step.node, term, len(step.terms) > 1) for term in shown), strict=True)
        sums = [" + ".join(column) + more for column in columns]
        return distinct_parts([lhs, *sums, self.number(step.gradient)])

    def definitions(self) -> list[str]:
        """Definitions of the made-up names (``t1``, ``a#2``) mentioned since the last call, each
        once, and of those the definitions mention (at most 8 a call: the rest where next used)."""
        names, lines = self.names, []
        pending = names.record()
        while pending and len(lines) < _DEFINED_AT_ONCE:
            node = pending.pop(0)
            if names.made_up(node) and id(node) not in self._defined:
                self._defined.add(id(node))
                lines.append(names.definition(node))
                pending += names.record()
        names.record()
        return lines


def distinct_parts(parts: list[str]) -> list[str]:
    """The parts of an equation ``a = b = c`` without a part equal to the next one (no ``1 = 1``);
    the last of equal parts is kept. The stepper's text drops repeats the same way."""
    same = lambda a, b: a.replace("−", "-") == b.replace("−", "-")
    return [part for k, part in enumerate(parts) if k + 1 == len(parts) or not same(part, parts[k + 1])]


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

        dL/dv = Σ_c dL/dc · ∂c/∂v = Σ_c dL/dc · (formula) = Σ_c (number) · (number) = result

    e.g. ``dL/dz = dL/da · ∂a/∂z = dL/da · a(1−a) = -1.449 · 0.2139 = -0.31``.
    Gradients reaching a node from several consumers are summed, term by term.
    A made-up name (``t1`` for an unlabelled value, ``a#2`` for a second node
    labelled ``a``) is defined on a ``where`` line the first time it is used.
    With ``wrt=node`` only the nodes on the paths from ``root`` to ``node`` are
    shown. Output is bounded: at most ``max_steps`` steps and ``max_terms``
    terms per sum are written (every sum is still computed in full).
    No ``.grad`` changes: the numbers come from ``engine.grad``.
    """
    _check_explain_arguments(root, wrt, digits, max_steps, max_terms)
    rule = ChainRule(root, wrt, digits=digits, caller="explain")
    shown = rule.order[: max_steps + 1]  # the root, then max_steps steps
    consumers = rule.consumers
    rule.names.name_all([*shown, *(c for v in shown for c, _ in consumers.get(id(v), [])[:max_terms])])
    rule.definitions()  # start recording the names used from here on
    lines = [_header(rule, wrt)]
    lines += _where(rule)
    for node in shown:
        lines.append(_join_step(rule.backward_parts(rule.backward_step(node), max_terms)))
        lines += _where(rule)
    if len(rule.order) > len(shown):
        lines.append(
            f"… {len(rule.order) - len(shown)} more steps not shown (max_steps={max_steps}); "
            "pass wrt=node to follow the paths to one node"
        )
    lines += _rules_used(shown)
    return "\n".join(lines)


def _check_explain_arguments(
    root: object, wrt: object, digits: object, max_steps: object, max_terms: object
) -> None:
    check_root(root, "explain", wrt)
    check_digits(digits, "explain")
    check_int("explain", "max_steps", max_steps, minimum=1)
    check_int("explain", "max_terms", max_terms, minimum=1)


def _header(rule: ChainRule, wrt: Value | None) -> str:
    out = rule.names(rule.root)
    dout = d(out)
    target = f" to {rule.names(wrt)}" if wrt is not None else ""
    return (
        f"Chain rule backward from {out} = {rule.number(rule.root.data)}{target}: "
        f"{dout}/dv = Σ over the nodes c that use v of {dout}/dc · ∂c/∂v"
    )


def _where(rule: ChainRule) -> list[str]:
    """A ``where`` line defining the made-up names the last lines used for the first time."""
    definitions = rule.definitions()
    return [f"    where {'; '.join(definitions)}"] if definitions else []


def _rules_used(nodes: list[Value]) -> list[str]:
    rules: dict[str, str] = {}
    for node in nodes:
        if node.parents:
            rules.setdefault(op_name(node), op_rule(node))
    return ["rules used: " + "; ".join(f"{rule} ({name})" for name, rule in rules.items())] if rules else []


def _join_step(parts: list[str], width: int = 110) -> str:
    """``a = b = c = d`` on one line, or one ``= ...`` per line when that is too long."""
    one_line = " = ".join(parts)
    if len(one_line) <= width:
        return one_line
    indent = " " * len(parts[0])
    return parts[0] + " = " + "\n".join(
        part if k == 0 else f"{indent} = {part}" for k, part in enumerate(parts[1:])
    )

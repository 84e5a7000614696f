"""The one rewrite engine: patterns, rules, and a bottom-up fixpoint over a graph.

A rule is (pattern, fn). The pattern matches a node by op and, optionally, its inputs' patterns; named
sub-patterns bind nodes, and fn(**bindings) returns a replacement node or None ("no change"). A
replacement must have the same type as the node it replaces. Rule lists compose with `+`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from compiler.ir.node import Graph, Node, with_inputs
from compiler.ir.ops import Op

_MAX_STEPS = 64


@dataclass(frozen=True)
class Pat:
    ops: frozenset[Op] | Op | None = None
    inputs: tuple[Pat, ...] | None = None
    name: str | None = None
    where: Callable[[Node], bool] | None = None

    def match(self, n: Node, binds: dict) -> bool:
        ops = frozenset({self.ops}) if isinstance(self.ops, Op) else self.ops
        if ops is not None and n.op not in ops:
            return False
        if self.where is not None and not self.where(n):
            return False
        if self.inputs is not None:
            if len(self.inputs) != len(n.inputs):
                return False
            if not all(p.match(i, binds) for p, i in zip(self.inputs, n.inputs)):
                return False
        if self.name is not None:
            if self.name in binds and binds[self.name] is not n:
                return False
            binds[self.name] = n
        return True


def P(ops=None, *inputs: Pat, name: str | None = None, where=None) -> Pat:
    """Shorthand: P(Op.MUL, P(name="x"), CONST("c"), name="m")."""
    return Pat(ops, tuple(inputs) if inputs else None, name, where)


Rule = tuple[Pat, Callable[..., Node | None]]


def apply_rules(n: Node, rules: list[Rule]) -> Node | None:
    """The first rule's replacement for n (with n's type), or None."""
    for pat, fn in rules:
        binds: dict[str, Node] = {}
        if pat.match(n, binds):
            out = fn(**binds)
            if out is not None and out is not n and out.type == n.type:
                return out
    return None


class Memo:
    """node -> its rewritten node, keyed by identity (holding both, so ids are never reused)."""

    def __init__(self):
        self._map: dict[int, tuple[Node, Node]] = {}

    def get(self, n: Node) -> Node | None:
        hit = self._map.get(id(n))
        return hit[1] if hit is not None else None

    def put(self, n: Node, new: Node) -> None:
        self._map[id(n)] = (n, new)


def rewrite_node(root: Node, rules: list[Rule], memo: Memo | None = None) -> Node:
    """Rewrite root's inputs, then root itself, until no rule applies."""
    memo = Memo() if memo is None else memo

    def visit(n: Node) -> Node:
        done = memo.get(n)
        if done is not None:
            return done
        new = with_inputs(n, [visit(i) for i in n.inputs])
        for _ in range(_MAX_STEPS):
            out = apply_rules(new, rules)
            if out is None:
                break
            # the replacement may hold new nodes that rules apply to as well
            new = with_inputs(out, [visit(i) for i in out.inputs])
        memo.put(n, new)
        memo.put(new, new)
        return new

    return visit(root)


def graph_rewrite(graph: Graph, rules: list[Rule]) -> Graph:
    memo = Memo()
    outputs = tuple(rewrite_node(o, rules, memo) for o in graph.outputs)
    inputs = tuple(memo.get(i) or i for i in graph.inputs)
    return Graph(inputs, outputs)


def cse(graph: Graph) -> Graph:
    """Merge structurally equal nodes (same op, attrs, type and inputs)."""
    memo = _cse(graph.nodes, ())
    return Graph(tuple(memo[id(i)] for i in graph.inputs), tuple(memo[id(o)] for o in graph.outputs))


def cse_nodes(roots, fixed=()) -> list[Node]:
    """cse over the nodes reachable from roots; `fixed` nodes stay as they are (and absorb duplicates)."""
    memo = _cse(Graph((), tuple(roots)).nodes, fixed)
    return [memo[id(r)] for r in roots]


def _cse(nodes, fixed) -> dict[int, Node]:
    seen: dict[tuple, Node] = {}
    memo: dict[int, Node] = {}
    keep = {id(n) for n in fixed}
    for n in fixed:
        seen.setdefault(n.key(), n)
    for n in nodes:
        if id(n) in keep:
            memo[id(n)] = n
            continue
        new = with_inputs(n, [memo[id(i)] for i in n.inputs])
        memo[id(n)] = seen.setdefault(new.key(), new)
    return memo

"""The IR: one frozen node type and a graph of them.

A `Node` is (op, inputs, attrs, type). Nodes are immutable and compared by identity; passes build new
nodes and never change old ones. A `Graph` is its input nodes plus its output nodes; everything reachable
from the outputs is in it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from compiler.ir.ops import Op

_MISSING = object()


@dataclass(frozen=True)
class TensorType:
    shape: tuple[int, ...]
    dtype: str

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    def __str__(self) -> str:
        return f"[{','.join(map(str, self.shape))}] {self.dtype}"


@dataclass(frozen=True, eq=False)
class Node:
    op: Op
    inputs: tuple[Node, ...]
    attrs: tuple[tuple[str, Any], ...]
    type: TensorType = field(compare=False)

    def attr(self, name: str, default: Any = _MISSING) -> Any:
        for key, value in self.attrs:
            if key == name:
                return value
        if default is _MISSING:
            raise KeyError(f"{self.op.name} has no attribute {name!r}")
        return default

    @property
    def shape(self) -> tuple[int, ...]:
        return self.type.shape

    @property
    def dtype(self) -> str:
        return self.type.dtype

    @property
    def src(self) -> Node:
        return self.inputs[0]

    def key(self) -> tuple:
        """Structural identity given the identity of the inputs (for common-subexpression elimination)."""
        return (self.op, tuple(id(i) for i in self.inputs), self.attrs, self.type)

    def __repr__(self) -> str:
        return f"Node({self.op.name}, {self.type})"


def node(op: Op, inputs, type: TensorType, **attrs) -> Node:
    return Node(op, tuple(inputs), tuple(sorted(attrs.items())), type)


def with_inputs(n: Node, inputs) -> Node:
    inputs = tuple(inputs)
    if all(a is b for a, b in zip(inputs, n.inputs)) and len(inputs) == len(n.inputs):
        return n
    return Node(n.op, inputs, n.attrs, n.type)


def const(value, shape=(), dtype: str | None = None) -> Node:
    from compiler.ir.dtypes import scalar_dtype

    return node(Op.CONST, (), TensorType(tuple(shape), dtype or scalar_dtype(value)), value=value)


def is_const(n: Node, value=_MISSING) -> bool:
    if n.op is not Op.CONST:
        return False
    return value is _MISSING or _same(n.attr("value"), value)


def upstream(roots, through=None) -> list[Node]:
    """Every node reachable from `roots` through inputs, each once, in depth-first order (the last input
    first). The inputs of a node for which `through(n)` is false are not followed."""
    seen, order, stack = set(), [], list(roots)
    while stack:
        n = stack.pop()
        if id(n) in seen:
            continue
        seen.add(id(n))
        order.append(n)
        if through is None or through(n):
            stack.extend(n.inputs)
    return order


def _same(a, b) -> bool:
    # bools are compared by identity so that False never matches 0.0
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    return a == b


@dataclass(frozen=True, eq=False)
class Graph:
    """Inputs (INPUT nodes, in call order) and outputs (flat, in the program's output order)."""

    inputs: tuple[Node, ...]
    outputs: tuple[Node, ...]

    @cached_property
    def nodes(self) -> tuple[Node, ...]:
        """Every node reachable from the outputs, inputs first, then in a stable topological order."""
        order: list[Node] = list(self.inputs)
        done = {id(n) for n in order}
        # iterative post-order DFS: a node is emitted once all its inputs are
        stack = [(out, 0) for out in reversed(self.outputs)]
        while stack:
            n, i = stack.pop()
            if id(n) in done:
                continue
            if i < len(n.inputs):
                stack.append((n, i + 1))
                stack.append((n.inputs[i], 0))
                continue
            done.add(id(n))
            order.append(n)
        return tuple(order)

    @cached_property
    def users(self) -> dict[int, tuple[Node, ...]]:
        """id(node) -> the nodes that use it (each once, in topological order)."""
        out: dict[int, list[Node]] = {id(n): [] for n in self.nodes}
        for n in self.nodes:
            for i in dict.fromkeys(n.inputs):
                out[id(i)].append(n)
        return {k: tuple(v) for k, v in out.items()}

    def uses(self, n: Node) -> tuple[Node, ...]:
        return self.users.get(id(n), ())

    def is_output(self, n: Node) -> bool:
        return any(o is n for o in self.outputs)

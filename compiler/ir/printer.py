"""The IR as stable text: one line per node, `%name = op(args) {attrs} : [shape] dtype`.

Inputs keep their program names; other nodes are numbered in topological order. Scalar constants are
printed inline as literals, so `div(%3, 11.3137)` reads as the program does.
"""

from __future__ import annotations

import math

from compiler.ir.node import Graph, Node
from compiler.ir.ops import Op


def fmt_value(v) -> str:
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, float):
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        if math.isnan(v):
            return "nan"
        return f"{v:.6g}"
    return str(v)


def fmt_attr(v) -> str:
    if isinstance(v, (tuple, list)):
        return "(" + ",".join(fmt_attr(x) for x in v) + ")"
    if isinstance(v, (bool, int, float)):
        return fmt_value(v)
    return str(v)


class Names:
    """Stable names for the nodes of one graph (shared by the printer, plans and generated code).
    `extra`: nodes outside the graph that a plan computes (its hoisted reductions), numbered after it."""

    def __init__(self, graph: Graph, extra: tuple[Node, ...] = ()):
        self._names: dict[int, str] = {}
        count = 0
        for n in graph.nodes:
            if n.op is Op.INPUT:
                self._names[id(n)] = n.attr("name")
            elif not _inline(n):
                self._names[id(n)] = str(count)
                count += 1
        self._added: dict[int, Node] = {}
        for n in extra:
            if id(n) not in self._names and not _inline(n):
                self._names[id(n)] = str(count)
                # held with its name, so that its id cannot be reused while the names live
                self._added[id(n)] = n
                count += 1

    def __call__(self, n: Node) -> str:
        if _inline(n):
            return fmt_value(n.attr("value"))
        return "%" + self._names.get(id(n), f"?{n.op.name.lower()}")

    def in_graph(self, n: Node) -> bool:
        return id(n) in self._names and id(n) not in self._added

    def bare(self, n: Node) -> str:
        """The name without '%', usable in identifiers."""
        return self._names.get(id(n), "x")


def _inline(n: Node) -> bool:
    return n.op is Op.CONST and n.type.rank == 0


def render_node(n: Node, names: Names) -> str:
    args = ", ".join(names(i) for i in n.inputs)
    attrs = [(k, v) for k, v in n.attrs if not (n.op is Op.INPUT and k == "name")]
    if n.op is Op.CONST:
        args, attrs = fmt_value(n.attr("value")), []
    if n.op is Op.INPUT:
        args, attrs = str(n.attr("index")), []
    if n.op is Op.TORCH:
        head = f"torch.{n.attr('target')}"
        attrs = [(k, v) for k, v in attrs if k != "target"]
    else:
        head = n.op.name.lower()
    text = f"{names(n)} = {head}({args})"
    if attrs:
        text += " {" + ", ".join(f"{k}={fmt_attr(v)}" for k, v in attrs) + "}"
    return f"{text} : {n.type}"


def render_graph(graph: Graph) -> str:
    names = Names(graph)
    lines = [render_node(n, names) for n in graph.nodes if not _inline(n)]
    lines.append("return " + ", ".join(names(o) for o in graph.outputs))
    return "\n".join(lines) + "\n"

"""The tensor-property analysis, as one Info: score spaces and which tensors are score-sized, index-defined
masks and their diagonal atoms, and the class of every reduction. The fusion planner reads only this."""

from __future__ import annotations

from dataclasses import dataclass

from compiler.analysis.axes import AxisInfo, Space, axis_info
from compiler.analysis.index import Atom, atoms, intervals
from compiler.analysis.reductions import ReductionInfo, reduction_info
from compiler.ir.node import Graph
from compiler.ir.ops import Op
from compiler.ir.printer import Names


@dataclass(frozen=True, eq=False)
class PropertyInfo:
    graph: Graph
    axes: AxisInfo
    reductions: tuple[ReductionInfo, ...]  # one per score space
    atoms: tuple[tuple[Atom, ...], ...]  # per score space

    def render(self) -> str:
        names = Names(self.graph)
        lines = []
        for space, ri, found in zip(self.axes.spaces, self.reductions, self.atoms):
            lines += _render_space(self, space, ri, found, names)
        if not self.axes.spaces:
            lines.append("no score space: no first-level matmul with distinct M and N")
        return "\n".join(lines) + "\n"


def _axis_name(axes: AxisInfo, space: Space, c: int) -> str:
    label = {space.i: "I", space.j: "J"}.get(c, f"c{c}")
    return f"{label}({axes.sizes[c]})"


def _render_space(info: PropertyInfo, space: Space, ri: ReductionInfo, found, names: Names) -> list[str]:
    axes, graph = info.axes, info.graph
    batch = " ".join(_axis_name(axes, space, c) for c in space.batch)
    lines = [f"space of {', '.join(names(d) for d in space.dots)}: rows {_axis_name(axes, space, space.i)} x "
             f"columns {_axis_name(axes, space, space.j)}, batch {batch}"]
    quad = [n for n in graph.nodes if axes.quadratic(n, space)]
    index_only = _index_only(graph)
    lines.append("  score-sized: " + " ".join(names(n) + ("(index)" if id(n) in index_only else "")
                                              + ("(input)" if n.op is Op.INPUT else "") for n in quad))
    for a in found:
        lines.append(f"  atom {names(a.node)}: {_atom_text(a)}")
    if found:
        spans = ", ".join(f"[{lo}, {hi}]" for lo, hi in intervals(found))
        lines.append(f"  j - i intervals with constant masks: {spans}")
    for s in ri.sinks:
        axis = "J (row statistic)" if s.axis == space.j else "I (column statistic)"
        deps = ", ".join(names(d.node) for d in ri.deps[id(s.node)]) or "-"
        what = f"{s.op.name.lower()} over {axis}" if s.op is not None else "stored tile by tile"
        lines.append(f"  {names(s.node)} = {what}: {ri.kind[id(s.node)]}, "
                     f"stage {ri.stage[id(s.node)]}, reads {deps}")
    for n, why in ri.blocked:
        lines.append(f"  blocked {names(n)}: {why}")
    return lines


def _atom_text(a: Atom) -> str:
    return {"ge": f"j - i >= {a.t}", "lt": f"j - i < {a.t}", "eq": f"j - i == {a.t}",
            "ne": f"j - i != {a.t}"}[a.kind]


def _index_only(graph: Graph) -> set[int]:
    out = set()
    for n in graph.nodes:
        if n.op in (Op.IOTA, Op.CONST) or (n.inputs and all(id(i) in out for i in n.inputs)
                                           and n.op not in (Op.INPUT, Op.TORCH)):
            out.add(id(n))
    return out


def analyze(graph: Graph) -> PropertyInfo:
    axes = axis_info(graph)
    reductions = tuple(reduction_info(graph, axes, s) for s in axes.spaces)
    found = tuple(atoms(graph.nodes, axes, s) for s in axes.spaces)
    return PropertyInfo(graph, axes, reductions, found)

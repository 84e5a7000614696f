"""The fusion plan as data: kernels (with their accumulators, regions and stores), torch steps, and the
rejected candidates with reasons. It prints as text (the `plan` dump and `explain`)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from compiler.analysis.axes import AxisInfo, Space
from compiler.analysis.index import Atom
from compiler.analysis.reductions import Sink
from compiler.ir.node import Graph, Node
from compiler.ir.ops import G, Op
from compiler.ir.printer import Names, fmt_value, render_node


@dataclass(frozen=True, eq=False)
class Accumulator:
    """One sink as a kernel computes it: per tile `base` (using the running value of `shift`), then
    `post` once after the loop. `kind` is the sink's reduction class. `init`: a vector along the program's
    tile the accumulator starts from instead of the identity (the contribution of tiles reduced once for
    all heads by a torch step), or None."""

    sink: Sink
    base: Node
    shift: Node | None
    post: Node | None
    kind: str
    init: Node | None = None


@dataclass(frozen=True, eq=False)
class Region:
    """Tiles whose diagonal offsets d = j - i all lie in [lo, hi]: every diagonal atom is constant there.
    `bases[k]` is accumulator k's base folded for the region, None when it is the identity (dead).
    `hoisted`: the torch steps that computed the region's contribution once for all heads (its bases are
    then None: the kernel skips it like a dead region)."""

    lo: float
    hi: float
    bases: tuple[Node | None, ...]
    hoisted: tuple[Node, ...] = ()
    # the intervals [lo, hi] of the streamed index outside which every base is the identity (comparisons
    # of that index with constants: attention sinks), in increasing order; None: live at every index
    live: tuple[tuple[float, float], ...] | None = None
    owners: tuple[tuple[float, float], ...] | None = None  # the same for the index of the program's tile

    @property
    def dead(self) -> bool:
        return all(b is None for b in self.bases)


@dataclass(frozen=True, eq=False)
class KernelPlan:
    name: str
    space: Space
    role: str  # "row": a program owns I tiles and loops over J; "column": the reverse
    p: int  # the class a program owns a tile of
    r: int  # the class the loop streams
    accumulators: tuple[Accumulator, ...]
    atoms: tuple[Atom, ...]
    regions: tuple[Region, ...]
    epilogue: tuple[Node, ...]  # small nodes computed after the loop, in order
    stores: tuple[Node, ...]  # computed nodes written to memory
    batch_fastest: bool  # grid order: batch (heads) varies fastest
    reverse: bool  # tiles in reverse order (the longest first)
    notes: tuple[str, ...]
    # every accumulator is an any: once all of a program's are true nothing can change them, so each loop
    # segment runs its first tile, then the rest only while some accumulator lane is still false
    stops_saturated: bool = False

    @property
    def sinks(self) -> tuple[Node, ...]:
        return tuple(a.sink.node for a in self.accumulators)


@dataclass(frozen=True, eq=False)
class TorchStep:
    node: Node
    kind: str  # "fallback": an op left to torch; "prologue": a hoisted input-only expression; "view"
    why: str


@dataclass(frozen=True, eq=False)
class MapKernel:
    """Torch steps of inputs alone (the prologue) computed by one generated kernel instead of a torch op
    each: a program owns a tile of one axis of the [rows, cols] domain and loops over the other, reading
    every input once for all the steps; it stores elementwise results tile by tile and reductions over
    the loop axis after the loop (fusion/maps.py)."""

    name: str
    shape: tuple[int, int]  # the domain: every value is [rows, cols] or broadcast to it
    loop_axis: int  # 0: a program owns a column tile and loops over rows; 1: the reverse
    stores: tuple[Node, ...]  # the roots of the steps it replaces, each written to its own tensor
    why: str

    @property
    def role(self) -> str:
        return "map"


@dataclass(frozen=True, eq=False)
class TorchRegion:
    """Score-sized values only torch can compute (a torch op on the scores, a view that is no row or
    column selection), with the scores they read recomputed: evaluated chunk by chunk along one dim (a
    block of heads or of query rows at a time), so no whole [B, H, Lq, Lk] intermediate ever exists;
    `outputs` are written whole, a chunk at a time (fusion/regions.py, launch/chunked.py)."""

    name: str
    nodes: tuple[Node, ...]  # computed by torch, in graph order
    outputs: tuple[Node, ...]  # the nodes read outside the region
    dims: tuple[int | None, ...]  # per output: the dim the chunks run along (None: not chunked)
    chunk: str  # what one chunk is a block of ("heads", "query rows", ...); "" when not chunked
    size: int  # of the chunked dim
    step: int  # elements of it per chunk
    why: str

    @property
    def role(self) -> str:
        return "torch"


@dataclass(frozen=True)
class Rejected:
    candidate: str
    reason: str


@dataclass(frozen=True, eq=False)
class Plan:
    graph: Graph
    axes: AxisInfo
    steps: tuple[KernelPlan | MapKernel | TorchStep | TorchRegion, ...]
    # program output index -> the computed node a kernel stores straight into that output's buffer
    direct_outputs: tuple[tuple[int, Node], ...]
    rejected: tuple[Rejected, ...]

    @property
    def kernels(self) -> tuple[KernelPlan, ...]:
        return tuple(s for s in self.steps if isinstance(s, KernelPlan))

    @property
    def maps(self) -> tuple[MapKernel, ...]:
        return tuple(s for s in self.steps if isinstance(s, MapKernel))

    @property
    def generated(self) -> tuple[KernelPlan | MapKernel, ...]:
        """Every kernel the plan generates, in the order of the sources (codegen/program.py)."""
        return self.kernels + self.maps

    @property
    def torch_steps(self) -> tuple[TorchStep, ...]:
        return tuple(s for s in self.steps if isinstance(s, TorchStep))

    @property
    def regions(self) -> tuple[TorchRegion, ...]:
        return tuple(s for s in self.steps if isinstance(s, TorchRegion))

    def names(self) -> Names:
        """Names of the graph's nodes and of the nodes the plan adds (torch steps and map kernel stores
        outside the graph)."""
        added = [t.node for t in self.torch_steps] + [n for m in self.maps for n in m.stores]
        added += [n for r in self.regions for n in r.nodes]
        return Names(self.graph, tuple(added))

    def render(self) -> str:
        names = self.names()
        lines = []
        for step in self.steps:
            if isinstance(step, KernelPlan):
                lines.extend(_render_kernel(step, names))
            elif isinstance(step, MapKernel):
                lines.extend(_render_map(step, names))
            elif isinstance(step, TorchRegion):
                lines.extend(render_region(step, names))
            else:
                lines.append(f"torch {names(step.node)} = {torch_text(step.node, names)} : {step.node.type}  "
                             f"[{step.kind}: {step.why}]")
        for i, n in self.direct_outputs:
            lines.append(f"output {i} <- {names(n)} (stored in place by its kernel)")
        if self.rejected:
            lines.append("rejected:")
            lines.extend(f"  {r.candidate}: {r.reason}" for r in self.rejected)
        return "\n".join(lines) + "\n"


def torch_text(n: Node, names: Names) -> str:
    """What a torch step computes: the op of a graph node, or the whole expression of a node the plan
    built (its inner nodes have no names)."""
    if n.op is Op.TORCH:
        return f"torch {n.attr('target')}"
    if names.in_graph(n):
        return n.op.name.lower()
    return _call(n, names, 0)


def expr(n: Node, names: Names, depth: int = 0) -> str:
    """A node as an inline expression down to named graph nodes (new nodes have no name)."""
    name = names(n)
    if not name.startswith("%?") or depth > 6:
        return name
    if n.op is Op.CONST:
        return fmt_value(n.attr("value"))
    return _call(n, names, depth)


def _call(n: Node, names: Names, depth: int) -> str:
    args = [expr(i, names, depth + 1) for i in n.inputs]
    if n.op in (Op.TRIU, Op.TRIL):
        args.append(str(n.attr("diagonal")))
    elif n.op in G.REDUCE:
        args.append(f"axis={n.attr('axis')}")
    return f"{n.op.name.lower()}({', '.join(args)})"


def fmt_interval(lo: float, hi: float) -> str:
    a = "-inf" if math.isinf(lo) else str(int(lo))
    b = "inf" if math.isinf(hi) else str(int(hi))
    return f"[{a}, {b}]"


def render_region(r: TorchRegion, names: Names) -> list[str]:
    if r.chunk:
        how = f"chunk by chunk: {r.step} of {r.size} {r.chunk} at a time"
    else:
        how = "whole (it cannot be chunked)"
    lines = [f"torch region {r.name} ({how}; {r.why})"]
    lines += ["  " + (render_node(n, names) if names.in_graph(n) else f"{names(n)} = {torch_text(n, names)}")
              for n in r.nodes]
    lines.append("  writes: " + ", ".join(f"{names(n)} {n.type}" for n in r.outputs))
    return lines


def _render_map(m: MapKernel, names: Names) -> list[str]:
    own, loop = ("columns", "rows") if m.loop_axis == 0 else ("rows", "columns")
    lines = [f"kernel {m.name} (map over {m.shape[0]}x{m.shape[1]}: a program owns a tile of {own}, loops "
             f"over {loop}; {m.why})"]
    lines += [f"  {names(n)} = {_call(n, names, 0)} : {n.type}" for n in m.stores]
    return lines


def _render_kernel(k: KernelPlan, names: Names) -> list[str]:
    axis = {k.space.i: "I", k.space.j: "J"}
    lines = [f"kernel {k.name} ({k.role}: a program owns a tile of {axis[k.p]}, loops over {axis[k.r]})"]
    for a in k.accumulators:
        if a.sink.op is None:
            lines.append(f"  {names(a.sink.node)} = {_call(a.base, names, 0)}  [{a.kind}; written tile by tile]")
            continue
        op = a.sink.op.name.lower()
        text = f"  {names(a.sink.node)} = {op} over {axis[a.sink.axis]} of {expr(a.base, names)}"
        if a.sink.other is not None:
            text += f" @ {names(a.sink.other)}"
        extras = [a.kind]
        if a.shift is not None:
            extras.append(f"rescaled by the running {names(a.shift)}")
        if a.post is not None and not (a.post.op is Op.CONST and a.post.attr("value") == 1.0):
            extras.append(f"then * {expr(a.post, names)}")
        if a.init is not None:
            extras.append(f"starts from {names(a.init)}")
        lines.append(text + "  [" + "; ".join(extras) + "]")
    for r in k.regions:
        state = "dead: skipped" if r.dead else "masks folded"
        if r.hoisted:
            state = ("dead for the kernel: their contribution (head-independent) computed once before it, as "
                     + ", ".join(names(n) for n in r.hoisted))
        where = [f"{index} in " + ", ".join(fmt_interval(max(lo, 0), hi) for lo, hi in spans)
                 for index, spans in zip(("j", "i") if k.role == "row" else ("i", "j"), (r.live, r.owners))
                 if spans is not None and not r.dead]
        if where:
            state += f" where {' and '.join(where)}, dead elsewhere: skipped"
        lines.append(f"  tiles with j - i in {fmt_interval(r.lo, r.hi)}: {state}")
    if k.epilogue:
        lines.append("  epilogue: " + ", ".join(names(n) for n in k.epilogue))
    if k.stores:
        lines.append("  stores: " + ", ".join(f"{names(n)} {n.type}" for n in k.stores))
    lines.extend(f"  note: {note}" for note in k.notes)
    return lines

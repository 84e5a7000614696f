"""From reduction classes to kernels: group sinks into passes, orient each pass, find its dead tiles.

Sinks of one score space with the same stage and reduced axis can share a pass. Online partners (a sum
rescaled by a running max) must share it. Passes whose operands stream different score-sized inputs
share one kernel unless CompileOptions.split_side_streams keeps them apart (Keyformer's noise statistics
then get a row pass of their own and the attention pass stays as lean as plain attention). Each decision
that splits or refuses a fusion is recorded as a Rejected candidate with its reason.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from compiler.analysis.axes import AxisInfo, Space
from compiler.analysis.index import atoms, axis_atoms, intervals
from compiler.analysis.reductions import ReductionInfo, Sink
from compiler.analysis.values import is_identity, specialize
from compiler.fusion.plan import Accumulator, KernelPlan, Region, Rejected
from compiler.ir.node import Node, upstream
from compiler.ir.printer import Names
from compiler.options import CompileOptions
from compiler.passes.rewrite import cse_nodes


@dataclass(frozen=True, eq=False)
class Group:
    space: Space
    stage: int
    axis: int
    sinks: tuple[Sink, ...]
    streams: frozenset[int]  # ids of the score-sized tensors (inputs, prologues) the pass reads


def _streams(node: Node, axes: AxisInfo, space: Space, materialized: set[int], memo: dict) -> frozenset[int]:
    hit = memo.get(id(node))
    if hit is not None:
        return hit[1]
    out: frozenset[int] = frozenset()
    if not axes.quadratic(node, space):
        pass
    elif id(node) in materialized:
        out = frozenset({id(node)})
    else:
        for i in node.inputs:
            out |= _streams(i, axes, space, materialized, memo)
    memo[id(node)] = (node, out)
    return out


def group_sinks(ri: ReductionInfo, axes: AxisInfo, materialized: set[int], options: CompileOptions,
                names: Names) -> tuple[list[Group], list[Rejected]]:
    space, rejected = ri.space, []
    parent = {id(s.node): id(s.node) for s in ri.sinks}

    def find(a):
        while parent[a] != a:
            a = parent[a]
        return a

    for s in ri.sinks:
        for p in ri.partners[id(s.node)]:
            parent[find(id(s.node))] = find(id(p.node))
    memo: dict = {}
    comps: dict[int, list[Sink]] = {}
    for s in ri.sinks:
        comps.setdefault(find(id(s.node)), []).append(s)
    groups: dict[tuple, list[Sink]] = {}
    read: dict[tuple, frozenset] = {}  # the score-sized inputs each group streams
    reducing = {(ri.stage[id(m[0].node)], m[0].axis) for m in comps.values() if m[0].op is not None}
    for members in comps.values():
        s0 = members[0]
        streams = frozenset().union(*(_streams(s.operand, axes, space, materialized, memo) for s in members))
        axis = s0.axis if s0.op is not None else _store_axis(ri.stage[id(s0.node)], space, reducing)
        key = (ri.stage[id(s0.node)], axis, streams if options.split_side_streams else None)
        groups.setdefault(key, []).extend(members)
        read[key] = read.get(key, frozenset()) | streams
    out = [Group(space, key[0], key[1], tuple(sorted(m, key=ri.sinks.index)), read[key])
           for key, m in groups.items()]
    out.sort(key=lambda g: (g.stage, g.axis != space.j, len(g.streams), ri.sinks.index(g.sinks[0])))
    rejected += _split_reasons(out, names, ri)
    return out, rejected


def _store_axis(stage: int, space: Space, reducing: set[tuple[int, int]]) -> int:
    """The pass a store joins: the row pass of its stage, else its column pass, else a row pass of its own."""
    if (stage, space.j) in reducing or (stage, space.i) not in reducing:
        return space.j
    return space.i


def _sink_names(g: Group, names: Names) -> str:
    return ", ".join(names(s.node) for s in g.sinks)


def _split_reasons(groups: list[Group], names: Names, ri: ReductionInfo) -> list[Rejected]:
    out = []
    for a in groups:
        for b in groups:
            if a is not b and (a.stage, a.axis) == (b.stage, b.axis) and len(a.streams) < len(b.streams):
                extra = len(b.streams - a.streams)
                out.append(Rejected(f"one pass for {_sink_names(a, names)} and {_sink_names(b, names)}",
                                    f"the second streams {extra} score-sized input(s) the first does not "
                                    "read; kept apart so the first pass stays lean (split_side_streams)"))
    for s in ri.sinks:
        if ri.kind[id(s.node)] == "finished":
            deps = ", ".join(names(d.node) for d in ri.deps[id(s.node)])
            why = ("its tiles are stored, so they need the final statistics" if s.op is None else
                   "it reduces along the other axis than the statistics it reads" if any(
                d.axis != s.axis for d in ri.deps[id(s.node)]) else
                "its operand is not a per-tile value times factors constant along the reduced axis")
            out.append(Rejected(f"compute {names(s.node)} in the pass that computes {deps}",
                                f"needs their finished values: {why}; recomputed in a later pass"))
    return out


def build_kernel(name: str, group: Group, ri: ReductionInfo, axes: AxisInfo, options: CompileOptions,
                 notes: list[str], hoist=None) -> KernelPlan:
    """The pass of one group. `hoist(name, space, accumulators, regions)` may take regions out of the
    kernel (their contribution computed once for all heads: fusion/hoist.py) before the loop order is
    chosen."""
    space = group.space
    role = "row" if group.axis == space.j else "column"
    p, r = (space.i, space.j) if role == "row" else (space.j, space.i)
    accs = tuple(Accumulator(s, f.base, f.shift, f.post, ri.kind[id(s.node)])
                 for s in group.sinks for f in [ri.factored[id(s.node)]])
    # folding rewrites only the tile expressions; small values they read (statistics of earlier passes,
    # the running max, Q and K) are leaves and stay the very nodes that are loaded
    leaves = [n for n in upstream([a.base for a in accs]) if not axes.quadratic(n, space)]
    accs = _shared(accs, leaves)
    nodes = upstream([a.base for a in accs])
    found = atoms(nodes, axes, space)
    cuts = tuple((axis_atoms(nodes, axes, space, c), axes.sizes[c]) for c in (r, p))
    regions = []
    if options.skip_dead_tiles and (found or any(c for c, _ in cuts)):
        for lo, hi in intervals(found):
            truths = {id(a.node): a.truth(lo, hi) for a in found}
            folded = tuple(_fold(a, truths, leaves) for a in accs)
            regions.append(_cut(Region(lo, hi, _shared_nodes(folded, leaves)), truths, cuts, accs, leaves))
        regions = _dead_merged(regions)
        if not found and all(g.live is g.owners is None and not g.dead for g in regions):
            regions = []  # index cuts alone that skip nothing: one loop, as without them
    if hoist is not None and regions:
        accs, regions = hoist(name, space, accs, regions)
    reverse = _longest_first(role, regions)
    if reverse:
        notes.append("tiles run in reverse order (longest first): the live band grows with the tile index")
    return KernelPlan(name, space, role, p, r, accs, found, tuple(regions), (), (), False, reverse,
                      tuple(notes))


def _cut(region: Region, truths: dict[int, bool], cuts, accs, leaves) -> Region:
    """The region with the intervals of the streamed index and of the program's index where it is live
    (`cuts`: the atoms and the size of each index): dead outside them, where every accumulator folds to its
    identity.
    Its bases stay folded for the diagonal alone: a tile straddling a cut computes those comparisons."""
    if region.dead:
        return region
    live, owners = (_live_spans(truths, c, size, accs, leaves) for c, size in cuts)
    if () in (live, owners):
        return replace(region, bases=(None,) * len(region.bases))
    return replace(region, live=live, owners=owners)


def _live_spans(truths: dict[int, bool], cuts, size: int, accs, leaves) -> tuple[tuple[float, float], ...] | None:
    """The intervals of one index (cut by its atoms; its values are 0 .. size - 1) where some accumulator
    of the region is not its identity, whatever the other index is; None where it is live at every index."""
    live: list[tuple[float, float]] = []
    for lo, hi in intervals(cuts):
        both = truths | {id(a.node): a.truth(lo, hi) for a in cuts}
        if hi < 0 or lo >= size or all(_fold(a, both, leaves) is None for a in accs):
            continue
        if live and live[-1][1] + 1 == lo:
            lo = live.pop()[0]
        live.append((lo, hi))
    return None if live and live[0][0] <= 0 and live[-1][1] >= size - 1 and len(live) == 1 else tuple(live)


def _dead_merged(regions: list[Region]) -> list[Region]:
    """Neighbouring dead regions as one (|i - j| >= w cuts the dead side of a causal window at d = w too):
    a tile straddling the cut between them is dead on both sides, so no edge body runs there."""
    out: list[Region] = []
    for r in regions:
        if out and out[-1].dead and r.dead:
            r = Region(out.pop().lo, r.hi, r.bases)
        out.append(r)
    return out


def _shared_nodes(nodes, leaves):
    """The same nodes with equal subexpressions merged (so each is computed once per tile); leaves (the
    small values the tile reads) are kept as they are, since they are the nodes that get loaded."""
    live = [n for n in nodes if n is not None]
    merged = iter(cse_nodes(live, leaves))
    return tuple(None if n is None else next(merged) for n in nodes)


def _shared(accs: tuple[Accumulator, ...], leaves) -> tuple[Accumulator, ...]:
    bases = _shared_nodes([a.base for a in accs], leaves)
    return tuple(replace(a, base=b) for a, b in zip(accs, bases))


def _fold(acc: Accumulator, truths: dict[int, bool], sinks) -> Node | None:
    base = specialize(acc.base, truths, sinks)
    op = acc.sink.op
    # a store writes every tile, whatever its value: never dead
    return None if op is not None and is_identity(base, op) else base


def _longest_first(role: str, regions) -> bool:
    """Whether work per program grows with its tile index (so the longest programs should start first).

    In space coordinates, dead regions above the diagonal band (large j - i) make a row program's loop
    longer for larger i; dead regions below it make a column program's loop longer for larger j."""
    if not regions:
        return False
    dead_above, dead_below = _idle(regions[-1]), _idle(regions[0])
    if role == "row":
        return dead_above and not dead_below
    return dead_below and not dead_above


def _idle(region: Region) -> bool:
    """Whether a region adds no work that grows with the program's tile: dead, or live only up to a
    fixed index of the streamed axis or for programs up to a fixed one."""
    return region.dead or any(spans is not None and not math.isinf(spans[-1][1])
                              for spans in (region.live, region.owners))

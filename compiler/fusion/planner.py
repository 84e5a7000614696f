"""The fusion planner: named pure steps over a frozen draft (fusion/draft.py), in the pipeline's shape.

    prologue   score-sized expressions of inputs alone that every head would recompute: once, in torch
    passes     per score space: what only torch can compute (a region, fusion/regions.py) and the
               kernels of the rest (sinks grouped into row and column passes with their dead tiles and
               the tiles reduced once for all heads: fusion/kernels.py, fusion/hoist.py)
    epilogues  small values computed right after a kernel's loop
    demand     what must exist as a tensor: outputs, what kernels, regions and torch steps read
    chunks     the dim and size of each region's chunks
    order      every step after the steps whose results it reads
    maps       prologue steps of inputs alone become map kernels (fusion/maps.py)

Every node ends up in exactly one place: inside a kernel (its tile expressions, accumulators, epilogue),
in a torch region, in a torch step, or nowhere (inlined where used).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from compiler.analysis.properties import PropertyInfo
from compiler.analysis.reductions import ReductionInfo, role_preserving
from compiler.fusion import regions
from compiler.fusion.demand import demand
from compiler.fusion.draft import Deps, Draft, PendingRegion, frozen, space_key
from compiler.fusion.hoist import Hoister, sources_only
from compiler.fusion.kernels import build_kernel, group_sinks
from compiler.fusion.maps import fuse_prologue
from compiler.fusion.order import order
from compiler.fusion.plan import KernelPlan, Plan, Rejected, TorchStep
from compiler.ir.node import Graph, Node
from compiler.ir.ops import G, Op
from compiler.options import CompileOptions


@dataclass(frozen=True)
class PlanStep:
    name: str
    run: Callable[[Draft], Draft]


def _input_only(graph: Graph) -> set[int]:
    """ids of nodes computed from inputs and constants only (no matmul, no index tensor)."""
    out = set()
    for n in graph.nodes:
        if n.op in (Op.INPUT, Op.CONST) or (
                n.op in G.ELEMENTWISE | {Op.VIEW} and all(id(i) in out for i in n.inputs)):
            out.add(id(n))
    return out


def _computes_on_score_sized_input(graph: Graph, axes, pure: set[int]) -> set[int]:
    """ids of the input-only nodes that compute something (not only casts and views) from a score-sized
    input (CORM's threshold [Lq, Lk]): a kernel would load a whole tile of that input anyway, and the
    work is done once. A cast alone saves nothing: the kernel loads the narrower input and casts it."""
    # an input as large as the scores of a space (a view may give it the score axes; a vector expanded
    # to them is no score-sized input)
    area = min((axes.sizes[s.i] * axes.sizes[s.j] for s in axes.spaces), default=0)
    reads, out = set(), set()
    for n in graph.nodes:
        if id(n) not in pure:
            continue
        if n.op is Op.INPUT and n.type.numel >= area or any(id(i) in reads for i in n.inputs):
            reads.add(id(n))
        if id(n) in reads and (n.op not in (Op.INPUT, Op.CAST, Op.VIEW) or any(id(i) in out for i in n.inputs)):
            out.add(id(n))
    return out


def prologue(d: Draft) -> Draft:
    """Score-sized expressions of inputs alone that every head would recompute (log2 of CORM's
    threshold): computed once, before the kernels. Only those that read a score-sized input: one of
    vectors alone (ids[:, None] == ids[None, :], |pos_i - pos_j|) is cheaper to recompute in each tile
    from its two small row and column loads than to load as an [Lq, Lk] tensor, and then no score-sized
    tensor exists at all."""
    pos = frozen({id(n): k for k, n in enumerate(d.graph.nodes)})
    if not d.options.hoist_broadcast_inputs:
        return replace(d, pos=pos)
    graph, axes = d.graph, d.axes
    pure = _input_only(graph)
    loads_tile = _computes_on_score_sized_input(graph, axes, pure)
    found = []
    for n in graph.nodes:
        space = axes.space_of(n)
        if space is None or id(n) not in loads_tile or n.op in (Op.INPUT, Op.CONST, Op.VIEW):
            continue
        broadcast = [c for c in space.batch if axes.sizes[c] > 1 and c not in axes.of(n)]
        maximal = any(id(u) not in pure or axes.space_of(u) is None for u in graph.uses(n))
        if broadcast and maximal:
            found.append(TorchStep(n, "prologue", "input-only and the same for every head: computed once "
                                   "instead of once per program"))
    return replace(d, prologue=tuple(found), torch=frozen({id(t.node): t for t in found}), pos=pos)


@dataclass(frozen=True, eq=False)
class _Space:
    """One score space's part of the plan."""

    kernels: tuple[KernelPlan, ...]
    region: PendingRegion | None
    hoisted: tuple[tuple[TorchStep, Node], ...]  # (step, a sink of the kernel that reads it)
    rejected: tuple[Rejected, ...]


def passes(d: Draft) -> Draft:
    kernels, home, pending, region_of = list(d.kernels), dict(d.home), list(d.regions), dict(d.region_of)
    torch, pos, rejected = dict(d.torch), dict(d.pos), list(d.rejected)
    materialized = {id(n) for n in d.graph.nodes if n.op is Op.INPUT} | {id(t.node) for t in d.prologue}
    for ri in d.props.reductions:
        why = d.demoted.get(space_key(ri.space))
        try:
            part = _space(d, ri, materialized, len(kernels), why)
        except Exception as e:  # noqa: BLE001 - a space the planner cannot handle runs in torch
            part = _space(d, ri, materialized, len(kernels), f"the planner failed on it: {type(e).__name__}: {e}")
        for kernel in part.kernels:
            home.update({id(s): len(kernels) for s in kernel.sinks})
            kernels.append(kernel)
        if part.region is not None:
            region_of.update({id(n): len(pending) for n in part.region.nodes})
            pending.append(part.region)
        for step, reader in part.hoisted:
            # ordered with the kernel that reads it (the dependency puts it first)
            pos[id(step.node)] = pos[id(reader)]
            torch[id(step.node)] = step
        rejected += part.rejected
    return replace(d, kernels=tuple(kernels), home=frozen(home), regions=tuple(pending),
                   region_of=frozen(region_of), torch=frozen(torch), pos=frozen(pos), rejected=tuple(rejected))


def _space(d: Draft, ri: ReductionInfo, materialized: set[int], first: int, whole: str | None) -> _Space:
    """The kernels of one space, and the region of what only torch computes (all of it when `whole`
    says why)."""
    names, axes, options = d.names(), d.axes, d.options
    seeds = regions.whole_space(ri) if whole else [n for n, _ in ri.blocked]
    chosen = regions.torch_only(ri, axes, d.graph, seeds) if seeds else set()
    region, rejected = None, []
    if chosen:
        nodes = regions.region_nodes(chosen, ri.space, axes, d.graph, materialized)
        reasons = [f"{names(n)}: {why}" for n, why in ri.blocked]
        region = PendingRegion(ri.space, nodes, whole or "; ".join(reasons))
        space = ", ".join(names(x) for x in ri.space.dots)
        rejected += [Rejected(f"fuse {names(n)} (score space of {space})", f"{why}; it runs in torch, chunked")
                     for n, why in ri.blocked]
        if whole:
            rejected.append(Rejected(f"fuse the score space of {space}", f"{whole}; it runs in torch, chunked"))
    kept = replace(ri, sinks=tuple(s for s in ri.sinks if id(s.node) not in chosen), blocked=())
    hoist = Hoister(axes, names, sources_only(d.graph)) if options.hoist_head_independent_tiles else None
    groups, why = group_sinks(kept, axes, materialized, options, names)
    rejected += why
    kernels = []
    for g in groups:
        batch_fastest, notes = _grid_notes(d, g)
        kernel = build_kernel(f"{d.name}_k{first + len(kernels)}", g, kept, axes, options, notes, hoist)
        kernel = replace(kernel, batch_fastest=batch_fastest)
        if options.stop_saturated_any and all(a.sink.op is Op.ANY for a in kernel.accumulators):
            kernel = replace(kernel, stops_saturated=True, notes=kernel.notes + (
                "each loop segment stops once every lane of the program's any is true: after its "
                "first tile, the rest runs only while one is still false",))
        kernels.append(kernel)
    hoisted = tuple(hoist.steps) if hoist is not None else ()
    rejected += hoist.rejected if hoist is not None else []
    return _Space(tuple(kernels), region, hoisted, tuple(rejected))


def _grid_notes(d: Draft, group) -> tuple[bool, list[str]]:
    axes = d.axes
    shared = [n for n in d.graph.nodes if id(n) in group.streams and any(
        axes.sizes[c] > 1 and c not in axes.of(n) for c in group.space.batch)]
    if shared:
        names = ", ".join(d.names()(n) for n in shared)
        return True, [f"grid runs the batch/heads fastest: {names} is the same for every head, so "
                      "programs running together re-read its tiles from L2"]
    return False, []


def epilogues(d: Draft) -> Draft:
    """Small nodes a kernel computes right after its loop, from its sinks and what came before it."""
    graph, axes = d.graph, d.axes
    dep = Deps(d.home)
    deps = {id(n): dep(n) for n in graph.nodes}
    home, kernels = dict(d.home), []
    for k, kernel in enumerate(d.kernels):
        allowed = _epilogue_classes(d, kernel)
        done = {id(s) for s in kernel.sinks}
        epilogue = []
        for n in graph.nodes:
            if (deps[id(n)] != k or id(n) in done or id(n) in d.region_of or axes.space_of(n) is not None
                    or not (n.op in G.ELEMENTWISE or role_preserving(n))):
                continue
            if not all(c in allowed or s == 1 for c, s in zip(axes.of(n), n.shape)):
                continue
            if all(id(i) in done or deps[id(i)] < k for i in n.inputs):
                epilogue.append(n)
                done.add(id(n))
                home[id(n)] = k
        kernels.append(replace(kernel, epilogue=tuple(epilogue)))
    return replace(d, kernels=tuple(kernels), home=frozen(home))


def _epilogue_classes(d: Draft, kernel: KernelPlan) -> set[int]:
    allowed = set(kernel.space.batch) | {kernel.p}
    for a in kernel.accumulators:
        allowed |= set(d.axes.of(a.sink.node))
    allowed.discard(kernel.r)
    return allowed


def chunks(d: Draft) -> Draft:
    """Each region's chunking, now that its outputs are known."""
    done = tuple(regions.finish(f"{d.name}_t{k}", r.nodes, r.outputs, r.space, d.axes, d.options.chunk_elements,
                                r.why) for k, r in enumerate(d.regions))
    return replace(d, finished=done)


def maps(d: Draft) -> Draft:
    if not d.options.prologue_kernels or "maps" in d.demoted:
        return d
    return replace(d, steps=tuple(fuse_prologue(list(d.steps), d.name)))


PLANNER: tuple[PlanStep, ...] = (
    PlanStep("prologue", prologue),
    PlanStep("passes", passes),
    PlanStep("epilogues", epilogues),
    PlanStep("demand", demand),
    PlanStep("chunks", chunks),
    PlanStep("order", order),
    PlanStep("maps", maps),
)


def plan_fusion(props: PropertyInfo, options: CompileOptions, name: str = "program", demoted=None) -> Plan:
    """The fusion plan. `demoted`: {(i, j) classes of a score space: why} for spaces to run in torch."""
    d = Draft(props, options, name, demoted=frozen(demoted or {}))
    for step in PLANNER:
        d = step.run(d)
    return Plan(d.graph, d.axes, d.steps, d.direct, d.rejected)

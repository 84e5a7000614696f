"""What the kernels of a score space cannot compute goes to torch, chunk by chunk; the rest stays fused.

One unsupported use of the scores costs only itself. The values only torch can compute are the blocked
uses of the space (a torch op on score-sized values, a view that is no row or column selection, a
reduction over heads), every value that reads a score-sized one of them, and the sinks that must share
a pass with such a value. They form a *region* with the score-sized values they read, which torch
recomputes from Q, K and the kernels' row statistics. Every other sink of the space stays in its kernels.

The region runs along one dim at a time: a block of heads (or batch, or query rows) per chunk, sized so
that no intermediate exceeds CompileOptions.chunk_elements. The dim is the first of the space's batch
classes, its rows and its columns along which every node of the region can be sliced (ir/slicing.py);
a region no dim slices runs whole, and says why.
"""

from __future__ import annotations

import math

from compiler.analysis.axes import AxisInfo, Space
from compiler.analysis.reductions import ReductionInfo
from compiler.fusion.plan import TorchRegion
from compiler.ir.node import Graph, Node
from compiler.ir.ops import Op
from compiler.ir.slicing import NotChunkable, input_dims


def torch_only(ri: ReductionInfo, axes: AxisInfo, graph: Graph, seeds) -> set[int]:
    """ids of the values only torch computes: the seeds, what reads a score-sized one of them, and the
    sinks whose pass partners are among them."""
    space = ri.space
    # as many elements as the scores of every head: what torch must never hold whole
    score = math.prod(axes.sizes[c] for c in (*space.batch, space.i, space.j))
    out: set[int] = set()
    stack = list(seeds)
    while stack:
        n = stack.pop()
        if id(n) in out:
            continue
        out.add(id(n))
        if axes.quadratic(n, space) or n.type.numel >= score:
            stack.extend(graph.uses(n))
        if not stack:
            stack = [s.node for s in _partners_of(ri, out) if id(s.node) not in out]
    return out


def _partners_of(ri: ReductionInfo, chosen: set[int]):
    """Sinks linked (online) to a chosen sink, either way."""
    for s in ri.sinks:
        linked = list(ri.partners[id(s.node)])
        if id(s.node) in chosen:
            yield from linked
        elif any(id(p.node) in chosen for p in linked):
            yield s


def region_nodes(chosen: set[int], space: Space, axes: AxisInfo, graph: Graph, materialized: set[int]
                 ) -> tuple[Node, ...]:
    """The chosen values, the score-sized values they read (recomputed unless `materialized`: inputs,
    the prologue), and what lies between chosen values (the lse of a max and a sum it computes), in graph
    order."""
    after = set(chosen)  # what reads a chosen value
    for n in graph.nodes:
        if any(id(i) in after for i in n.inputs):
            after.add(id(n))
    inside = set(chosen)
    for n in reversed(graph.nodes):
        if id(n) in inside:
            for i in n.inputs:
                if id(i) not in materialized and (axes.quadratic(i, space) or id(i) in after):
                    inside.add(id(i))
    return tuple(n for n in graph.nodes if id(n) in inside)


def whole_space(ri: ReductionInfo) -> list[Node]:
    """The seeds that put the whole space in torch: every sink and every blocked use."""
    return [s.node for s in ri.sinks] + [n for n, _ in ri.blocked]


def finish(name: str, nodes: tuple[Node, ...], outputs: tuple[Node, ...], space: Space, axes: AxisInfo,
           budget: int, why: str) -> TorchRegion:
    """The region with its chunking: the first class every output has and every node slices along."""
    inside = {id(n) for n in nodes}
    sizes = axes.sizes
    # the largest batch class first (heads before batch entries on a tie), then rows, then columns
    batch = [c for c in space.batch if sizes[c] > 1]
    candidates = sorted(batch, key=lambda c: (-sizes[c], -space.batch.index(c))) + [space.i, space.j]
    reasons = []
    for c in candidates:
        dims = tuple(_dim_of(o, c, axes) for o in outputs)
        if any(d is None for d in dims):
            reasons.append(f"{_label(c, space)}: an output does not have it")
            continue
        try:
            memo: set = set()
            for o, d in zip(outputs, dims):
                _check(o, d, inside, memo)
        except NotChunkable as e:
            reasons.append(f"{_label(c, space)}: {e}")
            continue
        per = max(n.type.numel // max(1, sizes[c]) for n in nodes)
        step = max(1, min(sizes[c], budget // max(1, per)))
        return TorchRegion(name, nodes, outputs, dims, _label(c, space), sizes[c], step, why)
    why = f"{why}; not chunked: " + "; ".join(reasons)
    return TorchRegion(name, nodes, outputs, (None,) * len(outputs), "", 1, 1, why)


def _label(c: int, space: Space) -> str:
    if c == space.i:
        return "query rows"
    if c == space.j:
        return "key columns"
    return "heads" if c == space.batch[-1] else "batch entries"


def _dim_of(n: Node, c: int, axes: AxisInfo, memo: dict | None = None) -> int | None:
    """The dim of n that is class c: by its classes, or (a torch op's result has classes of its own) the
    dim whose slices read the slices of an input's dim of class c."""
    memo = {} if memo is None else memo
    if id(n) in memo:
        return memo[id(n)][1]
    memo[id(n)] = (n, None)
    classes = axes.of(n) if n.op is not Op.TORCH else ()
    found = classes.index(c) if c in classes else None
    for d in range(n.type.rank) if found is None and n.inputs else ():
        try:
            dims = input_dims(n, d)
        except NotChunkable:
            continue
        if any(k is not None and _dim_of(i, c, axes, memo) == k for i, k in zip(n.inputs, dims)):
            found = d
            break
    memo[id(n)] = (n, found)
    return found


def _check(n: Node, d: int | None, inside: set[int], memo: set) -> None:
    """Raise NotChunkable if n (a region node) cannot be computed on a slice of its dim d."""
    if d is None or id(n) not in inside or (id(n), d) in memo:
        return
    memo.add((id(n), d))
    for i, di in zip(n.inputs, input_dims(n, d, leaf=lambda x: id(x) not in inside)):
        _check(i, di, inside, memo)


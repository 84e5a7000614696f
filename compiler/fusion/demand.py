"""The planner's demand step: what must exist as a tensor, found from what is read.

Program outputs, and what each kernel, region and torch step reads, must exist. A node a kernel computes
is then stored by it (straight into an output's buffer where the output is a plain view of it); a node
a region computes becomes one of its outputs; constants, index tensors and elementwise functions of
what a kernel loads are recomputed where used; anything else becomes a torch step, with its reason.
"""

from __future__ import annotations

from dataclasses import replace

from compiler.fusion.draft import Deps, Draft, PendingRegion, frozen
from compiler.fusion.plan import TorchStep
from compiler.ir.node import Node
from compiler.ir.ops import G, Op


class _Demand:
    def __init__(self, d: Draft):
        self.d, self.axes = d, d.axes
        self.home, self.region_of, self.dep = d.home, d.region_of, Deps(d.home)
        self.torch = dict(d.torch)
        self.stores: dict[int, dict[int, Node]] = {}
        self.region_out: dict[int, dict[int, Node]] = {}

    def materialize(self, n: Node, why: str = "") -> None:
        if n.op in (Op.INPUT, Op.CONST):
            return  # a constant is made where it is read
        if id(n) in self.home:
            self.stores.setdefault(self.home[id(n)], {})[id(n)] = n
            return
        if id(n) in self.region_of:
            self.region_out.setdefault(self.region_of[id(n)], {})[id(n)] = n
            return
        if id(n) in self.torch:
            return
        kind = "view" if n.op is Op.VIEW else "fallback"
        self.torch[id(n)] = TorchStep(n, kind, why or self._reason(n))
        for i in n.inputs:
            self.materialize(i)

    def _reason(self, n: Node) -> str:
        if n.op is Op.VIEW:
            return "a view, free in torch"
        if n.op is Op.TORCH:
            return "no rule for this ATen op; it runs in torch"
        if self.axes.space_of(n) is not None:
            return "a score-sized value computed whole by torch"
        return "not part of any kernel (small tensor)"

    def outputs(self) -> list[tuple[int, Node]]:
        direct, used = [], set()
        for index, out in enumerate(self.d.graph.outputs):
            x = out.src if out.op is Op.VIEW else out
            if id(x) in self.home and id(x) not in used and (x is out or direct_strides(out, x) is not None):
                used.add(id(x))
                direct.append((index, x))
                self.stores.setdefault(self.home[id(x)], {})[id(x)] = x
            else:
                self.materialize(out)
        return direct

    def kernel(self, k: int) -> None:
        kernel = self.d.kernels[k]
        inside = {id(s) for s in kernel.sinks} | {id(n) for n in kernel.epilogue}
        # a store's base is its own sink: what it reads are the inputs of that tile expression
        roots = [i for a in kernel.accumulators for i in (a.base.inputs if a.base is a.sink.node else (a.base,))]
        roots += [a.post for a in kernel.accumulators if a.post]
        roots += [a.init for a in kernel.accumulators if a.init is not None]
        roots += [a.sink.other for a in kernel.accumulators if a.sink.other is not None]
        roots += [i for n in kernel.epilogue for i in n.inputs]
        seen: set[int] = set()
        stack = list(roots)
        while stack:
            n = stack.pop()
            if id(n) in seen or id(n) in inside:
                continue
            seen.add(id(n))
            if self.axes.quadratic(n, kernel.space) and n.op is not Op.INPUT and id(n) not in self.torch:
                # part of the tile expression; a view of a score-sized input is loaded through its layout
                if n.op is Op.VIEW:
                    self.materialize(n.src)
                else:
                    stack.extend(n.inputs)
            elif self._inline(n, k):
                stack.extend(n.inputs)
            elif n.op is Op.VIEW and id(n) not in self.home and id(n) not in self.region_of:
                self.materialize(n.src)
            else:
                self.materialize(n)

    def region(self, r: PendingRegion) -> None:
        """What a region reads from outside it."""
        inside = {id(n) for n in r.nodes}
        for n in r.nodes:
            for i in n.inputs:
                if id(i) not in inside and i.op not in (Op.CONST, Op.IOTA):
                    self.materialize(i)

    def _inline(self, n: Node, k: int) -> bool:
        """Recomputed where used: constants, index tensors, and elementwise functions of such or of loads,
        unless an earlier step computes the node anyway (then it is loaded)."""
        if id(n) in self.home or id(n) in self.torch or id(n) in self.region_of or n.op is Op.INPUT:
            return False
        return n.op in (Op.CONST, Op.IOTA) or n.op in G.ELEMENTWISE and self.dep(n) <= k


def demand(d: Draft) -> Draft:
    run = _Demand(d)
    direct = run.outputs()
    for k in range(len(d.kernels)):
        run.kernel(k)
    for r in d.regions:
        run.region(r)
    pos = d.pos
    stores = {k: tuple(sorted(v.values(), key=lambda n: pos[id(n)])) for k, v in run.stores.items()}
    pending = tuple(replace(r, outputs=tuple(n for n in r.nodes if id(n) in run.region_out.get(k, {})))
                    for k, r in enumerate(d.regions))
    return replace(d, stores=frozen(stores), torch=frozen(run.torch), regions=pending, direct=tuple(direct))


def direct_strides(out: Node, x: Node) -> list[int | None] | None:
    """For a program output that is a view of x: the output dim that each dim of x is (None for size-1
    dims), if x can be stored straight into the output's buffer; else None."""
    layout = out.attr("layout")
    if any(layout.offset):
        return None
    where: list[int | None] = [None] * x.type.rank
    for od, fs in enumerate(layout.dims):
        for f in fs:
            if f.dim < 0 or f.coef != 1 or len(fs) != 1 or f.size != x.shape[f.dim]:
                return None
            where[f.dim] = od
    if any(w is None and s != 1 for w, s in zip(where, x.shape)):
        return None
    return where

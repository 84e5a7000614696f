"""Tiles whose contribution is the same for every head: reduced once, not once per program.

Where a mask is constant -inf the scores drop out of a region's folded expression, yet the region is not
dead when what is left is not the reduction's identity: CORM's p >= thr becomes -inf >= log2(thr) above
the diagonal, which depends on thr. If what is left reads only inputs that are the same for every
batch/head program, every program computes the same contribution. It is computed once instead: a torch
step selects the region's elements of [I, J] exactly (triu/tril), reduces them to a vector, and the
kernel starts its accumulator from that vector and skips the region like a dead one.

Only idempotent reductions (any, max, min) qualify: the kernel's edge tiles still evaluate their elements
of the region with the masks computed, and an element counted twice does not change the result. A sum
would count it twice, so a sum keeps its tiles; each refusal is recorded with its reason.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from compiler.analysis.axes import AxisInfo, Space
from compiler.fusion.plan import Accumulator, Region, Rejected, TorchStep, fmt_interval
from compiler.ir.build import ew, reduce
from compiler.ir.node import Graph, Node, TensorType, const, node, upstream
from compiler.ir.ops import G, Op
from compiler.ir.printer import Names
from compiler.passes.fold import RULES as FOLD_RULES
from compiler.passes.rewrite import rewrite_node

IDEMPOTENT = (Op.ANY, Op.MAX, Op.MIN)
_COMBINE = {Op.ANY: Op.OR, Op.MAX: Op.MAXIMUM, Op.MIN: Op.MINIMUM}


class _Refused(Exception):
    pass


def sources_only(graph: Graph) -> set[int]:
    """ids of the nodes computed from inputs, constants and index tensors alone (no matmul, no
    reduction): torch evaluates them without any kernel's results."""
    out = set()
    for n in graph.nodes:
        if n.op in G.SOURCE or (n.op in G.ELEMENTWISE | {Op.VIEW} and all(id(i) in out for i in n.inputs)):
            out.add(id(n))
    return out


@dataclass
class Hoister:
    """Called by build_kernel on each kernel's accumulators and regions; collects the torch steps it
    creates (with the position of the kernel that reads them) and the refusals."""

    axes: AxisInfo
    names: Names
    sources: set[int]
    steps: list[tuple[TorchStep, Node]] = field(default_factory=list)  # (step, a sink of its kernel)
    rejected: list[Rejected] = field(default_factory=list)

    def __call__(self, kernel: str, space: Space, accs: tuple[Accumulator, ...], regions: list[Region]):
        if any(a.sink.op is None for a in accs):
            return accs, regions  # a kernel that writes its tiles visits every one of them
        terms: dict[int, list[Node]] = {}
        hoisted: list[int] = []
        for r, region in enumerate(regions):
            if region.dead or any(n.op is Op.DOT for b in region.bases if b is not None for n in upstream([b])):
                continue  # nothing to do, or the scores are live there
            try:
                found = {k: self._term(space, accs, k, region) for k, b in enumerate(region.bases)
                         if b is not None}
            except _Refused as why:
                self.rejected.append(Rejected(f"compute {kernel}'s tiles with j - i in "
                                              f"{fmt_interval(region.lo, region.hi)} once for all heads",
                                              f"{why}; the kernel computes them per head"))
                continue
            for k, term in found.items():
                terms.setdefault(k, []).append(term)
            hoisted.append(r)
        if not hoisted:
            return accs, regions
        inits = {}
        for k, found_terms in terms.items():
            spans = [regions[r] for r in hoisted if regions[r].bases[k] is not None]
            inits[k] = self._step(kernel, accs[k], found_terms, spans)
        accs = tuple(replace(a, init=inits[k]) if k in inits else a for k, a in enumerate(accs))
        for r in hoisted:
            g = regions[r]
            steps = tuple(inits[k] for k, b in enumerate(g.bases) if b is not None)
            regions[r] = replace(g, bases=(None,) * len(accs), hoisted=steps)
        return accs, regions

    # --- one accumulator's contribution from one region ---

    def _check(self, space: Space, accs, k: int) -> None:
        """Raise _Refused with the reason if accumulator k cannot start from a value computed once."""
        a = accs[k]
        name = self.names(a.sink.node)
        if a.sink.op is None:
            raise _Refused(f"{name} is written tile by tile: every program writes its own tiles")
        if math.prod(self.axes.sizes[c] for c in space.batch) == 1:
            raise _Refused("one batch/head program per tile: nothing to share")
        if a.sink.op not in IDEMPOTENT:
            raise _Refused(f"{name} is a {a.sink.op.name.lower()}: not idempotent, so the elements its edge "
                           "tiles also count would be counted twice")
        if a.shift is not None or (a.post is not None and not (a.post.op is Op.CONST and a.post.attr("value") == 1)):
            raise _Refused(f"{name} is rescaled by a running statistic of the pass")
        users = [self.names(b.sink.node) for b in accs if b.shift is a.sink.node]
        if users:
            raise _Refused(f"the running value of {name} rescales {', '.join(users)}")
        if self.axes.of(a.sink.operand)[-2:] != (space.i, space.j):
            raise _Refused(f"the operand of {name} does not have its rows and columns as its last two dims")

    def _term(self, space: Space, accs, k: int, region: Region) -> Node:
        """Accumulator k's folded value on the region's elements of [I, J] and the reduction's identity
        elsewhere: the same for every batch/head."""
        self._check(space, accs, k)
        a = accs[k]
        # the fold rules again: the mask's -inf may now meet what fold could not simplify (-inf >= log2 y)
        value = self._shared(rewrite_node(region.bases[k], FOLD_RULES), space)
        sizes = (self.axes.sizes[space.i], self.axes.sizes[space.j])
        if a.sink.op is Op.ANY and value.dtype != "bool":
            value = ew(Op.NE, value, const(0, (), value.dtype))
        if a.sink.op is Op.ANY and value.shape[-2:] == sizes:
            # False is any's identity and also what triu/tril leave outside the band: select directly
            chosen = _band(value, region)
        else:
            identity = const(G.IDENTITY[a.sink.op], (), value.dtype)
            chosen = ew(Op.WHERE, _band(const(True, sizes, "bool"), region), value, identity, dtype=value.dtype)
        return chosen

    def _shared(self, n: Node, space: Space) -> Node:
        """n rebuilt without the batch/head dims its folded constants carry (so torch computes it on [I, J]
        only), or _Refused if it reads something that differs per batch/head."""
        if n.op is Op.CONST:
            return const(n.attr("value"), (), n.dtype)
        if self.names.in_graph(n):
            if id(n) not in self.sources:
                raise _Refused(f"it reads {self.names(n)}, which needs the scores or a kernel's statistics")
            if any(s > 1 and c in space.batch for c, s in zip(self.axes.of(n), n.shape)):
                raise _Refused(f"it reads {self.names(n)}, which differs per batch/head")
            return n
        if n.op not in G.ELEMENTWISE:
            raise _Refused(f"its folded value has a {n.op.name.lower()}, which is not elementwise")
        return ew(n.op, *(self._shared(i, space) for i in n.inputs), dtype=n.dtype)

    def _step(self, kernel: str, a: Accumulator, terms: list[Node], regions) -> Node:
        """One reduction of the regions' elements combined (each term is the identity outside its region,
        so combining first is the same as reducing each: one pass over [I, J], not one per region)."""
        chosen = terms[0]
        for t in terms[1:]:
            chosen = ew(_COMBINE[a.sink.op], chosen, t)
        classes = self.axes.of(a.sink.operand)
        kept = classes[len(classes) - chosen.type.rank:]
        axis = kept.index(a.sink.axis)
        total = self.axes.declare(reduce(a.sink.op, chosen, axis),
                                  tuple(-1 if d == axis else c for d, c in enumerate(kept)))
        spans = ", ".join(fmt_interval(r.lo, r.hi) for r in regions)
        op = a.sink.op.name.lower()
        why = (f"{kernel}'s tiles with j - i in {spans}, reduced once for all heads: {op} is idempotent and "
               f"nothing they read differs per batch/head; the kernel starts {self.names(a.sink.node)} from it")
        self.steps.append((TorchStep(total, "prologue", why), a.sink.node))
        return total


def _band(x: Node, region: Region) -> Node:
    """x with the elements outside lo <= j - i <= hi set to 0 (False)."""
    if not math.isinf(region.lo):
        x = node(Op.TRIU, (x,), TensorType(x.shape, x.dtype), diagonal=int(region.lo))
    if not math.isinf(region.hi):
        x = node(Op.TRIL, (x,), TensorType(x.shape, x.dtype), diagonal=int(region.hi))
    return x

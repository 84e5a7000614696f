"""Restrict: a slice or selection of the rows or columns of a score-sized value moves down to the matmul.

`probs[..., -w:, :].sum(-2)` (the last w queries' attention per key, SnapKV's observation window),
`probs[..., -1, :]` (the last query's row, TOVA) or `probs[..., :, :s].sum(-1)` (the mass on the first
keys, attention sinks) read part of the score matrix. The view that selects the part is split into a
restriction (a start, size and step per dim, rank kept) and what remains (dropping selected dims,
permuting). The restriction moves down through the elementwise ops, reductions and matmuls of score-sized
values until it reaches the matmul's operands and the small values the scores read (q's rows, k's rows,
the row log-sum-exp): there it is a view, free. The restricted scores are then a matmul of their own, a
score space of their own (I' x J or I x J'), whose passes stream only the selected rows or columns;
the statistics they read from the whole space (the lse of the selected rows) are loaded through views.

A matmul with score-sized values on its right (vᵀ·pᵀ) is turned around here too, (p·v)ᵀ, so that the
passes meet every contraction of the scores in one orientation.
"""

from __future__ import annotations

from dataclasses import dataclass

from compiler.analysis.axes import AxisInfo, axis_info
from compiler.ir.build import dot, ew, reduce, view
from compiler.ir.layout import Factor, Layout, LayoutError
from compiler.ir.node import Graph, Node
from compiler.ir.ops import G, Op
from compiler.passes.rewrite import P, Rule, cse, graph_rewrite
from compiler.passes.simplify import simplify


@dataclass(frozen=True)
class Restriction:
    """Per dim of a tensor: (start, size, step). The identity keeps (0, n, 1) everywhere."""

    spans: tuple[tuple[int, int, int], ...]

    @staticmethod
    def whole(shape) -> Restriction:
        return Restriction(tuple((0, s, 1) for s in shape))

    def trivial(self, shape) -> bool:
        return self == Restriction.whole(shape)

    def layout(self, shape) -> Layout:
        dims = tuple((Factor(size, d, step),) for d, (_, size, step) in enumerate(self.spans))
        return Layout(tuple(shape), dims, tuple(start for start, _, _ in self.spans))

    def shape(self) -> tuple[int, ...]:
        return tuple(size for _, size, _ in self.spans)

    def for_shape(self, shape) -> Restriction:
        """The restriction of an operand of this shape that broadcasts to the restricted value (aligned on
        the right; a dim of size 1 is broadcast, so not restricted)."""
        lead = len(self.spans) - len(shape)
        return Restriction(tuple((0, 1, 1) if s == 1 else self.spans[lead + k] for k, s in enumerate(shape)))


def split(layout: Layout) -> tuple[Restriction, Layout] | None:
    """(restriction of the source, the rest as a view of the restricted source) if the layout selects:
    every dim is one factor of its own source dim or a broadcast, and every source dim that no dim reads
    is selected at one index. None for a layout that merges or splits dims."""
    src = layout.src_shape
    spans = [(layout.offset[d], 1, 1) for d in range(len(src))]
    seen = set()
    for fs in layout.dims:
        if len(fs) > 1:
            return None
        if not fs or fs[0].dim < 0:
            continue
        f = fs[0]
        if f.dim in seen or f.coef <= 0:
            return None
        seen.add(f.dim)
        spans[f.dim] = (layout.offset[f.dim], f.size, f.coef)
    restriction = Restriction(tuple(spans))
    shape = restriction.shape()
    rest = tuple(fs if not fs or fs[0].dim < 0 else (Factor(fs[0].size, fs[0].dim, 1),) for fs in layout.dims)
    return restriction, Layout(shape, rest, (0,) * len(shape))


class _Pusher:
    def __init__(self, axes: AxisInfo):
        self.axes = axes
        self.memo: dict[tuple, tuple[Node, Node]] = {}

    def score_sized(self, n: Node) -> bool:
        try:
            return self.axes.space_of(n) is not None
        except KeyError:  # a node built by this pass: never restricted again
            return False

    def __call__(self, x: Node, r: Restriction) -> Node:
        if r.trivial(x.shape):
            return x
        key = (id(x), r)
        hit = self.memo.get(key)
        if hit is not None:
            return hit[1]
        out = self._push(x, r) if self.score_sized(x) else None
        if out is None:
            out = view(x, r.layout(x.shape))
        self.memo[key] = (x, out)
        return out

    def _push(self, x: Node, r: Restriction) -> Node | None:
        if x.op in G.ELEMENTWISE:
            return ew(x.op, *(self(i, r.for_shape(i.shape)) for i in x.inputs), dtype=x.dtype)
        if x.op in G.REDUCE:
            axis = x.attr("axis")
            spans = tuple((0, x.src.shape[axis], 1) if d == axis else s for d, s in enumerate(r.spans))
            return reduce(x.op, self(x.src, Restriction(spans)), axis)
        if x.op is Op.DOT:
            a, b = x.inputs
            batch = Restriction(r.spans[:-2])
            ra = Restriction(batch.for_shape(a.shape[:-2]).spans + (r.spans[-2], (0, a.shape[-1], 1)))
            rb = Restriction(batch.for_shape(b.shape[:-2]).spans + ((0, b.shape[-2], 1), r.spans[-1]))
            return dot(self(a, ra), self(b, rb), x.dtype)
        if x.op is Op.VIEW:
            try:
                composed = x.attr("layout").compose(r.layout(x.shape))
            except LayoutError:
                return None
            parts = split(composed)
            if parts is None:
                return view(x.src, composed)
            inner, rest = parts
            return view(self(x.src, inner), rest)
        return None


def restrict(graph: Graph) -> Graph:
    axes = axis_info(graph)
    if not axes.spaces:
        return graph
    push = _Pusher(axes)

    def move(v: Node, x: Node) -> Node | None:
        parts = split(v.attr("layout"))
        if parts is None or parts[0].trivial(x.shape) or not push.score_sized(x):
            return None
        r, rest = parts
        pushed = push(x, r)
        if pushed.op is Op.VIEW and pushed.src is x:
            return None  # it stays a view of the score-sized value (a torch op's result)
        return view(pushed, rest)

    def turn(m: Node, a: Node, b: Node) -> Node | None:
        """vᵀ·pᵀ = (p·v)ᵀ: the scores on the left, where a pass contracts them."""
        if a.type.rank < 2 or b.type.rank < 2 or push.score_sized(a) or not push.score_sized(b):
            return None
        back = dot(_transposed(b), _transposed(a), m.dtype)
        return view(back, Layout.identity(back.shape).transpose(-1, -2))

    rules: list[Rule] = [(P(Op.VIEW, P(name="x"), name="v"), move),
                         (P(Op.DOT, P(name="a"), P(name="b"), name="m"), turn)]
    return simplify(cse(graph_rewrite(graph, rules)))


def _transposed(x: Node) -> Node:
    return view(x, Layout.identity(x.shape).transpose(-1, -2))

"""The matmul operands a Hopper kernel loads with TMA, and the kernels the target declines.

A pass's score tile is one matmul A·B of two input views: A holds the program's own axis P (loaded once
per program, two 64-row halves, one per consumer warpgroup), B the streamed axis R (one tile per loop
step, through the producer's ring); a row pass's P·V matmul streams V beside B. TMA copies a box of the
input tensor itself, so each operand view must keep its tile axis and its inner axis (contracted, or
V's output columns) as whole source dims with unit steps, the inner one last (contiguous) and a power of
two from 16 to 256 elements; every other source dim becomes a box dim of extent 1 whose coordinate comes
from the program's batch indices, grouped KV heads included (the view's factors, as codegen/context.py
reads them for pointer offsets). A box past a tensor's end reads zeros, so ragged edges need no mask
beyond the ones the Triton path already applies.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from compiler.analysis.axes import AxisInfo
from compiler.autotune.space import candidates
from compiler.fusion.plan import KernelPlan
from compiler.ir.layout import Layout
from compiler.ir.node import Node, upstream
from compiler.ir.ops import Op

_TMA_DTYPES = {"f16": "fp16", "bf16": "bf16"}
# Hopper's shared memory per block (227 KB) less room for the layout conversions Triton adds
SMEM_LIMIT = 220 * 1024


class Decline(Exception):
    """The Hopper target cannot express the kernel; the message says why (explain shows it)."""


@dataclass(frozen=True, eq=False)
class Operand:
    """A matmul operand read by TMA: `node` is the view the IR reads, `base` the input tensor."""

    node: Node
    base: Node
    layout: Layout
    tile: int  # the source dim the tile runs along (P or R)
    inner: int  # the source dim of the inner axis: the last, contiguous one

    @property
    def width(self) -> int:
        return self.layout.src_shape[self.inner]

    @property
    def dtype(self) -> str:
        return _TMA_DTYPES[self.base.dtype]

    def block(self, rows: str) -> str:
        """The TMA box, `rows` along the tile dim, the whole inner dim, 1 elsewhere."""
        dims = [rows if d == self.tile else str(self.width) if d == self.inner else "1"
                for d in range(len(self.layout.src_shape))]
        return "[" + ", ".join(dims) + "]"

    def coords(self, batch_terms: dict[int, list[str]], start: str) -> str:
        """The box's coordinates: `start` along the tile dim, the batch terms on the others."""
        out = []
        for d in range(len(self.layout.src_shape)):
            terms = [start] if d == self.tile else list(batch_terms.get(d, []))
            if self.layout.offset[d]:
                terms.append(str(self.layout.offset[d]))
            out.append("0" if not terms else f"({' + '.join(terms)}).to(gl.int32)")
        return "[" + ", ".join(out) + "]"


def tma_operand(n: Node, tile_cls: int, inner_cls: int, axes: AxisInfo, what: str) -> Operand:
    """The TMA form of view n, whose tile runs along class tile_cls and whose inner axis is inner_cls."""
    base, layout = (n.src, n.attr("layout")) if n.op is Op.VIEW else (n, Layout.identity(n.shape))
    if base.op is not Op.INPUT:
        raise Decline(f"{what} is computed in the program, not an input that TMA can copy")
    if base.dtype not in _TMA_DTYPES:
        raise Decline(f"{what} is {base.dtype}; the warpgroup matmuls take f16 or bf16")
    rank = len(layout.src_shape)
    if rank > 5:
        raise Decline(f"{what} has {rank} dims; a TMA box has at most 5")
    classes = axes.of(n)
    dims = {}
    for role, cls in (("tile", tile_cls), ("inner", inner_cls)):
        found = [d for d, c in enumerate(classes) if c == cls]
        if len(found) != 1:
            raise Decline(f"{what}: its {role} axis is not one dim of the view")
        dims[role] = _whole_source_dim(layout, found[0], f"{what}'s {role} axis")
    if dims["inner"] != rank - 1:
        raise Decline(f"{what}: its inner axis is not the input's last dim (TMA needs it contiguous)")
    width = layout.src_shape[dims["inner"]]
    if width < 16 or width > 256 or width & (width - 1):
        raise Decline(f"{what}: inner size {width} is not a power of two from 16 to 256")
    return Operand(n, base, layout, dims["tile"], dims["inner"])


def _whole_source_dim(layout: Layout, d: int, what: str) -> int:
    fs = layout.dims[d]
    if len(fs) != 1 or fs[0].dim < 0 or fs[0].coef != 1:
        raise Decline(f"{what} is not one source dim with unit steps")
    src = fs[0].dim
    if fs[0].size != layout.src_shape[src] or layout.offset[src]:
        raise Decline(f"{what} is a slice of its source dim (a TMA box would read past the view)")
    return src


@dataclass(frozen=True, eq=False)
class Operands:
    """What the producer loads for one kernel: A (P side, once), B (R side, streamed), V (streamed, for
    a P·V accumulator) and the score matmul they feed (recognized by its two inputs)."""

    a: Operand
    b: Operand
    v: Operand | None
    score_inputs: tuple[int, int]

    def is_score(self, n: Node) -> bool:
        return n.op is Op.DOT and (id(n.inputs[0]), id(n.inputs[1])) == self.score_inputs

    def smem_bytes(self, block_m: int, block_n: int, stages: int) -> int:
        per_stage = block_n * (self.b.width + (self.v.width if self.v else 0))
        return 2 * (block_m * self.a.width + stages * per_stage)


def find_operands(k: KernelPlan, axes: AxisInfo) -> Operands:
    """The operands of kernel k, or Decline with the reason the target cannot express it."""
    if k.stops_saturated:
        raise Decline("its loop segments stop once every any is true (a while loop around each); the "
                      "producer streams fixed tile ranges")
    if any(a.sink.op is None for a in k.accumulators):
        raise Decline("it writes a score-sized value tile by tile (a store); the consumers write only "
                      "per-row results, after the loop")
    bases = [a.base for a in k.accumulators] + [b for r in k.regions for b in r.bases if b is not None]
    dots = {}
    for n in upstream(bases, lambda x: axes.quadratic(x, k.space)):
        if n.op is Op.DOT and axes.quadratic(n, k.space):
            dots[(id(n.inputs[0]), id(n.inputs[1]))] = n
    if len(dots) != 1:
        raise Decline(f"its tiles come from {len(dots)} matmuls; the target streams one score matmul")
    (key, dot), = dots.items()
    x, y = dot.inputs
    if k.p not in axes.of(x):
        x, y = y, x
    contracted = axes.of(dot.inputs[0])[-1]
    a = tma_operand(x, k.p, contracted, axes, "the score matmul's operand along the program's tile")
    b = tma_operand(y, k.r, contracted, axes, "the score matmul's streamed operand")
    if a.base.dtype != b.base.dtype:
        raise Decline(f"the score matmul mixes {a.base.dtype} and {b.base.dtype}")
    v = None
    for acc in k.accumulators:
        if acc.sink.op is Op.DOT:
            if v is not None:
                raise Decline("it has two P·V accumulators; the target streams one")
            out_cls = axes.of(acc.sink.node)[-1]
            v = tma_operand(acc.sink.other, k.r, out_cls, axes, "the P·V matmul's streamed operand")
            if acc.base.dtype != acc.sink.other.dtype:
                raise Decline(f"P is {acc.base.dtype} but V is {acc.sink.other.dtype}")
        elif acc.sink.op not in (Op.SUM, Op.MAX, Op.MIN, Op.ANY):
            raise Decline(f"no Hopper form for a {acc.sink.op.name.lower()} accumulator")
    found = Operands(a, b, v, key)
    need = min(found.smem_bytes(c.block_m, c.block_n, c.num_stages) for c in candidates(f"hopper-{k.role}", "cuda"))
    if need > SMEM_LIMIT:
        raise Decline(f"its tiles need {math.ceil(need / 1024)} KB of shared memory in the smallest candidate "
                      f"config (limit {SMEM_LIMIT // 1024} KB)")
    return found

"""One kernel's Triton source: program ids and offsets, invariant loads, accumulators, the loop
segments with their bodies, the epilogue and the stores, built as data (codegen/block.py) and rendered
into its module (codegen/module.py) with the host wrapper that launches it.

The loop body keeps FlashAttention's order: running maxima first (m_new = max(m, rowmax(x)), or
max(m, rowmax(y) * c) where x = y * c with c > 0, the same bits for one multiply per row), the rescale
factor alpha = exp2(m - m_new) (guarded for rows that are still empty), then every accumulator that uses
the running max is rescaled and updated; P is cast to the input dtype right before the P·V matmul.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from compiler.analysis.axes import AxisInfo
from compiler.codegen.block import Line, Loop, While, render, without_unused
from compiler.codegen.context import KernelContext
from compiler.codegen.emit import Emitter, Scope, dot_call, literal
from compiler.codegen.loops import region_bounds, segment_code
from compiler.codegen.module import module_source
from compiler.fusion.plan import KernelPlan
from compiler.ir.dtypes import to_triton
from compiler.ir.layout import Layout
from compiler.ir.node import Node
from compiler.ir.ops import Op
from compiler.ir.printer import Names
from compiler.passes.fold import scalar_constant

_INIT = {Op.SUM: "tl.zeros([BLOCK_M], dtype=tl.float32)", Op.MAX: 'tl.full([BLOCK_M], float("-inf"), tl.float32)',
         Op.MIN: 'tl.full([BLOCK_M], float("inf"), tl.float32)', Op.ANY: "tl.zeros([BLOCK_M], dtype=tl.int32)"}
_IDENTITY = {Op.SUM: "0.0", Op.DOT: "0.0", Op.MAX: 'float("-inf")', Op.MIN: 'float("inf")', Op.ANY: "0"}

@dataclass(frozen=True, eq=False)
class KernelSource:
    name: str
    source: str  # a Python module: the @triton.jit kernel and its `launch` wrapper
    tensors: tuple[Node, ...]  # the wrapper's tensor arguments, in order
    loads: tuple[Node, ...]  # those of them the kernel reads (the others it writes)
    streams: bool = False  # its loop pipelines a per-head score-shaped input (tuned from its own list)
    tune_role: str | None = None  # the autotune list to use when not the kernel's role (codegen/gluon)


class KernelWriter:
    def __init__(self, kernel: KernelPlan, axes: AxisInfo, names: Names, materialized: set[int], target: str,
                 name_stages: bool = False):
        self.k, self.target = kernel, target
        self.name_stages = name_stages  # every loop names its stages, not only one that streams tiles
        self.ctx = KernelContext(kernel, axes, names, materialized, target)
        self.em = Emitter(self.ctx)
        self.pre = Scope("pre")

    def write(self) -> KernelSource:
        k = self.k
        init = [Line.assign(f"a{i}", self._init(a)) for i, a in enumerate(k.accumulators) if a.sink.op is not None]
        loops = self._loops()
        post = Scope("post", parent=self.pre)
        self._epilogue(post)
        body = without_unused(self._head() + self.pre.body + init + loops + post.body)
        source = self._module("\n".join(render(body, self._named())))
        return KernelSource(k.name, source, tuple(self.ctx.tensors), tuple(self.ctx.loads), self.ctx.streams_tiles)

    def _init(self, a) -> str:
        if a.sink.op is Op.DOT:
            e = self.ctx.axes.of(a.sink.node)[-1]
            _, _, pad = self.ctx.inner_of(e, a.sink.node.shape[-1])
            return f"tl.zeros([BLOCK_M, {pad}], dtype=tl.float32)"
        if a.init is not None:
            # the contribution of the tiles reduced once for all heads: a [BLOCK_M, 1] load, as a vector
            tile = self.em.value(a.init, self.pre, ("P", "-"))
            if a.sink.op is Op.ANY:
                return f"tl.max({tile}.to(tl.int32), 1)"
            return f"tl.{a.sink.op.name.lower()}({tile}.to(tl.float32), 1)"
        return _INIT[a.sink.op]

    # --- loops ---

    def _loops(self) -> list:
        """The loop segments over the streamed tiles, each with the body of its region."""
        k = self.k
        column = k.role == "column"
        spans = region_bounds([(r.lo, r.hi) for r in k.regions], column) if k.regions else [(0, 0, None)]
        p_size, r_size = self.ctx.axes.sizes[k.p], self.ctx.axes.sizes[k.r]
        out, segments = segment_code(spans, p_size, r_size, lambda i: k.regions[i].dead)
        shifts = {id(a.shift) for a in k.accumulators if a.shift is not None}
        for seg in segments:
            bases = [a.base for a in k.accumulators] if seg.region is None else list(k.regions[seg.region].bases)
            what = "edge tiles: masks computed" if seg.region is None else "masks folded"
            out.append(Line(f"# {what}{', ragged end checked' if seg.bounds else ''}"))
            scope = Scope("loop", seg.bounds, self.pre)
            scope.assign("o_r", "r0 + tl.arange(0, BLOCK_N)")
            if seg.bounds:
                scope.assign("m_r", f"o_r < {r_size}")
            self._body(scope, bases, shifts)
            if k.stops_saturated:
                out += self._until_saturated(seg, scope.body)
            else:
                out.append(Loop(seg.lo, seg.hi, scope.body))
        return out

    def _until_saturated(self, seg, body: list) -> list:
        """A segment that stops once every accumulator lane of the program is true: its first tile, then
        the rest while one is still false."""
        open_lanes = " | ".join(f"(tl.min(tl.where(m_p, a{i}, 1)) == 0)" for i in range(len(self.k.accumulators)))
        # int64 tensors from the start: a loop-carried value keeps its type
        return [Line.assign("c_lo", f"p0 * 0 + ({seg.lo})"), Line.assign("c_end", f"p0 * 0 + ({seg.hi})"),
                Line.assign("c_hi", "tl.minimum(c_lo + BLOCK_N, c_end)"),
                While(f"(c_lo < c_end) & ({open_lanes})",
                      [Loop("c_lo", "c_hi", body), Line.assign("c_lo", "c_hi"), Line.assign("c_hi", "c_end")])]

    def _tile(self, n: Node, scope: Scope, op: Op) -> str:
        """The [BLOCK_M, BLOCK_N] tile of an accumulator's operand, its padding set to the identity."""
        if n.op is Op.CONST:
            dtype = "tl.int1" if n.dtype == "bool" else "tl.float32"
            return f"tl.full([BLOCK_M, BLOCK_N], {literal(n.attr('value'))}, {dtype})"
        t = self.em.value(n, scope)
        classes = self.ctx.axes.of(n)
        if self.k.p not in classes or self.k.r not in classes:
            # folding can leave a value constant along a tile axis; reductions need the full tile
            t = f"tl.broadcast_to({t}, [BLOCK_M, BLOCK_N])"
        if scope.bounds:
            name = self.em.fresh("v")
            scope.assign(name, f"tl.where(m_r[None, :], {t}, {_IDENTITY[op]})")
            return name
        return t

    def _body(self, scope: Scope, bases, shifts) -> None:
        accs = self.k.accumulators
        for i, (a, base) in enumerate(zip(accs, bases)):
            if a.sink.op is not Op.MAX:
                continue
            if base is None:
                new = f"a{i}"
            else:
                # max(x * c) = max(x) * c for c > 0: one multiply per row, not per element; x * c is left
                # with one use, so the shift below fuses into one FMA with it
                x, scale = _positive_scaling(base)
                reduced = f"tl.max({self._tile(x, scope, Op.MAX)}, 1)"
                new = f"tl.maximum(a{i}, {reduced if scale is None else f'{reduced} * {scale}'})"
            scope.assign(f"n{i}", new)
            if id(a.sink.node) in shifts:
                # rows with no live element yet keep m = -inf; shift by 0 there so exp2 gives 0, not NaN
                scope.assign(f"u{i}", f'tl.where(n{i} == float("-inf"), 0.0, n{i})')
                scope.assign(f"c{i}", f"tl.exp2(a{i} - u{i})")
                self.ctx.running[id(a.sink.node)] = f"u{i}"
        for i, (a, base) in enumerate(zip(accs, bases)):
            if a.sink.op is Op.MAX or base is None:
                continue
            self._update(i, a, base, scope)
        for i, a in enumerate(accs):
            if a.sink.op is Op.MAX:
                scope.assign(f"a{i}", f"n{i}")

    def _update(self, i: int, a, base: Node, scope: Scope) -> None:
        op = a.sink.op
        if op is None:
            self._store_tile(a.sink.node, base, scope)
            return
        scale = f"c{self.ctx.sinks[id(a.shift)]}" if a.shift is not None else None
        t = self._tile(base, scope, op)
        if op is Op.SUM:
            scope.emit(f"a{i} = a{i} * {scale} + tl.sum({t}, 1)" if scale else f"a{i} += tl.sum({t}, 1)")
        elif op is Op.MIN:
            scope.emit(f"a{i} = tl.minimum(a{i}, tl.min({t}, 1))")
        elif op is Op.ANY:
            scope.emit(f"a{i} = tl.maximum(a{i}, tl.max({t}.to(tl.int32), 1))")
        elif op is Op.DOT:
            other = a.sink.other
            e = self.ctx.axes.of(a.sink.node)[-1]
            v = self.em.value(other, scope, ("R", e))
            # P is cast to the input dtype right before P·V, as FlashAttention does
            dtype = base.dtype if base.dtype in ("f16", "bf16") else other.dtype
            if scale:
                scope.emit(f"a{i} = a{i} * {scale}[:, None]")
            scope.emit(f"a{i} = {dot_call(t, v, dtype, self.target, f'a{i}')}")

    def _store_tile(self, n: Node, base: Node, scope: Scope) -> None:
        """Write the tile of a score-sized value (a store: the program's rows, the loop's columns)."""
        if base.op is Op.CONST:
            value = f"tl.full([BLOCK_M, BLOCK_N], {literal(base.attr('value'))}, tl.float32)"
        else:
            value = f"tl.broadcast_to({self.em.value(base, scope)}, [BLOCK_M, BLOCK_N])"
        ptr, mask = self.ctx.access(n, n, Layout.identity(n.shape), scope, ("P", "R"))
        value = f"{value}.to({to_triton(n.dtype)})"
        scope.emit(f"tl.store({ptr}, {value}, mask={mask})" if mask else f"tl.store({ptr}, {value})")

    # --- epilogue and stores ---

    def _epilogue(self, post: Scope) -> None:
        for i, a in enumerate(self.k.accumulators):
            if a.sink.op is None:
                continue
            vec = f"a{i}" if a.sink.op is Op.DOT else (f"(a{i} > 0)[:, None]" if a.sink.op is Op.ANY
                                                        else f"a{i}[:, None]")
            post_value = a.post
            if post_value is not None and not (post_value.op is Op.CONST and post_value.attr("value") == 1.0):
                vec = f"{vec} * {self.em.value(post_value, post, ('P', '-'))}"
            post.assign(f"f{i}", vec)
            self.ctx.finals[id(a.sink.node)] = f"f{i}"
        tiles = {id(a.sink.node) for a in self.k.accumulators if a.sink.op is None}
        for n in self.k.stores:
            if id(n) not in tiles:
                self._store(n, post)

    def _store(self, n: Node, post: Scope) -> None:
        inner = [c for c, s in zip(self.ctx.axes.of(n), n.shape) if s > 1 and self.ctx.role(c) not in (
            "P",) and not isinstance(self.ctx.role(c), tuple)]
        orient = ("P", inner[0] if inner else "-")
        value = self.em.value(n, post, orient)
        if self.k.p not in self.ctx.axes.of(n):
            raise NotImplementedError("a stored value without the program's tile dim")
        ptr, mask = self.ctx.access(n, n, Layout.identity(n.shape), post, orient)
        dtype = to_triton(n.dtype)
        post.emit(f"tl.store({ptr}, {value}.to({dtype}), mask={mask})" if mask else
                  f"tl.store({ptr}, {value}.to({dtype}))")

    def _named(self) -> bool:
        """Whether the loops name their stages: then Triton pipelines every load in them, not only the
        loads that feed a matmul (a loop streaming a per-head tile must; CompileOptions.name_all_stages)."""
        return self.ctx.streams_tiles or self.name_stages

    # --- head and module ---

    def _head(self) -> list[Line]:
        k, ctx = self.k, self.ctx
        axes = ctx.axes
        p_size = axes.sizes[k.p]
        t_axis, b_axis = (1, 0) if k.batch_fastest else (0, 1)
        lines = [Line.assign("pid_t", f"tl.program_id({t_axis})"),
                 Line.assign("pid_b", f"tl.program_id({b_axis}).to(tl.int64)")]
        if k.reverse:
            lines.append(Line.assign("i_t", f"tl.cdiv({p_size}, BLOCK_M) - 1 - pid_t  # longest tiles first"))
        else:
            lines.append(Line.assign("i_t", "pid_t"))
        inner = 1
        for idx in reversed(range(len(ctx.batch))):
            size = axes.sizes[ctx.batch[idx]]
            expr = "pid_b" if inner == 1 else f"(pid_b // {inner})"
            lines.append(Line.assign(f"i_b{idx}", f"{expr} % {size}" if idx > 0 else expr))
            inner *= size
        lines += [Line.assign("p0", "i_t.to(tl.int64) * BLOCK_M"), Line.assign("o_p", "p0 + tl.arange(0, BLOCK_M)"),
                  Line.assign("m_p", f"o_p < {p_size}")]
        for idx, real, pad in sorted(ctx.inner.values()):
            lines.append(Line.assign(f"o_k{idx}", f"tl.arange(0, {pad})"))
            if pad != real:
                lines.append(Line.assign(f"m_k{idx}", f"o_k{idx} < {real}"))
        return lines

    def _module(self, text: str) -> str:
        k, ctx = self.k, self.ctx
        n_batch = math.prod(ctx.axes.sizes[c] for c in ctx.batch)
        p_size = ctx.axes.sizes[k.p]
        grid = (f"({n_batch}, triton.cdiv({p_size}, BLOCK_M))" if k.batch_fastest
                else f"(triton.cdiv({p_size}, BLOCK_M), {n_batch})")
        return module_source(k.name, k.role, ctx, text, grid, self._named())


def _positive_scaling(n: Node) -> tuple[Node, str | None]:
    """(x, c) where n is an f32 x * c with c a positive finite scalar constant (the fold step puts a
    product's constant on the right); else (n, None)."""
    if n.op is Op.MUL and n.dtype == "f32":
        x, c = n.inputs
        if scalar_constant(c) and x.dtype == "f32" and x.shape == n.shape and 0 < c.attr("value") < math.inf:
            return x, literal(c.attr("value"))
    return n, None


def write_kernel(kernel: KernelPlan, axes: AxisInfo, names: Names, materialized: set[int],
                 target: str, name_stages: bool = False) -> KernelSource:
    return KernelWriter(kernel, axes, names, materialized, target, name_stages).write()


__all__ = ["KernelSource", "write_kernel", "literal"]

"""One kernel's Triton source: program ids and offsets, invariant loads, accumulators, the loop
segments with their bodies, the epilogue and the stores, built as data (codegen/block.py) and rendered
into its module (codegen/module.py) with the host wrapper that launches it.

The loop body keeps FlashAttention's order: running maxima first (m_new = max(m, rowmax(x)), or
max(m, rowmax(y) * c) where x = y * c with c > 0, the same bits for one multiply per row), the rescale
factor alpha = exp2(m - m_new) (guarded for rows that are still empty), then every accumulator that uses
the running max is rescaled and updated; P is cast to the input dtype right before the P·V matmul.
The Hopper target (codegen/gluon) writes the same body through KernelWriter's hooks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from compiler.analysis.axes import AxisInfo
from compiler.codegen.block import Line, Loop, While, render, without_unused
from compiler.codegen.context import KernelContext
from compiler.codegen.emit import Emitter, Scope, dot_call, literal
from compiler.codegen.loops import Segment, region_bounds, segment_code
from compiler.codegen.module import module_source
from compiler.fusion.plan import KernelPlan
from compiler.ir.dtypes import to_triton
from compiler.ir.layout import Layout
from compiler.ir.node import Node
from compiler.ir.ops import Op
from compiler.ir.printer import Names
from compiler.passes.fold import scalar_constant

# the Triton path's accumulator vectors (codegen/gluon gives its own, with their layouts)
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
    """One row or column pass: its body as data (body()) and, on the Triton path, its module (write()).

    The body is the head (program and tile indices), the loop-invariant values, the accumulators, the loop
    segments (each tile: running maxima, the rescale, every accumulator's update) and the epilogue with
    the stores. Another target (codegen/gluon: warp-specialized Gluon for Hopper) subclasses the writer to
    keep that body and overrides only these hooks, where the targets differ:

        head()                        the program's indices and tile offsets (called last: it declares the
                                      inner index vectors the rest used)
        init(a)                       an accumulator's value before the loops
        loop_setup(bounds)            the statements before the first loop, around the segment bounds
        open_tile(scope)              a loop body's first statements (at least o_r, the streamed indices)
        close_tile(scope)             its last ones
        full_tile(value, dtype)       a tile of one value; broadcast_tile(t): a row or column over the tile
        accumulate_pv(i, a, base, p, scale, scope)   the P·V accumulator's update with tile p
        epilogue_scope()              the scope the epilogue is written in (called once the loops are)
        epilogue_head()               statements between the loops and the epilogue (called after it)
        final_row(i)                  a row accumulator's final vector, as the epilogue reads it

    Every text it writes calls the context's language module (ctx.lang: tl or gl). After body(), `bounds`
    (the segment starts' assignments) and `segments` (codegen/loops.py) say which tiles the loops visit.
    """

    def __init__(self, kernel: KernelPlan, ctx: KernelContext, name_stages: bool = False):
        self.k, self.ctx, self.target = kernel, ctx, ctx.target
        self.name_stages = name_stages  # every loop names its stages, not only one that streams tiles
        self.em = Emitter(ctx)
        self.pre = Scope("pre")
        self.bounds: list[Line] = []
        self.segments: list[Segment] = []

    def write(self) -> KernelSource:
        body = self.body()
        source = self._module("\n".join(render(body, self._named())))
        return KernelSource(self.k.name, source, tuple(self.ctx.tensors), tuple(self.ctx.loads),
                            self.ctx.streams_tiles)

    def body(self) -> list:
        """The kernel body (codegen/block.py), without the assignments nothing reads."""
        k = self.k
        init = [Line.assign(f"a{i}", self.init(a)) for i, a in enumerate(k.accumulators) if a.sink.op is not None]
        loops = self._loops()
        post = self.epilogue_scope()
        self._epilogue(post)
        return without_unused(self.head() + self.pre.body + init + loops + self.epilogue_head() + post.body)

    def init(self, a) -> str:
        m = self.ctx.lang
        if a.sink.op is Op.DOT:
            e = self.ctx.axes.of(a.sink.node)[-1]
            _, _, pad = self.ctx.inner_of(e, a.sink.node.shape[-1])
            return f"tl.zeros([BLOCK_M, {pad}], dtype=tl.float32)"
        if a.init is not None:
            # the contribution of the tiles reduced once for all heads: a [BLOCK_M, 1] load, as a vector
            tile = self.em.value(a.init, self.pre, ("P", "-"))
            if a.sink.op is Op.ANY:
                return f"{m}.max({tile}.to({m}.int32), 1)"
            return f"{m}.{a.sink.op.name.lower()}({tile}.to({m}.float32), 1)"
        return _INIT[a.sink.op]

    # --- loops ---

    def segment_bases(self, seg: Segment) -> list:
        """Per accumulator, what it reduces in segment `seg` (its region's folded value; None: nothing)."""
        k = self.k
        return [a.base for a in k.accumulators] if seg.region is None else list(k.regions[seg.region].bases)

    def _loops(self) -> list:
        """The loop segments over the streamed tiles, each with the body of its region."""
        k = self.k
        column = k.role == "column"
        spans = region_bounds([(r.lo, r.hi) for r in k.regions], column) if k.regions else [(0, 0, None)]
        p_size, r_size = self.ctx.axes.sizes[k.p], self.ctx.axes.sizes[k.r]
        self.bounds, self.segments = segment_code(spans, p_size, r_size, lambda i: k.regions[i].dead, self.ctx.lang,
                                                  lambda i: (k.regions[i].live, k.regions[i].owners))
        out = self.loop_setup(self.bounds)
        shifts = {id(a.shift) for a in k.accumulators if a.shift is not None}
        for seg in self.segments:
            what = "edge tiles: masks computed" if seg.region is None else "masks folded"
            out.append(Line(f"# {what}{', ragged end checked' if seg.bounds else ''}"))
            scope = Scope("loop", seg.bounds, self.pre)
            self.open_tile(scope)
            if seg.bounds:
                scope.assign("m_r", f"o_r < {r_size}")
            self._body(scope, self.segment_bases(seg), shifts)
            self.close_tile(scope)
            if k.stops_saturated:
                out += self._until_saturated(seg, scope.body)
            else:
                out.append(Loop(seg.lo, seg.hi, scope.body))
        return out

    def loop_setup(self, bounds: list[Line]) -> list:
        return list(bounds)

    def open_tile(self, scope: Scope) -> None:
        scope.assign("o_r", "r0 + tl.arange(0, BLOCK_N)")

    def close_tile(self, scope: Scope) -> None:
        """Nothing on the Triton path: the next iteration's loads are the compiler's to schedule."""

    def _until_saturated(self, seg, body: list) -> list:
        """A segment that stops once every accumulator lane of the program is true: its first tile, then
        the rest while one is still false."""
        m = self.ctx.lang
        open_lanes = " | ".join(f"({m}.min({m}.where(m_p, a{i}, 1)) == 0)" for i in range(len(self.k.accumulators)))
        # int64 tensors from the start: a loop-carried value keeps its type
        return [Line.assign("c_lo", f"p0 * 0 + ({seg.lo})"), Line.assign("c_end", f"p0 * 0 + ({seg.hi})"),
                Line.assign("c_hi", f"{m}.minimum(c_lo + BLOCK_N, c_end)"),
                While(f"(c_lo < c_end) & ({open_lanes})",
                      [Loop("c_lo", "c_hi", body), Line.assign("c_lo", "c_hi"), Line.assign("c_hi", "c_end")])]

    def _tile(self, n: Node, scope: Scope, op: Op) -> str:
        """The tile of an accumulator's operand (the program's rows by BLOCK_N), its padding set to the
        identity."""
        m = self.ctx.lang
        if n.op is Op.CONST:
            return self.full_tile(literal(n.attr("value")), f"{m}.int1" if n.dtype == "bool" else f"{m}.float32")
        t = self.em.value(n, scope)
        classes = self.ctx.axes.of(n)
        if self.k.p not in classes or self.k.r not in classes:
            # folding can leave a value constant along a tile axis; reductions need the full tile
            t = self.broadcast_tile(t)
        if scope.bounds:
            name = self.em.fresh("v")
            scope.assign(name, f"{m}.where(m_r[None, :], {t}, {_IDENTITY[op]})")
            return name
        return t

    def full_tile(self, value: str, dtype: str) -> str:
        return f"tl.full([BLOCK_M, BLOCK_N], {value}, {dtype})"

    def broadcast_tile(self, t: str) -> str:
        return f"tl.broadcast_to({t}, [BLOCK_M, BLOCK_N])"

    def _body(self, scope: Scope, bases, shifts) -> None:
        accs, m = self.k.accumulators, self.ctx.lang
        for i, (a, base) in enumerate(zip(accs, bases)):
            if a.sink.op is not Op.MAX:
                continue
            if base is None:
                new = f"a{i}"
            else:
                # max(x * c) = max(x) * c for c > 0: one multiply per row, not per element; x * c is left
                # with one use, so the shift below fuses into one FMA with it
                x, scale = _positive_scaling(base)
                reduced = f"{m}.max({self._tile(x, scope, Op.MAX)}, 1)"
                new = f"{m}.maximum(a{i}, {reduced if scale is None else f'{reduced} * {scale}'})"
            scope.assign(f"n{i}", new)
            if id(a.sink.node) in shifts:
                # rows with no live element yet keep m = -inf; shift by 0 there so exp2 gives 0, not NaN
                scope.assign(f"u{i}", f'{m}.where(n{i} == float("-inf"), 0.0, n{i})')
                scope.assign(f"c{i}", f"{m}.exp2(a{i} - u{i})")
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
        m = self.ctx.lang
        scale = f"c{self.ctx.sinks[id(a.shift)]}" if a.shift is not None else None
        t = self._tile(base, scope, op)
        if op is Op.SUM:
            scope.emit(f"a{i} = a{i} * {scale} + {m}.sum({t}, 1)" if scale else f"a{i} += {m}.sum({t}, 1)")
        elif op is Op.MIN:
            scope.emit(f"a{i} = {m}.minimum(a{i}, {m}.min({t}, 1))")
        elif op is Op.ANY:
            scope.emit(f"a{i} = {m}.maximum(a{i}, {m}.max({t}.to({m}.int32), 1))")
        elif op is Op.DOT:
            self.accumulate_pv(i, a, base, t, scale, scope)

    def accumulate_pv(self, i: int, a, base: Node, p: str, scale: str | None, scope: Scope) -> None:
        """a_i = a_i * scale + P·V, P the tile `p` of the accumulator's operand `base` in this segment and
        `scale` the rescale factor of the running max it is shifted by (None: not shifted)."""
        other = a.sink.other
        e = self.ctx.axes.of(a.sink.node)[-1]
        v = self.em.value(other, scope, ("R", e))
        # P is cast to the input dtype right before P·V, as FlashAttention does
        dtype = base.dtype if base.dtype in ("f16", "bf16") else other.dtype
        if scale:
            scope.emit(f"a{i} = a{i} * {scale}[:, None]")
        scope.emit(f"a{i} = {dot_call(p, v, dtype, self.target, f'a{i}')}")

    def _store_tile(self, n: Node, base: Node, scope: Scope) -> None:
        """Write the tile of a score-sized value (a store: the program's rows, the loop's columns)."""
        m = self.ctx.lang
        if base.op is Op.CONST:
            value = self.full_tile(literal(base.attr("value")), f"{m}.float32")
        else:
            value = self.broadcast_tile(self.em.value(base, scope))
        ptr, mask = self.ctx.access(n, n, Layout.identity(n.shape), scope, ("P", "R"))
        value = f"{value}.to({to_triton(n.dtype, m)})"
        scope.emit(f"{m}.store({ptr}, {value}, mask={mask})" if mask else f"{m}.store({ptr}, {value})")

    # --- epilogue and stores ---

    def _epilogue(self, post: Scope) -> None:
        for i, a in enumerate(self.k.accumulators):
            if a.sink.op is None:
                continue
            row = self.final_row(i)
            vec = f"a{i}" if a.sink.op is Op.DOT else (f"({row} > 0)[:, None]" if a.sink.op is Op.ANY
                                                        else f"{row}[:, None]")
            post_value = a.post
            if post_value is not None and not (post_value.op is Op.CONST and post_value.attr("value") == 1.0):
                vec = f"{vec} * {self.em.value(post_value, post, ('P', '-'))}"
            post.assign(f"f{i}", vec)
            self.ctx.finals[id(a.sink.node)] = f"f{i}"
        tiles = {id(a.sink.node) for a in self.k.accumulators if a.sink.op is None}
        for n in self.k.stores:
            if id(n) not in tiles:
                self._store(n, post)

    def epilogue_scope(self) -> Scope:
        """After the loops, values computed before them are reused."""
        return Scope("post", parent=self.pre)

    def epilogue_head(self) -> list[Line]:
        return []

    def final_row(self, i: int) -> str:
        return f"a{i}"

    def _store(self, n: Node, post: Scope) -> None:
        inner = [c for c, s in zip(self.ctx.axes.of(n), n.shape) if s > 1 and self.ctx.role(c) not in (
            "P",) and not isinstance(self.ctx.role(c), tuple)]
        orient = ("P", inner[0] if inner else "-")
        value = self.em.value(n, post, orient)
        if self.k.p not in self.ctx.axes.of(n):
            raise NotImplementedError("a stored value without the program's tile dim")
        ptr, mask = self.ctx.access(n, n, Layout.identity(n.shape), post, orient)
        m = self.ctx.lang
        dtype = to_triton(n.dtype, m)
        post.emit(f"{m}.store({ptr}, {value}.to({dtype}), mask={mask})" if mask else
                  f"{m}.store({ptr}, {value}.to({dtype}))")

    def _named(self) -> bool:
        """Whether the loops name their stages: then Triton pipelines every load in them, not only the
        loads that feed a matmul (a loop streaming a per-head tile must; CompileOptions.name_all_stages)."""
        return self.ctx.streams_tiles or self.name_stages

    # --- head and module ---

    def head(self) -> list[Line]:
        return self.program_tile() + self.index_vectors("p0 + tl.arange(0, BLOCK_M)", "tl.arange(0, {pad})")

    def index_vectors(self, rows: str, inner: str) -> list[Line]:
        """The program's row indices o_p (the expression `rows`) and mask m_p, then each inner dim's indices
        o_k (`inner` formatted with its padded size) and, where padded, its mask m_k."""
        lines = [Line.assign("o_p", rows), Line.assign("m_p", f"o_p < {self.ctx.axes.sizes[self.k.p]}")]
        for idx, real, pad in sorted(self.ctx.inner.values()):
            lines.append(Line.assign(f"o_k{idx}", inner.format(pad=pad)))
            if pad != real:
                lines.append(Line.assign(f"m_k{idx}", f"o_k{idx} < {real}"))
        return lines

    def program_tile(self) -> list[Line]:
        """The program's tile index (longest tiles first when the plan reverses them), its batch indices
        and the tile's first row p0."""
        k, ctx, m = self.k, self.ctx, self.ctx.lang
        axes = ctx.axes
        t_axis, b_axis = (1, 0) if k.batch_fastest else (0, 1)
        lines = [Line.assign("pid_t", f"{m}.program_id({t_axis})"),
                 Line.assign("pid_b", f"{m}.program_id({b_axis}).to({m}.int64)")]
        if k.reverse:
            lines.append(Line.assign("i_t", f"{m}.cdiv({axes.sizes[k.p]}, BLOCK_M) - 1 - pid_t  # longest tiles first"))
        else:
            lines.append(Line.assign("i_t", "pid_t"))
        inner = 1
        for idx in reversed(range(len(ctx.batch))):
            size = axes.sizes[ctx.batch[idx]]
            expr = "pid_b" if inner == 1 else f"(pid_b // {inner})"
            lines.append(Line.assign(f"i_b{idx}", f"{expr} % {size}" if idx > 0 else expr))
            inner *= size
        return lines + [Line.assign("p0", f"i_t.to({m}.int64) * BLOCK_M")]

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
    ctx = KernelContext(kernel, axes, names, materialized, target)
    return KernelWriter(kernel, ctx, name_stages).write()


__all__ = ["KernelSource", "write_kernel", "literal"]

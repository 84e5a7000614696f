"""The consumer partition of a Hopper kernel: one warpgroup's 64 rows of the program's tile.

It reuses the Triton writer's loop body (codegen/kernel.py: running maxima, the guarded rescale
alpha = exp2(m - m_new), every accumulator, P cast to the input dtype before P·V) and its expression
emitter, with three differences: the score tile is the result of an asynchronous warpgroup matmul of
shared-memory tiles the producer filled (never a load), every value carries an explicit layout (the
score tile's wgmma layout S_L, the P·V accumulator's O_L, their row and column slices), and the loop
steps through the producer's ring (wait for a filled stage, use it, release it). Before issuing its score
matmul a warpgroup waits for its turn and hands the turn to the other right after: the two warpgroups
alternate on the tensor cores, so one's softmax runs under the other's matmuls (ping-pong).
"""

from __future__ import annotations

import re

from compiler.codegen.context import KernelContext
from compiler.codegen.emit import Emitter, Scope, literal
from compiler.codegen.gluon.operands import Decline, Operands
from compiler.codegen.kernel import KernelWriter, _drop_unused
from compiler.codegen.loops import region_bounds, segment_code
from compiler.ir.node import Node
from compiler.ir.ops import Op

_ROW = "gl.SliceLayout(1, {})"
_IDENTITY = {Op.SUM: ("0.0", "gl.float32"), Op.MAX: ('float("-inf")', "gl.float32"),
             Op.MIN: ('float("inf")', "gl.float32"), Op.ANY: ("0", "gl.int32")}
_FILL = {Op.SUM: "0.0", Op.DOT: "0.0", Op.MAX: 'float("-inf")', Op.MIN: 'float("inf")', Op.ANY: "0"}


def to_gluon(line: str) -> str:
    """A line of the shared emitter (triton.language) in Gluon's spelling: same names, `gl.` module."""
    return re.sub(r"\btl\.", "gl.", line)


class HopperContext(KernelContext):
    """The Triton path's kernel context, with the score matmul coming from the warpgroup matmul and no
    score-sized tile loaded through registers."""

    def __init__(self, kernel, axes, names, materialized, operands: Operands):
        super().__init__(kernel, axes, names, materialized, "cuda")
        self.ops = operands
        self.after_loop = False  # inner axes get their index vectors (in O_L) only after the loop

    def special(self, n: Node, scope: Scope, orient):
        if self.ops.is_score(n):
            if scope.kind != "loop":
                raise Decline("the score matmul is read outside the loop")
            return "w_s"
        return super().special(n, scope, orient)

    def load(self, n: Node, scope: Scope, orient) -> str:
        classes = self.axes.of(n)
        if scope.kind == "loop" and self.k.p in classes and self.k.r in classes:
            raise Decline(f"its loop streams the score-sized {self.names(n)} through registers; the producer's "
                          "ring carries only the matmul operands")
        return super().load(n, scope, orient)

    def inner_of(self, cls: int, size: int):
        if not self.after_loop:
            raise Decline("a tile value indexes an inner axis outside the matmuls")
        return super().inner_of(cls, size)


class HopperWriter(KernelWriter):
    """Writes the consumer partition's body; `bounds` and `segments` are what the producer repeats."""

    def __init__(self, kernel, axes, names, materialized: set[int], operands: Operands):
        super().__init__(kernel, axes, names, materialized, "cuda")
        self.ctx = HopperContext(kernel, axes, names, materialized, operands)
        self.em = Emitter(self.ctx)
        self.ops = operands
        self.bounds: list[str] = []
        self.segments = []
        self.loads_v: list[bool] = []  # per segment: whether its P·V matmul is live (then V is loaded)

    def consumer_body(self) -> list[str]:
        k = self.k
        init = [f"    a{i} = {self._init(a)}" for i, a in enumerate(k.accumulators)]
        self._loops()
        self.ctx.after_loop = True
        post = Scope("    ", "post")
        self._epilogue(post)
        lines = self._head() + self.pre.lines + init + self._ready() + self.body + self._post_head() + post.lines
        return _drop_unused([to_gluon(x) for x in lines])

    # --- layouts and indices ---

    def _head(self) -> list[str]:
        p_size = self.ctx.axes.sizes[self.k.p]
        o_width = self.ops.v.width if self.ops.v else None
        o_layout = (f"gl.NVMMADistributedLayout(version=[3, 0], warps_per_cta=[4, 1], instr_shape=[16, "
                    f"{o_width}, 16])" if o_width else "S_L")
        return ["    S_L: gl.constexpr = gl.NVMMADistributedLayout(version=[3, 0], warps_per_cta=[4, 1], "
                "instr_shape=[16, BLOCK_N, 16])",
                f"    O_L: gl.constexpr = {o_layout}",
                *program_head(self.k, self.ctx),
                "    o_p = p0 + WG * HALF_M + gl.arange(0, HALF_M, layout=gl.SliceLayout(1, S_L))",
                f"    m_p = o_p < {p_size}"]

    def _ready(self) -> list[str]:
        return ["    w_zero = gl.zeros([HALF_M, BLOCK_N], gl.float32, layout=S_L)",
                "    mbarrier.wait(a_bar, 0)",
                f"    w_a = a_bufs.index(WG).reshape([HALF_M, {self.ops.a.width}])"]

    def _post_head(self) -> list[str]:
        """After the loop every index vector is rebuilt in the accumulator layout O_L, where the stores
        happen (the loop's S_L vectors stay in use until then)."""
        p_size = self.ctx.axes.sizes[self.k.p]
        lines = ["    o_p = p0 + WG * HALF_M + gl.arange(0, HALF_M, layout=gl.SliceLayout(1, O_L))",
                 f"    m_p = o_p < {p_size}"]
        for idx, real, pad in sorted(self.ctx.inner.values()):
            lines.append(f"    o_k{idx} = gl.arange(0, {pad}, layout=gl.SliceLayout(0, O_L))")
            if pad != real:
                lines.append(f"    m_k{idx} = o_k{idx} < {real}")
        return lines

    # --- accumulators ---

    def _init(self, a) -> str:
        if a.sink.op is Op.DOT:
            return f"gl.zeros([HALF_M, {self.ops.v.width}], gl.float32, layout=O_L)"
        if a.init is not None:
            tile = self.em.value(a.init, self.pre, ("P", "-"))
            if a.sink.op is Op.ANY:
                return f"gl.max({tile}.to(gl.int32), 1)"
            return f"gl.{a.sink.op.name.lower()}({tile}.to(gl.float32), 1)"
        value, dtype = _IDENTITY[a.sink.op]
        return f"gl.full([HALF_M], {value}, {dtype}, layout={_ROW.format('S_L')})"

    def _tile(self, n: Node, scope: Scope, op: Op) -> str:
        if n.op is Op.CONST:
            dtype = "gl.int1" if n.dtype == "bool" else "gl.float32"
            return f"gl.full([HALF_M, BLOCK_N], {literal(n.attr('value'))}, {dtype}, layout=S_L)"
        t = self.em.value(n, scope)
        classes = self.ctx.axes.of(n)
        if self.k.p not in classes or self.k.r not in classes:
            # folding can leave a value constant along a tile axis; reductions need the full tile
            t = f"gl.broadcast({t}, w_zero)[0]"
        if scope.bounds:
            name = self.em.fresh("v")
            scope.emit(f"{name} = gl.where(m_r[None, :], {t}, {_FILL[op]})")
            return name
        return t

    def _update(self, i: int, a, base: Node, scope: Scope) -> None:
        if a.sink.op is not Op.DOT:
            super()._update(i, a, base, scope)
            return
        scale = f"c{self.ctx.sinks[id(a.shift)]}" if a.shift is not None else None
        t = self._tile(base, scope, Op.DOT)
        v = self.ops.v
        if scale:
            scope.emit(f"a{i} = a{i} * gl.convert_layout({scale}, {_ROW.format('O_L')})[:, None]")
        dtype = "gl.bfloat16" if v.base.dtype == "bf16" else "gl.float16"
        # P from registers as the matmul's A operand; V from the ring as B
        scope.emit(f"w_p = gl.convert_layout({t}.to({dtype}), gl.DotOperandLayout(operand_index=0, parent=O_L, "
                   "k_width=2))")
        scope.emit(f"w_v = v_bufs.index(w_stage).reshape([BLOCK_N, {v.width}])")
        scope.emit("mbarrier.wait(v_ready.index(w_stage), w_ph)")
        scope.emit(f"a{i} = warpgroup_mma(w_p, w_v, a{i}, is_async=True)")
        scope.emit(f"a{i} = warpgroup_mma_wait(0, deps=(a{i}, w_v))[0]")

    def _epilogue(self, post: Scope) -> None:
        for i, a in enumerate(self.k.accumulators):
            row = f"gl.convert_layout(a{i}, {_ROW.format('O_L')})"
            vec = f"a{i}" if a.sink.op is Op.DOT else (f"({row} > 0)[:, None]" if a.sink.op is Op.ANY
                                                        else f"{row}[:, None]")
            if a.post is not None and not (a.post.op is Op.CONST and a.post.attr("value") == 1.0):
                vec = f"{vec} * {self.em.value(a.post, post, ('P', '-'))}"
            post.emit(f"f{i} = {vec}")
            self.ctx.finals[id(a.sink.node)] = f"f{i}"
        for n in self.k.stores:
            self._store(n, post)

    # --- the loop over the ring ---

    def _loops(self) -> None:
        k = self.k
        spans = region_bounds([(r.lo, r.hi) for r in k.regions], k.role == "column") if k.regions else [
            (0, 0, None)]
        sizes = self.ctx.axes.sizes
        self.bounds, self.segments = segment_code(spans, sizes[k.p], sizes[k.r], lambda i: k.regions[i].dead)
        self.body += ["    " + x for x in self.bounds] + ["    w_it = 0", "    w_turn = 1 - WG"]
        shifts = {id(a.shift) for a in k.accumulators if a.shift is not None}
        for seg in self.segments:
            bases = [a.base for a in k.accumulators] if seg.region is None else list(k.regions[seg.region].bases)
            self.loads_v.append(any(b is not None for a, b in zip(k.accumulators, bases) if a.sink.op is Op.DOT))
            what = "edge tiles: masks computed" if seg.region is None else "masks folded"
            self.body.append(f"    # {what}{', ragged end checked' if seg.bounds else ''}")
            self.body.append(f"    for r0 in range({seg.lo}, {seg.hi}, BLOCK_N):")
            scope = Scope("        ", "loop", seg.bounds, self.pre)
            for line in self._score_step():
                scope.emit(line)
            if seg.bounds:
                scope.emit(f"m_r = o_r < {sizes[k.r]}")
            self._body(scope, bases, shifts)
            scope.emit("mbarrier.arrive(b_empty.index(w_stage))")
            scope.emit("w_it += 1")
            self.body += scope.lines

    def _score_step(self) -> list[str]:
        """Wait for the stage, take the turn, issue S = A·Bᵀ, pass the turn, wait for S."""
        return ["w_stage = w_it % STAGES",
                "w_ph = (w_it // STAGES) & 1",
                "o_r = r0 + gl.arange(0, BLOCK_N, layout=gl.SliceLayout(0, S_L))",
                f"w_b = b_bufs.index(w_stage).reshape([BLOCK_N, {self.ops.b.width}])",
                "mbarrier.wait(b_ready.index(w_stage), w_ph)",
                "mbarrier.wait(turn.index(WG), w_turn)",
                "w_turn ^= 1",
                "w_s = warpgroup_mma(w_a, w_b.permute((1, 0)), w_zero, use_acc=False, is_async=True)",
                "mbarrier.arrive(turn.index(1 - WG))",
                "w_s = warpgroup_mma_wait(0, deps=(w_s, w_a, w_b))[0]"]


def program_head(k, ctx) -> list[str]:
    """Program and batch indices and the tile start p0, as the Triton path computes them (the program's
    tile is BLOCK_M rows: two warpgroups of HALF_M)."""
    axes = ctx.axes
    t_axis, b_axis = (1, 0) if k.batch_fastest else (0, 1)
    lines = ["    HALF_M: gl.constexpr = BLOCK_M // 2",
             f"    pid_t = gl.program_id({t_axis})", f"    pid_b = gl.program_id({b_axis}).to(gl.int64)"]
    if k.reverse:
        lines.append(f"    i_t = gl.cdiv({axes.sizes[k.p]}, BLOCK_M) - 1 - pid_t  # longest tiles first")
    else:
        lines.append("    i_t = pid_t")
    inner = 1
    for idx in reversed(range(len(ctx.batch))):
        size = axes.sizes[ctx.batch[idx]]
        expr = "pid_b" if inner == 1 else f"(pid_b // {inner})"
        lines.append(f"    i_b{idx} = {expr} % {size}" if idx > 0 else f"    i_b{idx} = {expr}")
        inner *= size
    return lines + ["    p0 = i_t.to(gl.int64) * BLOCK_M"]

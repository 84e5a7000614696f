"""The consumer partition of a Hopper kernel: one warpgroup's 64 rows of the program's tile.

It is the Triton writer's kernel body (codegen/kernel.py's KernelWriter: running maxima, the guarded
rescale alpha = exp2(m - m_new), every accumulator, P cast to the input dtype before P·V; its expression
emitter), written in Gluon's language module (gl) through the writer's hooks, with three differences:
the score tile is the result of an asynchronous warpgroup matmul of shared-memory tiles the producer
filled (never a load), every value carries an explicit layout (the score tile's wgmma layout S_L, the
P·V accumulator's O_L, their row and column slices), and the loop steps through the producer's ring
(wait for a filled stage, use it, release it). Before issuing its score matmul a warpgroup waits for its
turn and hands the turn to the other right after: the two warpgroups alternate on the tensor cores, so
one's softmax runs under the other's matmuls (ping-pong).
"""

from __future__ import annotations

from compiler.codegen.block import Line
from compiler.codegen.context import KernelContext
from compiler.codegen.emit import Scope
from compiler.codegen.gluon.operands import Decline, Operands
from compiler.codegen.kernel import KernelWriter
from compiler.codegen.loops import Segment
from compiler.ir.node import Node
from compiler.ir.ops import Op

_ROW = "gl.SliceLayout(1, {})"
_IDENTITY = {Op.SUM: ("0.0", "gl.float32"), Op.MAX: ('float("-inf")', "gl.float32"),
             Op.MIN: ('float("inf")', "gl.float32"), Op.ANY: ("0", "gl.int32")}


class HopperContext(KernelContext):
    """The Triton path's kernel context in Gluon's language, with the score matmul coming from the warpgroup
    matmul and no score-sized tile loaded through registers."""

    def __init__(self, kernel, axes, names, materialized, operands: Operands):
        super().__init__(kernel, axes, names, materialized, "cuda", lang="gl")
        self.ops = operands
        self.after_loop = False  # inner axes get their index vectors (in O_L) only after the loop

    def special(self, n: Node, scope: Scope, orient):
        if self.ops.is_score(n):
            if scope.kind != "loop":
                raise Decline("the score matmul is read outside the loop")
            return "w_s"
        if n.op is Op.DOT and not self.is_tensor(n) and id(n) not in self.sinks:
            # the shared emitter would write tl.dot's form; Gluon's matmuls are the warpgroup ones
            raise Decline("it computes a matmul besides the score matmul and P·V")
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
    """The consumer partition's body (body(), through KernelWriter's hooks); after it, `bounds` and
    `segments` are what the producer repeats, and loads_v(segment) whether it loads V there."""

    def __init__(self, kernel, axes, names, materialized: set[int], operands: Operands):
        super().__init__(kernel, HopperContext(kernel, axes, names, materialized, operands))
        self.ops = operands

    def loads_v(self, seg: Segment) -> bool:
        """Whether the segment's P·V matmul is live (then the producer loads V for it)."""
        accs = self.k.accumulators
        return any(b is not None for a, b in zip(accs, self.segment_bases(seg)) if a.sink.op is Op.DOT)

    def program_head(self) -> list[Line]:
        """The program's indices and p0, as the Triton path computes them (the program's tile is BLOCK_M
        rows: two warpgroups of HALF_M); the producer's head too."""
        return [Line("HALF_M: gl.constexpr = BLOCK_M // 2")] + self.program_tile()

    # --- layouts and indices ---

    def head(self) -> list[Line]:
        p_size = self.ctx.axes.sizes[self.k.p]
        o_width = self.ops.v.width if self.ops.v else None
        o_layout = (f"gl.NVMMADistributedLayout(version=[3, 0], warps_per_cta=[4, 1], instr_shape=[16, "
                    f"{o_width}, 16])" if o_width else "S_L")
        return [Line("S_L: gl.constexpr = gl.NVMMADistributedLayout(version=[3, 0], warps_per_cta=[4, 1], "
                     "instr_shape=[16, BLOCK_N, 16])"),
                Line(f"O_L: gl.constexpr = {o_layout}"),
                *self.program_head(),
                Line.assign("o_p", "p0 + WG * HALF_M + gl.arange(0, HALF_M, layout=gl.SliceLayout(1, S_L))"),
                Line.assign("m_p", f"o_p < {p_size}")]

    def loop_setup(self, bounds: list[Line]) -> list:
        """A and the zero tile the score matmuls start from; the ring's step count and whose turn it is."""
        return [Line.assign("w_zero", "gl.zeros([HALF_M, BLOCK_N], gl.float32, layout=S_L)"),
                Line("mbarrier.wait(a_bar, 0)"),
                Line.assign("w_a", f"a_bufs.index(WG).reshape([HALF_M, {self.ops.a.width}])"),
                *bounds, Line.assign("w_it", "0"), Line.assign("w_turn", "1 - WG")]

    def epilogue_scope(self) -> Scope:
        """The epilogue recomputes what it reads in the accumulator layout O_L, where the stores happen
        (values from before the loop are in S_L)."""
        self.ctx.after_loop = True
        return Scope("post")

    def epilogue_head(self) -> list[Line]:
        """After the loop every index vector is rebuilt in O_L (the loop's S_L vectors stay in use until
        then)."""
        return self.index_vectors("p0 + WG * HALF_M + gl.arange(0, HALF_M, layout=gl.SliceLayout(1, O_L))",
                                  "gl.arange(0, {pad}, layout=gl.SliceLayout(0, O_L))")

    # --- accumulators ---

    def init(self, a) -> str:
        if a.sink.op is Op.DOT:
            return f"gl.zeros([HALF_M, {self.ops.v.width}], gl.float32, layout=O_L)"
        if a.init is not None:
            return super().init(a)
        value, dtype = _IDENTITY[a.sink.op]
        return f"gl.full([HALF_M], {value}, {dtype}, layout={_ROW.format('S_L')})"

    def full_tile(self, value: str, dtype: str) -> str:
        return f"gl.full([HALF_M, BLOCK_N], {value}, {dtype}, layout=S_L)"

    def broadcast_tile(self, t: str) -> str:
        return f"gl.broadcast({t}, w_zero)[0]"

    def accumulate_pv(self, i: int, a, base: Node, p: str, scale: str | None, scope: Scope) -> None:
        v = self.ops.v
        if scale:
            scope.emit(f"a{i} = a{i} * gl.convert_layout({scale}, {_ROW.format('O_L')})[:, None]")
        dtype = "gl.bfloat16" if v.base.dtype == "bf16" else "gl.float16"
        # P from registers as the matmul's A operand; V from the ring as B
        scope.assign("w_p", f"gl.convert_layout({p}.to({dtype}), gl.DotOperandLayout(operand_index=0, parent=O_L, "
                     "k_width=2))")
        scope.assign("w_v", f"v_bufs.index(w_stage).reshape([BLOCK_N, {v.width}])")
        scope.emit("mbarrier.wait(v_ready.index(w_stage), w_ph)")
        scope.emit(f"a{i} = warpgroup_mma(w_p, w_v, a{i}, is_async=True)")
        scope.emit(f"a{i} = warpgroup_mma_wait(0, deps=(a{i}, w_v))[0]")

    def final_row(self, i: int) -> str:
        return f"gl.convert_layout(a{i}, {_ROW.format('O_L')})"

    # --- the loop over the ring ---

    def open_tile(self, scope: Scope) -> None:
        """Wait for the stage, take the turn, issue S = A·Bᵀ, pass the turn, wait for S."""
        scope.assign("w_stage", "w_it % STAGES")
        scope.assign("w_ph", "(w_it // STAGES) & 1")
        scope.assign("o_r", "r0 + gl.arange(0, BLOCK_N, layout=gl.SliceLayout(0, S_L))")
        scope.assign("w_b", f"b_bufs.index(w_stage).reshape([BLOCK_N, {self.ops.b.width}])")
        scope.emit("mbarrier.wait(b_ready.index(w_stage), w_ph)")
        scope.emit("mbarrier.wait(turn.index(WG), w_turn)")
        scope.emit("w_turn ^= 1")
        scope.assign("w_s", "warpgroup_mma(w_a, w_b.permute((1, 0)), w_zero, use_acc=False, is_async=True)")
        scope.emit("mbarrier.arrive(turn.index(1 - WG))")
        scope.assign("w_s", "warpgroup_mma_wait(0, deps=(w_s, w_a, w_b))[0]")

    def close_tile(self, scope: Scope) -> None:
        """Release the stage to the producer (both warpgroups arrive) and step the ring."""
        scope.emit("mbarrier.arrive(b_empty.index(w_stage))")
        scope.emit("w_it += 1")

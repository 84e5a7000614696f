"""One kernel's Triton source: program ids and offsets, invariant loads, accumulators, the loop
segments with their bodies, the epilogue and the stores; plus the host wrapper that launches it.

The loop body keeps FlashAttention's order: running maxima first (m_new = max(m, rowmax(x)), or
max(m, rowmax(y) * c) where x = y * c with c > 0, the same bits for one multiply per row), the rescale
factor alpha = exp2(m - m_new) (guarded for rows that are still empty), then every accumulator that uses
the running max is rescaled and updated; P is cast to the input dtype right before the P·V matmul.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from compiler.analysis.axes import AxisInfo
from compiler.codegen.context import KernelContext
from compiler.codegen.emit import Emitter, Scope, dot_call, literal
from compiler.codegen.loops import region_bounds, segment_code
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

# device functions a kernel's text may call, per target; module_source adds those the body uses
_HELPERS = {
    "_tanh": {
        "cuda": '''@triton.jit
def _tanh(x):
    # one MUFU instruction instead of libdevice's tanh (kernel-anchors §3.2: 1.9x on soft-capping)
    return tl.inline_asm_elementwise("tanh.approx.f32 $0, $1;", "=f,f", [x], dtype=tl.float32,
                                     is_pure=True, pack=1)
''',
        "interpret": '''@triton.jit
def _tanh(x):
    # portable form for Triton's interpreter, which cannot run inline PTX
    return 1.0 - 2.0 / (tl.exp2(x * 2.8853900817779268) + 1.0)
''',
    },
    # Triton lowers tl.log2 of f32 to libdevice's log2f, a polynomial of ~20 instructions; lg2.approx.f32
    # is one MUFU instruction (subnormal inputs kept; log2(0) = -inf, log2(x < 0) = nan, as IEEE's).
    # Only the cuda target calls it (emit.py); BENCHMARKS.md has its error against float64 and its effect
    "_log2": {
        "cuda": '''@triton.jit
def _log2(x):
    return tl.inline_asm_elementwise("lg2.approx.f32 $0, $1;", "=f,f", [x], dtype=tl.float32,
                                     is_pure=True, pack=1)
''',
    },
}


@dataclass(frozen=True, eq=False)
class KernelSource:
    name: str
    source: str  # a Python module: the @triton.jit kernel and its `launch` wrapper
    tensors: tuple[Node, ...]  # the wrapper's tensor arguments, in order
    loads: tuple[Node, ...]  # those of them the kernel reads (the others it writes)
    streams: bool = False  # its loop pipelines a per-head score-shaped input (tuned from its own list)


class KernelWriter:
    def __init__(self, kernel: KernelPlan, axes: AxisInfo, names: Names, materialized: set[int], target: str,
                 name_stages: bool = False):
        self.k, self.target = kernel, target
        self.name_stages = name_stages  # every loop names its stages, not only one that streams tiles
        self.ctx = KernelContext(kernel, axes, names, materialized, target)
        self.em = Emitter(self.ctx)
        self.pre = Scope("    ", "pre")
        self.body: list[str] = []

    def write(self) -> KernelSource:
        k = self.k
        init = [f"a{i} = {self._init(a)}" for i, a in enumerate(k.accumulators) if a.sink.op is not None]
        self._loops()
        post = Scope("    ", "post", parent=self.pre)
        self._epilogue(post)
        head = self._head()
        lines = _drop_unused(head + self.pre.lines + ["    " + x for x in init] + self.body + post.lines)
        source = self._module(lines)
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

    def _loops(self) -> None:
        k = self.k
        column = k.role == "column"
        spans = region_bounds([(r.lo, r.hi) for r in k.regions], column) if k.regions else [(0, 0, None)]
        p_size, r_size = self.ctx.axes.sizes[k.p], self.ctx.axes.sizes[k.r]
        lines, segments = segment_code(spans, p_size, r_size, lambda i: k.regions[i].dead)
        self.body += ["    " + x for x in lines]
        heads = []
        shifts = {id(a.shift) for a in k.accumulators if a.shift is not None}
        indent = "    "
        for seg in segments:
            bases = [a.base for a in k.accumulators] if seg.region is None else list(k.regions[seg.region].bases)
            what = "edge tiles: masks computed" if seg.region is None else "masks folded"
            self.body.append(f"    # {what}{', ragged end checked' if seg.bounds else ''}")
            lo, hi = seg.lo, seg.hi
            if k.stops_saturated:
                lo, hi, indent = self._until_saturated(seg)
            heads.append((len(self.body), lo, hi))
            self.body.append(f"{indent}for r0 in range({lo}, {hi}, BLOCK_N):")
            scope = Scope(indent + "    ", "loop", seg.bounds, self.pre)
            scope.emit("o_r = r0 + tl.arange(0, BLOCK_N)")
            if seg.bounds:
                scope.emit(f"m_r = o_r < {r_size}")
            self._body(scope, bases, shifts)
            self.body += scope.lines
            if k.stops_saturated:
                self.body += [f"{indent}c_lo = c_hi", f"{indent}c_hi = c_end"]
        if self._named():
            for i, lo, hi in heads:
                lead = self.body[i][:len(self.body[i]) - len(self.body[i].lstrip())]
                self.body[i] = f"{lead}for r0 in tl.range({lo}, {hi}, BLOCK_N, num_stages=STAGES):"

    def _until_saturated(self, seg) -> tuple[str, str, str]:
        """Open a segment that stops once every accumulator lane of the program is true: its first tile,
        then the rest while one is still false. Returns the loop's bounds and the body's indent."""
        # int64 tensors from the start: a loop-carried value keeps its type
        self.body += [f"    c_lo = p0 * 0 + ({seg.lo})", f"    c_end = p0 * 0 + ({seg.hi})",
                      "    c_hi = tl.minimum(c_lo + BLOCK_N, c_end)"]
        open_lanes = " | ".join(f"(tl.min(tl.where(m_p, a{i}, 1)) == 0)" for i in range(len(self.k.accumulators)))
        self.body.append(f"    while (c_lo < c_end) & ({open_lanes}):")
        return "c_lo", "c_hi", "        "

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
            scope.emit(f"{name} = tl.where(m_r[None, :], {t}, {_IDENTITY[op]})")
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
            scope.emit(f"n{i} = {new}")
            if id(a.sink.node) in shifts:
                # rows with no live element yet keep m = -inf; shift by 0 there so exp2 gives 0, not NaN
                scope.emit(f'u{i} = tl.where(n{i} == float("-inf"), 0.0, n{i})')
                scope.emit(f"c{i} = tl.exp2(a{i} - u{i})")
                self.ctx.running[id(a.sink.node)] = f"u{i}"
        for i, (a, base) in enumerate(zip(accs, bases)):
            if a.sink.op is Op.MAX or base is None:
                continue
            self._update(i, a, base, scope)
        for i, a in enumerate(accs):
            if a.sink.op is Op.MAX:
                scope.emit(f"a{i} = n{i}")

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
            post.emit(f"f{i} = {vec}")
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

    def _head(self) -> list[str]:
        k, ctx = self.k, self.ctx
        axes = ctx.axes
        p_size = axes.sizes[k.p]
        t_axis, b_axis = (1, 0) if k.batch_fastest else (0, 1)
        lines = [f"    pid_t = tl.program_id({t_axis})", f"    pid_b = tl.program_id({b_axis}).to(tl.int64)"]
        if k.reverse:
            lines.append(f"    i_t = tl.cdiv({p_size}, BLOCK_M) - 1 - pid_t  # longest tiles first")
        else:
            lines.append("    i_t = pid_t")
        inner = 1
        for idx in reversed(range(len(ctx.batch))):
            size = axes.sizes[ctx.batch[idx]]
            expr = "pid_b" if inner == 1 else f"(pid_b // {inner})"
            lines.append(f"    i_b{idx} = {expr} % {size}" if idx > 0 else f"    i_b{idx} = {expr}")
            inner *= size
        lines += ["    p0 = i_t.to(tl.int64) * BLOCK_M", "    o_p = p0 + tl.arange(0, BLOCK_M)",
                  f"    m_p = o_p < {p_size}"]
        for idx, real, pad in sorted(ctx.inner.values()):
            lines.append(f"    o_k{idx} = tl.arange(0, {pad})")
            if pad != real:
                lines.append(f"    m_k{idx} = o_k{idx} < {real}")
        return lines

    def _module(self, lines: list[str]) -> str:
        k, ctx = self.k, self.ctx
        text = "\n".join(lines)
        n_batch = math.prod(ctx.axes.sizes[c] for c in ctx.batch)
        p_size = ctx.axes.sizes[k.p]
        grid = (f"({n_batch}, triton.cdiv({p_size}, BLOCK_M))" if k.batch_fastest
                else f"(triton.cdiv({p_size}, BLOCK_M), {n_batch})")
        return module_source(k.name, k.role, ctx, text, grid, self._named())


def module_source(name: str, role: str, ctx, body: str, grid: str, stages: bool) -> str:
    """A kernel's module: the device helpers its body calls, the @triton.jit kernel (a pointer and the
    strides of each of ctx.tensors, the block sizes, STAGES when its loops name their stages) and its host
    wrappers, `arguments` (the grid and every argument in order) and `launch`."""
    helpers = "".join(h[ctx.target] + "\n\n" for fn, h in _HELPERS.items() if fn + "(" in body)
    args = [ctx.arg(t) for t in ctx.tensors]
    strides = [f"{a}_s{d}" for a, t in zip(args, ctx.tensors) for d in range(t.type.rank)]
    params = [f"{a}_ptr" for a in args] + strides + ["BLOCK_M: tl.constexpr", "BLOCK_N: tl.constexpr"]
    params += ["STAGES: tl.constexpr"] if stages else []
    values = args + [f"*{a}.stride()" for a, t in zip(args, ctx.tensors) if t.type.rank]
    values += ["BLOCK_M", "BLOCK_N"] + (["num_stages"] if stages else [])
    names = ", ".join(args)
    return (
        f'"""{name}: {role} kernel generated by compiler.codegen (do not edit)."""\n\n'
        "import triton\nimport triton.language as tl\n\n\n" + helpers +
        f"@triton.jit\ndef {name}_kernel(\n    " + ",\n    ".join(params) + ",\n):\n" + body + "\n\n\n"
        f"def arguments({names}, *, BLOCK_M, BLOCK_N, num_stages):\n"
        '    """The grid and every argument of the kernel in order, constexprs last."""\n'
        f"    return {grid}, ({', '.join(values)})\n\n\n"
        f"def launch({names}, *, BLOCK_M, BLOCK_N, num_warps, num_stages):\n"
        f"    grid, args = arguments({names}, BLOCK_M=BLOCK_M, BLOCK_N=BLOCK_N, num_stages=num_stages)\n"
        f"    return {name}_kernel[grid](*args, num_warps=num_warps, num_stages=num_stages)\n"
    )


def _positive_scaling(n: Node) -> tuple[Node, str | None]:
    """(x, c) where n is an f32 x * c with c a positive finite scalar constant (the fold step puts a
    product's constant on the right); else (n, None)."""
    if n.op is Op.MUL and n.dtype == "f32":
        x, c = n.inputs
        if scalar_constant(c) and x.dtype == "f32" and x.shape == n.shape and 0 < c.attr("value") < math.inf:
            return x, literal(c.attr("value"))
    return n, None


def _drop_unused(lines: list[str]) -> list[str]:
    """Drop top-level assignments whose variable is never read (a batch index of a size-1 batch, the
    final value of a running max that nothing stores). Only straight-line, unindented-by-a-loop lines
    are candidates, so loop-carried values are never touched."""
    assign = re.compile(r"^    ([A-Za-z_][A-Za-z0-9_]*) = ")
    while True:
        text = "\n".join(lines)
        dead = []
        for k, line in enumerate(lines):
            m = assign.match(line)
            if m and len(re.findall(rf"\b{m.group(1)}\b", text)) == 1:
                dead.append(k)
        if not dead:
            return lines
        lines = [x for k, x in enumerate(lines) if k not in dead]


def write_kernel(kernel: KernelPlan, axes: AxisInfo, names: Names, materialized: set[int],
                 target: str, name_stages: bool = False) -> KernelSource:
    return KernelWriter(kernel, axes, names, materialized, target, name_stages).write()


__all__ = ["KernelSource", "write_kernel", "literal"]

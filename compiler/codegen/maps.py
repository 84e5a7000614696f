"""A map kernel's Triton source (fusion/maps.py says what one computes).

Tiles are [BLOCK_M, BLOCK_N] with the program's axis P first and the loop's axis R second, whichever of
rows and columns each is. Every value broadcasts to the domain [rows, cols]: a dim of size 1 adds no
offset and keeps its tile dim of length 1. Loads and stores are masked on both axes (the domain need not
be a multiple of the tiles); a reduction sets the masked part of its tile to the identity first. The
loop names its stages, so Triton pipelines its loads (it does that unasked only for loads feeding a dot).
"""

from __future__ import annotations

from compiler.codegen.block import Line, Loop, render
from compiler.codegen.emit import Emitter, Naming, Scope, compute_dtype, literal
from compiler.codegen.kernel import KernelSource
from compiler.codegen.module import module_source
from compiler.fusion.plan import MapKernel
from compiler.ir.dtypes import to_triton
from compiler.ir.node import Node
from compiler.ir.ops import G, Op
from compiler.ir.printer import Names

_INIT = {Op.SUM: "tl.zeros([BLOCK_M], dtype=tl.float32)", Op.MAX: 'tl.full([BLOCK_M], float("-inf"), tl.float32)',
         Op.MIN: 'tl.full([BLOCK_M], float("inf"), tl.float32)', Op.ANY: "tl.zeros([BLOCK_M], dtype=tl.int32)"}
_COMBINE = {Op.SUM: "a{k} += tl.sum({t}, 1)", Op.MAX: "a{k} = tl.maximum(a{k}, tl.max({t}, 1))",
            Op.MIN: "a{k} = tl.minimum(a{k}, tl.min({t}, 1))", Op.ANY: "a{k} = tl.maximum(a{k}, tl.max({t}, 1))"}


class _Context(Naming):
    """What the expression emitter asks about a map kernel: every value is a tile of the domain."""

    def __init__(self, m: MapKernel, names: Names, target: str):
        super().__init__(names)
        self.m, self.target = m, target
        self.em: Emitter | None = None
        # domain dim -> (index vector, mask vector, how it is placed in a tile)
        p, r = ("o_p", "m_p", "[:, None]"), ("o_r", "m_r", "[None, :]")
        self.dims = (r, p) if m.loop_axis == 0 else (p, r)

    def access(self, n: Node, vector: bool = False) -> tuple[str, str]:
        """(pointer, mask) of n's whole [BLOCK_M, BLOCK_N] tile, a dim n broadcasts along included with
        offset 0 (a pointer tile and its mask have one shape); `vector`: of n's [BLOCK_M] vector along P
        (a reduction's result, size 1 along the loop axis)."""
        name = self.arg(n)
        rank, terms, masks = n.type.rank, [], []
        for d, (vec, mask, place) in enumerate(self.dims):
            if vector and vec != "o_p":
                continue
            place = "" if vector else place
            k = rank - 2 + d
            terms.append(f"{vec}{place} * {name}_s{k}" if k >= 0 and n.shape[k] > 1 else f"{vec}{place} * 0")
            masks.append(f"{mask}{place}")
        return f"{name}_ptr" + "".join(f" + {t}" for t in terms), " & ".join(masks)

    # --- emitter hooks ---

    def special(self, n: Node, scope: Scope, orient):
        if n.op not in (Op.TRIU, Op.TRIL):
            return None
        x = self.em.value(n.inputs[0], scope, orient)
        keep = ">=" if n.op is Op.TRIU else "<="
        zero = literal(False if n.dtype == "bool" else 0 if n.dtype.startswith(("i", "u")) else 0.0)
        i, j = (f"{vec}{place}" for vec, _, place in self.dims)
        name = self.var_name(n, self.em)
        scope.assign(name, f"tl.where(({j} - {i}) {keep} {n.attr('diagonal')}, {x}, {zero})")
        return name

    def scope_for(self, n: Node, scope: Scope) -> Scope:
        return scope

    def is_tensor(self, n: Node) -> bool:
        return n.op is Op.INPUT

    def index(self, n: Node, orient) -> str:
        d = n.attr("axis") - (n.type.rank - 2)
        vec, _, place = self.dims[d]
        return f"{vec}{place}"

    def load(self, n: Node, scope: Scope, orient) -> str:
        ptr, mask = self.access(n)
        text = f"tl.load({ptr}, mask={mask}, other=0)"
        wide = compute_dtype(n.dtype, self.target)
        return f"{text}.to({to_triton(wide)})" if wide != n.dtype else text


def write_map(m: MapKernel, names: Names, target: str) -> KernelSource:
    ctx = _Context(m, names, target)
    em = ctx.em = Emitter(ctx)
    body = Scope("loop")
    body.assign("o_r", "r0 + tl.arange(0, BLOCK_N)")
    body.assign("m_r", f"o_r < {m.shape[m.loop_axis]}")
    init, post = [], []
    for k, n in enumerate(m.stores):
        if n.op in G.REDUCE:
            t = em.value(n.inputs[0], body)
            t = f"tl.broadcast_to({t}, [BLOCK_M, BLOCK_N])"
            # any counts in int32; the others reduce in f32, as the accumulator keeps them
            t = f"({t} != 0).to(tl.int32)" if n.op is Op.ANY else f"{t}.to(tl.float32)"
            identity = "0" if n.op is Op.ANY else literal(float(G.IDENTITY[n.op]))
            body.assign(f"v{k}", f"tl.where(m_r[None, :], {t}, {identity})")
            body.emit(_COMBINE[n.op].format(k=k, t=f"v{k}"))
            init.append(Line.assign(f"a{k}", _INIT[n.op]))
            value = f"(a{k} > 0)" if n.op is Op.ANY else f"a{k}"
            ptr, mask = ctx.access(n, vector=True)
            post.append(Line(f"tl.store({ptr}, {value}.to({to_triton(n.dtype)}), mask={mask})"))
        else:
            t = em.value(n, body)
            ptr, mask = ctx.access(n)
            body.emit(f"tl.store({ptr}, tl.broadcast_to({t}, [BLOCK_M, BLOCK_N]).to({to_triton(n.dtype)}), "
                      f"mask={mask})")
    p_size = m.shape[1 - m.loop_axis]
    head = [Line.assign("p0", "tl.program_id(0).to(tl.int64) * BLOCK_M"),
            Line.assign("o_p", "p0 + tl.arange(0, BLOCK_M)"), Line.assign("m_p", f"o_p < {p_size}")]
    # the loop names its stages, so Triton pipelines its loads (it does that unasked only for loads feeding a dot)
    text = "\n".join(render(head + init + [Loop("0", str(m.shape[m.loop_axis]), body.body)] + post, stages=True))
    source = module_source(m.name, m.role, ctx, text, f"(triton.cdiv({p_size}, BLOCK_M),)", stages=True)
    loads = tuple(t for t in ctx.tensors if t.op is Op.INPUT)
    return KernelSource(m.name, source, tuple(ctx.tensors), loads, streams=False)

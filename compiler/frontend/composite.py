"""ATen ops that are whole programs in model code, written out in the IR: scaled_dot_product_attention and
two-operand einsum. torch.export keeps both whole; as TORCH nodes torch would compute them with the
score matrix in memory, while written out they are the softmax, masks and matmuls the compiler fuses
(and share the scores with statistics the program computes beside them).
"""

from __future__ import annotations

import math

from compiler.ir.build import cast, dot, ew, iota, view
from compiler.ir.layout import Layout, LayoutError
from compiler.ir.node import Node, TensorType, node
from compiler.ir.ops import Op


def _grouped(x: Node, heads: int) -> Node:
    """[..., Hkv, S, D] -> [..., H, S, D], each KV head serving H / Hkv query heads (enable_gqa)."""
    hkv = x.shape[-3]
    if hkv == heads:
        return x
    lay = Layout.identity(x.shape).unsqueeze(-3)
    sizes = list(x.shape[:-2]) + [heads // hkv] + list(x.shape[-2:])
    return view(x, lay.expand(sizes).reshape(x.shape[:-3] + (heads,) + x.shape[-2:]))


def sdpa(t: TensorType, a, kw) -> Node | None:
    """softmax(q·kᵀ·scale + mask)·v as torch's math backend defines it (causal: j <= i from the top left)."""
    names = ("query", "key", "value", "attn_mask", "dropout_p", "is_causal", "scale", "enable_gqa")
    args = {**dict(zip(names, a)), **kw}
    q, k, v, mask = args["query"], args["key"], args["value"], args.get("attn_mask")
    if args.get("dropout_p", 0.0) or q.type.rank < 2:
        return None
    scale = args.get("scale")
    scale = 1 / math.sqrt(q.shape[-1]) if scale is None else scale
    if args.get("enable_gqa", False) and q.type.rank >= 3:
        k, v = _grouped(k, q.shape[-3]), _grouped(v, q.shape[-3])
    s = ew(Op.MUL, dot(q, view(k, Layout.identity(k.shape).transpose(-1, -2)), q.dtype), scale)
    rows, cols = s.shape[-2], s.shape[-1]
    if args.get("is_causal", False):
        keep = ew(Op.LE, ew(Op.SUB, iota(1, (1, cols)), iota(0, (rows, 1))), 0)
        s = ew(Op.WHERE, keep, s, float("-inf"), dtype=s.dtype)
    if mask is not None and mask.dtype == "bool":
        s = ew(Op.WHERE, mask, s, float("-inf"), dtype=s.dtype)
    elif mask is not None:
        s = ew(Op.ADD, s, mask, dtype=s.dtype)
    p = node(Op.SOFTMAX, (s,), s.type, axis=s.type.rank - 1)
    out = dot(cast(p, v.dtype), v, t.dtype)
    return out if out.type == t else None


def einsum(t: TensorType, a, kw) -> Node | None:
    """Two operands, each index at most once per operand, no ellipsis: a matmul with batch dims (indices
    of both operands and the output), free dims (of one operand and the output) and contracted dims (of
    both operands only), through views."""
    equation, operands = a[0], a[1]
    if len(operands) != 2 or "..." in equation or "->" not in equation:
        return None
    ins, out = equation.replace(" ", "").split("->")
    ia, ib = ins.split(",") if ins.count(",") == 1 else (None, None)
    x, y = operands
    if ia is None or any(len(set(s)) != len(s) for s in (ia, ib, out)) or len(ia) != x.type.rank or len(
            ib) != y.type.rank or not set(out) <= set(ia) | set(ib):
        return None
    batch = [c for c in out if c in ia and c in ib]
    free_a = [c for c in out if c in ia and c not in ib]
    free_b = [c for c in out if c in ib and c not in ia]
    contract = [c for c in ia if c in ib and c not in out]
    if len(batch) + len(free_a) + len(contract) != len(ia) or len(batch) + len(free_b) + len(contract) != len(ib):
        return None  # an index summed within one operand
    try:
        xa = _arranged(x, ia, batch + free_a + contract, len(batch), len(free_a))
        yb = _arranged(y, ib, batch + contract + free_b, len(batch), len(contract))
        z = dot(xa, yb, t.dtype)
        sizes = dict(zip(ia + ib, x.shape + y.shape))
        z = _view(z, Layout.identity(z.shape).reshape([sizes[c] for c in batch + free_a + free_b]))
        order = batch + free_a + free_b
        z = _view(z, Layout.identity(z.shape).permute([order.index(c) for c in out]))
    except LayoutError:
        return None
    return z if z.type == t else None


def _arranged(x: Node, have: str, want: list[str], batch: int, first: int) -> Node:
    """x with its dims in `want`'s order and the two groups after the batch dims each merged into one."""
    x = _view(x, Layout.identity(x.shape).permute([have.index(c) for c in want]))
    shape = list(x.shape)
    merged = shape[:batch] + [math.prod(shape[batch:batch + first]), math.prod(shape[batch + first:])]
    return _view(x, Layout.identity(x.shape).reshape(merged))


def _view(x: Node, layout: Layout) -> Node:
    return x if layout.is_identity() else view(x, layout)


"""ATen ops with several tensor results (split, chunk, unbind, max/min along a dim, topk, sort, ...).

torch.export gives such an op one FX node whose value is a tuple, read through operator.getitem. Here the
op becomes a tuple of IR nodes, one per result: a split is one strided view per piece (splitting q or k
along the head dim is ordinary model code, and a view is free); max/min along a dim are the reduction
(the values) and a torch op (the indices); any other op is one TORCH node per result (attr `item`), which
the launcher evaluates once per call for all of its results.
"""

from __future__ import annotations

from compiler.ir.build import reduce, view
from compiler.ir.layout import Layout, LayoutError
from compiler.ir.node import Node, TensorType
from compiler.ir.ops import Op


def _pieces(x: Node, sizes, dim: int) -> tuple[Node, ...] | None:
    dim %= x.type.rank
    out, start = [], 0
    try:
        for size in sizes:
            out.append(view(x, Layout.identity(x.shape).slice(dim, start, start + size)))
            start += size
    except LayoutError:
        return None
    return tuple(out)


def _split(types, a, kw):
    x, size = a[0], a[1] if len(a) > 1 else kw.get("split_size")
    dim = a[2] if len(a) > 2 else kw.get("dim", 0)
    if not isinstance(size, int):
        return _pieces(x, size, dim)
    return _pieces(x, [t.shape[dim] for t in types], dim)


def _split_with_sizes(types, a, kw):
    sizes = a[1] if len(a) > 1 else kw.get("split_sizes")
    return _pieces(a[0], sizes, a[2] if len(a) > 2 else kw.get("dim", 0))


def _unbind(types, a, kw):
    x = a[0]
    dim = (a[1] if len(a) > 1 else kw.get("dim", 0)) % x.type.rank
    try:
        return tuple(view(x, Layout.identity(x.shape).select(dim, i)) for i in range(x.shape[dim]))
    except LayoutError:
        return None


def _extreme(op: Op):
    """max/min along a dim: (values, indices); the values are the reduction, the indices stay in torch."""

    def rule(types, a, kw, torch_item):
        x = a[0]
        if len(a) < 2 and "dim" not in kw:
            return None
        dim = (a[1] if len(a) > 1 else kw["dim"]) % x.type.rank
        keepdim = a[2] if len(a) > 2 else kw.get("keepdim", False)
        values = reduce(op, x, dim)
        if not keepdim:
            values = view(values, Layout.identity(values.shape).squeeze([dim]))
        return values, torch_item(1)
    return rule


VIEW_RULES = {"aten.split": _split, "aten.split_with_sizes": _split_with_sizes, "aten.unbind": _unbind}
# rules that keep some results in torch: called with `torch_item(k)`, the TORCH node of result k
MIXED_RULES = {"aten.max": _extreme(Op.MAX), "aten.min": _extreme(Op.MIN)}


def translate(name: str, types: tuple[TensorType | None, ...], args, kwargs, torch_item) -> tuple:
    """The results of a multi-result op as IR nodes (None for a result that is not a tensor)."""
    out = None
    if name in VIEW_RULES:
        out = VIEW_RULES[name](types, args, kwargs)
    elif name in MIXED_RULES and all(t is not None for t in types):
        out = MIXED_RULES[name](types, args, kwargs, torch_item)
    if out is not None and len(out) == len(types) and all(o.type == t for o, t in zip(out, types)):
        return tuple(out)
    return tuple(torch_item(k) if t is not None else None for k, t in enumerate(types))

"""Simplify: fold layout chains into one view, drop no-op casts and views, fold constants.

Run after capture and after every step that builds nodes, so later steps see one canonical form.
"""

from __future__ import annotations

import math

import torch

from compiler.ir.build import ew, iota
from compiler.ir.dtypes import FLOATS, is_float
from compiler.ir.evaluate import Evaluator
from compiler.ir.layout import LayoutError
from compiler.ir.node import Graph, Node, TensorType, const, is_const
from compiler.ir.ops import G, Op
from compiler.passes.rewrite import P, Rule, cse, graph_rewrite

_WIDTH = {d: i for i, d in enumerate(FLOATS)}
_WIDTH["bf16"] = _WIDTH["f16"]


def _fold_views(outer: Node, inner: Node, x: Node) -> Node | None:
    try:
        layout = inner.attr("layout").compose(outer.attr("layout"))
    except LayoutError:
        return None
    return Node(Op.VIEW, (x,), (("layout", layout),), outer.type)


def _cast_roundtrip(c: Node, mid: Node, x: Node) -> Node | None:
    # widening then narrowing back to the original float type is exact
    if is_float(x.dtype) and is_float(mid.dtype) and x.dtype == c.dtype and _WIDTH[mid.dtype] >= _WIDTH[x.dtype]:
        return x
    return None


def _fold_constants(n: Node) -> Node | None:
    """An elementwise op of constants is a constant (computed in the node's dtype, as torch would)."""
    args = [torch.tensor(i.attr("value"), dtype=torch.float64 if is_float(i.dtype) else None)
            for i in n.inputs]
    value = Evaluator("cpu")(Node(n.op, n.inputs, n.attrs, type(n.type)((), n.dtype)), args)
    value = value.item() if isinstance(value, torch.Tensor) else value
    return const(value, n.shape, n.dtype)


def _all_const(n: Node) -> bool:
    return bool(n.inputs) and all(i.op is Op.CONST for i in n.inputs)


def _value_is(v):
    return lambda n: is_const(n) and n.attr("value") == v and not isinstance(n.attr("value"), bool)


def _where_const(w: Node, c: Node, a: Node, b: Node) -> Node | None:
    return _as_type(a if c.attr("value") else b, w)


def _as_type(x: Node, like: Node) -> Node | None:
    """x in place of `like`: itself if the types match, a constant broadcast to like's shape."""
    if x.type == like.type:
        return x
    if x.op is Op.CONST:
        return const(_convert(x.attr("value"), like.dtype), like.shape, like.dtype)
    return None


def _same_type(x: Node, n: Node) -> Node | None:
    return x if x.type == n.type else None


def _index_only(n: Node) -> bool:
    return n.op in (Op.IOTA, Op.CONST) or (n.op in G.ELEMENTWISE and all(_index_only(i) for i in n.inputs))


def _view_iota(v: Node, x: Node) -> Node | None:
    """A view of an index tensor is an index tensor: iota along the view dim that reads the iota's axis
    (times the view's step, plus its start). Index tensors then never share nodes across axes."""
    layout, axis = v.attr("layout"), x.attr("axis")
    found = [(d, fs[0]) for d, fs in enumerate(layout.dims) if any(f.dim == axis for f in fs)]
    if len(found) != 1 or len(layout.dims[found[0][0]]) != 1:
        return None
    (d, f), = found
    out = iota(d, v.shape, v.dtype)
    if f.coef != 1:
        out = ew(Op.MUL, out, f.coef, dtype=v.dtype)
    if layout.offset[axis]:
        out = ew(Op.ADD, out, layout.offset[axis], dtype=v.dtype)
    return out


def _view_through(v: Node, x: Node) -> Node | None:
    """view(f(a, b)) = f(view(a), view(b)) for index expressions, so the view reaches the iotas."""
    if not _index_only(x) or x.op in (Op.IOTA, Op.CONST):
        return None
    inputs = []
    for i in x.inputs:
        if i.op is Op.CONST and i.type.rank == 0:
            inputs.append(i)
        elif i.shape == x.shape:
            inputs.append(Node(Op.VIEW, (i,), v.attrs, TensorType(v.shape, i.dtype)))
        else:
            return None
    return ew(x.op, *inputs, dtype=v.dtype)


RULES: list[Rule] = [
    (P(Op.VIEW, P(Op.IOTA, name="x"), name="v"), _view_iota),
    (P(Op.VIEW, P(G.ELEMENTWISE, name="x"), name="v"), _view_through),
    (P(Op.VIEW, P(Op.VIEW, P(name="x"), name="inner"), name="outer"), _fold_views),
    (P(Op.VIEW, P(name="x"), where=lambda v: v.attr("layout").is_identity()), lambda x: x),
    (P(Op.VIEW, P(Op.CONST, name="c"), name="v"), lambda v, c: const(c.attr("value"), v.shape, v.dtype)),
    (P(Op.CAST, P(name="x"), where=lambda c: c.src.dtype == c.dtype), lambda x: x),
    (P(Op.CAST, P(Op.CAST, P(name="x"), name="mid"), name="c"), _cast_roundtrip),
    (P(Op.CAST, P(Op.CONST, name="k"), name="c"),
     lambda c, k: const(_convert(k.attr("value"), c.dtype), c.shape, c.dtype)),
    (P(G.ELEMENTWISE - {Op.CAST}, name="n", where=_all_const), _fold_constants),
    (P(Op.WHERE, P(Op.CONST, name="c"), P(name="a"), P(name="b"), name="w"), _where_const),
    (P(frozenset({Op.ADD, Op.SUB}), P(name="x"), P(where=_value_is(0)), name="n"), _same_type),
    (P(Op.ADD, P(where=_value_is(0)), P(name="x"), name="n"), _same_type),
    (P(frozenset({Op.MUL, Op.DIV}), P(name="x"), P(where=_value_is(1)), name="n"), _same_type),
    (P(Op.MUL, P(where=_value_is(1)), P(name="x"), name="n"), _same_type),
]


def _convert(value, dtype: str):
    if dtype == "bool":
        return bool(value)
    if is_float(dtype):
        return float(value)
    return int(value) if math.isfinite(value) else value


def simplify(graph: Graph) -> Graph:
    return cse(graph_rewrite(graph, RULES))

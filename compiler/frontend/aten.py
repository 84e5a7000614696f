"""ATen op -> IR, as a table of rules keyed by the op's name (overloads share a rule).

An op without a rule becomes a TORCH node: it runs in torch as is, so capture never fails on an op it
does not know; the fusion plan then decides what that costs (explain lists it as a fallback).
"""

from __future__ import annotations

import math
import operator

import torch

from compiler.errors import CompileError
from compiler.frontend import composite, multi
from compiler.ir.build import cast, dot, ew, iota, reduce, view
from compiler.ir.dtypes import from_torch, is_float
from compiler.ir.evaluate import Slot
from compiler.ir.layout import Layout, LayoutError
from compiler.ir.node import Graph, Node, TensorType, const, node
from compiler.ir.ops import Op
from compiler.passes.decompose import LN2, log2_softmax_parts


def _meta_type(fx_node) -> TensorType:
    return _tensor_type(fx_node.target, fx_node.meta.get("val"))


def _tensor_type(target, val) -> TensorType:
    if not isinstance(val, torch.Tensor):
        raise CompileError(f"{target} does not produce one tensor ({type(val).__name__})")
    if not all(isinstance(s, int) for s in val.shape):
        raise CompileError(f"{target} has a data-dependent shape {tuple(val.shape)}; "
                           "only static shapes are supported")
    return TensorType(tuple(val.shape), from_torch(val.dtype))


def _result_types(fx_node) -> tuple[TensorType | None, ...]:
    """The type of each result of an op with several (None for one that is not a tensor)."""
    return tuple(_tensor_type(fx_node.target, v) if isinstance(v, torch.Tensor) else None
                 for v in fx_node.meta["val"])


def _lit(x) -> Node:
    return x if isinstance(x, Node) else const(x)


def _typed(op: Op, inputs, type: TensorType, **attrs) -> Node:
    return node(op, tuple(_lit(i) for i in inputs), type, **attrs)


def _as_type(n: Node, type: TensorType) -> Node:
    """Cast a rebuilt node to the dtype torch gave the original op."""
    return cast(n, type.dtype)


def _layout(fn):
    def rule(t, a, kw):
        x = a[0]
        try:
            return view(x, fn(Layout.identity(x.shape), *a[1:], **kw))
        except LayoutError:
            return None  # not expressible as a view: falls back to torch
    return rule


def _reshape(lay, shape):
    return lay.reshape(shape)


def _squeeze(lay, dims=None):
    return lay.squeeze(range(len(lay.dims)) if dims is None else ([dims] if isinstance(dims, int) else dims))


def _slice(lay, dim=0, start=None, end=None, step=1):
    size = lay.shape[dim]
    return lay.slice(dim, 0 if start is None else start, size if end is None else min(end, size), step)


def _reduce_dims(op: Op):
    def rule(t, a, kw):
        x = a[0]
        dims = a[1] if len(a) > 1 else kw.get("dim", None)
        keepdim = a[2] if len(a) > 2 else kw.get("keepdim", False)
        if dims is None or dims == []:
            dims = range(x.type.rank)
        dims = sorted({d % x.type.rank for d in ([dims] if isinstance(dims, int) else dims)})
        y = x if op is not Op.ANY or x.dtype == "bool" else ew(Op.NE, x, 0)
        if op is Op.SUM and not is_float(x.dtype):
            y = cast(y, t.dtype)  # a count: summing bools (or narrow ints) in their own type overflows
        for d in dims:
            y = reduce(op, y, d)
        if kw.get("dtype") is not None:
            y = cast(y, from_torch(kw["dtype"]))
        if not keepdim:
            y = view(y, Layout.identity(y.shape).squeeze(dims))
        return _as_type(y, t) if op is not Op.ANY else y
    return rule


def _mean(t, a, kw):
    x = a[0]
    total = _reduce_dims(Op.SUM)(TensorType(t.shape, x.dtype), a, kw)
    dims = a[1] if len(a) > 1 else range(x.type.rank)
    count = math.prod(x.shape[d] for d in ([dims] if isinstance(dims, int) else dims))
    return _as_type(ew(Op.DIV, total, float(count)), t)


def _binary(op: Op):
    def rule(t, a, kw):
        x, y = _lit(a[0]), _lit(a[1])
        alpha = kw.get("alpha", 1)
        if alpha != 1:
            y = ew(Op.MUL, y, alpha)
        return _as_type(ew(op, x, y), t)
    return rule


def _int_division(op: Op):
    """Integer division and remainder (index arithmetic: blocks, strides); on floats torch's rounding
    rules are left to torch itself."""
    def rule(t, a, kw):
        if is_float(t.dtype) or t.dtype == "bool" or any(
                is_float(x.dtype) if isinstance(x, Node) else not isinstance(x, int) for x in a[:2]):
            return None
        return _as_type(ew(op, _lit(a[0]), _lit(a[1])), t)
    return rule


def _div(t, a, kw):
    rounding = kw.get("rounding_mode")
    if rounding is None:
        return _binary(Op.DIV)(t, a, {})
    rounded = {"floor": Op.FLOORDIV, "trunc": Op.TRUNCDIV}.get(rounding)
    return _int_division(rounded)(t, a, kw) if rounded else None


def _unary(op: Op):
    return lambda t, a, kw: _as_type(ew(op, _lit(a[0])), t)


def _pow(t, a, kw):
    x, e = _lit(a[0]), a[1]
    if e == 2:
        return _as_type(ew(Op.MUL, x, x), t)
    return _as_type(ew(Op.POW, x, _lit(e)), t)


def _clamp(t, a, kw):
    x = a[0]
    lo = a[1] if len(a) > 1 else kw.get("min")
    hi = a[2] if len(a) > 2 else kw.get("max")
    if lo is not None:
        x = ew(Op.MAXIMUM, x, _lit(lo))
    if hi is not None:
        x = ew(Op.MINIMUM, x, _lit(hi))
    return _as_type(x, t)


def _full(t, a, kw):
    value = a[1] if len(a) > 1 else kw.get("fill_value")
    return const(value, t.shape, t.dtype)


def _fill_value(value):
    return lambda t, a, kw: const(value if t.dtype != "bool" else bool(value), t.shape, t.dtype)


def _arange(t, a, kw):
    start, end, step = (0, a[0], 1) if len(a) == 1 else (a[0], a[1], a[2] if len(a) > 2 else 1)
    index = iota(0, t.shape, t.dtype)
    return _as_type(ew(Op.ADD, ew(Op.MUL, index, step) if step != 1 else index, start), t) if (
        start or step != 1) else index


def _softmax(op: Op):
    return lambda t, a, kw: _typed(op, [a[0]], t, axis=a[1] % a[0].type.rank)


def _logsumexp(t, a, kw):
    """log(sum(exp(x))) along dims, as the row statistics softmax uses (base 2, max kept): a row pass
    computes it online, and a program that asks for it by name gets the same kernel."""
    x = a[0]
    dims = a[1] if len(a) > 1 else kw.get("dim")
    keepdim = a[2] if len(a) > 2 else kw.get("keepdim", False)
    dims = [dims] if isinstance(dims, int) else list(dims)
    if len(dims) != 1 or not x.type.rank:
        return None
    axis = dims[0] % x.type.rank
    y = ew(Op.MUL, log2_softmax_parts(x, axis)[1], LN2)
    if not keepdim:
        y = view(y, Layout.identity(y.shape).squeeze([axis]))
    return _as_type(y, t)


def _logaddexp(t, a, kw):
    """log(exp(x) + exp(y)) = m + log(exp(x - m) + exp(y - m)) with m = max(x, y): the merge of two
    partial softmaxes by their log-sum-exp (cascade, ring attention), computed where its inputs are."""
    x, y = _lit(a[0]), _lit(a[1])
    m = ew(Op.MAXIMUM, x, y)
    total = ew(Op.ADD, ew(Op.EXP, ew(Op.SUB, x, m)), ew(Op.EXP, ew(Op.SUB, y, m)))
    return _as_type(ew(Op.ADD, m, ew(Op.LOG, total)), t)


def _mask(op: Op):
    return lambda t, a, kw: _typed(op, [a[0]], t, diagonal=a[1] if len(a) > 1 else kw.get("diagonal", 0))


def _matmul(t, a, kw):
    x, y = a
    if x.type.rank < 2 or y.type.rank < 2:
        return None
    return _as_type(dot(x, y, t.dtype), t)


def _linear(t, a, kw):
    x, w = a[0], a[1]
    out = dot(x, view(w, Layout.identity(w.shape).transpose(0, 1)), t.dtype)
    return ew(Op.ADD, out, a[2]) if len(a) > 2 and a[2] is not None else out


def _where(t, a, kw):
    return _as_type(ew(Op.WHERE, *(_lit(x) for x in a), dtype=t.dtype), t)


def _masked_fill(t, a, kw):
    return ew(Op.WHERE, a[1], _lit(a[2]), a[0], dtype=t.dtype)


def _repeat_interleave(t, a, kw):
    """x.repeat_interleave(r, dim) with an int r: each index along dim repeated r times (grouped KV heads)
    is unsqueeze, expand and merge: a view."""
    x, repeats = a[0], a[1] if len(a) > 1 else kw.get("repeats")
    dim = a[2] if len(a) > 2 else kw.get("dim")
    if not isinstance(repeats, int) or dim is None:
        return None
    dim %= x.type.rank
    lay = Layout.identity(x.shape).unsqueeze(dim + 1)
    sizes = list(x.shape[:dim + 1]) + [repeats] + list(x.shape[dim + 1:])
    try:
        return view(x, lay.expand(sizes).reshape(t.shape))
    except LayoutError:
        return None


def _to(t, a, kw):
    return cast(a[0], t.dtype)


def _identity(t, a, kw):
    return a[0]


def _sigmoid(t, a, kw):
    return _as_type(ew(Op.RECIP, ew(Op.ADD, ew(Op.EXP, ew(Op.NEG, a[0])), 1.0)), t)


RULES = {
    # layout: folded into strides later (passes/simplify.py)
    "aten.view": _layout(_reshape), "aten._unsafe_view": _layout(_reshape), "aten.reshape": _layout(_reshape),
    "aten.transpose": _layout(lambda lay, a, b: lay.transpose(a, b)),
    "aten.t": _layout(lambda lay: lay.transpose(0, 1) if len(lay.dims) == 2 else lay),
    "aten.permute": _layout(lambda lay, perm: lay.permute(perm)),
    "aten.expand": _layout(lambda lay, sizes, implicit=False: lay.expand(sizes)),
    "aten.unsqueeze": _layout(lambda lay, d: lay.unsqueeze(d)),
    "aten.squeeze": _layout(_squeeze),
    "aten.slice": _layout(_slice),
    "aten.select": _layout(lambda lay, d, i: lay.select(d, i)),
    "aten.repeat_interleave": _repeat_interleave,
    "aten.clone": _identity, "aten.contiguous": _identity, "aten.alias": _identity,
    "aten.detach": _identity, "aten.lift_fresh_copy": _identity,
    "aten._to_copy": _to, "aten.to": _to, "aten.type_as": _to,
    # arithmetic
    "aten.add": _binary(Op.ADD), "aten.sub": _binary(Op.SUB), "aten.mul": _binary(Op.MUL),
    "aten.div": _div, "aten.floor_divide": _int_division(Op.FLOORDIV),
    "aten.remainder": _int_division(Op.REM), "aten.fmod": _int_division(Op.FMOD),
    "aten.rsub": lambda t, a, kw: _binary(Op.SUB)(t, [a[1], a[0]], {}),
    "aten.maximum": _binary(Op.MAXIMUM), "aten.minimum": _binary(Op.MINIMUM),
    "aten.pow": _pow, "aten.square": lambda t, a, kw: _pow(t, [a[0], 2], kw),
    "aten.neg": _unary(Op.NEG), "aten.exp": _unary(Op.EXP), "aten.exp2": _unary(Op.EXP2),
    "aten.log": _unary(Op.LOG), "aten.log2": _unary(Op.LOG2), "aten.tanh": _unary(Op.TANH),
    "aten.abs": _unary(Op.ABS), "aten.sqrt": _unary(Op.SQRT), "aten.reciprocal": _unary(Op.RECIP),
    "aten.rsqrt": lambda t, a, kw: _as_type(ew(Op.RECIP, ew(Op.SQRT, a[0])), t),
    "aten.sigmoid": _sigmoid,
    "aten.relu": lambda t, a, kw: _as_type(ew(Op.MAXIMUM, a[0], 0.0), t),
    "aten.clamp": _clamp, "aten.clamp_min": _clamp,
    "aten.clamp_max": lambda t, a, kw: _clamp(t, [a[0], None, a[1]], {}),
    # comparisons and logic
    "aten.ge": _binary(Op.GE), "aten.gt": _binary(Op.GT), "aten.le": _binary(Op.LE),
    "aten.lt": _binary(Op.LT), "aten.eq": _binary(Op.EQ), "aten.ne": _binary(Op.NE),
    "aten.logical_and": _binary(Op.AND), "aten.logical_or": _binary(Op.OR),
    "aten.bitwise_and": lambda t, a, kw: _binary(Op.AND)(t, a, kw) if t.dtype == "bool" else None,
    "aten.bitwise_or": lambda t, a, kw: _binary(Op.OR)(t, a, kw) if t.dtype == "bool" else None,
    "aten.__and__": lambda t, a, kw: _binary(Op.AND)(t, a, kw) if t.dtype == "bool" else None,
    "aten.__or__": lambda t, a, kw: _binary(Op.OR)(t, a, kw) if t.dtype == "bool" else None,
    "aten.__invert__": lambda t, a, kw: ew(Op.NOT, a[0]) if t.dtype == "bool" else None,
    "aten.logical_not": _unary(Op.NOT),
    "aten.bitwise_not": lambda t, a, kw: ew(Op.NOT, a[0]) if t.dtype == "bool" else None,
    "aten.where": _where, "aten.masked_fill": _masked_fill,
    # reductions and composites
    "aten.sum": _reduce_dims(Op.SUM), "aten.amax": _reduce_dims(Op.MAX), "aten.amin": _reduce_dims(Op.MIN),
    "aten.any": _reduce_dims(Op.ANY), "aten.mean": _mean,
    "aten.softmax": _softmax(Op.SOFTMAX), "aten._softmax": _softmax(Op.SOFTMAX),
    "aten.log_softmax": _softmax(Op.LOG_SOFTMAX), "aten._log_softmax": _softmax(Op.LOG_SOFTMAX),
    "aten.logsumexp": _logsumexp, "aten.logaddexp": _logaddexp,
    "aten.scaled_dot_product_attention": composite.sdpa, "aten.einsum": composite.einsum,
    "aten.matmul": _matmul, "aten.bmm": _matmul, "aten.mm": _matmul, "aten.linear": _linear,
    # sources: masks stay symbolic (TRIU/TRIL of a constant), never a materialized tensor
    "aten.full": _full, "aten.zeros": _fill_value(0.0), "aten.ones": _fill_value(1.0),
    "aten.full_like": _full, "aten.zeros_like": _fill_value(0.0), "aten.ones_like": _fill_value(1.0),
    "aten.scalar_tensor": lambda t, a, kw: const(a[0], t.shape, t.dtype),
    "aten.arange": _arange,
    "aten.triu": _mask(Op.TRIU), "aten.tril": _mask(Op.TRIL),
}

_SKIP = {"aten._assert_tensor_metadata", "aten._assert_scalar", "aten.sym_constrain_range_for_size"}


def _rule_name(target) -> str:
    packet = getattr(target, "overloadpacket", None)
    return f"aten.{packet.__name__}" if packet is not None else str(target)


class Translator:
    """Walks an FX graph (functional ATen) and builds the IR graph."""

    def __init__(self):
        self.values: dict[str, object] = {}

    def run(self, fx_graph) -> Graph:
        inputs, outputs = [], []
        for fx in fx_graph.nodes:
            if fx.op == "placeholder" and not isinstance(fx.meta.get("val"), torch.Tensor):
                self.values[fx.name] = fx.meta.get("val")  # a number argument, specialized
            elif fx.op == "placeholder":
                n = node(Op.INPUT, (), _meta_type(fx), index=len(inputs), name=_ident(fx.name))
                inputs.append(n)
                self.values[fx.name] = n
            elif fx.op == "call_function":
                if _rule_name(fx.target) in _SKIP:
                    continue
                self.values[fx.name] = self._call(fx)
            elif fx.op == "output":
                outputs = [self._arg(a) for a in fx.args[0]]
            else:
                raise CompileError(f"unsupported FX node {fx.op} {fx.target}")
        if not all(isinstance(o, Node) for o in outputs):
            raise CompileError("every program output must be a tensor")
        return Graph(tuple(inputs), tuple(outputs))

    def _arg(self, a):
        if hasattr(a, "name") and hasattr(a, "op") and a.name in self.values:
            return self.values[a.name]
        if isinstance(a, (list, tuple)):
            return type(a)(self._arg(x) for x in a)
        return a

    def _call(self, fx):
        if fx.target is operator.getitem:
            result = self._arg(fx.args[0])[fx.args[1]]
            if result is None:
                raise CompileError(f"{fx.args[0].target} result {fx.args[1]} is not a tensor")
            return result
        args = [self._arg(a) for a in fx.args]
        kwargs = {k: self._arg(v) for k, v in fx.kwargs.items()}
        if isinstance(fx.meta.get("val"), (tuple, list)):
            types = _result_types(fx)
            return multi.translate(_rule_name(fx.target), types, args, kwargs,
                                   lambda k: _torch_node(fx.target, args, kwargs, types[k], item=k))
        t = _meta_type(fx)
        rule = RULES.get(_rule_name(fx.target))
        out = rule(t, args, kwargs) if rule else None
        if out is None:
            return _torch_node(fx.target, args, kwargs, t)
        if out.shape != t.shape:
            raise CompileError(f"internal: {fx.target} translated to {out.type}, torch says {t}")
        return out


def _torch_node(target, args, kwargs, t: TensorType, item: int | None = None) -> Node:
    tensors: list[Node] = []

    def template(a):
        if isinstance(a, Node):
            tensors.append(a)
            return Slot(len(tensors) - 1)
        if isinstance(a, (list, tuple)):
            return tuple(template(x) for x in a)
        return a

    targs = template(tuple(args))
    tkwargs = tuple((k, template(v)) for k, v in sorted(kwargs.items()))
    if item is None:
        return node(Op.TORCH, tensors, t, target=target, args=targs, kwargs=tkwargs)
    return node(Op.TORCH, tensors, t, target=target, args=targs, kwargs=tkwargs, item=item)


def _ident(name: str) -> str:
    return "".join(c if c.isalnum() or c == "_" else "_" for c in name)

"""Evaluate IR with torch, node by node: the reference semantics of the IR.

Used three ways: tests check that every pass keeps a program's meaning (in float64, against the cases'
float64 references), the launcher runs the ops the fusion plan leaves to torch, and `layout_view`
turns a Layout into a torch view.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from compiler.ir.dtypes import is_float, to_torch
from compiler.ir.layout import Layout
from compiler.ir.node import Graph, Node
from compiler.ir.ops import Op


@dataclass(frozen=True)
class Slot:
    """The position of the i-th tensor input in a TORCH node's argument template."""

    index: int

    def __str__(self) -> str:
        return f"${self.index}"


def layout_view(t: torch.Tensor, layout: Layout) -> torch.Tensor:
    """The view `layout` of `t` (a copy only when a dim merges factors that strides cannot express)."""
    sizes, strides = [], []
    for fs in layout.dims:
        for f in fs:
            sizes.append(f.size)
            strides.append(f.coef * t.stride(f.dim) if f.dim >= 0 else 0)
    offset = t.storage_offset() + sum(o * t.stride(d) for d, o in enumerate(layout.offset))
    return t.as_strided(sizes, strides, offset).reshape(layout.shape)


_UNARY = {
    Op.NEG: torch.neg, Op.EXP: torch.exp, Op.EXP2: torch.exp2, Op.LOG: torch.log, Op.LOG2: torch.log2,
    Op.TANH: torch.tanh, Op.ABS: torch.abs, Op.SQRT: torch.sqrt, Op.RECIP: torch.reciprocal,
    Op.NOT: torch.logical_not,
}
_BINARY = {
    Op.ADD: torch.add, Op.SUB: torch.sub, Op.MUL: torch.mul, Op.DIV: torch.div, Op.POW: torch.pow,
    Op.MAXIMUM: torch.maximum, Op.MINIMUM: torch.minimum, Op.GE: torch.ge, Op.GT: torch.gt,
    Op.LE: torch.le, Op.LT: torch.lt, Op.EQ: torch.eq, Op.NE: torch.ne, Op.AND: torch.logical_and,
    Op.OR: torch.logical_or, Op.FLOORDIV: torch.floor_divide, Op.REM: torch.remainder, Op.FMOD: torch.fmod,
    Op.TRUNCDIV: lambda a, b: torch.div(a, b, rounding_mode="trunc"),
}


class Evaluator:
    """Evaluates nodes on one device; `float64=True` computes every float in float64."""

    def __init__(self, device, float64: bool = False):
        self.device, self.float64 = device, float64
        # the whole result of a torch op with several results, keyed by the op and its arguments: its
        # TORCH nodes (one per result read) run it once per evaluator
        self._results: dict = {}

    def dtype(self, n: Node) -> torch.dtype:
        if self.float64 and is_float(n.dtype):
            return torch.float64
        return to_torch(n.dtype)

    def __call__(self, n: Node, args: list):
        if n.op is Op.CONST:
            if n.type.rank == 0:
                return n.attr("value")
            return torch.full(n.shape, n.attr("value"), dtype=self.dtype(n), device=self.device)
        if n.op is Op.IOTA:
            return self._iota(n)
        if n.op in _UNARY:
            return _tensor(_UNARY[n.op](_as_tensor(args[0], self.device)), self.dtype(n))
        if n.op is Op.CAST:
            return _tensor(args[0], self.dtype(n), self.device)
        if n.op in _BINARY:
            a, b = (_as_tensor(x, self.device) for x in args)
            return _tensor(_BINARY[n.op](a, b), self.dtype(n), self.device)
        if n.op is Op.WHERE:
            c, a, b = (_as_tensor(x, self.device) for x in args)
            return _tensor(torch.where(c, a, b), self.dtype(n))
        return self._structured(n, args)

    def _structured(self, n: Node, args: list):
        op, x = n.op, args[0] if args else None
        if op is Op.SUM:
            return x.sum(n.attr("axis"), keepdim=True, dtype=self.dtype(n))
        if op is Op.MAX:
            return x.amax(n.attr("axis"), keepdim=True)
        if op is Op.MIN:
            return x.amin(n.attr("axis"), keepdim=True)
        if op is Op.ANY:
            return (x if x.dtype == torch.bool else x != 0).any(n.attr("axis"), keepdim=True)
        if op is Op.SOFTMAX:
            return torch.softmax(x, n.attr("axis"), dtype=self.dtype(n))
        if op is Op.LOG_SOFTMAX:
            return torch.log_softmax(x, n.attr("axis"), dtype=self.dtype(n))
        if op in (Op.TRIU, Op.TRIL):
            fn = torch.triu if op is Op.TRIU else torch.tril
            return fn(x, n.attr("diagonal"))
        if op is Op.DOT:
            a, b = args
            dt = self.dtype(n)
            return torch.matmul(a.to(dt), b.to(dt))
        if op is Op.VIEW:
            return layout_view(x, n.attr("layout"))
        if op is Op.TORCH:
            return self._torch(n, args)
        raise NotImplementedError(f"no torch evaluation for {op.name}")

    def _torch(self, n: Node, args: list):
        item = n.attr("item", None)
        if item is None:
            return _call_torch(n, args)
        key = (n.attr("target"), n.attr("args"), n.attr("kwargs"), tuple(id(a) for a in args))
        try:
            hit = self._results.get(key)
        except TypeError:  # an argument that does not hash: no sharing
            return _call_torch(n, args)[item]
        if hit is None:
            # the arguments are held with the result, so their ids are not reused while it is cached
            hit = self._results[key] = (_call_torch(n, args), args)
        return hit[0][item]

    def _iota(self, n: Node) -> torch.Tensor:
        axis = n.attr("axis")
        shape = [1] * n.type.rank
        shape[axis] = n.shape[axis]
        values = torch.arange(n.shape[axis], device=self.device, dtype=self.dtype(n))
        return values.view(shape).expand(n.shape)


def _as_tensor(x, device):
    # a Python scalar is filled on the device: torch.tensor(x, device=cuda) would copy it from pageable
    # host memory, which makes the host wait for the stream on every call
    return x if isinstance(x, torch.Tensor) else torch.full((), x, device=device)


def _tensor(x, dtype: torch.dtype, device=None) -> torch.Tensor:
    x = _as_tensor(x, device)
    return x if x.dtype == dtype else x.to(dtype)


def _fill(template, args):
    if isinstance(template, Slot):
        return args[template.index]
    if isinstance(template, tuple):
        return type(template)(_fill(t, args) for t in template)
    return template


def _call_torch(n: Node, args: list):
    fill_args = _fill(n.attr("args"), args)
    kwargs = dict(_fill(n.attr("kwargs"), args))
    out = n.attr("target")(*[list(a) if isinstance(a, tuple) else a for a in fill_args], **kwargs)
    return out


def evaluate(graph: Graph, inputs, *, float64: bool = False) -> list:
    """The graph's outputs for these input tensors."""
    device = inputs[0].device if inputs else "cpu"
    ev = Evaluator(device, float64)
    values: dict[int, object] = {}
    for n, x in zip(graph.inputs, inputs):
        values[id(n)] = x.double() if float64 and x.is_floating_point() else x
    for n in graph.nodes:
        if id(n) not in values:
            values[id(n)] = ev(n, [values[id(i)] for i in n.inputs])
    return [values[id(o)] for o in graph.outputs]

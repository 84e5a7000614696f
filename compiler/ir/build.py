"""Constructors that compute the result type, so passes can write `ew(Op.ADD, a, b)`."""

from __future__ import annotations

from compiler.ir.dtypes import is_float, promote
from compiler.ir.layout import Layout
from compiler.ir.node import Node, TensorType, const, node
from compiler.ir.ops import G, Op


def broadcast_shape(*shapes) -> tuple[int, ...]:
    rank = max((len(s) for s in shapes), default=0)
    out = []
    for i in range(rank):
        sizes = {s[len(s) - rank + i] for s in shapes if len(s) - rank + i >= 0} - {1}
        if len(sizes) > 1:
            raise ValueError(f"shapes {shapes} do not broadcast")
        out.append(sizes.pop() if sizes else 1)
    return tuple(out)


def result_dtype(op: Op, inputs) -> str:
    if op in G.COMPARE or op in G.LOGICAL:
        return "bool"
    if op is Op.WHERE:
        inputs = inputs[1:]
    # tensors win over rank-0 constants (torch's weak scalars), unless all are scalars
    tensors = [i for i in inputs if not (i.op is Op.CONST and i.type.rank == 0)] or list(inputs)
    dtype = tensors[0].dtype
    for t in tensors[1:]:
        dtype = promote(dtype, t.dtype)
    scalars_float = any(is_float(i.dtype) for i in inputs)
    if op in (Op.DIV, Op.EXP, Op.EXP2, Op.LOG, Op.LOG2, Op.TANH, Op.SQRT, Op.RECIP) or (
            scalars_float and not is_float(dtype)):
        return dtype if is_float(dtype) else "f32"
    return dtype


def ew(op: Op, *inputs: Node, dtype: str | None = None) -> Node:
    """An elementwise node (unary, binary or WHERE) with broadcast shape and promoted dtype."""
    inputs = tuple(x if isinstance(x, Node) else const(x) for x in inputs)
    shape = broadcast_shape(*(i.shape for i in inputs))
    return node(op, inputs, TensorType(shape, dtype or result_dtype(op, inputs)))


def cast(x: Node, dtype: str) -> Node:
    if x.dtype == dtype:
        return x
    return node(Op.CAST, (x,), TensorType(x.shape, dtype))


def reduce(op: Op, x: Node, axis: int) -> Node:
    axis = axis % x.type.rank
    shape = tuple(1 if i == axis else s for i, s in enumerate(x.shape))
    return node(op, (x,), TensorType(shape, "bool" if op is Op.ANY else x.dtype), axis=axis)


def dot(a: Node, b: Node, dtype: str | None = None) -> Node:
    if a.shape[-1] != b.shape[-2]:
        raise ValueError(f"dot of {a.type} and {b.type}")
    batch = broadcast_shape(a.shape[:-2], b.shape[:-2])
    shape = batch + (a.shape[-2], b.shape[-1])
    return node(Op.DOT, (a, b), TensorType(shape, dtype or promote(a.dtype, b.dtype)))


def view(x: Node, layout: Layout) -> Node:
    return node(Op.VIEW, (x,), TensorType(layout.shape, x.dtype), layout=layout)


def iota(axis: int, shape, dtype: str = "i64") -> Node:
    return node(Op.IOTA, (), TensorType(tuple(shape), dtype), axis=axis % len(shape))

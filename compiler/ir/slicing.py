"""A node on a slice of one of its dims: which dim of each input that slice reads.

Torch computes a region of score-sized values chunk by chunk (fusion/regions.py, launch/chunked.py): each
output on [a, b) of one dim at a time. Every node then maps its sliced dim to one dim of each input (the
input is sliced the same way) or to none (the input is read whole: it broadcasts along that dim). A node
that mixes the elements along the dim (a reduction along it, a matmul contracting it, a view that merges
it, a torch op that takes it as its `dim`) cannot be sliced: NotChunkable says why.
"""

from __future__ import annotations

import torch

from compiler.ir.layout import Factor, Layout
from compiler.ir.node import Node
from compiler.ir.ops import G, Op


class NotChunkable(Exception):
    """The node mixes the elements along the dim (the message says how)."""


def input_dims(n: Node, d: int, leaf=lambda x: False) -> tuple[int | None, ...]:
    """Per input of n, the dim that slicing n along d slices (None: read whole). `leaf(x)`: x exists as a
    tensor (a view of it is sliced through its layout)."""
    if n.shape[d] == 1:
        return (None,) * len(n.inputs)
    if n.op in G.ELEMENTWISE:
        return tuple(_aligned(i.shape, n.type.rank, d) for i in n.inputs)
    if n.op in G.REDUCE:
        if d == n.attr("axis"):
            raise NotChunkable(f"a {n.op.name.lower()} along it")
        return (d,)
    if n.op is Op.DOT:
        return _dot_dims(n, d)
    if n.op is Op.VIEW:
        return (view_source_dim(n, d, leaf(n.src)),)
    if n.op is Op.TORCH:
        return _torch_dims(n, d)
    if n.op in (Op.CONST, Op.IOTA, Op.INPUT):
        return ()
    raise NotChunkable(f"{n.op.name.lower()} has no slicing rule")


def _aligned(shape, rank: int, d: int) -> int | None:
    k = d - (rank - len(shape))
    return None if k < 0 or shape[k] == 1 else k


def _dot_dims(n: Node, d: int) -> tuple[int | None, int | None]:
    a, b = n.inputs
    rank = n.type.rank
    if d == rank - 2:
        return a.type.rank - 2, None
    if d == rank - 1:
        return None, b.type.rank - 1
    return _aligned(a.shape[:-2], rank - 2, d), _aligned(b.shape[:-2], rank - 2, d)


def view_source_dim(n: Node, d: int, materialized: bool) -> int | None:
    """The source dim a slice of view dim d reads (None: a broadcast, or a tensor sliced by its layout)."""
    fs = n.attr("layout").dims[d]
    if len(fs) != 1:
        raise NotChunkable("a view that merges it with another dim")
    if fs[0].dim < 0 or materialized:
        return None
    if n.attr("layout").linked_dim(d) is None:
        raise NotChunkable("a view that reads part of it")
    return fs[0].dim


def view_layout(n: Node, d: int, a: int, b: int, src_shape, materialized: bool) -> Layout:
    """The layout of view n sliced to [a, b) along d, over its source as computed for that slice
    (`src_shape`: the whole source, or the source sliced by view_source_dim)."""
    layout: Layout = n.attr("layout")
    if materialized or layout.dims[d][0].dim < 0:
        return Layout(tuple(src_shape), layout.dims, layout.offset).slice(d, a, b)
    f = layout.dims[d][0]
    dims = layout.dims[:d] + ((Factor(b - a, f.dim, 1),),) + layout.dims[d + 1:]
    return Layout(tuple(src_shape), dims, layout.offset)


# schema argument names that say which dims a torch op works along
_DIM_ARGS = ("dim", "dims", "dim0", "dim1", "start_dim", "end_dim", "source", "destination")


def _torch_dims(n: Node, d: int) -> tuple[int | None, ...]:
    """A torch op is sliced along a dim that it keeps (same position and size in its inputs and result):
    a leading dim no `dim` argument of its schema names, before every dim it names when it changes the
    rank (a reduction without keepdim); index ops only where every index up to the dim is None."""
    target = n.attr("target")
    schema = getattr(target, "_schema", None)
    if schema is None or not n.inputs:
        raise NotChunkable(f"torch {target} has no schema (or no tensor input) to read its dims from")
    rank = n.inputs[0].type.rank
    values = _bound(schema, n.attr("args"), dict(n.attr("kwargs")))
    named: set[int] = set()
    for arg in schema.arguments:
        v = values.get(arg.name)
        if arg.name in _DIM_ARGS and (v is None and arg.name in values or v == () or v == []):
            raise NotChunkable(f"torch {target} works along every dim ({arg.name}={v})")
        if arg.name in _DIM_ARGS and v is not None:
            named |= _dims(v, rank)
        if arg.name == "indices" and isinstance(v, tuple) and any(x is not None for x in v[:d + 1]):
            raise NotChunkable(f"torch {target} indexes it")
    if d in named:
        raise NotChunkable(f"torch {target} works along it")
    if any(i.type.rank != n.type.rank for i in n.inputs) and not (named and d < min(named)):
        raise NotChunkable(f"torch {target} changes the dims of its inputs")
    out = []
    for i in n.inputs:
        if d >= i.type.rank or i.shape[d] not in (1, n.shape[d]):
            raise NotChunkable(f"torch {target} changes the dims of its inputs")
        out.append(None if i.shape[d] == 1 else d)
    return tuple(out)


def _bound(schema, args, kwargs) -> dict:
    """Every schema argument's value: given, or its default (topk's dim is -1 when not given)."""
    values = {a.name: a.default_value for a in schema.arguments if a.has_default_value()}
    values.update(kwargs)
    for arg, v in zip(schema.arguments, args):
        values[arg.name] = v
    return values


def _dims(v, rank: int) -> set[int]:
    vs = v if isinstance(v, (tuple, list)) else (v,)
    return {x % rank for x in vs if isinstance(x, int) and not isinstance(x, bool) and rank}


def iota_slice(n: Node, d: int, a: int, b: int, device, dtype: torch.dtype) -> torch.Tensor:
    """An index tensor on [a, b) of dim d."""
    axis = n.attr("axis")
    size = b - a if d == axis else n.shape[axis]
    start = a if d == axis else 0
    shape = [1] * n.type.rank
    shape[axis] = size
    out_shape = list(n.shape)
    out_shape[d] = b - a
    return torch.arange(start, start + size, device=device, dtype=dtype).view(shape).expand(out_shape)


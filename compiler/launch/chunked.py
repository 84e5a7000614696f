"""Run a torch region (fusion/regions.py) chunk by chunk: every output on [a, b) of its chunk dim at a time,
written into its whole buffer, so no intermediate of the region is larger than one chunk of it.

A node is evaluated on a slice of one of its dims from its inputs on the slices ir/slicing.py maps it to;
what the region reads from outside (inputs, kernel results) is sliced as a view; a node needed whole
(it does not have the chunk dim) is computed once for all chunks.
"""

from __future__ import annotations

import torch

from compiler.fusion.plan import TorchRegion
from compiler.ir.dtypes import to_torch
from compiler.ir.evaluate import Evaluator, layout_view
from compiler.ir.node import Node
from compiler.ir.ops import Op
from compiler.ir.slicing import input_dims, iota_slice, view_layout


class _Chunk:
    def __init__(self, region: TorchRegion, env: dict, ev: Evaluator, whole: dict):
        self.inside = {id(n) for n in region.nodes}
        self.env, self.ev, self.whole = env, ev, whole
        self.memo: dict[tuple[int, int], torch.Tensor] = {}

    def leaf(self, n: Node) -> bool:
        """Read from the tensors computed before the region (constants and index tensors: made here)."""
        return id(n) not in self.inside and n.op not in (Op.CONST, Op.IOTA)

    def value(self, n: Node, d: int | None, a: int, b: int):
        """n on [a, b) of its dim d (d None: all of n)."""
        if d is None or n.shape[d] == 1:
            return self._whole(n)
        if self.leaf(n):
            return self.env[id(n)].narrow(d, a, b - a)
        key = (id(n), d)
        if key not in self.memo:
            self.memo[key] = self._compute(n, d, a, b)
        return self.memo[key]

    def _whole(self, n: Node):
        if self.leaf(n):
            return self.env[id(n)]
        if id(n) not in self.whole:
            self.whole[id(n)] = (n, self.ev(n, [self._whole(i) for i in n.inputs]))
        return self.whole[id(n)][1]

    def _compute(self, n: Node, d: int, a: int, b: int):
        if n.op is Op.CONST:
            shape = list(n.shape)
            shape[d] = b - a
            return torch.full(shape, n.attr("value"), dtype=self.ev.dtype(n), device=self.ev.device)
        if n.op is Op.IOTA:
            return iota_slice(n, d, a, b, self.ev.device, self.ev.dtype(n))
        dims = input_dims(n, d, self.leaf)
        if n.op is Op.VIEW:
            (s,) = dims
            src = self.value(n.src, s, a, b)
            shape = list(n.src.shape)
            if s is not None:
                shape[s] = b - a
            return layout_view(src, view_layout(n, d, a, b, shape, self.leaf(n.src)))
        args = [self.value(i, di, a, b) for i, di in zip(n.inputs, dims)]
        return self.ev(n, args)


def run_region(region: TorchRegion, env: dict, ev: Evaluator) -> None:
    """Compute the region's outputs into env, a chunk at a time."""
    whole: dict = {}
    if not region.chunk:
        chunk = _Chunk(region, env, ev, whole)
        for o in region.outputs:
            env[id(o)] = chunk.value(o, None, 0, 0)
        return
    buffers = {id(o): torch.empty(o.shape, dtype=to_torch(o.dtype), device=ev.device) for o in region.outputs}
    for a in range(0, region.size, region.step):
        b = min(region.size, a + region.step)
        chunk = _Chunk(region, env, ev, whole)
        for o, d in zip(region.outputs, region.dims):
            buffers[id(o)].narrow(d, a, b - a).copy_(chunk.value(o, d, a, b))
    for o in region.outputs:
        env[id(o)] = buffers[id(o)]

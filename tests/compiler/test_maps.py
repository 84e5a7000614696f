"""Map kernels (fusion/maps.py, codegen/maps.py): prologue steps of inputs alone computed by one
generated kernel per domain and loop axis. Checked against float64 torch on ragged shapes, for both loop
axes, every reduction, broadcast inputs and index functions; and what stays a torch step."""

import math

import pytest
import torch
from conftest import DEVICE

from compiler.codegen.maps import write_map
from compiler.fusion.maps import fuse_prologue
from compiler.fusion.plan import MapKernel, TorchStep
from compiler.ir.build import ew, iota, reduce
from compiler.ir.evaluate import evaluate
from compiler.ir.node import Graph, TensorType, const, node
from compiler.ir.ops import Op
from compiler.ir.printer import Names
from compiler.launch.loader import load_module

ROWS, COLS = 37, 53  # neither a multiple of any tile


def _input(shape, index, name, dtype="f32"):
    return node(Op.INPUT, (), TensorType(shape, dtype), index=index, name=name)


def _steps():
    x, y = _input((ROWS, COLS), 0, "x"), _input((1, COLS), 1, "y")
    band = node(Op.TRIU, (ew(Op.LE, x, const(0.0, (), "f32")),), TensorType((ROWS, COLS), "bool"), diagonal=3)
    lower = ew(Op.WHERE, ew(Op.GE, iota(0, (ROWS, 1)), iota(1, (1, COLS))), x, const(-math.inf, (), "f32"))
    roots = [
        ew(Op.ADD, ew(Op.LOG2, ew(Op.MAXIMUM, x, const(0.0, (), "f32"))), y),  # elementwise, y broadcast
        reduce(Op.ANY, band, 0),
        reduce(Op.MAX, lower, 0),
        reduce(Op.SUM, ew(Op.MUL, x, y), 1),  # the other axis: a kernel of its own
        reduce(Op.MIN, x, 1),
        ew(Op.EXP2, y),  # [1, COLS]: another domain, another kernel
    ]
    return (x, y), [TorchStep(r, "prologue", "test") for r in roots]


def test_prologue_steps_become_one_kernel_per_domain_and_loop_axis():
    _, steps = _steps()
    kept = TorchStep(steps[0].node, "fallback", "not a prologue step")
    out = fuse_prologue([kept] + steps, "prog")
    assert out[0] is kept
    maps = [s for s in out if isinstance(s, MapKernel)]
    assert [(m.shape, m.loop_axis, len(m.stores)) for m in maps] == [
        ((ROWS, COLS), 0, 3), ((ROWS, COLS), 1, 2), ((1, COLS), 0, 1)]
    # each at the place of its first step
    assert out.index(maps[0]) == 1 and out.index(maps[1]) == 2 and len(out) == 4


@pytest.mark.parametrize("block", [(16, 32), (32, 16)])
def test_map_kernels_match_float64_torch(block, tmp_path):
    inputs, steps = _steps()
    g = torch.Generator().manual_seed(5)
    x = torch.randn(ROWS, COLS, generator=g)
    y = torch.rand(1, COLS, generator=g)
    values = {id(inputs[0]): x, id(inputs[1]): y}
    names = Names(Graph(inputs, tuple(s.node for s in steps)))
    got = {}
    for m in [s for s in fuse_prologue(steps, "prog") if isinstance(s, MapKernel)]:
        source = write_map(m, names, "interpret")
        module = load_module(m.name, source.source, tmp_path)
        tensors = [values[id(t)].to(DEVICE) if id(t) in values else
                   torch.full(t.shape, 7, dtype={"f32": torch.float32, "bool": torch.bool}[t.dtype], device=DEVICE)
                   for t in source.tensors]
        module.launch(*tensors, BLOCK_M=block[0], BLOCK_N=block[1], num_warps=4, num_stages=1)
        got.update({id(t): v.cpu() for t, v in zip(source.tensors, tensors)})
    want = evaluate(Graph(inputs, tuple(s.node for s in steps)), [x, y], float64=True)
    for step, ref in zip(steps, want):
        value = got[id(step.node)]
        assert value.shape == ref.shape, step.node.op
        if ref.dtype == torch.bool:
            assert torch.equal(value, ref) and 0 < int(ref.sum()) < ref.numel(), step.node.op
        else:
            assert torch.allclose(value.double(), ref.double(), rtol=1e-5, atol=1e-5, equal_nan=True), step.node.op


def test_what_a_map_kernel_cannot_compute_stays_a_torch_step():
    x = _input((2, ROWS, COLS), 0, "x")  # a batch dim: not a 2-D domain
    w = _input((ROWS, COLS), 1, "w")
    matmul = node(Op.DOT, (w, _input((COLS, COLS), 2, "z")), TensorType((ROWS, COLS), "f32"))
    steps = [TorchStep(ew(Op.LOG2, x), "prologue", ""), TorchStep(ew(Op.EXP2, matmul), "prologue", ""),
             TorchStep(ew(Op.LOG2, w), "fallback", "")]
    assert fuse_prologue(steps, "prog") == steps

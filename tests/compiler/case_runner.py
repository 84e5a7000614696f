"""Shared test helpers: compile a case, run it with NaN-prefilled outputs, check it against float64."""

from __future__ import annotations

import warnings

import torch

import compiler
from jobs.cases import kernel_case
from jobs.check import check_outputs, nan_filled_allocations

SMALL = {"batch": 2, "heads": 4, "kv_heads": 2, "head_dim": 32, "q_len": 37, "kv_len": 53}


def dims(**changes) -> dict:
    return {**SMALL, **changes}


def compile_case(name: str, d: dict, dtype: str, options, device: str = "cpu", scale: float = 1.0):
    case = kernel_case(name)
    inputs = case.inputs(d, dtype, device, 0, logit_scale=scale)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fn = compiler.compile(case.build(d).to(device), tuple(inputs.values()), options=options, name=name)
    return case, inputs, fn


def run_case(name: str, d: dict, dtype: str, options, device: str = "cpu", scale: float = 1.0) -> dict:
    """Compile, run once with NaN-prefilled allocations, check against the float64 reference."""
    case, inputs, fn = compile_case(name, d, dtype, options, device, scale)
    with nan_filled_allocations():
        out = fn(*inputs.values())
    return check_outputs(out, case.outputs, case.reference(inputs), dtype)


def assert_close(out: torch.Tensor, ref: torch.Tensor, dtype: str) -> None:
    """out against a float64 reference with the dtype's tolerance; non-finite reference entries (rows that
    are fully masked) are not compared, and out must be finite wherever the reference is."""
    from jobs.check import TOLERANCE

    atol, rtol = TOLERANCE[dtype]
    ref = ref.to(out.device)
    if out.dtype == torch.bool:
        # a float reference is a margin: values within rounding of the threshold may go either way
        want = ref >= 0 if ref.is_floating_point() else ref
        near = ref.abs() <= rtol if ref.is_floating_point() else torch.zeros_like(want)
        wrong = (out != want) & ~near
        assert not bool(wrong.any()), f"{int(wrong.sum())} mismatches beyond the rounding margin"
        return
    finite = torch.isfinite(ref)
    o = out.double()
    assert bool(torch.isfinite(o)[finite].all()), "non-finite values where the reference is finite"
    err = (o - ref).abs()[finite]
    bound = (atol + rtol * ref.abs())[finite]
    assert bool((err <= bound).all()), f"max error {float(err.max()):.3g} beyond atol={atol} rtol={rtol}"


def score_tensors_from_vectors(plan) -> list[str]:
    """What the plan computes in torch (or a map kernel stores) with both axes of a score space that reads
    no score-sized input: a mask or bias of row- and column-indexed vectors made an [Lq, Lk] tensor in
    memory, where a kernel computes it per tile from two small loads. Each as the plan names it."""
    from compiler.ir.node import upstream
    from compiler.ir.ops import Op

    axes, names = plan.axes, plan.names()
    if axes is None or not axes.spaces:
        return []
    area = min(axes.sizes[s.i] * axes.sizes[s.j] for s in axes.spaces)
    produced = [(t.node, [n for n in upstream([t.node]) if n is t.node or not names.in_graph(n)])
                for t in plan.torch_steps if t.kind != "view"]
    produced += [(n, [n]) for m in plan.maps for n in m.stores]
    found = []
    for root, computed in produced:
        wide = [n for n in computed if n.op not in (Op.CONST, Op.INPUT) and axes.space_of(n) is not None]
        reads_tile = any(n.op is Op.INPUT and n.type.numel >= area for n in upstream([root]))
        if wide and not reads_tile:
            found.append(names(root))
    return found

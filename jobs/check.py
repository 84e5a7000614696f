"""Correctness gate: a system's outputs against the float64 reference, before anything is timed."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from jobs.case import Output

# (atol, rtol) per input dtype: |out - ref| <= atol + rtol * |ref| elementwise.
TOLERANCE = {"float16": (1e-2, 1e-2), "bfloat16": (5e-2, 5e-2), "float32": (1e-4, 1e-4)}


class WrongResult(Exception):
    """Outputs disagree with the reference; the message says which output and by how much."""


def check_outputs(outputs, specs: tuple[Output, ...], ref: dict, dtype: str) -> dict:
    """Compare outputs (a tensor or a tuple in `specs` order) with the reference; raise WrongResult.

    Returns per-output error statistics for the record.
    """
    outputs = outputs if isinstance(outputs, (tuple, list)) else (outputs,)
    if len(outputs) != len(specs):
        raise WrongResult(f"expected {len(specs)} outputs ({', '.join(s.name for s in specs)}), got {len(outputs)}")
    atol, rtol = TOLERANCE[dtype]
    stats = {}
    for out, spec in zip(outputs, specs):
        stats[spec.name] = _check_one(out, spec, ref[spec.name], dtype, atol, rtol)
    return {"atol": atol, "rtol": rtol, "outputs": stats}


def _check_one(out: torch.Tensor, spec: Output, ref: torch.Tensor, dtype: str, atol: float, rtol: float):
    want = dtype if spec.dtype == "input" else spec.dtype
    got = str(out.dtype).removeprefix("torch.")
    if got != want or tuple(out.shape) != tuple(ref.shape):
        raise WrongResult(f"{spec.name}: expected {want} {tuple(ref.shape)}, got {got} {tuple(out.shape)}")
    ref = ref.to(out.device)
    if spec.is_bool:
        wrong = (out != (ref >= 0)) & (ref.abs() > rtol)
        n = int(wrong.sum())
        if n:
            raise WrongResult(f"{spec.name}: {n} of {out.numel()} values differ beyond the rounding margin")
        return {"mismatches": int((out != (ref >= 0)).sum())}
    o = out.double()
    finite = torch.isfinite(ref)
    if bool((~torch.isfinite(o) & finite).any()):
        n = int((~torch.isfinite(o) & finite).sum())
        raise WrongResult(f"{spec.name}: {n} NaN/inf values where the reference is finite (unwritten output?)")
    err = (o - ref).abs().where(finite, torch.zeros_like(o))
    bound = atol + rtol * ref.abs().where(finite, torch.zeros_like(o))
    max_abs = float(err.max()) if err.numel() else 0.0
    max_rel = float((err / ref.abs().clamp_min(atol)).max()) if err.numel() else 0.0
    bad = err > bound
    if bool(bad.any()):
        idx = tuple(int(i) for i in torch.nonzero(bad)[0])
        raise WrongResult(
            f"{spec.name}: {int(bad.sum())} of {out.numel()} values outside atol={atol} rtol={rtol}; "
            f"first at {idx}: got {float(o[idx]):.6g}, expected {float(ref[idx]):.6g}"
        )
    return {"max_abs_err": max_abs, "max_rel_err": max_rel}


@contextlib.contextmanager
def nan_filled_allocations() -> Iterator[None]:
    """Make torch.empty / empty_like / empty_strided return NaN-filled float tensors.

    Outputs a kernel forgets to write then show up as NaN in the check (as fla's test conftest does).
    """
    originals = {name: getattr(torch, name) for name in ("empty", "empty_like", "empty_strided")}

    def poisoned(fn):
        def alloc(*args, **kwargs):
            t = fn(*args, **kwargs)
            if t.is_floating_point():
                t.fill_(float("nan"))
            return t
        return alloc

    try:
        for name, fn in originals.items():
            setattr(torch, name, poisoned(fn))
        yield
    finally:
        for name, fn in originals.items():
            setattr(torch, name, fn)

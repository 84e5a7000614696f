"""The default reference of a case: its own program evaluated in float64, a block of heads at a time.

Every floating dtype the program asks for (`.float()`, `.half()`, `.to(q.dtype)`, `dtype=` arguments) is
float64 while it runs, so the program's deliberate roundings vanish and what remains is its mathematics.
At full size a score-sized float64 tensor is 4 GiB per 32 heads, and a program holds several: the heads
are split into blocks (whole KV groups) whose score tensors stay under `BLOCK_ELEMS`, and each output is
concatenated back along its head axis.

Which axis of an extra input or an output is the head axis is found, not assumed: the program runs on
two tiny probes with different head counts, and the axis whose size follows the head count is it. A
tensor with no such axis is shared by all heads; a program whose outputs do not split this way is
evaluated whole.
"""

from __future__ import annotations

import torch
from torch.overrides import TorchFunctionMode

# score elements per head block (2^28 float64 = 2 GiB), as the hand-written references of the seven
BLOCK_ELEMS = 1 << 28
_PROBE_GROUPS = (3, 5)
_PROBE_LEN = 16


class Float64Mode(TorchFunctionMode):
    """Every floating dtype requested while active becomes float64."""

    _NARROWING = {torch.Tensor.float, torch.Tensor.half, torch.Tensor.bfloat16}

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in self._NARROWING:
            return args[0].to(torch.float64)
        return func(*map(_widen, args), **{k: _widen(v) for k, v in kwargs.items()})


def _widen(value):
    if isinstance(value, torch.dtype) and value.is_floating_point:
        return torch.float64
    return value


def evaluate(case, dims: dict, inputs: dict) -> dict:
    """The program's outputs in float64 by name; a bool output becomes a ±1 margin (see Output)."""
    device = inputs["q"].device
    wide = {n: t.double() if t.is_floating_point() else t for n, t in inputs.items()}
    program = case.build(dims).to(device).double()
    with torch.no_grad(), Float64Mode():
        outs = program(*wide.values())
    outs = outs if isinstance(outs, (tuple, list)) else (outs,)
    if len(outs) != len(case.outputs):
        raise ValueError(f"case {case.name}: the program returns {len(outs)} outputs, the case names "
                         f"{len(case.outputs)} ({', '.join(o.name for o in case.outputs)})")
    return {o.name: (torch.where(t, 1.0, -1.0).double() if o.is_bool else t.double())
            for o, t in zip(case.outputs, outs)}


def float64_reference(case, inputs: dict, block_elems: int = BLOCK_ELEMS) -> dict:
    q, k = inputs["q"], inputs["k"]
    batch, q_len, heads, head_dim = q.shape
    kv_len, kv_heads = k.shape[1], k.shape[2]
    group = heads // kv_heads
    dims = {"batch": batch, "heads": heads, "kv_heads": kv_heads, "head_dim": head_dim, "q_len": q_len,
            "kv_len": kv_len}
    step = max(group, block_elems // max(1, batch * q_len * kv_len) // group * group)
    axes = head_axes(case, dims, inputs) if step < heads else None
    if axes is None:
        return evaluate(case, dims, inputs)
    pieces: dict[str, list] = {o.name: [] for o in case.outputs}
    for h0 in range(0, heads, step):
        h1 = min(heads, h0 + step)
        block = {**dims, "heads": h1 - h0, "kv_heads": (h1 - h0) // group}
        sliced = {name: _slice(t, axes.get(name), h0, h1, group) for name, t in inputs.items()}
        for name, t in evaluate(case, block, sliced).items():
            pieces[name].append(t)
    return {name: torch.cat(parts, dim=axes[name][0]) for name, parts in pieces.items()}


def _slice(t: torch.Tensor, axis: tuple[int, str] | None, h0: int, h1: int, group: int) -> torch.Tensor:
    if axis is None:
        return t
    dim, kind = axis
    lo, hi = (h0, h1) if kind == "heads" else (h0 // group, h1 // group)
    return t.narrow(dim, lo, hi - lo)


def head_axes(case, dims: dict, inputs: dict) -> dict[str, tuple[int, str] | None] | None:
    """name -> (axis, "heads" | "kv_heads") for inputs and outputs (None: shared by all heads), or None
    when some output has no single head axis (the program is then evaluated whole)."""
    group = dims["heads"] // dims["kv_heads"]
    shapes = []
    for groups in _PROBE_GROUPS:
        probe = {**dims, "heads": groups * group, "kv_heads": groups,
                 "q_len": min(dims["q_len"], _PROBE_LEN), "kv_len": min(dims["kv_len"], _PROBE_LEN)}
        try:
            small = case.inputs(probe, "float32", "cpu", 0)
            outs = evaluate(case, probe, small)
        except Exception:  # noqa: BLE001 - a program that cannot run on a probe is evaluated whole
            return None
        shapes.append({n: tuple(t.shape) for n, t in {**small, **outs}.items()})
    axes: dict[str, tuple[int, str] | None] = {}
    for name in inputs:
        axes[name] = _axis(shapes, name, group)
        if axes[name] == "ambiguous":
            return None
    for output in case.outputs:
        axes[output.name] = _axis(shapes, output.name, group)
        if axes[output.name] in (None, "ambiguous"):
            return None
    return axes


def _axis(shapes: list[dict], name: str, group: int):
    a, b = shapes[0].get(name), shapes[1].get(name)
    if a is None or b is None or len(a) != len(b):
        return "ambiguous"
    changed = [i for i, (x, y) in enumerate(zip(a, b)) if x != y]
    if not changed:
        return None
    if len(changed) > 1:
        return "ambiguous"
    i = changed[0]
    sizes = {(a[i], b[i])}
    if sizes == {(_PROBE_GROUPS[0] * group, _PROBE_GROUPS[1] * group)}:
        return (i, "heads")
    if sizes == {_PROBE_GROUPS}:
        return (i, "kv_heads")
    return "ambiguous"

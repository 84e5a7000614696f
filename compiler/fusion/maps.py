"""The prologue as generated kernels: torch steps that read only inputs become map kernels.

A prologue step (fusion/planner.py and fusion/hoist.py make them) is an expression of inputs alone:
CORM's log2 of its threshold and the reduction of the threshold above the diagonal. In torch each op is
a kernel of its own that reads and writes a whole [rows, cols] tensor: clamp, log2, le, triu, any is five
passes over 64 MB at seq 4096. Steps over the same domain become one kernel that reads each input once,
computes every step's expression in registers, and writes only the steps' results.

What qualifies: elementwise ops, index functions (iota, triu, tril), constants and inputs whose dims
other than the last two have size 1, with at most one reduction, at the root, over one of the last two
dims. Steps that reduce over different axes go to different kernels (a program loops over the axis it
reduces). Anything else stays a torch step.
"""

from __future__ import annotations

from compiler.fusion.plan import MapKernel, TorchStep
from compiler.ir.node import Node, upstream
from compiler.ir.ops import G, Op

_INNER = G.ELEMENTWISE | {Op.INPUT, Op.CONST, Op.IOTA, Op.TRIU, Op.TRIL}


def _domain(shape: tuple[int, ...]) -> tuple[int, int] | None:
    if not shape or any(s != 1 for s in shape[:-2]):
        return None
    return (1, shape[0]) if len(shape) == 1 else (shape[-2], shape[-1])


def _fits(n: Node, domain: tuple[int, int]) -> bool:
    """n broadcasts to the domain: leading dims of size 1, the last two each 1 or the domain's."""
    own = _domain(n.shape) if n.shape else (1, 1)
    return own is not None and all(a in (1, b) for a, b in zip(own, domain))


def candidate(step: TorchStep) -> tuple[tuple[int, int], int | None] | None:
    """(domain, reduced axis of the domain or None) if a map kernel can compute the step, else None."""
    root = step.node
    if step.kind != "prologue":
        return None
    axis = None
    top = root
    if root.op in G.REDUCE:
        top = root.inputs[0]
        rank = top.type.rank
        axis = root.attr("axis") - (rank - 2)
        if rank < 2 or axis not in (0, 1) or (root.op is not Op.ANY and top.dtype not in ("f16", "bf16", "f32")):
            return None
    domain = _domain(top.shape)
    if domain is None:
        return None
    for n in upstream([top]):
        if n.op not in _INNER or not _fits(n, domain):
            return None
        if n.op is Op.IOTA and n.attr("axis") < n.type.rank - 2:
            return None
    return domain, axis


def fuse_prologue(steps: list, name: str) -> list:
    """`steps` (the plan's order) with the prologue steps that qualify replaced by map kernels, each at
    the place of its first step: they read only inputs, so that is before anything reads them."""
    groups: list[dict] = []  # {domain, axis, members: indices into steps}
    for k, step in enumerate(steps):
        found = candidate(step) if isinstance(step, TorchStep) else None
        if found is None:
            continue
        domain, axis = found
        g = next((g for g in groups if g["domain"] == domain and (axis is None or g["axis"] in (None, axis))),
                 None)
        if g is None:
            groups.append({"domain": domain, "axis": axis, "members": [k]})
            continue
        g["members"].append(k)
        g["axis"] = g["axis"] if axis is None else axis
    if not groups:
        return steps
    first = {}
    for k, g in enumerate(groups):
        members = g["members"]
        stores = tuple(steps[m].node for m in members)
        why = f"replaces {len(members)} torch step{'s' * (len(members) > 1)} of inputs alone"
        first[members[0]] = MapKernel(f"{name}_m{k}", g["domain"], g["axis"] or 0, stores, why)
    replaced = {m for g in groups for m in g["members"]}
    return [first.get(k, s) for k, s in enumerate(steps) if k in first or k not in replaced]

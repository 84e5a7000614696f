"""The planner's order step: kernels get their stores (and an epilogue pruned to what those need), and
every step runs after the steps that write what it reads; ties keep graph order."""

from __future__ import annotations

from dataclasses import replace

from compiler.fusion.draft import Draft
from compiler.fusion.plan import KernelPlan, TorchRegion, TorchStep
from compiler.ir.node import upstream


def _finish(d: Draft, i: int, k: KernelPlan) -> KernelPlan:
    """The kernel with its stores, and an epilogue pruned to what the stores need."""
    stores = d.stores.get(i, ())
    needed = {id(n) for n in stores}
    for n in reversed(k.epilogue):
        if id(n) in needed:
            needed |= {id(x) for x in n.inputs}
    return replace(k, stores=stores, epilogue=tuple(n for n in k.epilogue if id(n) in needed))


def order(d: Draft) -> Draft:
    kernels = [_finish(d, i, k) for i, k in enumerate(d.kernels)]
    steps = [(d.pos[id(t.node)], 1, t) for t in d.torch.values()]
    steps += [(max(d.pos[id(s)] for s in k.sinks), 0, k) for k in kernels]
    steps += [(max(d.pos[id(n)] for n in r.nodes), 1, r) for r in d.finished]
    writes = {}
    for _, _, s in steps:
        for n in _written(s):
            writes[id(n)] = s
    return replace(d, kernels=tuple(kernels), steps=tuple(_topological(steps, writes)))


def _written(step) -> tuple:
    if isinstance(step, KernelPlan):
        return step.stores + step.sinks + step.epilogue
    if isinstance(step, TorchRegion):
        return step.outputs  # what it computes inside is recomputed, never read, by the others
    return (step.node,)


def _topological(steps, writes) -> list:
    """Steps in an order where each runs after the steps that write what it reads (ties: graph order)."""
    reads = {id(s): _reads(s, writes) for _, _, s in steps}
    done, out = set(), []
    pending = sorted(steps, key=lambda t: (t[0], t[1]))
    while pending:
        for idx, (_, _, s) in enumerate(pending):
            if all(id(w) in done or w is s for w in reads[id(s)]):
                out.append(s)
                done.add(id(s))
                pending.pop(idx)
                break
        else:
            raise RuntimeError("internal: the plan's steps have a dependency cycle")
    return out


def _reads(step, writes) -> list:
    """The steps that write what `step` reads, through the expressions it computes itself."""
    if isinstance(step, TorchStep):
        # the launcher computes the unnamed inner nodes of a torch step's expression on the way
        stack = list(step.node.inputs)
    elif isinstance(step, TorchRegion):
        inside = {id(n) for n in step.nodes}
        stack = [i for n in step.nodes for i in n.inputs if id(i) not in inside]
    else:
        stack = [a.base for a in step.accumulators] + [i for n in step.epilogue for i in n.inputs]
        stack += [a.sink.other for a in step.accumulators if a.sink.other is not None]
        stack += [a.init for a in step.accumulators if a.init is not None]
    nodes = upstream(stack, lambda n: not (not isinstance(step, KernelPlan) and id(n) in writes))
    return [writes[id(n)] for n in nodes if id(n) in writes]

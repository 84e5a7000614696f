"""What the compiler did with a program: per output, what computes it (fused in kernels or not, and why);
kernels with their source, ops left to torch, torch regions (chunked), rejected fusions."""

from __future__ import annotations

from dataclasses import dataclass

from compiler.fusion.plan import MapKernel, TorchRegion, render_region, torch_text
from compiler.ir.node import upstream
from compiler.ir.ops import Op
from compiler.ir.printer import render_node


@dataclass(frozen=True)
class KernelReport:
    name: str
    role: str
    source: str
    computes: tuple[str, ...]  # the sinks it computes, as IR names


@dataclass(frozen=True)
class Fallback:
    op: str
    shape: tuple[int, ...]  # of the largest tensor the op reads or writes
    kind: str  # fallback | prologue
    reason: str
    text: str


@dataclass(frozen=True)
class RegionReport:
    name: str
    chunk: str  # what a chunk is a block of ("heads", "query rows"...); "" when it runs whole
    step: int
    size: int
    elements: int  # the most elements an intermediate of one chunk holds
    reason: str
    text: str


@dataclass(frozen=True)
class OutputReport:
    index: int
    fused: str  # "fused" (kernels only) | "partly" (kernels, then torch) | "torch"
    text: str


@dataclass(frozen=True)
class Report:
    kernels: tuple[KernelReport, ...]
    fallbacks: tuple[Fallback, ...]  # ops left to torch (views excluded: they are free)
    prologues: tuple[Fallback, ...]  # input-only expressions hoisted out of the kernels
    rejected: tuple[tuple[str, str], ...]  # (candidate, reason)
    plan: str
    graph: str
    regions: tuple[RegionReport, ...] = ()  # score-sized values torch computes, chunk by chunk
    outputs: tuple[OutputReport, ...] = ()
    failed: str = ""  # why the whole program runs in torch, if it does

    def render(self) -> str:
        lines = ["# graph (after restrict)", self.graph, "# plan", self.plan, "# outputs"]
        if self.failed:
            lines.append(f"the whole program runs in torch: {self.failed}")
        lines += [f"output {o.index}: {o.fused}: {o.text}" for o in self.outputs]
        lines.append(f"# {len(self.kernels)} kernel(s), {len(self.fallbacks)} op(s) left to torch, "
                     f"{len(self.regions)} torch region(s)")
        for f in self.fallbacks + self.prologues:
            lines.append(f"{f.kind}: {f.text}  (largest tensor {list(f.shape)}; {f.reason})")
        for r in self.regions:
            how = f"{r.step} of {r.size} {r.chunk} per chunk" if r.chunk else "whole"
            lines.append(f"torch region {r.name}: {how}, at most {r.elements} elements per intermediate "
                         f"({r.reason})")
        for candidate, reason in self.rejected:
            lines.append(f"rejected: {candidate}: {reason}")
        for k in self.kernels:
            lines += [f"# ---- {k.name} ({k.role}; computes {', '.join(k.computes)}) ----", k.source]
        return "\n".join(lines) + "\n"


def report(compilation) -> Report:
    plan, sources = compilation.plan, compilation.sources
    names = plan.names()
    kernels = tuple(KernelReport(s.name, k.role, s.source, tuple(names(n) for n in (
        k.stores if isinstance(k, MapKernel) else k.sinks))) for k, s in zip(plan.generated, sources))
    steps = [t for t in plan.torch_steps if t.kind != "view"]
    entries = [Fallback(t.node.op.name.lower() if t.node.op.name != "TORCH" else str(t.node.attr("target")),
                        max([t.node.shape] + [i.shape for i in t.node.inputs], key=_numel), t.kind, t.why,
                        _text(t.node, names)) for t in steps]
    regions = tuple(_region(r, names) for r in plan.regions)
    failed = compilation.failed or (compilation.captured.fallback if compilation.captured else None) or ""
    return Report(kernels, tuple(e for e in entries if e.kind == "fallback"),
                  tuple(e for e in entries if e.kind == "prologue"),
                  tuple((r.candidate, r.reason) for r in plan.rejected), plan.render(),
                  _graph_text(plan.graph), regions, _outputs(plan, names), failed)


def _region(r: TorchRegion, names) -> RegionReport:
    # a node with the chunked dim holds step/size of itself per chunk (one without it is computed whole)
    elements = max(n.type.numel * r.step // r.size if r.chunk and r.size in n.shape else n.type.numel
                   for n in r.nodes)
    return RegionReport(r.name, r.chunk, r.step, r.size, elements, r.why, "\n".join(render_region(r, names)))


def _outputs(plan, names) -> tuple[OutputReport, ...]:
    """Per program output: the kernels, torch regions and torch ops that compute it."""
    kernels = {id(n): k.name for k in plan.generated for n in k.stores}
    regions = {id(n): r for r in plan.regions for n in r.outputs}
    out = []
    for index, o in enumerate(plan.graph.outputs):
        found_kernels, found_torch, found_regions = [], [], []
        for n in upstream([o], lambda n: id(n) not in kernels and id(n) not in regions):
            if id(n) in kernels:
                found_kernels.append(kernels[id(n)])
            elif id(n) in regions:
                found_regions.append(regions[id(n)])
            elif n.op not in (Op.INPUT, Op.VIEW, Op.CONST):
                found_torch.append(f"{names(n)} = {torch_text(n, names)}")
        parts = [f"kernel {k}" for k in dict.fromkeys(found_kernels)]
        parts += [f"torch region {r.name} ({r.why})" for r in dict.fromkeys(found_regions)]
        parts += [f"torch {t}" for t in reversed(found_torch)]
        fused = ("fused" if found_kernels and not found_regions and not found_torch else
                 "partly" if found_kernels else "torch")
        out.append(OutputReport(index, fused, "; ".join(parts) or "an input"))
    return tuple(out)


def _text(n, names) -> str:
    if names.in_graph(n):
        return render_node(n, names)
    return f"{names(n)} = {torch_text(n, names)} : {n.type}"


def _numel(shape) -> int:
    out = 1
    for s in shape:
        out *= s
    return out


def _graph_text(graph) -> str:
    from compiler.ir.printer import render_graph

    return render_graph(graph)

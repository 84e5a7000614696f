"""What the compiler did with a program: kernels with their source, ops left to torch, rejected fusions."""

from __future__ import annotations

from dataclasses import dataclass

from compiler.fusion.plan import MapKernel, torch_text
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
class Report:
    kernels: tuple[KernelReport, ...]
    fallbacks: tuple[Fallback, ...]  # ops left to torch (views excluded: they are free)
    prologues: tuple[Fallback, ...]  # input-only expressions hoisted out of the kernels
    rejected: tuple[tuple[str, str], ...]  # (candidate, reason)
    plan: str
    graph: str

    def render(self) -> str:
        lines = ["# graph (after fold)", self.graph, "# plan", self.plan]
        lines.append(f"# {len(self.kernels)} kernel(s), {len(self.fallbacks)} op(s) left to torch")
        for f in self.fallbacks + self.prologues:
            lines.append(f"{f.kind}: {f.text}  (largest tensor {list(f.shape)}; {f.reason})")
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
    return Report(kernels, tuple(e for e in entries if e.kind == "fallback"),
                  tuple(e for e in entries if e.kind == "prologue"),
                  tuple((r.candidate, r.reason) for r in plan.rejected), plan.render(),
                  _graph_text(plan.graph))


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

"""`ftrun bench kernels`: our compiler's kernels next to the peers, in one process on one GPU.

Every system goes through the same path as a campaign case (jobs.entry.kernel_workload: compile, then
the float64 check with NaN-poisoned outputs, jobs.entry.verify) before it is timed with jobs.timing (CUDA events, L2
flushed before each call). A system that fails the check is reported, never timed. For the compiler the
time of each generated kernel is shown too (torch.profiler), which is what performance work needs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from jobs.entry import CaseFailure, kernel_workload, verify
from jobs.spec import SCALES, CaseSpec, kernel_dims
from jobs.systems import get_system
from jobs.timing import TimingSpec, time_callable

PEERS = ("torch", "inductor", "cudnn", "flex", "flashtensor")


@dataclass
class BenchRow:
    model: str
    seqlen: int
    system: str
    ms: float | None = None
    note: str = ""
    kernels: list[tuple[str, float]] = field(default_factory=list)


def bench_case(model: str, seqlen: int, system_name: str, scale: str = "full", timing: TimingSpec = TimingSpec(),
               profile: bool = True) -> BenchRow:
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    spec = CaseSpec("kernel", model, system_name, kernel_dims(SCALES[scale], seqlen), SCALES[scale].dtype,
                    "bench", scale)
    row = BenchRow(model, spec.seqlen, system_name)
    system = get_system(system_name)
    reason = system.unavailable() or system.unsupported(spec)
    if reason:
        row.note = f"NS: {reason}"
        return row
    try:
        work = kernel_workload(spec, system, device)
        verify(work)
    except CaseFailure as e:
        row.note = f"FAIL: {str(e).splitlines()[0][:200]}"
        return row
    call = lambda: work.fn(*work.inputs)  # noqa: E731
    row.ms = time_callable(call, device, timing)["median"]
    if profile and system_name == "flashtensor" and device.type == "cuda":
        row.kernels = kernel_times(call)
    return row


def kernel_times(call, calls: int = 20) -> list[tuple[str, float]]:
    """Mean device time of every kernel one call launches, from torch.profiler, in launch order."""
    from torch.profiler import ProfilerActivity, profile

    call()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(calls):
            call()
        torch.cuda.synchronize()
    totals: dict[str, float] = {}
    for event in prof.events():
        if event.device_type == torch.autograd.DeviceType.CUDA:
            totals[event.name] = totals.get(event.name, 0.0) + event.device_time / 1e3
    return [(name, ms / calls) for name, ms in totals.items()]


def bench(models: list[str], seqlens: list[int], systems: list[str], scale: str = "full") -> list[BenchRow]:
    rows = []
    for model in models:
        for seqlen in seqlens:
            for system in systems:
                rows.append(bench_case(model, seqlen, system, scale))
                torch._dynamo.reset()
                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
    return rows


def render(rows: list[BenchRow]) -> str:
    """Times per case and system, the ratio of each to ours, then our per-kernel times."""
    lines = [f"{'case':>8} {'seq':>6} {'system':>12} {'ms':>9} {'vs ours':>8}  note"]
    ours = {(r.model, r.seqlen): r.ms for r in rows if r.system == "flashtensor" and r.ms}
    for r in rows:
        ratio = f"{r.ms / ours[(r.model, r.seqlen)]:.2f}x" if r.ms and (r.model, r.seqlen) in ours else ""
        ms = f"{r.ms:.4f}" if r.ms else "-"
        lines.append(f"{r.model:>8} {r.seqlen:>6} {r.system:>12} {ms:>9} {ratio:>8}  {r.note}")
    for r in rows:
        if r.kernels:
            parts = ", ".join(f"{name} {ms:.4f}" for name, ms in r.kernels)
            lines.append(f"kernels {r.model}@{r.seqlen}: {parts}")
    return "\n".join(lines)

"""`ftrun bench kernels`: our compiler's kernels next to the peers, in one process on one device.

Every system goes through the same path as a campaign case (jobs.measure.kernel_workload: compile, then the
float64 check with NaN-poisoned outputs, jobs.measure.verify) before it is timed with jobs.timing, the one
timing harness (CUDA events, L2 flushed before each call). A system that fails the check is reported, never
timed. The check is repeated at large logits (`logit_scale` 20: logits near ±100, where a softmax without
its max subtraction overflows) and its worst error shown, or "wrong": a program that rounds its logits to
fp16 (eager torch does) legitimately misses the fp16 tolerance there, so this column informs, the gate
at normal logits decides. For the compiler the time of each generated kernel is shown too
(torch.profiler), which is what performance work needs; on a CPU its kernels run in Triton's interpreter,
so its times there are a correctness run, not a measurement, and are shown as such.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch

from jobs.cases import kernel_case
from jobs.check import WrongResult, check_outputs, nan_filled_allocations
from jobs.measure import CaseFailure, input_seed, kernel_workload, verify
from jobs.spec import SCALES, kernel_dims
from jobs.systems import get_system
from jobs.timing import TimingSpec, peak_memory, time_callable
from results.case import CaseSpec

PEERS = ("torch", "inductor", "cudnn", "flex", "flashtensor")
# the embedded compiler, with or without its Hopper target: interpreted without a GPU, profiled per kernel
COMPILERS = ("flashtensor", "flashtensor-hopper")


@dataclass
class BenchRow:
    model: str
    seqlen: int
    system: str
    ms: float | None = None
    note: str = ""
    compile_s: float | None = None
    extra_mib: float | None = None
    # the worst error of the check at large logits ("" when not asked for)
    extreme: str = ""
    interpreted: bool = False
    kernels: list[tuple[str, float]] = field(default_factory=list)


DIMENSIONS = ("batch", "heads", "kv_heads", "head_dim", "q_len", "kv_len")


def parse_dims(items: list[str]) -> dict[str, int]:
    """['kv_heads=8', 'q_len=1000'] -> {'kv_heads': 8, 'q_len': 1000}; ValueError naming the bad item."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if key not in DIMENSIONS:
            raise ValueError(f"unknown dimension {key!r} in --dim {item!r}; valid: {', '.join(DIMENSIONS)}")
        if not sep or not value.isdigit() or int(value) <= 0:
            raise ValueError(f"--dim {item!r}: expected {key}=POSITIVE_INTEGER")
        out[key] = int(value)
    return out


def bench_spec(model: str, seqlen: int, system: str, scale: str, dims: dict[str, int] | None = None,
               dtype: str | None = None) -> CaseSpec:
    """The kernel case a bench row measures: a scale's shape at one of the paper's lengths, with overrides."""
    base = dict(kernel_dims(SCALES[scale], seqlen))
    if dims:
        base.update(dims)
        if "q_len" in dims and "kv_len" not in dims:
            base["kv_len"] = dims["q_len"]
    return CaseSpec("kernel", model, system, tuple(sorted(base.items())), dtype or SCALES[scale].dtype, "bench",
                    scale)


def bench_case(spec: CaseSpec, timing: TimingSpec = TimingSpec(), logit_scale: float = 20.0,
               profile: bool = True) -> BenchRow:
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    row = BenchRow(spec.model, spec.seqlen, spec.system)
    system = get_system(spec.system)
    reason = system.unavailable() or system.unsupported(spec)
    if reason:
        row.note = f"NS: {reason}"
        return row
    try:
        work = kernel_workload(spec, system, device)
        check = verify(work)
    except CaseFailure as e:
        row.note = f"FAIL: {str(e).splitlines()[0][:200]}"
        return row
    if logit_scale:
        try:
            row.extreme = extreme_check(spec, work, device, logit_scale)
        except CaseFailure:
            row.extreme = "wrong"
    call = lambda: work.fn(*work.inputs)  # noqa: E731
    row.compile_s = work.compile_s
    row.extra_mib = (peak_memory(call, device) or {}).get("extra_mib")
    row.interpreted = system.interpreted(device)
    row.note = "ok (max err " + "/".join(f"{_worst(v):.2g}" for v in check["outputs"].values()) + ")"
    if row.interpreted:
        # checked is all an interpreter can say: its speed is not the kernels'
        return row
    row.ms = time_callable(call, device, timing)["median"]
    if profile and spec.system in COMPILERS and device.type == "cuda":
        row.kernels = kernel_times(call)
    return row


def extreme_check(spec: CaseSpec, work, device: torch.device, logit_scale: float) -> str:
    """The compiled program on inputs whose logits reach about ±5·logit_scale, against float64.
    Raises CaseFailure(wrong_result) when it disagrees."""
    case, dims = kernel_case(spec.model), dict(spec.dims)
    inputs = case.inputs(dims, spec.dtype, device, input_seed(spec), logit_scale=logit_scale)
    ref = case.reference(inputs)
    with nan_filled_allocations():
        outputs = work.fn(*inputs.values())
    try:
        stats = check_outputs(outputs, case.outputs, ref, spec.dtype)
    except WrongResult as e:
        raise CaseFailure("wrong_result", f"at logits ~±{5 * logit_scale:g}: {e}") from None
    return "/".join(f"{_worst(v):.2g}" for v in stats["outputs"].values())


def _worst(stats: dict) -> float:
    return stats.get("max_abs_err", stats.get("mismatches", 0))


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


def bench(specs: list[CaseSpec], logit_scale: float = 20.0, on_row=None) -> list[BenchRow]:
    rows = []
    for spec in specs:
        t0 = time.perf_counter()
        rows.append(bench_case(spec, logit_scale=logit_scale))
        if on_row:
            on_row(rows[-1], time.perf_counter() - t0)
        torch._dynamo.reset()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    return rows


def render(rows: list[BenchRow]) -> str:
    """Times per case and system, the ratio of each to ours, then our per-kernel times."""
    lines = [f"{'case':>8} {'seq':>6} {'system':>12} {'ms':>9} {'vs ours':>8} {'compile s':>9} {'extra MiB':>9}"
             f" {'±100 err':>9}  check"]
    ours = {(r.model, r.seqlen): r.ms for r in rows if r.system == "flashtensor" and r.ms and not r.interpreted}
    for r in rows:
        timed = r.ms and not r.interpreted
        ratio = f"{r.ms / ours[(r.model, r.seqlen)]:.2f}x" if timed and (r.model, r.seqlen) in ours else ""
        ms = f"{r.ms:.4f}" if timed else ("interp." if r.interpreted else "-")
        compile_s = f"{r.compile_s:.2f}" if r.compile_s is not None else "-"
        extra = f"{r.extra_mib:.0f}" if r.extra_mib is not None else "-"
        lines.append(f"{r.model:>8} {r.seqlen:>6} {r.system:>12} {ms:>9} {ratio:>8} {compile_s:>9} {extra:>9}"
                     f" {r.extreme or '-':>9}  {r.note}")
    if any(r.interpreted for r in rows):
        lines.append("interp.: the compiler's kernels ran in Triton's interpreter (no GPU): checked, not timed")
    for r in rows:
        if r.kernels:
            parts = ", ".join(f"{name} {ms:.4f}" for name, ms in r.kernels)
            lines.append(f"kernels {r.model}@{r.seqlen}: {parts}")
    return "\n".join(lines)

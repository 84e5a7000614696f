"""Timing and memory of a compiled callable.

GPU: CUDA events around each call, L2 flushed before each call by zeroing a buffer larger than any L2,
warm-up by time and count, at least `rep_ms` of measured calls; every sample is kept.
CPU: the same protocol with perf_counter.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

FLUSH_BYTES = 256 << 20


@dataclass(frozen=True)
class TimingSpec:
    warmup_ms: float = 25.0
    min_warmup: int = 5
    rep_ms: float = 100.0
    min_reps: int = 10
    max_reps: int = 5000


def summarize(samples: list[float]) -> dict:
    """Median, p10/p90, min, mean of per-call times in ms, with the samples themselves."""
    s = sorted(samples)

    def q(p: float) -> float:
        pos = p * (len(s) - 1)
        lo, hi = math.floor(pos), math.ceil(pos)
        return s[lo] + (s[hi] - s[lo]) * (pos - lo)

    return {"unit": "ms", "median": statistics.median(s), "p10": q(0.1), "p90": q(0.9), "min": s[0],
            "mean": statistics.fmean(s), "n": len(s), "samples": [round(x, 6) for x in samples]}


def time_callable(fn: Callable[[], object], device: torch.device, spec: TimingSpec = TimingSpec()) -> dict:
    if device.type == "cuda":
        return {**summarize(_cuda_samples(fn, spec)), "method": "cuda_events", "l2_flush_mib": FLUSH_BYTES >> 20}
    return {**summarize(_cpu_samples(fn, spec)), "method": "perf_counter", "l2_flush_mib": 0}


def _cuda_samples(fn, spec: TimingSpec) -> list[float]:
    flush = torch.empty(FLUSH_BYTES, dtype=torch.uint8, device="cuda")
    fn()
    torch.cuda.synchronize()
    # estimate one call (with its flush) to turn the time budgets into counts
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(3):
        flush.zero_()
        fn()
    end.record()
    torch.cuda.synchronize()
    estimate = max(start.elapsed_time(end) / 3, 1e-3)
    for _ in range(max(spec.min_warmup, math.ceil(spec.warmup_ms / estimate))):
        fn()
    n = min(spec.max_reps, max(spec.min_reps, math.ceil(spec.rep_ms / estimate)))
    starts = [torch.cuda.Event(enable_timing=True) for _ in range(n)]
    ends = [torch.cuda.Event(enable_timing=True) for _ in range(n)]
    for s, e in zip(starts, ends):
        flush.zero_()
        s.record()
        fn()
        e.record()
    torch.cuda.synchronize()
    return [s.elapsed_time(e) for s, e in zip(starts, ends)]


def _cpu_samples(fn, spec: TimingSpec) -> list[float]:
    t0 = time.perf_counter()
    fn()
    estimate = max((time.perf_counter() - t0) * 1e3, 1e-3)
    for _ in range(max(1, min(spec.min_warmup, math.ceil(spec.warmup_ms / estimate)))):
        fn()
    n = min(spec.max_reps, max(spec.min_reps, math.ceil(spec.rep_ms / estimate)))
    samples = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1e3)
    return samples


def peak_memory(fn: Callable[[], object], device: torch.device) -> dict | None:
    """Peak allocated MiB during one call (inputs included, as the paper) and the part above the inputs."""
    if device.type != "cuda":
        return None
    torch.cuda.synchronize()
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated()
    fn()
    torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated()
    return {"peak_mib": round(peak / 2**20, 2), "extra_mib": round((peak - before) / 2**20, 2)}

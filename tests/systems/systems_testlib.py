"""Helpers for the systems' tests: small specs and the float64 check exactly as jobs run it."""

from __future__ import annotations

import importlib.util

import torch

from jobs.check import nan_filled_allocations
from jobs.measure import kernel_workload
from jobs.spec import SCALES, e2e_dims
from jobs.timing import TimingSpec
from results.case import CaseSpec

TINY = {"batch": 1, "heads": 2, "kv_heads": 2, "head_dim": 32, "q_len": 64, "kv_len": 64}
# grouped KV heads and a query block shorter than the keys: the causal mask is aligned bottom-right
ODD = {"batch": 1, "heads": 4, "kv_heads": 2, "head_dim": 32, "q_len": 48, "kv_len": 80}
MODELS = ("attn", "h2o", "roco", "kf", "snapkv", "corm", "gemma2")
# a short timing protocol: these tests check outcomes, not speed
QUICK = TimingSpec(warmup_ms=1.0, min_warmup=1, rep_ms=2.0, min_reps=2, max_reps=5)


def make_spec(model: str, system: str, dims: dict | None = None, dtype: str = "float16",
              device: str = "cpu") -> CaseSpec:
    return CaseSpec("kernel", model, system, tuple(sorted((dims or TINY).items())), dtype, device, "tiny")


def e2e_spec(model: str, system: str, device: str = "cpu") -> CaseSpec:
    """A tiny-scale Llama-2 prefill with the system's attention."""
    return CaseSpec("e2e", model, system, e2e_dims(SCALES["tiny"], 4096), "float16", device, "tiny")


def has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def check_system(system, spec: CaseSpec, device: torch.device | None = None) -> dict:
    """Compile, run and check one case as a job does (NaN-filled allocations); returns the statistics."""
    device = device or torch.device("cpu")
    work = kernel_workload(spec, system, device)
    with nan_filled_allocations():
        outputs = work.fn(*work.inputs)
    return work.check(outputs)

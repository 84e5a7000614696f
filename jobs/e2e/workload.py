"""The e2e part as a Workload: Llama-2 prefill with one system's attention, checked against torch eager.

    weights (seeded random, or --weights) -> the kernel case's program compiled once by the system on
    [B, L, H, D] example inputs (timed: compile_s) -> the same model with the eager program gives the
    reference -> fn(tokens) runs the whole forward with the compiled attention in every layer and the
    variant's KV selection after it.

What is timed (fn), as the artifact's run_e2e: embedding, every layer, the final norm, and per layer
  * kf: a fresh uniform(1e-8, 1) exp_rand [B, H, L, L] float32 (2 GiB at full scale), drawn from a
    generator seeded at the start of each forward, so that every system sees the same noise;
  * on CUDA, a torch.cuda.synchronize() after RoPE, before the attention call, as the artifact does: every
    system's attention starts on an idle device, and a system that runs on its own stream is safe;
  * the KV selection (kvcache.py); corm's torch.nonzero is a second host sync.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import torch

from jobs.cases import kernel_case
from jobs.e2e.check import check_prefill, reference_of
from jobs.e2e.kvcache import KVCache, cache_budget, select_kv
from jobs.e2e.model import Llama, LlamaConfig
from jobs.e2e.weights import CheckpointError, load_model, random_model
from jobs.measure import CaseFailure, Workload, guard, input_seed
from results.case import CaseSpec

# seed offsets from the case's input seed, so that weights, tokens, noise and example inputs differ
_WEIGHTS, _NOISE, _EXAMPLE = 1, 2, 3


class Prefill:
    """fn(tokens [B, L]) -> (hidden [B, L, hidden], [KVCache per layer]): the timed e2e forward."""

    def __init__(self, model: Llama, variant: str, attend, budget: int, corm_mask: torch.Tensor | None,
                 noise_seed: int):
        self.model, self.variant, self.attend, self.budget = model, variant, attend, budget
        self.corm_mask, self.noise_seed = corm_mask, noise_seed

    def __call__(self, tokens: torch.Tensor) -> tuple[torch.Tensor, list[KVCache]]:
        noise = None
        if self.variant == "kf":
            noise = torch.Generator(device=tokens.device).manual_seed(self.noise_seed)
        return self.model(tokens, lambda q, k, v: self.attention(q, k, v, noise))

    def attention(self, q, k, v, noise: torch.Generator | None) -> tuple[torch.Tensor, KVCache]:
        if q.is_cuda:
            torch.cuda.synchronize()
        extra = ()
        if self.variant == "kf":
            b, n, h, _ = q.shape
            extra = (torch.empty(b, h, n, n, device=q.device, dtype=torch.float32).uniform_(1e-8, 1, generator=noise),)
        elif self.variant == "corm":
            extra = (self.corm_mask,)
        out, *scores = _as_tuple(self.attend(q, k, v, *extra))
        return out, select_kv(self.variant, tuple(scores), k, v, self.budget)


def attention_spec(spec: CaseSpec) -> CaseSpec:
    """The kernel case a layer's attention is: what the system compiles, with the kernel part's dims."""
    d = dict(spec.dims)
    dims = {"batch": d["batch"], "heads": d["heads"], "kv_heads": d["kv_heads"], "head_dim": d["head_dim"],
            "q_len": d["seq"], "kv_len": d["seq"]}
    return dataclasses.replace(spec, part="kernel", dims=tuple(sorted(dims.items())), options=())


def build_model(spec: CaseSpec, device: torch.device) -> Llama:
    weights = spec.option("weights")
    if weights is None:
        return random_model(LlamaConfig.from_dims(dict(spec.dims)), device, input_seed(spec) + _WEIGHTS)
    try:
        return load_model(Path(weights), dict(spec.dims), device)
    except CheckpointError as e:
        raise CaseFailure("unsupported", str(e)) from None


def compile_attention(spec: CaseSpec, system, device: torch.device):
    """The system's attention, compiled once on example inputs of a layer's shapes.

    Returns (the compiled callable, corm_mask or None, seconds spent compiling).
    """
    kspec = attention_spec(spec)
    case, dims = kernel_case(spec.model), dict(kspec.dims)
    example = case.inputs(dims, spec.dtype, device, input_seed(spec) + _EXAMPLE)
    program = case.build(dims).to(device)
    guard("crash", system.warm_up)
    t0 = time.perf_counter()
    attend = guard("compile_error", lambda: system.compile(program, tuple(example.values()), kspec))
    compile_s = time.perf_counter() - t0
    return attend, example.get("corm_mask"), compile_s


def e2e_workload(spec: CaseSpec, system, device: torch.device) -> Workload:
    if spec.dtype != "float16":
        raise CaseFailure("unsupported", f"the e2e model is float16 (Llama-2-7B); got {spec.dtype}")
    model = guard("crash", lambda: build_model(spec, device))
    attend, corm_mask, compile_s = compile_attention(spec, system, device)
    seed = input_seed(spec)

    def prefill(attention) -> Prefill:
        return Prefill(model, spec.model, attention, cache_budget(spec.dim("seq")), corm_mask, seed + _NOISE)

    gen = torch.Generator(device=device).manual_seed(seed)
    tokens = torch.randint(0, model.cfg.vocab, (spec.dim("batch"), spec.dim("seq")), generator=gen, device=device)
    eager = kernel_case(spec.model).build(dict(attention_spec(spec).dims)).to(device)
    want = reference_of(guard("crash", lambda: prefill(eager)(tokens)))
    return Workload(prefill(attend), (tokens,), lambda outputs: check_prefill(outputs, want, spec.model), compile_s,
                    system.details())


def _as_tuple(x) -> tuple:
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)

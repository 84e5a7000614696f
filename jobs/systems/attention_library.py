"""What an attention library can compute of the seven cases, and the layout glue around its kernels.

Libraries (FlashAttention-2, FlashInfer, cuDNN, FlexAttention) compute `out` of causal attention, some
with logit soft-capping. They run a case only when that is the whole case: attn always, gemma2 when the
library can soft-cap. The other five cases add statistics over P that no library kernel returns, so they
are NS with the reason rather than `out` alone. An e2e case (Llama-2 prefill) asks of a system the same
as its kernel case, at the layer's shapes (`kernel_view`).
"""

from __future__ import annotations

from results.case import CaseSpec

# what each case needs beyond causal attention's `out`
EXTRA_OUTPUTS = {
    "h2o": "column sums of P over queries (h2o_score)",
    "roco": "column sums of P and of P² over queries (roco_score, roco_sq_score)",
    "kf": "column sums of a Gumbel-perturbed softmax (kf_score)",
    "snapkv": "avg-pooled column sums of P (snapkv_score)",
    "corm": "per key, whether any query gives it P >= 1/(i+1) (corm_score)",
}


def kernel_view(spec: CaseSpec) -> CaseSpec:
    """The kernel case a system compiles for this case: itself, or an e2e case's per-layer attention."""
    if spec.part == "e2e":
        from jobs.e2e.workload import attention_spec

        return attention_spec(spec)
    return spec


def attention_only(library: str, spec: CaseSpec, softcap: str | None) -> str | None:
    """Why `library` cannot compute this case, or None.

    `softcap` names how the library soft-caps logits (e.g. "softcap="), or None when it cannot.
    """
    if spec.model in EXTRA_OUTPUTS:
        return f"{library} computes attention only; {spec.model} needs {EXTRA_OUTPUTS[spec.model]}"
    if spec.model == "gemma2" and softcap is None:
        return f"{library} cannot soft-cap logits (gemma2 needs s = 50·tanh(s/50) before the causal mask)"
    if spec.model not in ("attn", "gemma2"):
        return (f"{library} is called as causal attention (with soft-capping for gemma2); it has no way to "
                f"take the program of case {spec.model!r}")
    return None


def same_length(library: str, spec: CaseSpec) -> str | None:
    """SDPA's is_causal aligns the mask top-left; the cases align it bottom-right. Equal only if Lq == Lk."""
    spec = kernel_view(spec)
    if spec.dim("q_len") != spec.dim("kv_len"):
        return (f"{library}: SDPA's is_causal masks top-left aligned, the case bottom-right; "
                f"they differ for q_len {spec.dim('q_len')} != kv_len {spec.dim('kv_len')}")
    return None


def is_gqa(spec: CaseSpec) -> bool:
    return spec.dim("kv_heads") < spec.dim("heads")


def to_bhsd(t):
    """[B, L, H, D] -> [B, H, L, D], a view (the layout SDPA and FlexAttention take)."""
    return t.transpose(1, 2)


def from_bhsd(t):
    """[B, H, L, D] -> the program's [B, L, H, D], contiguous (a copy only if the kernel wrote BHSD)."""
    return t.transpose(1, 2).contiguous()

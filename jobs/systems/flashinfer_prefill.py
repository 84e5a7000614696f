"""flashinfer: FlashInfer's single-request prefill kernel, as the paper ran it (Fig. 14).

`single_prefill_with_kv_cache` takes one request in NHD layout ([L, H, D], which is a batch element of our
BSHD tensors, so no copy), aligns the causal mask bottom-right like the cases, handles GQA, and soft-caps
logits with `logits_soft_cap` (gemma2). A batch of B requests is B calls.
"""

from __future__ import annotations

import torch

from jobs.systems.attention_library import attention_only
from jobs.systems.base import System, module_missing


class FlashInfer(System):
    name = "flashinfer"
    library = "FlashInfer"

    def unavailable(self):
        missing = module_missing("flashinfer")
        if missing:
            return missing
        return None if torch.cuda.is_available() else "FlashInfer needs a CUDA GPU (none visible)"

    def unsupported(self, spec):
        reason = attention_only(self.library, spec, softcap="logits_soft_cap=")
        if reason:
            return reason
        if spec.dtype not in ("float16", "bfloat16"):
            return f"FlashInfer prefill kernels take float16 or bfloat16 only, not {spec.dtype}"
        return None

    def compile(self, program, inputs, spec):
        import flashinfer

        softcap = None
        if spec.model == "gemma2":
            from jobs.cases.gemma2 import SOFTCAP

            softcap = SOFTCAP

        def prefill(q, k, v):
            return flashinfer.single_prefill_with_kv_cache(q, k, v, causal=True, kv_layout="NHD",
                                                           logits_soft_cap=softcap)

        def attention(q, k, v):
            if q.shape[0] == 1:
                return prefill(q[0], k[0], v[0]).unsqueeze(0)
            return torch.stack([prefill(q[b], k[b], v[b]) for b in range(q.shape[0])])

        # the first call JIT-compiles or loads the kernel for this head_dim and dtype
        attention(*inputs)
        return attention

    def details(self):
        import flashinfer

        return {"library": "flashinfer", "version": getattr(flashinfer, "__version__", None),
                "entry": "single_prefill_with_kv_cache"}

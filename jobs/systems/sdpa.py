"""flashattn2 and cudnn: attention kernels reached through their usual entry points.

flashattn2 is the `flash_attn` package's `flash_attn_func` when it is installed (BSHD in, BSHD out, with
`softcap=` for gemma2), else PyTorch's SDPA restricted to its FLASH_ATTENTION backend, which is
FlashAttention-2's kernels built into PyTorch; `details()` says which one ran. cudnn is SDPA restricted to
the CUDNN_ATTENTION backend. A restricted SDPA raises instead of falling back to another backend, so a
result is always the named kernel's.
"""

from __future__ import annotations

import importlib.util

import torch
import torch.nn.functional as F

from jobs.systems.attention_library import attention_only, from_bhsd, is_gqa, same_length, to_bhsd
from jobs.systems.base import System
from results.case import CaseSpec

HALF_DTYPES = ("float16", "bfloat16")


def sdpa_attention(backend, gqa: bool):
    """Causal attention on BSHD q, k, v [B, L, H(kv), D] through one SDPA backend -> out [B, Lq, H, D]."""
    from torch.nn.attention import sdpa_kernel

    def attention(q, k, v):
        with sdpa_kernel(backend):
            out = F.scaled_dot_product_attention(to_bhsd(q), to_bhsd(k), to_bhsd(v), is_causal=True,
                                                 enable_gqa=gqa)
        return from_bhsd(out)

    return attention


def _half_only(library: str, spec: CaseSpec) -> str | None:
    if spec.dtype not in HALF_DTYPES:
        return f"{library} kernels take float16 or bfloat16 only, not {spec.dtype}"
    return None


def _needs_cuda(library: str) -> str | None:
    return None if torch.cuda.is_available() else f"{library} needs a CUDA GPU (none visible)"


class FlashAttn2(System):
    name = "flashattn2"

    def _has_package(self) -> bool:
        return importlib.util.find_spec("flash_attn") is not None

    def unavailable(self):
        return _needs_cuda("FlashAttention-2")

    def unsupported(self, spec):
        if self._has_package():
            return attention_only("FlashAttention-2 (flash_attn)", spec, softcap="softcap=") or _half_only(
                "FlashAttention-2", spec)
        library = "FlashAttention-2 via SDPA's flash backend (flash_attn is not installed)"
        return attention_only(library, spec, softcap=None) or same_length(library, spec) or _half_only(
            library, spec)

    def compile(self, program, inputs, spec):
        if self._has_package():
            fn = self._flash_attn(spec)
        else:
            from torch.nn.attention import SDPBackend

            fn = sdpa_attention(SDPBackend.FLASH_ATTENTION, is_gqa(spec))
        fn(*inputs)
        return fn

    def _flash_attn(self, spec):
        from flash_attn import flash_attn_func

        softcap = 0.0
        if spec.model == "gemma2":
            from jobs.cases.gemma2 import SOFTCAP

            softcap = SOFTCAP

        # flash_attn takes and returns BSHD, aligns the causal mask bottom-right and handles GQA itself
        def attention(q, k, v):
            return flash_attn_func(q, k, v, causal=True, softcap=softcap)

        return attention

    def details(self):
        if self._has_package():
            import flash_attn

            return {"library": "flash_attn", "version": flash_attn.__version__, "entry": "flash_attn_func"}
        return {"library": "torch", "version": torch.__version__, "entry": "scaled_dot_product_attention",
                "backend": "SDPBackend.FLASH_ATTENTION",
                "note": "flash_attn is not installed: PyTorch's built-in FlashAttention-2 kernels"}


class CuDNN(System):
    name = "cudnn"
    library = "cuDNN SDPA"

    def unavailable(self):
        return _needs_cuda(self.library) or (
            None if torch.backends.cudnn.is_available() else "cuDNN is not available to this PyTorch")

    def unsupported(self, spec):
        return (attention_only(self.library, spec, softcap=None) or same_length(self.library, spec)
                or _half_only(self.library, spec))

    def compile(self, program, inputs, spec):
        from torch.nn.attention import SDPBackend

        fn = sdpa_attention(SDPBackend.CUDNN_ATTENTION, is_gqa(spec))
        # cuDNN builds and caches its execution plan at the first call
        fn(*inputs)
        return fn

    def details(self):
        return {"library": "torch", "version": torch.__version__, "entry": "scaled_dot_product_attention",
                "backend": "SDPBackend.CUDNN_ATTENTION", "cudnn": torch.backends.cudnn.version()}

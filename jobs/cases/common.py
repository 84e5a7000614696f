"""Shared pieces of the seven kernel cases (the FlashTensor artifact's `cases/kernels`).

Every case is a jobs.case.Case: a plain PyTorch program (an nn.Module, the thing each system compiles), a
seeded input builder and a float64 reference written independently of the program.

Shapes: q [B, Lq, H, D], k and v [B, Lk, Hkv, D] (BSHD, as the artifact); scores [B, H, Lq, Lk].
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch

from jobs.case import Case, Output

# Reference chunks hold at most this many float64 score elements (2 GiB).
_REF_CHUNK_ELEMS = 1 << 28
TORCH_DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}


class CausalAttention(torch.nn.Module):
    """The part every case shares: causal mask, scaled QK^T, and P·V back to BSHD."""

    def __init__(self, heads: int = 32, kv_heads: int = 32, head_dim: int = 128):
        super().__init__()
        self.heads, self.kv_heads, self.head_dim = heads, kv_heads, head_dim
        self.group = heads // kv_heads

    def causal_mask(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        q_len, kv_len = q.shape[1], k.shape[1]
        mask = torch.full((1, 1, q_len, kv_len), -torch.inf, device=q.device, dtype=q.dtype)
        return torch.triu(mask, diagonal=kv_len - q_len + 1)

    def expand_kv(self, t: torch.Tensor) -> torch.Tensor:
        """[B, Lk, Hkv, D] -> [B, Lk, H, D]: each KV head serves `group` query heads."""
        if self.group == 1:
            return t
        b, n, hkv, d = t.shape
        return t[:, :, :, None, :].expand(b, n, hkv, self.group, d).reshape(b, n, hkv * self.group, d)

    def scores(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        """[B, H, Lq, Lk] in q.dtype, scaled by 1/sqrt(D), unmasked."""
        k = self.expand_kv(k)
        return torch.matmul(q.transpose(1, 2), k.transpose(1, 2).transpose(-2, -1)) / math.sqrt(self.head_dim)

    def attend(self, probs: torch.Tensor, v: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        """probs [B, H, Lq, Lk] float -> out [B, Lq, H, D] in q.dtype."""
        v = self.expand_kv(v).transpose(1, 2)
        out = torch.matmul(probs.to(q.dtype), v).transpose(1, 2).contiguous()
        return out.view(q.shape[0], q.shape[1], self.heads, self.head_dim)


def make_qkv(dims: dict, dtype: torch.dtype, device, gen: torch.Generator, logit_scale: float = 1.0):
    """Seeded randn q, k, v in BSHD. `logit_scale` multiplies q so that logits reach about ±5·scale."""
    b, h, hkv, d = dims["batch"], dims["heads"], dims["kv_heads"], dims["head_dim"]
    q = torch.randn(b, dims["q_len"], h, d, generator=gen, device=device, dtype=torch.float32)
    k = torch.randn(b, dims["kv_len"], hkv, d, generator=gen, device=device, dtype=torch.float32)
    v = torch.randn(b, dims["kv_len"], hkv, d, generator=gen, device=device, dtype=torch.float32)
    return (q * logit_scale).to(dtype), k.to(dtype), v.to(dtype)


def reference_chunks(
    q: torch.Tensor, k: torch.Tensor, softcap: float | None = None
) -> Iterator[tuple[slice, torch.Tensor, torch.Tensor]]:
    """Exact float64 masked scores and probabilities, a group of heads at a time.

    Yields (head slice, scores [B, h, Lq, Lk], probs [B, h, Lq, Lk]); masked scores are -inf.
    """
    b, q_len, heads, d = q.shape
    kv_len, kv_heads = k.shape[1], k.shape[2]
    group = heads // kv_heads
    step = max(1, _REF_CHUNK_ELEMS // max(1, b * q_len * kv_len))
    i = torch.arange(q_len, device=q.device)[:, None]
    j = torch.arange(kv_len, device=q.device)[None, :]
    dead = j > i + (kv_len - q_len)
    for h0 in range(0, heads, step):
        hs = slice(h0, min(heads, h0 + step))
        qh = q[:, :, hs].double().transpose(1, 2)
        kh = k[:, :, [h // group for h in range(hs.start, hs.stop)]].double().transpose(1, 2)
        s = torch.matmul(qh, kh.transpose(-2, -1)) / math.sqrt(d)
        if softcap is not None:
            s = torch.tanh(s / softcap) * softcap
        s = s.masked_fill(dead, -torch.inf)
        yield hs, s, torch.softmax(s, dim=-1)


def reference_out(probs: torch.Tensor, v: torch.Tensor, hs: slice, group: int) -> torch.Tensor:
    """float64 P·V for one head group, [B, h, Lq, D]."""
    vh = v[:, :, [h // group for h in range(hs.start, hs.stop)]].double().transpose(1, 2)
    return torch.matmul(probs, vh)


def to_bshd(chunks: list[torch.Tensor]) -> torch.Tensor:
    """Concatenate per-head-group [B, h, Lq, D] outputs into [B, Lq, H, D]."""
    return torch.cat(chunks, dim=1).transpose(1, 2).contiguous()



__all__ = ["Case", "Output", "CausalAttention", "make_qkv", "reference_chunks", "reference_out",
           "to_bshd", "TORCH_DTYPES"]

"""A small Llama-2 for the end-to-end prefill (the artifact's hand-written "Llama" model).

    tokens -> embedding -> layers × [RMSNorm -> fused QKV -> RoPE -> attention (call-out) -> o_proj -> residual
                                     -> RMSNorm -> fused gate_up -> SiLU(gate)·up -> down -> residual]
           -> final RMSNorm -> hidden states (no LM head)

Only the attention differs between systems: each layer hands q, k, v [B, L, H, D] to an `attention`
callable given to `forward`, which returns (out [B, L, H, D], whatever it keeps as the layer's KV cache).
RMSNorm, RoPE and SiLU·mul are plain torch ops shared by every system, as the artifact's CUDA kernels are.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

VOCAB = 32000


@dataclass(frozen=True)
class LlamaConfig:
    layers: int
    hidden: int
    heads: int
    head_dim: int
    intermediate: int
    vocab: int = VOCAB
    rope_theta: float = 10000.0
    norm_eps: float = 1e-5

    @classmethod
    def from_dims(cls, dims: dict, **overrides) -> LlamaConfig:
        if dims["kv_heads"] != dims["heads"]:
            raise ValueError(f"the e2e model is MHA (Llama-2-7B): heads={dims['heads']}, kv_heads={dims['kv_heads']}")
        return cls(dims["layers"], dims["hidden"], dims["heads"], dims["head_dim"], dims["intermediate"], **overrides)


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # the mean square in float32, as Llama's reference implementation
        x32 = x.float()
        x32 = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x32.to(x.dtype)


def rope_tables(seq: int, head_dim: int, theta: float, device, dtype=torch.float32):
    """cos, sin [L, 1, D] for rotate-half RoPE (the Hugging Face layout of Llama's q/k weights)."""
    inv_freq = theta ** -(torch.arange(0, head_dim, 2, device=device, dtype=torch.float32) / head_dim)
    angles = torch.outer(torch.arange(seq, device=device, dtype=torch.float32), inv_freq)
    angles = torch.cat((angles, angles), dim=-1)[:, None, :]
    return angles.cos().to(dtype), angles.sin().to(dtype)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """x [B, L, H, D] -> the same, rotated in x's dtype (as the artifact's fused CUDA kernel and HF Llama)."""
    half = x.shape[-1] // 2
    return x * cos + torch.cat((-x[..., half:], x[..., :half]), dim=-1) * sin


Attention = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], tuple[torch.Tensor, object]]


class Block(nn.Module):
    def __init__(self, cfg: LlamaConfig):
        super().__init__()
        width = cfg.heads * cfg.head_dim
        self.heads, self.head_dim = cfg.heads, cfg.head_dim
        self.attn_norm = RMSNorm(cfg.hidden, cfg.norm_eps)
        # rows: [q; k; v] and [gate; up], the artifact's concatenated weights
        self.qkv = nn.Linear(cfg.hidden, 3 * width, bias=False)
        self.o_proj = nn.Linear(width, cfg.hidden, bias=False)
        self.mlp_norm = RMSNorm(cfg.hidden, cfg.norm_eps)
        self.gate_up = nn.Linear(cfg.hidden, 2 * cfg.intermediate, bias=False)
        self.down = nn.Linear(cfg.intermediate, cfg.hidden, bias=False)

    def forward(self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor], attention: Attention):
        b, n, _ = x.shape
        q, k, v = self.qkv(self.attn_norm(x)).view(b, n, 3, self.heads, self.head_dim).unbind(2)
        q, k = apply_rope(q, *rope), apply_rope(k, *rope)
        # contiguous q, k, v: the layout the attention was compiled for
        out, cache = attention(q, k, v.contiguous())
        x = x + self.o_proj(out.reshape(b, n, self.heads * self.head_dim))
        gate, up = self.gate_up(self.mlp_norm(x)).chunk(2, dim=-1)
        x = x + self.down(F.silu(gate) * up)
        return x, cache


class Llama(nn.Module):
    def __init__(self, cfg: LlamaConfig):
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab, cfg.hidden)
        self.layers = nn.ModuleList(Block(cfg) for _ in range(cfg.layers))
        self.norm = RMSNorm(cfg.hidden, cfg.norm_eps)

    def forward(self, tokens: torch.Tensor, attention: Attention) -> tuple[torch.Tensor, list]:
        """tokens [B, L] int64 -> (hidden [B, L, hidden], one KV cache per layer)."""
        x = self.embed(tokens)
        rope = rope_tables(tokens.shape[1], self.cfg.head_dim, self.cfg.rope_theta, tokens.device, x.dtype)
        caches = []
        for layer in self.layers:
            x, cache = layer(x, rope, attention)
            caches.append(cache)
        return self.norm(x), caches

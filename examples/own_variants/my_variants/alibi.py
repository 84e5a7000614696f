"""ALiBi attention: causal, each head adds a linear distance penalty -m_h·(i - j) to its logits."""

import math

import torch

import ftrun


class ALiBi(torch.nn.Module):
    """q [B, Lq, H, D], k and v [B, Lk, Hkv, D] -> out [B, Lq, H, D]; slopes m_h = 2^(-8(h+1)/H)."""

    def __init__(self, heads: int, kv_heads: int):
        super().__init__()
        self.heads, self.group = heads, heads // kv_heads

    def forward(self, q, k, v):
        k = k.repeat_interleave(self.group, dim=2)
        v = v.repeat_interleave(self.group, dim=2)
        scores = q.transpose(1, 2) @ k.transpose(1, 2).transpose(-2, -1) / math.sqrt(q.shape[-1])
        i = torch.arange(q.shape[1], device=q.device)[:, None] + (k.shape[1] - q.shape[1])
        j = torch.arange(k.shape[1], device=q.device)[None, :]
        heads = torch.arange(1, self.heads + 1, device=q.device, dtype=torch.float32)
        slopes = torch.exp2(-8.0 * heads / self.heads)
        bias = -slopes[:, None, None] * (i - j).clamp_min(0)
        scores = scores + bias.to(scores.dtype)
        scores = scores.masked_fill(j > i, float("-inf"))
        probs = torch.softmax(scores.float(), dim=-1)
        return (probs.to(q.dtype) @ v.transpose(1, 2)).transpose(1, 2).contiguous()


CASE = ftrun.Case("alibi", ALiBi, about="causal attention with ALiBi distance penalties")

"""Recent-window heavy hitters: attention, plus per key the probability mass the last R queries give it
(an observation window, as SnapKV scores keys, without its pooling): recent_score [B, H, Lk] float32."""

import math

import torch

import ftrun

RECENT = 32


class RecentH2O(torch.nn.Module):
    def __init__(self, heads: int, kv_heads: int):
        super().__init__()
        self.heads, self.group = heads, heads // kv_heads

    def forward(self, q, k, v):
        k = k.repeat_interleave(self.group, dim=2)
        v = v.repeat_interleave(self.group, dim=2)
        scores = q.transpose(1, 2) @ k.transpose(1, 2).transpose(-2, -1) / math.sqrt(q.shape[-1])
        i = torch.arange(q.shape[1], device=q.device)[:, None] + (k.shape[1] - q.shape[1])
        j = torch.arange(k.shape[1], device=q.device)[None, :]
        probs = torch.softmax(scores.masked_fill(j > i, float("-inf")).float(), dim=-1)
        out = (probs.to(q.dtype) @ v.transpose(1, 2)).transpose(1, 2).contiguous()
        recent = i >= k.shape[1] - RECENT
        recent_score = (probs * recent).sum(dim=2)
        return out, recent_score


CASE = ftrun.Case("recent_h2o", RecentH2O, outputs=("out", ftrun.Output("recent_score", "float32")),
                  about=f"attention + key scores from the last {RECENT} queries")

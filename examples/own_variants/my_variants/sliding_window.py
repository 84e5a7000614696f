"""Sliding-window causal attention (Mistral-style local attention): query i sees keys (i - W, i]."""

import math

import torch

import ftrun

WINDOW = 128


class SlidingWindow(torch.nn.Module):
    """q [B, Lq, H, D], k and v [B, Lk, Hkv, D] -> out [B, Lq, H, D]."""

    def __init__(self, heads: int, kv_heads: int):
        super().__init__()
        self.group = heads // kv_heads

    def forward(self, q, k, v):
        k = k.repeat_interleave(self.group, dim=2)
        v = v.repeat_interleave(self.group, dim=2)
        scores = q.transpose(1, 2) @ k.transpose(1, 2).transpose(-2, -1) / math.sqrt(q.shape[-1])
        i = torch.arange(q.shape[1], device=q.device)[:, None] + (k.shape[1] - q.shape[1])
        j = torch.arange(k.shape[1], device=q.device)[None, :]
        visible = (j <= i) & (j > i - WINDOW)
        scores = scores.masked_fill(~visible, float("-inf"))
        probs = torch.softmax(scores.float(), dim=-1)
        return (probs.to(q.dtype) @ v.transpose(1, 2)).transpose(1, 2).contiguous()


CASE = ftrun.Case("sliding_window", SlidingWindow, about=f"causal attention over the last {WINDOW} keys")

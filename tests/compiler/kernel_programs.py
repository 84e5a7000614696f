"""Attention-like programs from a small grammar, for generality and property-based tests.

A `Spec` picks a mask, a score modification, grouped KV heads, and extra row/column statistics; `Program`
is the nn.Module it describes, written the way users write attention. Running the same module on float64
inputs gives the reference (every op then runs in float64).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

MASKS = ("none", "causal", "window", "padding", "bias", "alibi", "tril")
MODS = ("none", "softcap", "scale")
ROW_STATS = ("row_max", "row_mean", "entropy")
COL_STATS = ("col_sum", "col_sq", "col_max", "col_mean", "col_any")
ANY_THRESHOLD = 0.05


@dataclass(frozen=True)
class Spec:
    mask: str = "causal"
    mod: str = "none"
    stats: tuple[str, ...] = ()
    batch: int = 1
    heads: int = 2
    kv_heads: int = 2
    head_dim: int = 32
    q_len: int = 40
    kv_len: int = 40
    window: int = 7
    softcap: float = 20.0
    dtype: str = "float16"


class Program(torch.nn.Module):
    def __init__(self, spec: Spec):
        super().__init__()
        self.spec = spec

    def forward(self, q, k, v, extra=None):
        s = self.spec
        group = s.heads // s.kv_heads
        if group > 1:
            k = k.repeat_interleave(group, dim=2)
            v = v.repeat_interleave(group, dim=2)
        qh, kh, vh = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
        scores = qh @ kh.transpose(-1, -2) / math.sqrt(s.head_dim)
        if s.mod == "softcap":
            scores = torch.tanh(scores / s.softcap) * s.softcap
        elif s.mod == "scale":
            scores = scores * 0.5
        scores = self._mask(scores, extra)
        probs = torch.softmax(scores.float(), dim=-1)
        out = (probs.to(q.dtype) @ vh).transpose(1, 2)
        return (out, *self._stats(scores.float(), probs, extra))

    def _mask(self, scores, extra):
        s = self.spec
        lq, lk = scores.shape[-2], scores.shape[-1]
        i = torch.arange(lq, device=scores.device)[:, None] + (lk - lq)
        j = torch.arange(lk, device=scores.device)[None, :]
        if s.mask == "causal":
            return scores.masked_fill(j > i, float("-inf"))
        if s.mask == "window":
            return scores.masked_fill((j > i) | (j <= i - s.window), float("-inf"))
        if s.mask == "tril":
            keep = torch.ones(lq, lk, dtype=torch.bool, device=scores.device).tril(lk - lq)
            return scores.masked_fill(~keep, float("-inf"))
        if s.mask == "padding":
            return scores.masked_fill(extra[:, None, None, :], float("-inf"))
        if s.mask == "bias":
            return scores + extra
        if s.mask == "alibi":
            return scores + extra[:, None, None] * (j - i).to(scores.dtype)
        return scores

    def _stats(self, scores, probs, extra):
        out = []
        for name in self.spec.stats:
            if name == "row_max":
                out.append(scores.amax(dim=-1))
            elif name == "row_mean":
                out.append(probs.mean(dim=-1, keepdim=True))
            elif name == "entropy":
                out.append(-(probs * torch.log(probs + 1e-6)).sum(dim=-1))
            elif name == "col_sum":
                out.append(probs.sum(dim=2))
            elif name == "col_sq":
                out.append((probs * probs).sum(dim=2))
            elif name == "col_max":
                out.append(probs.amax(dim=2))
            elif name == "col_mean":
                out.append(probs.mean(dim=-2))
            elif name == "col_any":
                out.append((probs >= ANY_THRESHOLD).any(dim=2))
        return out


def make_inputs(spec: Spec, seed: int = 0, logit_scale: float = 1.0, device="cpu") -> tuple:
    g = torch.Generator().manual_seed(seed)
    dtype = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}[spec.dtype]
    q = torch.randn(spec.batch, spec.q_len, spec.heads, spec.head_dim, generator=g) * logit_scale
    k = torch.randn(spec.batch, spec.kv_len, spec.kv_heads, spec.head_dim, generator=g)
    v = torch.randn(spec.batch, spec.kv_len, spec.kv_heads, spec.head_dim, generator=g)
    args = [q.to(dtype), k.to(dtype), v.to(dtype)]
    if spec.mask == "padding":
        pad = torch.zeros(spec.batch, spec.kv_len, dtype=torch.bool)
        pad[:, -3:] = True  # the last keys are padding
        args.append(pad)
    elif spec.mask == "bias":
        args.append(torch.randn(spec.heads, spec.q_len, spec.kv_len, generator=g).to(dtype))
    elif spec.mask == "alibi":
        args.append(torch.tensor([2.0 ** (-(h + 1)) for h in range(spec.heads)], dtype=torch.float32))
    return tuple(a.to(device) for a in args)


def reference(spec: Spec, args: tuple) -> tuple:
    """The program evaluated in float64 (CPU). A boolean statistic comes back as its float64 margin
    (>= 0 means True), so a test can let values within rounding of the threshold go either way."""
    wide = tuple(a.double().cpu() if a.is_floating_point() else a.cpu() for a in args)
    program = Program(spec)
    out = list(program(*wide))
    if "col_any" in spec.stats:
        k = 1 + spec.stats.index("col_any")
        probs = _probs(program, wide)
        out[k] = (probs / ANY_THRESHOLD - 1).amax(dim=2)
    return tuple(out)


def _probs(program: Program, args) -> torch.Tensor:
    captured = {}
    original = torch.softmax

    def spy(x, dim, **kw):
        captured.setdefault("p", original(x, dim, **kw))
        return captured["p"]

    torch.softmax = spy
    try:
        program(*args)
    finally:
        torch.softmax = original
    return captured["p"]


class LogBias(torch.nn.Module):
    """softmax(q·kᵀ·c + log w)·v and the column sums of its probabilities: a log of a score-sized input
    (outside the seven cases; Keyformer's noise is the one of them with a log)."""

    def forward(self, q, k, v, w):
        p = torch.softmax((q @ k.transpose(-1, -2)).float() * 0.25 + torch.log(w), dim=-1)
        return p.to(q.dtype) @ v, p.sum(dim=-2)


def log_bias_inputs(heads: int, length: int, head_dim: int, device="cpu") -> tuple:
    g = torch.Generator().manual_seed(5)
    q, k, v = (torch.randn(1, heads, length, head_dim, generator=g).half() for _ in range(3))
    w = torch.rand(1, heads, length, length, generator=g) * 4 + 1e-3
    return tuple(t.to(device) for t in (q, k, v, w))

"""Attention programs written the way 2024-2026 model and KV-cache-compression code writes them, none of
them one of the seven cases: each a module, an input builder and its float64 reference (the module run on
float64 copies of the inputs). tests/compiler/test_variants.py compiles them through the interpreter.

Shapes follow the model code they imitate: q [B, H, Lq, D] or [B, Lq, H, D], grouped KV heads where the
models have them, causal masks written with arange and masked_fill.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


def _causal(lq: int, lk: int, device) -> torch.Tensor:
    i = torch.arange(lq, device=device)[:, None] + (lk - lq)
    j = torch.arange(lk, device=device)[None, :]
    return j > i


def _repeat_kv(x: torch.Tensor, group: int) -> torch.Tensor:
    return x if group == 1 else x.repeat_interleave(group, dim=1)


class DiffAttention(torch.nn.Module):
    """Differential Transformer (2024): q and k split in two halves per head, two causal softmaxes, their
    difference (weighted by lambda) times v; grouped KV heads."""

    def __init__(self, lam: float = 0.3, group: int = 2):
        super().__init__()
        self.lam, self.group = lam, group

    def forward(self, q, k, v):
        q1, q2 = q.chunk(2, dim=-1)
        k1, k2 = _repeat_kv(k, self.group).chunk(2, dim=-1)
        scale = 1 / math.sqrt(q1.shape[-1])
        dead = _causal(q.shape[-2], k.shape[-2], q.device)
        a1 = torch.softmax((q1 @ k1.transpose(-1, -2) * scale).masked_fill(dead, float("-inf")).float(), -1)
        a2 = torch.softmax((q2 @ k2.transpose(-1, -2) * scale).masked_fill(dead, float("-inf")).float(), -1)
        return ((a1 - self.lam * a2).to(q.dtype) @ _repeat_kv(v, self.group)).transpose(1, 2)


class DocumentMasked(torch.nn.Module):
    """Packed sequences (FlexAttention's document masking, 2024): a query sees earlier keys of its own
    document, the documents given per token by an id vector per batch entry."""

    def forward(self, q, k, v, doc_ids):
        s = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
        same = doc_ids[:, None, :, None] == doc_ids[:, None, None, :]
        s = s.masked_fill(~same | _causal(q.shape[-2], k.shape[-2], q.device), float("-inf"))
        return torch.softmax(s.float(), dim=-1).to(q.dtype) @ v


class SnapKVWindow(torch.nn.Module):
    """SnapKV (2024) as its code does it: full causal attention for the output, and per key the attention
    the last `window` queries give it, summed and max-pooled: the keys to keep."""

    def __init__(self, window: int = 8, kernel: int = 5):
        super().__init__()
        self.window, self.kernel = window, kernel

    def forward(self, q, k, v):
        s = (q @ k.transpose(-1, -2)).float() / math.sqrt(q.shape[-1])
        p = torch.softmax(s.masked_fill(_causal(q.shape[-2], k.shape[-2], q.device), float("-inf")), -1)
        votes = p[:, :, -self.window:, :].sum(dim=-2)
        pooled = torch.nn.functional.max_pool1d(votes, self.kernel, padding=self.kernel // 2, stride=1)
        return p.to(q.dtype) @ v, pooled


class SnapKVObservation(torch.nn.Module):
    """SnapKV / PyramidKV as their released code runs prefill: the output from scaled_dot_product_attention,
    and the observation window's attention computed by hand from the last `window` queries (a softmax of
    its own), summed per key and average-pooled."""

    def __init__(self, window: int = 8, kernel: int = 7):
        super().__init__()
        self.window, self.kernel = window, kernel

    def forward(self, q, k, v):
        out = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
        s = q[..., -self.window:, :] @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
        s = s.masked_fill(_causal(self.window, k.shape[-2], q.device), float("-inf"))
        votes = torch.softmax(s, dim=-1, dtype=torch.float32).sum(dim=-2)
        return out, torch.nn.functional.avg_pool1d(votes, self.kernel, padding=self.kernel // 2, stride=1)


class TOVA(torch.nn.Module):
    """TOVA (2024): the last query's attention row, averaged over heads, scores the keys to keep."""

    def forward(self, q, k, v):
        s = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
        p = torch.softmax(s.masked_fill(_causal(q.shape[-2], k.shape[-2], q.device), float("-inf")).float(), -1)
        return p.to(q.dtype) @ v, p[:, :, -1, :].mean(dim=1)


class CascadeAttention(torch.nn.Module):
    """Shared-prefix (cascade) attention (2024): queries attend to a prefix KV cache every sequence shares
    and to their own suffix (causally); the two partial results merge through their log-sum-exp."""

    def forward(self, q, k_prefix, v_prefix, k, v):
        scale = 1 / math.sqrt(q.shape[-1])
        s1 = (q @ k_prefix.transpose(-1, -2)).float() * scale
        s2 = ((q @ k.transpose(-1, -2)).float() * scale).masked_fill(
            _causal(q.shape[-2], k.shape[-2], q.device), float("-inf"))
        lse1, lse2 = torch.logsumexp(s1, -1, keepdim=True), torch.logsumexp(s2, -1, keepdim=True)
        o1 = torch.softmax(s1, -1) @ v_prefix.float()
        o2 = torch.softmax(s2, -1) @ v.float()
        lse = torch.logaddexp(lse1, lse2)
        return (o1 * torch.exp(lse1 - lse) + o2 * torch.exp(lse2 - lse)).to(q.dtype), lse.squeeze(-1)


class PartialWithStats(torch.nn.Module):
    """A context-parallel (ring) attention step (2024): the block's output with the row statistics a later
    merge needs, asked for by name: the row max and the normalizer, and the log-sum-exp."""

    def forward(self, q, k, v):
        s = (q @ k.transpose(-1, -2)).float() / math.sqrt(q.shape[-1])
        s = s.masked_fill(_causal(q.shape[-2], k.shape[-2], q.device), float("-inf"))
        m = s.max(dim=-1, keepdim=True).values
        normalizer = torch.exp(s - m).sum(dim=-1)
        return torch.softmax(s, -1).to(q.dtype) @ v, m.squeeze(-1), normalizer, torch.logsumexp(s, dim=-1)


class ALiBiPositions(torch.nn.Module):
    """ALiBi with explicit position ids (packed or left-padded batches, 2024 serving code): the bias is
    -slope[h] * |pos_i - pos_j| from a position vector per batch entry; BSHD layout, grouped KV heads."""

    def __init__(self, group: int = 2):
        super().__init__()
        self.group = group

    def forward(self, q, k, v, positions, slopes):
        qh = q.transpose(1, 2)
        kh = _repeat_kv(k.transpose(1, 2), self.group)
        vh = _repeat_kv(v.transpose(1, 2), self.group)
        dist = (positions[:, None, :, None] - positions[:, None, None, :]).abs().to(torch.float32)
        s = (qh @ kh.transpose(-1, -2)).float() / math.sqrt(q.shape[-1]) - slopes[None, :, None, None] * dist
        s = s.masked_fill(_causal(q.shape[1], k.shape[1], q.device), float("-inf"))
        return (torch.softmax(s, -1).to(q.dtype) @ vh).transpose(1, 2)


class PaddedLengths(torch.nn.Module):
    """Right-padded batch with per-sequence lengths (batched prefill): keys past a sequence's length are
    masked; also the per-query attention entropy (retrieval-head detection, DuoAttention-style)."""

    def forward(self, q, k, v, lengths):
        s = (q @ k.transpose(-1, -2)).float() / math.sqrt(q.shape[-1])
        j = torch.arange(k.shape[-2], device=q.device)
        pad = j[None, None, None, :] >= lengths[:, None, None, None]
        p = torch.softmax(s.masked_fill(pad | _causal(q.shape[-2], k.shape[-2], q.device), float("-inf")), -1)
        entropy = -(p * torch.log(p + 1e-9)).sum(-1)
        return p.to(q.dtype) @ v, entropy


class SinkMass(torch.nn.Module):
    """StreamingLLM-style attention (2024): a sliding window plus the first `sinks` keys, and per query
    the attention mass on those sink keys (how much the heads lean on them)."""

    def __init__(self, sinks: int = 4, window: int = 16):
        super().__init__()
        self.sinks, self.window = sinks, window

    def forward(self, q, k, v):
        s = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
        lq, lk = q.shape[-2], k.shape[-2]
        i = torch.arange(lq, device=q.device)[:, None] + (lk - lq)
        j = torch.arange(lk, device=q.device)[None, :]
        keep = (j <= i) & ((i - j < self.window) | (j < self.sinks))
        p = torch.softmax(s.masked_fill(~keep, float("-inf")).float(), -1)
        return p.to(q.dtype) @ v, p[..., :self.sinks].sum(-1)


class SigmoidAttention(torch.nn.Module):
    """Sigmoid attention (2024): sigmoid(q·kᵀ/√d + b) with a scalar bias b = -log(n), causal; no softmax."""

    def forward(self, q, k, v):
        s = (q @ k.transpose(-1, -2)).float() / math.sqrt(q.shape[-1]) - math.log(k.shape[-2])
        w = torch.sigmoid(s).masked_fill(_causal(q.shape[-2], k.shape[-2], q.device), 0.0)
        return w.to(q.dtype) @ v


class LearnedSinks(torch.nn.Module):
    """Attention with a learned sink logit per head (2025 open-weight models): the sink joins the softmax's
    normalizer but has no value; written with the max and the sum."""

    def forward(self, q, k, v, sink):
        s = (q @ k.transpose(-1, -2)).float() / math.sqrt(q.shape[-1])
        s = s.masked_fill(_causal(q.shape[-2], k.shape[-2], q.device), float("-inf"))
        m = torch.maximum(s.amax(-1, keepdim=True), sink[None, :, None, None])
        e = torch.exp(s - m)
        total = e.sum(-1, keepdim=True) + torch.exp(sink[None, :, None, None] - m)
        return (e / total).to(q.dtype) @ v


class TopKVotes(torch.nn.Module):
    """Attention whose keys are scored by the sum of each query's top-3 probabilities: topk has no kernel
    rule, so that score is a torch region (chunked by heads) while the attention output stays fused."""

    def forward(self, q, k, v):
        s = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
        p = torch.softmax(s.masked_fill(_causal(q.shape[-2], k.shape[-2], q.device), float("-inf")).float(), -1)
        return p.to(q.dtype) @ v, p.topk(3, dim=-1).values.sum(-1)


class LearnedBiases(torch.nn.Module):
    """Transformer-XL's content bias with a learned per-query temperature (2024 long-context and
    temperature-scaled softmax code): a learned vector per head scores every key (u @ kᵀ: [1, Lk] per
    head) and a learned [D, 1] projection of each query sets its temperature (q @ w: [Lq, 1]). Neither
    matmul is a score space: they are a row and a column vector the pass loads per tile."""

    def forward(self, q, k, v, u, w):
        kt = k.transpose(-1, -2)
        temperature = 1 + torch.sigmoid((q @ w).float())
        s = (q @ kt + u @ kt).float() * temperature / math.sqrt(q.shape[-1])
        s = s.masked_fill(_causal(q.shape[-2], k.shape[-2], q.device), float("-inf"))
        return torch.softmax(s, -1).to(q.dtype) @ v


@dataclass(frozen=True)
class Variant:
    name: str
    build: type
    inputs: object  # (generator, dtype, **Shape fields) -> tuple of tensors


@dataclass(frozen=True)
class Shape:
    """The size of a variant's inputs: small for the interpreter, full size on the GPU."""

    batch: int = 2
    heads: int = 4
    length: int = 40
    head_dim: int = 32


def qkv(g, dtype, shape: Shape = Shape(), kv_heads: int | None = None, bshd: bool = False):
    b, h, n, d = shape.batch, shape.heads, shape.length, shape.head_dim
    hkv = kv_heads or h
    shape_q = (b, n, h, d) if bshd else (b, h, n, d)
    shape_k = (b, n, hkv, d) if bshd else (b, hkv, n, d)
    return (torch.randn(*shape_q, generator=g).to(dtype), torch.randn(*shape_k, generator=g).to(dtype),
            torch.randn(*shape_k, generator=g).to(dtype))


def _docs(g, dtype, shape: Shape = Shape()):
    n = shape.length
    cuts = torch.tensor([n // 3, (4 * n) // 5])
    j = torch.arange(n)
    # entry 0: three documents; the others: one
    ids = torch.stack([(j >= cuts[0]).long() + (j >= cuts[1]).long()] + [torch.zeros(n, dtype=torch.long)] * (
        shape.batch - 1))
    return (*qkv(g, dtype, shape), ids)


def _cascade(g, dtype, shape: Shape = Shape()):
    q, k, v = qkv(g, dtype, shape)
    prefix = (1, shape.heads, (3 * shape.length) // 5, shape.head_dim)
    kp, vp = (torch.randn(*prefix, generator=g).to(dtype) for _ in range(2))
    return q, kp, vp, k, v


def _alibi(g, dtype, shape: Shape = Shape()):
    q, k, v = qkv(g, dtype, shape, kv_heads=shape.heads // 2, bshd=True)
    n, start = shape.length, shape.length // 4  # entry 1 is left-padded: its positions start late
    positions = torch.stack([torch.arange(n)] + [torch.cat([torch.zeros(start, dtype=torch.long),
                                                            torch.arange(n - start)])] * (shape.batch - 1))
    slopes = torch.tensor([2.0 ** (-(h + 1)) for h in range(shape.heads)])
    return q, k, v, positions, slopes


def _lengths(g, dtype, shape: Shape = Shape()):
    lengths = torch.tensor([shape.length] + [(3 * shape.length) // 5] * (shape.batch - 1))
    return (*qkv(g, dtype, shape), lengths)


def _sinks(g, dtype, shape: Shape = Shape()):
    return (*qkv(g, dtype, shape), torch.randn(shape.heads, generator=g))


def _learned(g, dtype, shape: Shape = Shape()):
    h, d = shape.heads, shape.head_dim
    u, w = torch.randn(h, 1, d, generator=g) * 0.2, torch.randn(h, d, 1, generator=g) * 0.2
    return (*qkv(g, dtype, shape), u.to(dtype), w.to(dtype))


VARIANTS = (
    Variant("diff", DiffAttention, lambda g, dt, shape=Shape(): qkv(g, dt, shape, kv_heads=shape.heads // 2)),
    Variant("docs", DocumentMasked, _docs),
    Variant("snapkv_window", SnapKVWindow, qkv),
    Variant("snapkv_observation", SnapKVObservation, qkv),
    Variant("tova", TOVA, qkv),
    Variant("cascade", CascadeAttention, _cascade),
    Variant("partial_stats", PartialWithStats, qkv),
    Variant("alibi_positions", ALiBiPositions, _alibi),
    Variant("padded_lengths", PaddedLengths, _lengths),
    Variant("sink_mass", SinkMass, qkv),
    Variant("sigmoid", SigmoidAttention, qkv),
    Variant("learned_sinks", LearnedSinks, _sinks),
    Variant("learned_biases", LearnedBiases, _learned),
)


def reference(module: torch.nn.Module, args: tuple) -> tuple:
    wide = tuple(a.double() if a.is_floating_point() else a for a in args)
    out = module(*wide)
    return out if isinstance(out, tuple) else (out,)

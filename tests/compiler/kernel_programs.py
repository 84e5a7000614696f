"""Attention-like programs from a small grammar, for generality and property-based tests.

A `Spec` picks how the scores are formed (one q·kᵀ, q and k split along the head dim, or two softmaxes
combined: two score spaces), a mask (index masks, masks and biases from small input vectors indexed by
row and by column, a score-sized bias), a score modification, grouped KV heads, and extra outputs: row and
column statistics (some asked for by name: logsumexp, max values, the normalizer), statistics over part of
the score matrix (the last queries, one row, the first keys, the probabilities themselves) and some only
torch computes (topk, cumsum, a mean over heads). `Program` is the nn.Module it describes, written the way
users write attention. Running the same module on float64 inputs gives the reference.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

FORMS = ("plain", "split", "diff")
MASKS = ("none", "causal", "window", "padding", "bias", "alibi", "tril", "segments", "lengths", "positions",
         "blocks", "strided", "decay")
MODS = ("none", "softcap", "scale")
ROW_STATS = ("row_max", "row_mean", "entropy", "lse", "max_values", "normalizer")
COL_STATS = ("col_sum", "col_sq", "col_max", "col_mean", "col_any")
PART_STATS = ("window_cols", "last_row", "sink_mass", "probs")  # over part of the scores, or all of them
TORCH_STATS = ("topk", "cum_mass", "head_mean")  # only torch computes these (chunked)
ANY_THRESHOLD = 0.05
DIFF_LAMBDA = 0.4


@dataclass(frozen=True)
class Spec:
    form: str = "plain"
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

    def forward(self, q, k, v, *extra):
        s = self.spec
        group = s.heads // s.kv_heads
        if group > 1:
            k = k.repeat_interleave(group, dim=2)
            v = v.repeat_interleave(group, dim=2)
        qh, kh, vh = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
        if s.form == "plain":
            parts = [(qh, kh)]
        else:  # q and k split along the head dim (multi-result ops)
            (q1, q2), (k1, k2) = qh.chunk(2, dim=-1), kh.split(s.head_dim // 2, dim=-1)
            parts = [(q1, k1), (q2, k2)]
        raw = [a @ b.transpose(-1, -2) / math.sqrt(s.head_dim) for a, b in parts]
        if s.form == "split":
            raw = [raw[0] + raw[1]]
        scores = [self._mask(self._mod(x), extra) for x in raw]
        probs = [torch.softmax(x.float(), dim=-1) for x in scores]
        mixed = probs[0] if s.form != "diff" else probs[0] - DIFF_LAMBDA * probs[1]
        out = (mixed.to(q.dtype) @ vh).transpose(1, 2)
        return (out, *self._stats(scores[0].float(), probs[0]))

    def _mod(self, scores):
        if self.spec.mod == "softcap":
            return torch.tanh(scores / self.spec.softcap) * self.spec.softcap
        if self.spec.mod == "scale":
            return scores * 0.5
        return scores

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
            return scores.masked_fill(extra[0][:, None, None, :], float("-inf"))
        if s.mask == "bias":
            return scores + extra[0]
        if s.mask == "alibi":
            return scores + extra[0][:, None, None] * (j - i).to(scores.dtype)
        if s.mask == "segments":  # a key is seen by the queries of its own segment (packed sequences)
            ids = extra[0]
            same = ids[:, None, lk - lq:, None] == ids[:, None, None, :]
            return scores.masked_fill(~same | (j > i), float("-inf"))
        if s.mask == "lengths":  # keys past each sequence's length are padding
            return scores.masked_fill(j[None, None] >= extra[0][:, None, None, None], float("-inf"))
        if s.mask == "positions":  # ALiBi from position ids per batch entry
            pos, slopes = extra
            dist = (pos[:, None, lk - lq:, None] - pos[:, None, None, :]).abs().to(scores.dtype)
            return scores - slopes[None, :, None, None].to(scores.dtype) * dist
        return self._index_mask(scores, i, j)

    def _index_mask(self, scores, i, j):
        """Masks and biases of index arithmetic: integer division and remainder of positions, float
        slopes from an arange, exp2 and log of distances."""
        s, b = self.spec, max(2, self.spec.window)
        if s.mask == "blocks":  # block-local causal: a query sees its own key block and the one before
            return scores.masked_fill((j // b > i // b) | (i // b - j // b >= 2), float("-inf"))
        if s.mask == "strided":  # Sparse Transformer: every b-th key back, and the last b keys
            return scores.masked_fill((j > i) | (((i - j) % b != 0) & (i - j >= b)), float("-inf"))
        if s.mask == "decay":  # a log-distance decay with per-head slopes built in the program
            heads = scores.shape[1]
            slopes = torch.exp2(-torch.arange(1, heads + 1, dtype=torch.float32, device=scores.device) * 8 / heads)
            dist = torch.log2(1 + (i - j).abs().to(torch.float32))
            return scores - (slopes[:, None, None] * dist).to(scores.dtype)
        return scores

    def _stats(self, scores, probs):
        out = []
        w = self.spec.window
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
            elif name == "lse":
                out.append(torch.logsumexp(scores, dim=-1))
            elif name == "max_values":
                out.append(scores.max(dim=-1).values)
            elif name == "normalizer":
                out.append(torch.exp(scores - scores.amax(-1, keepdim=True)).sum(-1))
            elif name == "window_cols":
                out.append(probs[:, :, -w:, :].sum(dim=-2))
            elif name == "last_row":
                out.append(probs[:, :, -1, :])
            elif name == "sink_mass":
                out.append(probs[..., :w].sum(-1))
            elif name == "probs":
                out.append(probs)
            elif name == "topk":
                out.append(probs.topk(min(3, probs.shape[-1]), dim=-1).values.sum(-1))
            elif name == "cum_mass":
                out.append(probs.cumsum(-1).mean(-1))
            elif name == "head_mean":
                out.append(probs.mean(1).sum(-2))
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
        args.append(_slopes(spec.heads))
    elif spec.mask == "segments":
        cuts = torch.randint(0, spec.kv_len, (spec.batch, 2), generator=g)
        j = torch.arange(spec.kv_len)
        args.append((j[None, :] >= cuts[:, :1]).long() + (j[None, :] >= cuts[:, 1:]).long())
    elif spec.mask == "lengths":
        args.append(torch.randint(1, spec.kv_len + 1, (spec.batch,), generator=g))
    elif spec.mask == "positions":
        start = torch.randint(0, spec.kv_len, (spec.batch, 1), generator=g)
        j = torch.arange(spec.kv_len)[None, :]
        args += [torch.where(j < start, j, j - start), _slopes(spec.heads)]  # restarts at `start`
    return tuple(a.to(device) for a in args)


def _slopes(heads: int) -> torch.Tensor:
    return torch.tensor([2.0 ** (-(h + 1)) for h in range(heads)], dtype=torch.float32)


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

"""Per-variant KV-cache selection after each layer's attention (the artifact's post-processing, notes §8).

The budget is 512 tokens at the paper's 4096-token prefill. Smaller scales keep the same ratio,
budget = seq // 8 (small: 256 -> 32, tiny: 64 -> 8), so every variant still has to choose.

    attn, gemma2        the full K and V, copied into the cache layout
    h2o, snapkv, kf     top-`budget` keys by the variant's score, in position order, gathered
    roco                the `budget // 2` most recent keys, plus the top-`budget` of the older keys
                        by the standard deviation of their attention probabilities
    corm                every (batch, head, key) whose flag is set: torch.nonzero, a host sync by nature

Shapes: k, v [B, L, H, D] as the attention takes them; scores [B, H, L]; a cache holds [B, H, n, D].
"""

from __future__ import annotations

from typing import NamedTuple

import torch

BUDGET_RATIO = 8  # 4096 / 512
SCORED = ("h2o", "snapkv", "kf")


class KVCache(NamedTuple):
    """What one layer keeps: the selected key positions (None: all) and their keys and values.

    index: [B, H, n] sorted positions (top-k variants, roco) or [N, 3] (batch, head, position) rows (corm).
    """

    index: torch.Tensor | None
    k: torch.Tensor
    v: torch.Tensor


def cache_budget(seq: int) -> int:
    return max(1, seq // BUDGET_RATIO)


def select_kv(variant: str, scores: tuple[torch.Tensor, ...], k: torch.Tensor, v: torch.Tensor,
              budget: int) -> KVCache:
    """The variant's cache from its attention's extra outputs (`scores`, in the kernel case's order)."""
    if variant in ("attn", "gemma2"):
        return KVCache(None, k.transpose(1, 2).contiguous(), v.transpose(1, 2).contiguous())
    if variant in SCORED:
        return gather(top_positions(scores[0], budget), k, v)
    if variant == "roco":
        return gather(roco_positions(*scores, budget), k, v)
    if variant == "corm":
        return corm_cache(scores[0], k, v)
    raise KeyError(f"no KV selection for {variant!r}")


def top_positions(score: torch.Tensor, n: int) -> torch.Tensor:
    """[B, H, L] -> the positions of the n largest scores, [B, H, n] in increasing order."""
    return score.topk(min(n, score.shape[-1]), dim=-1).indices.sort(dim=-1).values


def roco_positions(col_sum: torch.Tensor, col_sq_sum: torch.Tensor, budget: int) -> torch.Tensor:
    """RoCo: the recent window plus the older keys whose attention probability varies most.

    col_sum, col_sq_sum [B, H, L] are Σ_q p and Σ_q p² per key; key j is seen by the L - j queries at or after
    it (causal prefill), which gives the mean and the standard deviation of its probabilities.
    """
    seq = col_sum.shape[-1]
    window = min(budget // 2, seq)
    older = seq - window
    seen_by = torch.arange(seq, 0, -1, device=col_sum.device, dtype=col_sum.dtype)
    mean = col_sum / seen_by
    std = (col_sq_sum / seen_by - mean * mean).clamp_min(0).sqrt()
    picked = top_positions(std[..., :older], budget)
    recent = torch.arange(older, seq, device=col_sum.device).expand(*picked.shape[:-1], window)
    return torch.cat((picked, recent), dim=-1)


def gather(index: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> KVCache:
    """index [B, H, n] -> KVCache with k, v [B, H, n, D]."""
    at = index[..., None].expand(*index.shape, k.shape[-1])
    return KVCache(index, k.transpose(1, 2).gather(2, at), v.transpose(1, 2).gather(2, at))


def corm_cache(flags: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> KVCache:
    """flags [B, H, L] bool -> index [N, 3] (batch, head, position) and k, v [N, D] of the flagged keys."""
    index = torch.nonzero(flags)
    b, h, pos = index.unbind(1)
    return KVCache(index, k[b, pos, h], v[b, pos, h])

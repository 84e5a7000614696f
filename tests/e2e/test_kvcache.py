"""The per-variant KV selection: shapes, budget, and which keys each variant keeps."""

import pytest
import torch

from jobs.e2e.kvcache import cache_budget, roco_positions, select_kv, top_positions

B, L, H, D = 1, 64, 2, 8


@pytest.fixture
def kv():
    gen = torch.Generator().manual_seed(0)
    k = torch.randn(B, L, H, D, generator=gen).half()
    v = torch.randn(B, L, H, D, generator=gen).half()
    return k, v


def test_budget_is_an_eighth_of_the_prefill():
    assert cache_budget(4096) == 512
    assert (cache_budget(256), cache_budget(64)) == (32, 8)


def test_top_positions_are_the_largest_scores_in_position_order():
    score = torch.tensor([[[0.1, 0.9, 0.3, 0.8, 0.0, 0.7]]])
    assert top_positions(score, 3).tolist() == [[[1, 3, 5]]]


@pytest.mark.parametrize("variant", ["h2o", "snapkv", "kf"])
def test_scored_variants_keep_budget_keys_by_their_score(kv, variant):
    k, v = kv
    score = torch.rand(B, H, L, generator=torch.Generator().manual_seed(1))
    cache = select_kv(variant, (score,), k, v, budget=8)
    assert cache.index.shape == (B, H, 8) and cache.k.shape == cache.v.shape == (B, H, 8, D)
    for h in range(H):
        best = set(score[0, h].topk(8).indices.tolist())
        assert set(cache.index[0, h].tolist()) == best
        assert torch.equal(cache.k[0, h], k[0, cache.index[0, h], h])
        assert torch.equal(cache.v[0, h], v[0, cache.index[0, h], h])


def test_roco_keeps_the_recent_window_and_the_most_variable_older_keys(kv):
    k, v = kv
    budget, window = 8, 4
    # every query sees key j with the same probability except on the keys with a large Σp²
    seen_by = torch.arange(L, 0, -1, dtype=torch.float32)
    col_sum = seen_by / L
    col_sq = (col_sum / seen_by) ** 2 * seen_by
    variable = [3, 10, 17, 20, 33, 41, 50, 52]
    col_sq[variable] *= 4
    cache = select_kv("roco", (col_sum.expand(B, H, L), col_sq.expand(B, H, L)), k, v, budget)
    assert cache.index.shape == (B, H, budget + window) and cache.k.shape == (B, H, budget + window, D)
    assert cache.index[0, 0].tolist() == variable + list(range(L - window, L))
    assert torch.equal(cache.v[0, 1], v[0, cache.index[0, 1], 1])


def test_roco_std_is_of_the_queries_that_see_the_key():
    # key 0 seen by 4 queries with p = 0.25 each (std 0), key 1 by 3 queries with p = 0, 0, 1 (std > 0)
    col_sum = torch.tensor([[[1.0, 1.0, 0.5, 1.0]]])
    col_sq = torch.tensor([[[0.25, 1.0, 0.25, 1.0]]])
    assert roco_positions(col_sum, col_sq, budget=1)[0, 0].tolist()[0] == 1


def test_corm_keeps_every_flagged_key(kv):
    k, v = kv
    flags = torch.zeros(B, H, L, dtype=torch.bool)
    flags[0, 0, [0, 5, 63]] = True
    flags[0, 1, [7]] = True
    cache = select_kv("corm", (flags,), k, v, budget=8)
    assert cache.index.tolist() == [[0, 0, 0], [0, 0, 5], [0, 0, 63], [0, 1, 7]]
    assert cache.k.shape == (4, D)
    assert torch.equal(cache.k[2], k[0, 63, 0]) and torch.equal(cache.v[3], v[0, 7, 1])


@pytest.mark.parametrize("variant", ["attn", "gemma2"])
def test_full_caches_keep_everything(kv, variant):
    k, v = kv
    cache = select_kv(variant, (), k, v, budget=8)
    assert cache.index is None
    assert torch.equal(cache.k, k.transpose(1, 2)) and torch.equal(cache.v, v.transpose(1, 2))
    assert cache.k.is_contiguous()

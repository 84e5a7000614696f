"""The e2e Llama: RoPE, the attention call-out, and how far float16 rounding takes it from float32."""

import copy

import torch

from jobs.cases import kernel_case
from jobs.e2e.check import ELEM_TOL, REL_TOL, check_prefill, reference_of
from jobs.e2e.kvcache import cache_budget
from jobs.e2e.model import LlamaConfig, apply_rope, rope_tables
from jobs.e2e.weights import random_model
from jobs.e2e.workload import Prefill
from jobs.spec import SCALES, e2e_dims

SMALL = dict(e2e_dims(SCALES["small"], 4096))


def test_rope_scores_depend_on_relative_position_only():
    gen = torch.Generator().manual_seed(0)
    q, k = torch.randn(1, 1, 1, 64, generator=gen), torch.randn(1, 1, 1, 64, generator=gen)
    cos, sin = rope_tables(32, 64, 10000.0, "cpu")

    def score(i, j):
        return float((apply_rope(q, cos[i:i + 1], sin[i:i + 1]) * apply_rope(k, cos[j:j + 1], sin[j:j + 1])).sum())

    assert abs(score(7, 3) - score(20, 16)) < 1e-4
    assert abs(score(7, 3) - score(7, 4)) > 1e-3
    assert torch.allclose(apply_rope(q, cos[5:6], sin[5:6]).norm(), q.norm())


def test_the_attention_gets_contiguous_bshd_inputs_once_per_layer():
    model = random_model(LlamaConfig.from_dims(SMALL), "cpu", 0)
    seen = []

    def attention(q, k, v):
        seen.append([(tuple(t.shape), t.dtype, t.is_contiguous()) for t in (q, k, v)])
        return torch.zeros_like(q), None

    model(torch.zeros(1, 256, dtype=torch.long), attention)
    assert seen == [[((1, 256, 4, 64), torch.float16, True)] * 3] * SMALL["layers"]


def test_float16_rounding_stays_well_inside_the_tolerance():
    """The same prefill in float32 (a system exact to float32 in everything) must pass the check with margin."""
    model = random_model(LlamaConfig.from_dims(SMALL), "cpu", 0)
    tokens = torch.randint(0, model.cfg.vocab, (1, 256), generator=torch.Generator().manual_seed(0))
    dims = {"batch": 1, "heads": 4, "kv_heads": 4, "head_dim": 64, "q_len": 256, "kv_len": 256}
    program = kernel_case("h2o").build(dims)
    want = reference_of(Prefill(model, "h2o", program, cache_budget(256), None, 0)(tokens))
    hidden, caches = Prefill(copy.deepcopy(model).float(), "h2o", program, cache_budget(256), None, 0)(tokens)
    stats = check_prefill((hidden.half(), caches), want, "h2o")["outputs"]
    assert 0 < stats["hidden"]["rel_err"] < REL_TOL / 5
    assert stats["hidden"]["max_err_scaled"] < ELEM_TOL / 5

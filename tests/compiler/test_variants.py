"""Attention programs of 2024-2026 model and KV-cache-compression code (tests/compiler/variants.py), none of
them one of the seven cases: each compiles to kernels with no score-sized value left to torch, and agrees
with the same program in float64 (kernels through Triton's interpreter)."""

import math
import warnings

import pytest
import torch
from case_runner import assert_close, score_tensors_from_vectors
from variants import VARIANTS, reference

import compiler
from jobs.check import nan_filled_allocations

# per variant: the roles of its kernels (what the planner should find, written down so a change shows)
ROLES = {
    "diff": ["row", "row"],  # both softmaxes' statistics, then P1·V - λ P2·V with their finished lse
    "docs": ["row"],
    "snapkv_window": ["row", "column"],  # the column pass streams only the last `window` queries
    "snapkv_observation": ["row", "row", "column"],  # sdpa's pass; the window's own softmax, its column sums
    "tova": ["row", "row"],  # the second writes the last query's row of probabilities
    "cascade": ["row", "row"],  # one per score space (prefix keys, own keys)
    "partial_stats": ["row", "row"],  # the normalizer exp(s - max) needs the finished max
    "alibi_positions": ["row"],
    "padded_lengths": ["row", "row"],  # the entropy needs the finished lse
    "sink_mass": ["row", "row"],  # the second streams only the sink keys
    "sigmoid": ["row"],
    "learned_sinks": ["row", "row", "row"],  # max, then the sum shifted by max(max, sink), then P·V
    "learned_biases": ["row"],  # u @ kᵀ and q @ w are a row and a column vector, not score spaces
}


def _compile(variant, options):
    g = torch.Generator().manual_seed(0)
    args = variant.inputs(g, torch.float16)
    module = variant.build()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fn = compiler.compile(module, args, options=options, name=variant.name)
    return module, args, fn


@pytest.mark.parametrize("variant", VARIANTS, ids=[v.name for v in VARIANTS])
def test_variant_is_fused_and_matches_float64(variant, options):
    module, args, fn = _compile(variant, options)
    with nan_filled_allocations():
        out = fn(*args)
    out = out if isinstance(out, tuple) else (out,)
    eager = module(*args)
    eager = eager if isinstance(eager, tuple) else (eager,)
    for got, want, same in zip(out, reference(module, args), eager):
        assert got.dtype == same.dtype and got.shape == same.shape
        assert_close(got, want, "float16")
    report = fn.explain()
    assert [k.role for k in report.kernels] == ROLES[variant.name], report.plan
    assert not report.regions and not report.failed, report.render()
    score = max(math.prod(n.shape) for n in fn.plan.graph.nodes if n.op.name == "DOT")
    for f in report.fallbacks:
        assert math.prod(f.shape) < score, f  # what torch does is small (a pooling, a merge of two rows)
    assert all(o.fused in ("fused", "partly") for o in report.outputs)
    # a mask or bias of vectors indexed by row and column is computed per tile, never an [Lq, Lk] tensor
    assert not score_tensors_from_vectors(fn.plan), report.plan


def test_the_window_pass_streams_only_the_window(options):
    """SnapKV's votes come from the last `window` queries: the column pass's loop runs over those only."""
    _, _, fn = _compile(next(v for v in VARIANTS if v.name == "snapkv_window"), options)
    column = fn.plan.kernels[1]
    assert column.role == "column" and fn.plan.axes.sizes[column.r] == 8


def test_a_selected_row_is_written_by_a_pass_over_that_row(options):
    _, _, fn = _compile(next(v for v in VARIANTS if v.name == "tova"), options)
    store = fn.plan.kernels[1]
    assert [a.sink.op for a in store.accumulators] == [None]  # written tile by tile, nothing reduced
    assert fn.plan.axes.sizes[store.p] == 1  # one query row


@pytest.mark.parametrize("q_len,kv_len", [(1, 24), (24, 1), (1, 1)])
def test_learned_biases_with_one_query_or_one_key(q_len, kv_len, options):
    """One query decoding or one key: the scores are as small as the vectors beside them, and the space
    stays (one query's row of scores is still streamed by a pass); float64 agrees."""
    variant = next(v for v in VARIANTS if v.name == "learned_biases")
    g = torch.Generator().manual_seed(1)
    q, k, v = (torch.randn(1, 2, n, 16, generator=g).half() for n in (q_len, kv_len, kv_len))
    u, w = (torch.randn(2, *s, generator=g).mul(0.2).half() for s in ((1, 16), (16, 1)))
    module, args = variant.build(), (q, k, v, u, w)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fn = compiler.compile(module, args, options=options, name="learned_biases_small")
    (space,) = fn.plan.axes.spaces
    assert (fn.plan.axes.sizes[space.i], fn.plan.axes.sizes[space.j]) == (q_len, kv_len)
    assert not fn.explain().regions
    assert_close(fn(*args), reference(module, args)[0], "float16")

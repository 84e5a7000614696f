"""Property-based: attention-like programs drawn from a small grammar (kernel_programs.Spec) compile to
kernels that agree with the same program evaluated in float64; compile never raises on them, fuses every
output it can, and leaves to torch (chunked) only what no kernel computes."""

import math
import warnings

import pytest
from case_runner import assert_close, score_tensors_from_vectors
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kernel_programs import (
    COL_STATS,
    FORMS,
    MASKS,
    MODS,
    PART_STATS,
    ROW_STATS,
    TORCH_STATS,
    Program,
    Spec,
    make_inputs,
    reference,
)

import compiler
from jobs.check import nan_filled_allocations

FIRST_MASKS = ("none", "causal", "window", "padding", "bias", "alibi", "tril")
FIRST_STATS = ("row_max", "row_mean", "entropy", *COL_STATS)


@st.composite
def specs(draw, forms=("plain",), masks=FIRST_MASKS, stats=FIRST_STATS):
    kv_heads = draw(st.sampled_from([1, 2]))
    q_len, kv_len = draw(st.integers(1, 60)), draw(st.integers(1, 60))
    mask = draw(st.sampled_from(masks))
    if mask in ("segments", "positions"):  # the queries are the last q_len of the key positions
        q_len, kv_len = min(q_len, kv_len), max(q_len, kv_len)
    return Spec(
        form=draw(st.sampled_from(forms)),
        mask=mask,
        mod=draw(st.sampled_from(MODS)),
        stats=tuple(draw(st.lists(st.sampled_from(stats), max_size=2, unique=True))),
        batch=draw(st.integers(1, 2)),
        heads=kv_heads * draw(st.sampled_from([1, 2])),
        kv_heads=kv_heads,
        head_dim=draw(st.sampled_from([16, 32, 24])),
        q_len=q_len,
        kv_len=kv_len,
        window=draw(st.integers(1, 20)),
        dtype=draw(st.sampled_from(["float16", "bfloat16"])),
    )


def _run(spec: Spec, scale: float, options):
    args = make_inputs(spec, seed=3, logit_scale=scale)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fn = compiler.compile(Program(spec), args, options=options, name="grammar")
    with nan_filled_allocations():
        out = fn(*args)
    for got, want in zip(out, reference(spec, args)):
        assert_close(got, want, spec.dtype)
    return fn


@pytest.mark.slow
@settings(max_examples=14, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(spec=specs(), scale=st.sampled_from([1.0, 12.0]))
def test_generated_programs_match_float64(spec, scale, options):
    fn = _run(spec, scale, options)
    assert fn.plan.kernels, fn.plan.render()


@pytest.mark.slow
@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(spec=specs(FORMS, MASKS, ROW_STATS + COL_STATS + PART_STATS + TORCH_STATS), scale=st.sampled_from([1.0, 12.0]))
def test_every_class_is_fused_where_it_can_be_and_never_refused(spec, scale, options):
    """Every class of the grammar: split q and k (multi-result ops), two score spaces, masks from vectors
    indexed by row and column, row statistics by name, statistics over part of the scores, and statistics
    only torch computes. What a kernel can compute is fused; the rest is a torch region, chunked."""
    fn = _run(spec, scale, options)
    report = fn.explain()
    assert fn.plan.kernels and not report.failed, report.render()
    torch_only = [s for s in spec.stats if s in TORCH_STATS]
    assert bool(report.regions) == bool(torch_only), report.plan
    assert all(r.chunk for r in report.regions), report.plan  # never the whole score tensor at once
    assert report.outputs[0].fused == "fused"  # the attention output, whatever else the program asks
    score = spec.batch * spec.heads * spec.q_len * spec.kv_len
    for f in report.fallbacks:
        assert math.prod(f.shape) < score or spec.q_len == 1 or spec.kv_len == 1, f
    assert not score_tensors_from_vectors(fn.plan), report.plan

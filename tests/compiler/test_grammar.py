"""Property-based: attention-like programs drawn from a small grammar (kernel_programs.Spec) compile to
kernels that agree with the same program evaluated in float64."""

import warnings

import pytest
from case_runner import assert_close
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kernel_programs import COL_STATS, MASKS, MODS, ROW_STATS, Program, Spec, make_inputs, reference

import compiler
from jobs.check import nan_filled_allocations


@st.composite
def specs(draw):
    kv_heads = draw(st.sampled_from([1, 2]))
    return Spec(
        mask=draw(st.sampled_from(MASKS)),
        mod=draw(st.sampled_from(MODS)),
        stats=tuple(draw(st.lists(st.sampled_from(ROW_STATS + COL_STATS), max_size=2, unique=True))),
        batch=draw(st.integers(1, 2)),
        heads=kv_heads * draw(st.sampled_from([1, 2])),
        kv_heads=kv_heads,
        head_dim=draw(st.sampled_from([16, 32, 24])),
        q_len=draw(st.integers(1, 60)),
        kv_len=draw(st.integers(1, 60)),
        window=draw(st.integers(1, 20)),
        dtype=draw(st.sampled_from(["float16", "bfloat16"])),
    )


@pytest.mark.slow
@settings(max_examples=14, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(spec=specs(), scale=st.sampled_from([1.0, 12.0]))
def test_generated_programs_match_float64(spec, scale, options):
    args = make_inputs(spec, seed=3, logit_scale=scale)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fn = compiler.compile(Program(spec), args, options=options, name="grammar")
    assert fn.plan.kernels, fn.plan.render()
    with nan_filled_allocations():
        out = fn(*args)
    for got, want in zip(out, reference(spec, args)):
        assert_close(got, want, spec.dtype)

"""Generality: masks, score modifications and statistics the seven cases do not use, shapes that are
not multiples of any block, grouped KV heads, dtypes; and programs that cannot be fused still run."""

import math
import re
import warnings

import pytest
import torch
from case_runner import assert_close, score_tensors_from_vectors
from kernel_programs import COL_STATS, MASKS, ROW_STATS, LogBias, Program, Spec, log_bias_inputs, make_inputs, reference

import compiler
from compiler.options import CompileOptions
from compiler.pipeline import Compilation, run_pipeline
from jobs.check import nan_filled_allocations


def _run(spec: Spec, options, scale: float = 1.0):
    args = make_inputs(spec, seed=1, logit_scale=scale)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fn = compiler.compile(Program(spec), args, options=options, name="prog")
    with nan_filled_allocations():
        out = fn(*args)
    eager = Program(spec)(*args)
    for got, want, same in zip(out, reference(spec, args), eager):
        assert got.dtype == same.dtype and got.shape == same.shape
        assert_close(got, want, spec.dtype)
    return fn


@pytest.mark.parametrize("mask", MASKS)
def test_masks(mask, options):
    fn = _run(Spec(mask=mask, batch=2, heads=4, kv_heads=2, q_len=37, kv_len=53), options)
    assert len(fn.plan.kernels) == 1 and not [t for t in fn.plan.torch_steps if t.kind == "fallback"]
    # masks of vectors (segments, lengths, positions) are computed per tile: no [Lq, Lk] tensor, no prologue
    assert not score_tensors_from_vectors(fn.plan) and not fn.explain().prologues, fn.plan.render()


def test_sliding_window_skips_tiles_on_both_sides(options):
    spec = Spec(mask="window", q_len=90, kv_len=90, window=9)
    fn = _run(spec, options)
    (k,) = fn.plan.kernels
    assert [r.dead for r in k.regions] == [True, False, True]


@pytest.mark.parametrize("mod", ["softcap", "scale"])
def test_score_modifications(mod, options):
    _run(Spec(mod=mod, q_len=45, kv_len=45), options, scale=8.0)


class Scaled(torch.nn.Module):
    def __init__(self, c: float):
        super().__init__()
        self.c = c

    def forward(self, q, k, v):
        return torch.softmax((q @ k.transpose(-1, -2)).float() * self.c, dim=-1).to(q.dtype) @ v


@pytest.mark.parametrize("c", [0.3, -0.3])
def test_a_positive_scale_leaves_the_row_max_to_one_multiply_per_row(c, options):
    # max(x * c) = max(x) * c bit for bit when c > 0 (rounding is monotonic), not when c < 0
    g = torch.Generator().manual_seed(3)
    q, k, v = (torch.randn(1, 2, 37, 16, generator=g).half() * 8 for _ in range(3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fn = compiler.compile(Scaled(c), (q, k, v), options=options, name="scaled")
    with nan_filled_allocations():
        got = fn(q, k, v)
    assert_close(got, Scaled(c)(q.double(), k.double(), v.double()), "float16")
    source = fn.launcher.kernels["scaled_k0"][0].source
    factored = re.search(r"n0 = tl\.maximum\(a0, tl\.max\(\w+, 1\) \* ([0-9.e-]+)\)", source)
    assert (factored is not None) == (c > 0)
    if factored:
        assert float(factored.group(1)) == pytest.approx(c * math.log2(math.e))


def test_row_statistics(options):
    fn = _run(Spec(stats=ROW_STATS, q_len=33, kv_len=47), options)
    assert [k.role for k in fn.plan.kernels] == ["row", "row"]  # entropy needs finished row stats


def test_column_statistics(options):
    fn = _run(Spec(stats=COL_STATS, q_len=33, kv_len=47), options)
    assert [k.role for k in fn.plan.kernels] == ["row", "column"]  # five column sums in one pass


@pytest.mark.slow
@pytest.mark.parametrize("dtype", ["bfloat16", "float32"])
def test_dtypes(dtype, options):
    _run(Spec(dtype=dtype, stats=("col_sum",), q_len=29, kv_len=41), options)


@pytest.mark.slow
def test_head_dim_not_a_power_of_two(options):
    _run(Spec(head_dim=40, heads=3, kv_heads=1, q_len=21, kv_len=35, stats=("col_sum",)), options)


def test_queries_longer_than_keys_leave_empty_rows_unchecked(options):
    # causal with q_len > kv_len: the first rows see no key; torch gives NaN there, so does the reference
    _run(Spec(mask="causal", q_len=40, kv_len=25), options)


def test_a_score_sized_output_is_written_tile_by_tile_with_its_finished_statistics(options):
    def probs(q, k):
        return torch.softmax(q @ k.transpose(-1, -2) / 8.0, dim=-1)

    q, k = torch.randn(2, 12, 16), torch.randn(2, 20, 16)
    report = compiler.explain(probs, (q, k), options=options)
    assert [k.role for k in report.kernels] == ["row", "row"] and not report.fallbacks
    assert "written tile by tile" in report.plan
    fn = compiler.compile(probs, (q, k), options=options)
    with nan_filled_allocations():
        got = fn(q, k)
    assert_close(got, probs(q.double(), k.double()), "float32")


def test_an_unknown_op_runs_in_torch(options):
    def prog(q, k, v):
        return torch.softmax(torch.erf(q) @ k.transpose(-1, -2), -1) @ v  # erf has no rule

    q, k, v = (torch.randn(1, 2, 24, 16) for _ in range(3))
    fn = compiler.compile(prog, (q, k, v), options=options)
    assert [str(s.node.attr("target")) for s in fn.plan.torch_steps] == ["aten.erf.default"]
    assert [k.role for k in fn.plan.kernels] == ["row"]
    assert torch.allclose(fn(q, k, v), prog(q, k, v), atol=1e-5)


@pytest.mark.parametrize("form", ["causal", "bool_mask", "float_mask", "gqa_scale", "einsum"])
def test_attention_written_as_one_library_call_is_fused(form, options):
    """scaled_dot_product_attention and einsum are whole programs in model code; written out in the IR
    they are fused like attention written by hand (torch would hold the score matrix)."""
    sdpa = torch.nn.functional.scaled_dot_product_attention
    g = torch.Generator().manual_seed(2)
    q = torch.randn(2, 4, 28, 16, generator=g)
    k, v = (torch.randn(2, 2 if form == "gqa_scale" else 4, 36, 16, generator=g) for _ in range(2))
    mask = torch.rand(28, 36, generator=g) > 0.3
    programs = {
        "causal": lambda q, k, v, m: sdpa(q, k, v, is_causal=True),
        "bool_mask": lambda q, k, v, m: sdpa(q, k, v, attn_mask=m),
        "float_mask": lambda q, k, v, m: sdpa(q, k, v, attn_mask=m.to(q.dtype) * -2.0),
        "gqa_scale": lambda q, k, v, m: sdpa(q, k, v, scale=0.3, enable_gqa=True),
        "einsum": lambda q, k, v, m: torch.einsum("bhqk,bhkd->bqhd", torch.einsum("bhqd,bhkd->bhqk", q, k).softmax(-1),
                                                  v),
    }
    prog = programs[form]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fn = compiler.compile(prog, (q, k, v, mask), options=options)
    assert [k.role for k in fn.plan.kernels] == ["row"] and not fn.explain().fallbacks
    with nan_filled_allocations():
        got = fn(q, k, v, mask)
    assert_close(got, prog(q.double(), k.double(), v.double(), mask), "float32")


def test_a_program_that_cannot_be_captured_raises_compile_error(options):
    def branchy(q):
        return q * 2 if q.sum() > 0 else q  # control flow on a value: torch.export refuses it

    with pytest.raises(compiler.CompileError, match="torch.export could not capture"):
        compiler.compile(branchy, (torch.randn(4, 4),), options=options)


def test_a_captured_program_the_compiler_cannot_translate_runs_in_torch_and_says_why(options):
    def data_dependent(q):
        return q[q > 0] * 2, q.sum(-1)

    q = torch.randn(4, 4)
    fn = compiler.compile(data_dependent, (q,), options=options)
    for got, want in zip(fn(q), data_dependent(q)):
        assert torch.equal(got, want)
    assert "data-dependent shape" in fn.explain().failed and "the whole program runs in torch" in fn.explain().render()


def test_multiple_softmaxes_share_a_space(options):
    def two(q, k, v):
        s = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
        return torch.softmax(s, -1) @ v, torch.softmax(s * 2.0, -1).sum(-2)

    q, k, v = torch.randn(2, 30, 16), torch.randn(2, 30, 16), torch.randn(2, 30, 16)
    fn = compiler.compile(two, (q, k, v), options=options)
    a, b = fn(q, k, v)
    ra, rb = two(q.double(), k.double(), v.double())
    assert_close(a, ra, "float32")
    assert_close(b, rb, "float32")


@pytest.mark.parametrize("batch", [1, 2])
def test_per_head_score_inputs_are_pipelined(batch, options):
    """A score-shaped input that each program reads alone (an additive bias per head, at batch 1) is
    streamed through a staged loop; one shared by the batch is re-read from L2 and left as it is."""
    spec = Spec(mask="bias", stats=("col_sum",), batch=batch, heads=2, q_len=40, kv_len=40)
    fn = _run(spec, options)
    staged = ["num_stages=STAGES" in s.source for s in fn.sources]
    assert staged == [batch == 1] * len(fn.plan.kernels)


def test_a_log_on_the_gpu_is_one_mufu_instruction(options):
    # the interpreter runs tl.log2; for the GPU the same kernels call lg2.approx.f32 (codegen/kernel.py)
    args = log_bias_inputs(heads=2, length=45, head_dim=16)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fn = compiler.compile(LogBias(), args, options=options, name="logbias")
        cuda = run_pipeline(Compilation(LogBias(), args, CompileOptions(target="cuda", autotune=False), "logbias"),
                            until="codegen")
    with nan_filled_allocations():
        out, cols = fn(*args)
    want_out, want_cols = LogBias()(*(t.double() for t in args))
    assert_close(out, want_out, "float16")
    assert_close(cols, want_cols, "float32")
    here = "\n".join(s.source for s in fn.sources)
    gpu = "\n".join(s.source for s in cuda.sources)
    assert [k.role for k in fn.plan.kernels] == ["row", "column"]
    assert "tl.log2(" in here and "_log2(" not in here
    assert "lg2.approx.f32" in gpu and "tl.log2(" not in gpu
    assert len(re.findall(r"= _log2\(", gpu)) >= 2  # the side input's log in both passes (and the lse)

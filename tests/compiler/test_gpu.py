"""On the H200: the seven cases at full shape against float64 (normal and ±100 logits), more shapes and
dtypes, compile time, and memory. Run on the device machine:

    FTRUN_TEST_GPU=1 python -m pytest -m gpu tests/compiler/test_gpu.py
"""

import os

import pytest
import torch
from case_runner import assert_close, compile_case, dims, run_case
from kernel_programs import LogBias, log_bias_inputs
from variants import VARIANTS, Shape, reference

import compiler
from jobs.spec import KERNEL_MODELS

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available() or os.environ.get("TRITON_INTERPRET") == "1",
                       reason="needs a CUDA GPU with TRITON_INTERPRET unset (FTRUN_TEST_GPU=1)"),
]

FULL = {"batch": 1, "heads": 32, "kv_heads": 32, "head_dim": 128, "q_len": 4096, "kv_len": 4096}


@pytest.mark.parametrize("scale", [1.0, 20.0])
@pytest.mark.parametrize("name", KERNEL_MODELS)
def test_full_shape(name, scale, options):
    run_case(name, FULL, "float16", options, "cuda", scale=scale)


@pytest.mark.parametrize("name", KERNEL_MODELS)
def test_odd_shapes_gqa_batch2(name, options):
    run_case(name, dims(batch=2, heads=8, kv_heads=2, head_dim=64, q_len=777, kv_len=1031), "float16",
             options, "cuda", scale=10.0)


@pytest.mark.parametrize("name", ["attn", "h2o", "kf", "gemma2"])
def test_bf16(name, options):
    run_case(name, dims(batch=1, heads=8, kv_heads=8, head_dim=128, q_len=1000, kv_len=1000), "bfloat16",
             options, "cuda")


@pytest.mark.parametrize("name", KERNEL_MODELS)
def test_compile_time_under_5s(name, options):
    compile_case("attn", FULL, "float16", options, "cuda")  # warm torch.export up once
    _, _, fn = compile_case(name, FULL, "float16", options, "cuda")
    assert fn.compile_seconds < 5.0, fn.step_seconds


@pytest.mark.parametrize("name", ["h2o", "kf", "corm"])
def test_peak_memory_holds_no_score_matrix(name, options):
    case, inputs, fn = compile_case(name, FULL, "float16", options, "cuda")
    args = tuple(inputs.values())
    fn(*args)
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    fn(*args)
    torch.cuda.synchronize()
    extra = torch.cuda.max_memory_allocated() - base
    one_score_matrix_fp16 = FULL["heads"] * FULL["q_len"] * FULL["kv_len"] * 2
    assert extra < one_score_matrix_fp16 / 4, f"{extra / 2**20:.0f} MiB"


@pytest.mark.parametrize("name", ["h2o", "kf"])
def test_direct_launches_match_tritons(name, options):
    """Repeated calls go straight to the compiled kernels (launch/direct.py) and give the same bits as the
    first call through Triton's path; an input Triton would specialize differently (a pointer off its
    16-byte alignment) goes back through Triton, is right, and the next aligned call is direct again."""
    d = dims(batch=1, heads=4, kv_heads=4, head_dim=64, q_len=300, kv_len=300)
    case, inputs, fn = compile_case(name, d, "float16", options, "cuda")
    args = tuple(inputs.values())
    first = [o.clone() for o in fn(*args)]
    assert fn.launcher.stats.direct == 0
    for _ in range(3):
        again = fn(*args)
        assert all(torch.equal(a, b) for a, b in zip(first, again))
    n_kernels = len(fn.plan.generated)
    assert fn.launcher.stats.direct == 3 * n_kernels
    q = args[0]
    shifted = torch.empty(q.numel() + 1, dtype=q.dtype, device=q.device)[1:].view(q.shape)
    shifted.copy_(q)
    assert shifted.data_ptr() % 16 != 0
    off = fn(shifted, *args[1:])
    assert fn.launcher.stats.direct == 3 * n_kernels  # Triton's path
    assert all(torch.equal(a, b) for a, b in zip(first, off))
    fn(*args)
    fn(*args)
    assert fn.launcher.stats.direct == 4 * n_kernels


def test_a_log_of_a_side_input_matches_float64(options):
    """The GPU's log2 is lg2.approx.f32, one MUFU instruction in place of libdevice's log2f (codegen/kernel.py):
    a program outside the seven that takes the log of a score-sized input still matches float64."""
    args = log_bias_inputs(heads=8, length=2048, head_dim=128, device="cuda")
    fn = compiler.compile(LogBias(), args, options=options, name="logbias")
    out, cols = fn(*args)
    want_out, want_cols = LogBias()(*(t.double() for t in args))
    assert_close(out, want_out, "float16")
    assert_close(cols, want_cols, "float32")
    assert all("lg2.approx.f32" in src.source for src, _ in fn.launcher.kernels.values())


@pytest.mark.parametrize("variant", VARIANTS, ids=[v.name for v in VARIANTS])
def test_variants_at_full_size(variant, options):
    """The 2024-2026 variants of tests/compiler/variants.py (issue 19) at full size: kernels only, and
    float64's answer. Their times against inductor are for the device session's benchmark (BENCHMARKS.md)."""
    g = torch.Generator().manual_seed(0)
    args = tuple(a.cuda() for a in variant.inputs(g, torch.float16, Shape(batch=1, heads=32, length=4096,
                                                                          head_dim=128)))
    module = variant.build()
    fn = compiler.compile(module, args, options=options, name=variant.name)
    out = fn(*args)
    out = out if isinstance(out, tuple) else (out,)
    assert fn.plan.kernels and not fn.plan.regions
    for got, want in zip(out, reference(module, args)):
        assert_close(got, want, "float16")
        del want

"""On the H200 (or an H100): the Hopper target's kernels (CompileOptions.hopper_kernels) at full size
against float64, normal and ±100 logits, plus odd shapes with grouped KV heads and bf16. Run on the
device machine:

    FTRUN_TEST_GPU=1 python -m pytest -m gpu tests/compiler/test_hopper_gpu.py
"""

import os
from dataclasses import replace

import pytest
import torch
from case_runner import assert_close, compile_case, dims
from test_hopper_compile import ACCEPTED
from test_hopper_variants import ACCEPTED as VARIANTS_ACCEPTED
from variants import VARIANTS, Shape, reference

import compiler
from jobs.check import check_outputs, nan_filled_allocations
from jobs.spec import KERNEL_MODELS

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available() or os.environ.get("TRITON_INTERPRET") == "1"
                       or torch.cuda.get_device_capability() != (9, 0),
                       reason="needs an sm_90 GPU with TRITON_INTERPRET unset (FTRUN_TEST_GPU=1)"),
]

FULL = {"batch": 1, "heads": 32, "kv_heads": 32, "head_dim": 128, "q_len": 4096, "kv_len": 4096}


def _run(name, d, dtype, options, scale=1.0):
    """Compile with the Hopper target, check which kernels it took, run with NaN-prefilled outputs and
    compare with the float64 reference."""
    case, inputs, fn = compile_case(name, d, dtype, replace(options, hopper_kernels=True), "cuda", scale)
    assert {s.name for s in fn.sources if s.tune_role} == ACCEPTED[name]
    with nan_filled_allocations():
        out = fn(*inputs.values())
    torch.cuda.synchronize()
    return check_outputs(out, case.outputs, case.reference(inputs), dtype)


@pytest.mark.parametrize("scale", [1.0, 20.0])
@pytest.mark.parametrize("name", KERNEL_MODELS)
def test_full_shape(name, scale, options):
    _run(name, FULL, "float16", options, scale)


@pytest.mark.parametrize("name", KERNEL_MODELS)
def test_odd_shapes_gqa_batch2(name, options):
    _run(name, dims(batch=2, heads=8, kv_heads=2, head_dim=64, q_len=777, kv_len=1031), "float16", options, 10.0)


@pytest.mark.parametrize("name", ["attn", "h2o", "gemma2"])
def test_bf16(name, options):
    _run(name, dims(batch=1, heads=8, kv_heads=8, head_dim=128, q_len=1000, kv_len=1000), "bfloat16", options)


@pytest.mark.parametrize("config", [(128, 128, 4, 2), (128, 64, 4, 3)])
def test_each_ring_config(config, options):
    """Both candidate configs of the row and the column pass are right (autotuning picks either)."""
    _run("h2o", FULL, "float16", replace(options, config=config))


@pytest.mark.parametrize("variant", [v for v in VARIANTS if VARIANTS_ACCEPTED[v.name]], ids=lambda v: v.name)
def test_variants(variant, options):
    """The 2024-2026 variants whose passes the target takes (a pass beside a torch region or a restricted
    space, passes reading another's finished statistics), odd length and grouped KV heads: float64's answer."""
    g = torch.Generator().manual_seed(0)
    args = tuple(a.cuda() for a in variant.inputs(g, torch.float16, Shape(batch=2, heads=8, length=1031,
                                                                          head_dim=128)))
    module = variant.build()
    fn = compiler.compile(module, args, options=replace(options, hopper_kernels=True), name="prog")
    assert {s.name for s in fn.sources if s.tune_role} == VARIANTS_ACCEPTED[variant.name]
    with nan_filled_allocations():
        out = fn(*args)
    out = out if isinstance(out, tuple) else (out,)
    for got, want in zip(out, reference(module, args)):
        assert_close(got, want, "float16")


def test_repeated_calls_launch_directly(options):
    """After the first call, the Hopper kernels (TMA descriptor arguments) go straight to their compiled
    launchers (launch/direct.py) and give the same bits; an input off its 16-byte alignment is copied for
    its descriptor and is still right."""
    d = dims(batch=1, heads=4, kv_heads=4, head_dim=128, q_len=700, kv_len=700)
    case, inputs, fn = compile_case("h2o", d, "float16", replace(options, hopper_kernels=True), "cuda")
    args = tuple(inputs.values())
    first = [o.clone() for o in fn(*args)]
    for _ in range(3):
        assert all(torch.equal(a, b) for a, b in zip(first, fn(*args)))
    assert fn.launcher.stats.direct == 3 * len(fn.plan.generated)
    q = args[0]
    shifted = torch.empty(q.numel() + 1, dtype=q.dtype, device=q.device)[1:].view(q.shape)
    shifted.copy_(q)
    assert all(torch.equal(a, b) for a, b in zip(first, fn(shifted, *args[1:])))

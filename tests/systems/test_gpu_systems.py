"""GPU checks of the baselines (run on the device machine: pytest tests/systems -m gpu).

Library kernels at a small shape; XLA on every case; TVM's prebuilt full-scale modules (from
.carry/tvm, see jobs/systems/tvm_prebuild.py) through run_case, as the fig12 run will use them.
"""

from __future__ import annotations

import pytest
import torch
from systems_testlib import MODELS, QUICK, check_system, has, make_spec

import ftrun
from jobs.entry import run_case
from jobs.spec import SCALES, kernel_dims
from jobs.systems import get_system
from jobs.systems import tvm_relax as tvm_system
from results.case import CaseSpec
from results.runsdir import RunsDir

pytestmark = pytest.mark.gpu

SMALL = {"batch": 1, "heads": 8, "kv_heads": 8, "head_dim": 128, "q_len": 512, "kv_len": 512}
GQA = {**SMALL, "kv_heads": 2}
FULL = dict(kernel_dims(SCALES["full"], 4096))


def gpu_spec(model: str, system: str, dims: dict = SMALL):
    return make_spec(model, system, dims, device="gpu")


@pytest.mark.parametrize("system,model,dims", [
    ("flashattn2", "attn", SMALL), ("flashattn2", "attn", GQA), ("cudnn", "attn", SMALL),
    ("flex", "attn", SMALL), ("flex", "gemma2", SMALL), ("flex", "attn", GQA),
])
def test_library_kernels(system, model, dims, cuda):
    check_system(get_system(system), gpu_spec(model, system, dims), cuda)


def test_flex_derives_a_plugin_mask_built_on_the_gpu(cuda):
    """A plug-in program whose mask comes from torch.arange(..., device=q.device) (the README's SinkWindow
    shape): the dead set is probed where the mask lies, and the derived kernel passes the float64 gate."""
    from test_flex_derived import DIMS, Window

    from jobs.check import check_outputs
    from jobs.systems.flex_program import derive

    case = ftrun.Case("window", Window)
    inputs = case.inputs(DIMS, "float16", "cuda", 0)
    form = derive(case.build(DIMS), tuple(inputs.values()))
    i, j = torch.arange(40)[:, None] + 8, torch.arange(48)[None, :]
    assert form.dead.is_cuda and torch.equal(form.dead[0, 0].cpu(), (j > i) | (j <= i - 16))
    flex = get_system("flex")
    spec = CaseSpec("kernel", "window", "flex", tuple(sorted(DIMS.items())), "float16", "gpu",
                    options=(("source", case.source_hash()),))
    fn = flex.compile(case.build(DIMS).cuda(), tuple(inputs.values()), spec)
    check_outputs(fn(*inputs.values()), case.outputs, case.reference(inputs), "float16")


@pytest.mark.skipif(not has("flash_attn"), reason="flash_attn is not installed")
def test_flash_attn_softcap(cuda):
    check_system(get_system("flashattn2"), gpu_spec("gemma2", "flashattn2"), cuda)


@pytest.mark.skipif(not has("flashinfer"), reason="flashinfer is not installed")
@pytest.mark.parametrize("model", ["attn", "gemma2"])
def test_flashinfer(model, cuda):
    check_system(get_system("flashinfer"), gpu_spec(model, "flashinfer"), cuda)


@pytest.mark.skipif(not has("tensorrt"), reason="tensorrt is not installed")
@pytest.mark.parametrize("model", MODELS)
def test_tensorrt(model, cuda):
    check_system(get_system("tensorrt"), gpu_spec(model, "tensorrt"), cuda)


@pytest.mark.skipif(not has("jax"), reason="jax is not installed")
@pytest.mark.parametrize("model", MODELS)
def test_xla(model, cuda):
    xla = get_system("xla")
    check_system(xla, gpu_spec(model, "xla"), cuda)
    assert xla.details()["backend"] == "gpu"
    # JAX was told not to take 75% of the GPU at import
    free, total = torch.cuda.mem_get_info()
    assert free > total / 2


@pytest.mark.skipif(not has("jax"), reason="jax is not installed")
def test_xla_timing_covers_the_run(cuda, tmp_path):
    record = run_case(gpu_spec("attn", "xla", FULL), RunsDir(tmp_path), timing=QUICK)
    assert record.state == "done", record.error
    # a causal 4k attention takes well over 0.1 ms; a callable that did not wait for JAX would time ~0
    assert record.timing.median > 0.1


@pytest.mark.skipif(not has("tvm"), reason="no tvm (not even the carried runtime on PYTHONPATH)")
@pytest.mark.parametrize("model", MODELS)
def test_tvm_full_scale(model, cuda, tmp_path):
    spec = gpu_spec(model, "tvm", FULL)
    target = tvm_system.local_target()
    if not tvm_system.has_compiler() and not tvm_system.prebuilt_path(spec, target, 0).exists():
        pytest.skip(f"no prebuilt module for {target} (python -m jobs.systems.tvm_prebuild)")
    record = run_case(spec, RunsDir(tmp_path), timing=QUICK)
    assert record.state == "done", record.error
    # TVM runs on the default stream; were it another, PyTorch's CUDA events would time ~0
    assert record.timing.median > 0.1

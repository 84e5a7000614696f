"""Every baseline is in the registry, imports cheaply, and says precisely why it cannot run a case."""

from __future__ import annotations

import subprocess
import sys

import pytest
from systems_testlib import QUICK, e2e_spec, has, make_spec

from jobs.entry import run_case
from jobs.experiments import FIG12_SYSTEMS, FIG14_SYSTEMS
from jobs.systems import REGISTRY, get_system
from jobs.systems import tvm_relax as tvm_system
from results.runsdir import RunsDir

BASELINES = ("tvm", "tensorrt", "flashattn2", "flashinfer", "cudnn", "flex", "xla", "korch", "einnet")
HEAVY = ("tvm", "tensorrt", "jax", "flash_attn", "flashinfer", "onnx", "onnxscript")
EXTRA = ("h2o", "roco", "kf", "snapkv", "corm")


def test_every_figure_system_is_registered():
    missing = {s for s in (*FIG12_SYSTEMS, *FIG14_SYSTEMS) if s != "flashtensor"} - set(REGISTRY)
    assert not missing


def test_getting_a_system_imports_no_heavy_library():
    code = (f"import sys\nfrom jobs.systems import get_system\nfor n in {BASELINES!r}: get_system(n)\n"
            f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("system,library", [
    ("cudnn", "cuDNN SDPA"), ("flex", "FlexAttention"), ("flashinfer", "FlashInfer"),
    ("flashattn2", "FlashAttention-2"),
])
@pytest.mark.parametrize("model", EXTRA)
def test_libraries_compute_attention_only(system, library, model):
    reason = get_system(system).unsupported(make_spec(model, system))
    assert reason.startswith(library) and f"computes attention only; {model} needs " in reason


@pytest.mark.parametrize("system,expected", [
    ("cudnn", "cuDNN SDPA cannot soft-cap logits"),
    ("flex", None),
    ("flashinfer", None),
    ("flashattn2", None if has("flash_attn") else "via SDPA's flash backend (flash_attn is not installed) cannot"),
])
def test_gemma2_softcap(system, expected):
    reason = get_system(system).unsupported(make_spec("gemma2", system))
    assert reason == expected if expected is None else expected in reason


def test_sdpa_backends_reject_misaligned_causal_masks_and_float32():
    odd = {"batch": 1, "heads": 2, "kv_heads": 2, "head_dim": 32, "q_len": 32, "kv_len": 64}
    assert "top-left aligned" in get_system("cudnn").unsupported(make_spec("attn", "cudnn", odd))
    assert "float16 or bfloat16 only" in get_system("cudnn").unsupported(make_spec("attn", "cudnn", dtype="float32"))


@pytest.mark.parametrize("system", ["tensorrt", "xla"])
def test_compilers_take_every_kernel_case(system):
    assert all(get_system(system).unsupported(make_spec(m, system)) is None for m in ("attn", *EXTRA, "gemma2"))


@pytest.mark.parametrize("system,model,reason", [
    ("xla", "h2o", None), ("tensorrt", "kf", None), ("flex", "gemma2", None), ("flashinfer", "attn", None),
    ("cudnn", "h2o", "cuDNN SDPA computes attention only; h2o needs column sums"),
    ("cudnn", "gemma2", "cuDNN SDPA cannot soft-cap logits"),
])
def test_e2e_asks_what_the_layers_attention_case_asks(system, model, reason):
    found = get_system(system).unsupported(e2e_spec(model, system))
    assert found == reason if reason is None else found.startswith(reason)


# tvm and xla run every case, on the CPU too: their runs are tested in test_cpu_systems.py
@pytest.mark.parametrize("system", [s for s in BASELINES if s not in ("tvm", "xla")])
def test_unavailable_or_unsupported_is_recorded_as_ns(system, tmp_path):
    spec = make_spec("h2o" if system not in ("korch", "einnet", "tensorrt") else "attn", system)
    found = get_system(system)
    reason = found.unavailable() or found.unsupported(spec)
    assert reason, f"{system} should not run {spec.model}"
    record = run_case(spec, RunsDir(tmp_path), timing=QUICK)
    assert (record.state, record.error_class, record.error) == ("failed", "unsupported", reason)


@pytest.mark.skipif(has("tensorrt"), reason="tensorrt is installed here")
def test_tensorrt_without_the_package():
    assert get_system("tensorrt").unavailable() == "tensorrt is not installed"


@pytest.mark.skipif(has("flashinfer"), reason="flashinfer is installed here")
def test_flashinfer_without_the_package():
    assert get_system("flashinfer").unavailable() == "flashinfer is not installed"


def test_korch_and_einnet_are_not_public():
    for name in ("korch", "einnet"):
        assert "not publicly available" in get_system(name).unavailable()


def test_tvm_runtime_only_without_a_prebuilt_module(monkeypatch, tmp_path):
    monkeypatch.setattr(tvm_system, "has_compiler", lambda: False)
    monkeypatch.setenv("FTRUN_TVM_CACHE", str(tmp_path))
    reason = get_system("tvm").unsupported(make_spec("attn", "tvm"))
    assert "only TVM's runtime is installed here and no prebuilt module matches" in reason
    assert str(tmp_path) in reason and "tvm_prebuild" in reason

"""The baselines that run on a CPU, checked against the float64 references exactly as jobs check them."""

from __future__ import annotations

import pytest
import torch
from systems_testlib import MODELS, ODD, QUICK, TINY, check_system, e2e_spec, has, make_spec

from jobs.entry import run_case
from jobs.systems import get_system
from results.runsdir import RunsDir

# jax and apache-tvm come with the project's install (the `baselines` extra): their tests always run
GQA = {**TINY, "heads": 4, "kv_heads": 2}


@pytest.mark.parametrize("model", MODELS)
def test_xla(model):
    check_system(get_system("xla"), make_spec(model, "xla"))


@pytest.mark.parametrize("model", MODELS)
def test_xla_grouped_heads_and_shorter_queries(model):
    check_system(get_system("xla"), make_spec(model, "xla", ODD))


def test_xla_record_and_details(tmp_path):
    record = run_case(make_spec("corm", "xla"), RunsDir(tmp_path), timing=QUICK)
    assert record.state == "done", record.error
    assert record.check["outputs"]["corm_score"]["mismatches"] == 0
    xla = get_system("xla")
    check_system(xla, make_spec("attn", "xla"))
    assert xla.details()["backend"] == "cpu" and xla.details()["preallocate"] == "false"


@pytest.fixture
def fresh_tvm_cache(monkeypatch, tmp_path):
    """No prebuilt modules: every tvm case is built here."""
    monkeypatch.setenv("FTRUN_TVM_CACHE", str(tmp_path))
    monkeypatch.delenv("FTRUN_TVM_TRIALS", raising=False)


@pytest.mark.parametrize("model", MODELS)
def test_tvm_llvm(model, fresh_tvm_cache):
    tvm = get_system("tvm")
    check_system(tvm, make_spec(model, "tvm"))
    assert tvm.details()["prebuilt"] is None and tvm.details()["target"] == "llvm"


@pytest.mark.parametrize("model", ["attn", "kf", "snapkv", "corm", "gemma2"])
def test_tvm_grouped_heads_and_shorter_queries(model, fresh_tvm_cache):
    check_system(get_system("tvm"), make_spec(model, "tvm", ODD))


def test_tvm_corm_bool_output_crosses_dlpack(fresh_tvm_cache, tmp_path):
    record = run_case(make_spec("corm", "tvm"), RunsDir(tmp_path), timing=QUICK)
    assert record.state == "done", record.error
    assert record.check["outputs"]["corm_score"] == {"mismatches": 0}


@pytest.mark.slow
@pytest.mark.parametrize("model,dims", [("attn", TINY), ("gemma2", TINY), ("attn", ODD), ("gemma2", GQA)])
def test_flex_on_cpu(model, dims):
    check_system(get_system("flex"), make_spec(model, "flex", dims))


@pytest.mark.skipif(has("flash_attn"), reason="flash_attn is installed: flashattn2 uses it, on CUDA only")
@pytest.mark.parametrize("dims", [TINY, GQA])
def test_flashattn2_sdpa_glue_on_cpu(dims):
    # on a CPU, SDPA's flash backend is PyTorch's CPU flash kernel: this checks layout and GQA handling,
    # which are the same on CUDA; the system itself is NS here (it needs a GPU)
    system = get_system("flashattn2")
    check_system(system, make_spec("attn", "flashattn2", dims))
    assert system.details()["backend"] == "SDPBackend.FLASH_ATTENTION"
    assert "flash_attn is not installed" in system.details()["note"]


def test_sdpa_attention_returns_the_programs_layout():
    from torch.nn.attention import SDPBackend

    from jobs.systems.sdpa import sdpa_attention

    q, k, v = (torch.randn(1, 64, 2, 32, dtype=torch.float16) for _ in range(3))
    out = sdpa_attention(SDPBackend.MATH, gqa=False)(q, k, v)
    assert out.shape == q.shape and out.dtype == q.dtype and out.is_contiguous()


# MetaSchedule takes ~10 min on 2 cores (each builder worker re-imports TVM): opt in with -m tuning
@pytest.mark.tuning
def test_tvm_metaschedule_one_trial_per_task(fresh_tvm_cache, monkeypatch):
    monkeypatch.setenv("FTRUN_TVM_TRIALS", "1")
    tvm = get_system("tvm")
    check_system(tvm, make_spec("h2o", "tvm"))
    assert tvm.details()["trials"] == 1


@pytest.mark.parametrize("system,model", [
    ("xla", "kf"), ("tvm", "corm"),
])
def test_e2e_prefill_with_the_systems_attention(system, model, fresh_tvm_cache, tmp_path):
    record = run_case(e2e_spec(model, system), RunsDir(tmp_path), timing=QUICK)
    assert record.state == "done", record.error

"""The generated kernels compile for the H200 (sm_90) in Triton's real (non-interpreted) frontend and
backend, ahead of time and without a GPU: this catches what the interpreter lets through (types of
loop-carried values, inline PTX, constexpr arithmetic). Compilation runs in a fresh process, because the
interpreter patches triton.language in the process that uses it."""

import json
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from compiler.autotune.space import Config, candidates
from compiler.options import CompileOptions
from compiler.pipeline import Compilation, run_pipeline
from jobs.cases import kernel_case
from jobs.spec import KERNEL_MODELS

HERE = Path(__file__).resolve().parent
DIMS = {"batch": 1, "heads": 4, "kv_heads": 2, "head_dim": 64, "q_len": 200, "kv_len": 328}
# cheaper to compile than the H200's (128, 128, 8, 3) at head_dim 128, which gemma2 checks below
SMALL_CONFIG = Config(64, 64, 4, 2)
_PTR = {"f16": "*fp16", "bf16": "*bf16", "f32": "*fp32", "bool": "*i1", "i64": "*i64", "i32": "*i32"}


def _jobs(name, dims, config_of, tmp_path, **options) -> list[dict]:
    case = kernel_case(name)
    inputs = tuple(case.inputs(dims, "float16", "cpu", 0).values())
    options = CompileOptions(target="cuda", cache_dir=tmp_path / "autotune", **options)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        c = run_pipeline(Compilation(case.build(dims), inputs, options, name), until="codegen")
    jobs = []
    for kernel, source in zip(c.plan.generated, c.sources):
        path = tmp_path / f"{source.name}.py"
        path.write_text(source.source)
        config = config_of(kernel.role)
        args = [(f"{a}_ptr", _PTR[t.dtype]) for a, t in zip(_arg_names(source), source.tensors)]
        strides = [(f"{a}_s{d}", s) for a, t in zip(_arg_names(source), source.tensors)
                   for d, s in enumerate(_contiguous(t.shape))]
        constexprs = {"BLOCK_M": config.block_m, "BLOCK_N": config.block_n}
        if "STAGES: tl.constexpr" in source.source:
            constexprs["STAGES"] = config.num_stages
        # what Triton's JIT specializes on at a launch: 16-byte aligned pointers, integers divisible by 16,
        # and integers equal to 1 (a constexpr); without these hints no f16 load could become an async copy
        constexprs.update((name, 1) for name, s in strides if s == 1)
        signature = dict(args + [(name, "constexpr" if s == 1 else "i32") for name, s in strides]
                         + [(c, "constexpr") for c in constexprs if c not in dict(strides)])
        aligned = [k for k, (name, kind) in enumerate(signature.items())
                   if kind.startswith("*") or kind == "i32" and dict(strides)[name] % 16 == 0]
        jobs.append({"path": str(path), "kernel": source.name, "signature": signature, "constexprs": constexprs,
                     "aligned": aligned,
                     "options": {"num_warps": config.num_warps, "num_stages": config.num_stages}})
    return jobs


def _contiguous(shape) -> list[int]:
    """The strides a contiguous tensor of this shape has (every tensor the launcher passes is one)."""
    strides, step = [], 1
    for size in reversed(shape):
        strides.insert(0, step)
        step *= size
    return strides


def _arg_names(source) -> list[str]:
    header = source.source.split("def launch(")[1].split(", *")[0]
    return [a.strip() for a in header.split(",")]


def _compile(jobs, tmp_path) -> list[dict]:
    spec = tmp_path / "jobs.json"
    spec.write_text(json.dumps(jobs))
    done = subprocess.run([sys.executable, str(HERE / "sm90_compile.py"), str(spec)], capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    return [json.loads(line) for line in done.stdout.splitlines()]


@pytest.mark.slow
@pytest.mark.parametrize("name", KERNEL_MODELS)
def test_kernels_compile_for_sm90(name, tmp_path):
    results = _compile(_jobs(name, DIMS, lambda role: SMALL_CONFIG, tmp_path), tmp_path)
    assert results and all(r["shared"] > 0 for r in results)


@pytest.mark.slow
def test_production_config_compiles_for_sm90(tmp_path):
    dims = {**DIMS, "head_dim": 128, "kv_heads": 4}
    (result,) = _compile(_jobs("gemma2", dims, lambda role: candidates(role, "cuda")[0], tmp_path), tmp_path)
    assert result["tanh_approx"]  # soft-capping uses the one-instruction tanh on the GPU


@pytest.mark.slow
def test_streamed_noise_is_pipelined(tmp_path):
    """Keyformer's per-head noise feeds no dot, so Triton pipelines its loads only in a loop that names
    its stages: both passes over the noise must load every fp32 tile asynchronously (BENCHMARKS.md:
    0.73 -> 0.57 ms and 0.80 -> 0.62 ms on the H200 for the passes as they were split then)."""
    results = {r["kernel"]: r for r in _compile(_jobs("kf", DIMS, lambda role: SMALL_CONFIG, tmp_path), tmp_path)}
    assert set(results) == {"kf_k0", "kf_k1"}  # attention with the noise's row statistics, column pass
    assert all(r["sync_f32_tiles"] == 0 for r in results.values())
    # the noise's log is one MUFU instruction, not libdevice's log2f (on the H200: 0.79 -> 0.60 and
    # 0.58 -> 0.45 ms for the two passes, BENCHMARKS.md)
    assert all(r["lg2_approx"] and not r["libdevice_log2"] for r in results.values())


@pytest.mark.slow
def test_prologue_map_kernel_is_pipelined(tmp_path):
    """CORM's map kernel (log2 of the threshold and its reduction above the diagonal, fusion/maps.py) is
    memory-bound: with its production config every fp32 tile of the threshold must load asynchronously."""
    results = {r["kernel"]: r for r in _compile(_jobs("corm", DIMS, lambda role: candidates(role, "cuda")[0],
                                                      tmp_path), tmp_path)}
    assert set(results) == {"corm_k0", "corm_k1", "corm_m0"}
    assert results["corm_m0"]["sync_f32_tiles"] == 0 and results["corm_m0"]["shared"] > 0


@pytest.mark.slow
def test_a_loop_that_stops_when_saturated_keeps_its_pipelined_loads(tmp_path):
    """CORM's column pass with stop_saturated_any: each loop segment sits in a while loop that ends once
    every key of the program is kept; the loads feeding its matmul stay asynchronous copies, as many as
    without the while loop (the row pass, for reference, has them too)."""
    def copies(stop):
        where = tmp_path / ("stopping" if stop else "plain")
        where.mkdir()
        jobs = _jobs("corm", DIMS, lambda role: candidates(role, "cuda")[0], where, stop_saturated_any=stop)
        return {r["kernel"]: r["async_copies"] for r in _compile(jobs, where)}

    plain, stopping = copies(False), copies(True)
    assert plain["corm_k0"] > 0 and plain["corm_k1"] > 0
    assert stopping == plain


@pytest.mark.slow
def test_named_stages_pipeline_the_loads_that_feed_no_matmul(tmp_path):
    """H2O's column pass reads each query tile's lse, a load that feeds no dot: Triton leaves it
    synchronous in a loop that does not name its stages, and pipelines it under name_all_stages."""
    def sync(**options):
        where = tmp_path / ("named" if options else "plain")
        where.mkdir()
        jobs = _jobs("h2o", DIMS, lambda role: candidates(role, "cuda")[0], where, **options)
        return {r["kernel"]: r["sync_f32_tiles"] for r in _compile(jobs, where)}

    assert sync()["h2o_k1"] > 0
    assert sync(name_all_stages=True) == {"h2o_k0": 0, "h2o_k1": 0}

"""The Hopper target (compiler/codegen/gluon) on the CPU: which kernels it accepts, why it declines the
others, and that what it generates compiles for sm_90 (ahead of time, in a fresh process) into what the
design promises: warp-specialized partitions with register reallocation, TMA loads into an mbarrier
ring, asynchronous warpgroup matmuls (HGMMA in the SASS), no spills. Timing needs the H200
(BENCHMARKS.md, "Hopper kernels: not yet timed"); tests/compiler/test_gpu.py checks the numbers there."""

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path
from unittest import mock

import pytest

import compiler
from compiler.autotune.space import candidates
from compiler.codegen.gluon.version import GluonApi, gluon_api
from compiler.options import CompileOptions
from compiler.pipeline import Compilation, run_pipeline
from jobs.cases import kernel_case
from jobs.spec import KERNEL_MODELS

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
DIMS = {"batch": 1, "heads": 4, "kv_heads": 2, "head_dim": 64, "q_len": 200, "kv_len": 328}
FULL = {"batch": 1, "heads": 32, "kv_heads": 32, "head_dim": 128, "q_len": 4096, "kv_len": 4096}
_PTR = {"f16": "*fp16", "bf16": "*bf16", "f32": "*fp32", "bool": "*i1", "i64": "*i64", "i32": "*i32"}
# the passes the target accepts, per case; every other kernel declines with the reason asserted below
ACCEPTED = {"attn": {"attn_k0"}, "gemma2": {"gemma2_k0"}, "h2o": {"h2o_k0", "h2o_k1"},
            "roco": {"roco_k0", "roco_k1"}, "snapkv": {"snapkv_k0", "snapkv_k1"}, "corm": {"corm_k0"},
            "kf": set()}


def compile_plan(name, dims, tmp_path, api=None, **options):
    """The compilation up to codegen with the Hopper target on; `api`: generate for that Gluon API (another
    Triton's) instead of the installed one."""
    case = kernel_case(name)
    inputs = tuple(case.inputs(dims, "float16", "cpu", 0).values())
    options = CompileOptions(target="cuda", cache_dir=tmp_path / "autotune", hopper_kernels=True, **options)
    detected = gluon_api()
    with warnings.catch_warnings(), mock.patch("compiler.codegen.gluon.choose.gluon_api",
                                               return_value=api or detected):
        warnings.simplefilter("ignore")
        return run_pipeline(Compilation(case.build(dims), inputs, options, name), until="codegen")


def hopper_jobs(c, tmp_path, config_index: int = 0) -> list[dict]:
    jobs = []
    for source in c.sources:
        if source.tune_role is None:
            continue
        path = tmp_path / f"{source.name}.py"
        path.write_text(source.source)
        config = candidates(source.tune_role, "cuda")[config_index]
        pointers = [n for n in _kernel_params(source.source, source.name) if n.endswith("_ptr")]
        by_arg = {n[:-4]: t for n, t in zip(pointers, _pointer_tensors(source, pointers))}
        signature = {f"{a}_ptr": _PTR[t.dtype] for a, t in by_arg.items()}
        strides = {f"{a}_s{d}": s for a, t in by_arg.items() for d, s in enumerate(_contiguous(t.shape))}
        constexprs = {"BLOCK_M": config.block_m, "BLOCK_N": config.block_n, "STAGES": config.num_stages}
        constexprs.update((n, 1) for n, s in strides.items() if s == 1)
        signature.update((n, "constexpr" if s == 1 else "i32") for n, s in strides.items())
        signature.update((n, "constexpr") for n in ("BLOCK_M", "BLOCK_N", "STAGES"))
        aligned = list(signature)[:len(by_arg)] + [n for n, s in strides.items() if s != 1 and s % 16 == 0]
        jobs.append({"path": str(path), "kernel": source.name, "signature": signature, "constexprs": constexprs,
                     "aligned": aligned, "options": {"num_warps": 4, "num_stages": config.num_stages,
                                                     "maxnreg": 168}})
    return jobs


def _kernel_params(text: str, name: str) -> list[str]:
    head = text.split(f"def {name}_kernel(")[1].split("):")[0]
    return [p.strip().split(":")[0] for p in head.split(",") if p.strip()]


def _pointer_tensors(source, pointers):
    """The tensors behind the kernel's pointer arguments: the wrapper passes them after the descriptors,
    in the order of the kernel's parameters."""
    names = source.source.split("def launch(")[1].split(", *")[0].split(", ")
    by_name = dict(zip(names, source.tensors))
    return [by_name[p[:-4]] for p in pointers]


def _contiguous(shape) -> list[int]:
    strides, step = [], 1
    for size in reversed(shape):
        strides.insert(0, step)
        step *= size
    return strides


def run_compile(jobs, tmp_path, python: str = sys.executable) -> dict[str, dict]:
    spec = tmp_path / "jobs.json"
    spec.write_text(json.dumps(jobs))
    done = subprocess.run([python, str(HERE / "hopper_compile.py"), str(spec)], capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stderr[-4000:]
    return {r["kernel"]: r for r in map(json.loads, done.stdout.splitlines())}


@pytest.mark.parametrize("name", KERNEL_MODELS)
def test_accepted_and_declined(name, tmp_path):
    c = compile_plan(name, DIMS, tmp_path)
    chosen = {s.name for s in c.sources if s.tune_role}
    assert chosen == ACCEPTED[name]
    declined = {r.candidate.split()[1]: r.reason for r in c.plan.rejected if r.candidate.startswith("emit ")}
    assert set(declined) == {k.name for k in c.plan.generated} - chosen
    for kernel, reason in declined.items():
        if kernel.endswith("_m0"):
            assert reason == "a map kernel, not a score pass"
        else:
            assert "streams the score-sized" in reason or "stop once every any" in reason, reason


def test_explain_shows_the_declines(tmp_path):
    case = kernel_case("kf")
    inputs = tuple(case.inputs(DIMS, "float16", "cpu", 0).values())
    report = compiler.explain(case.build(DIMS), inputs, target="cuda", hopper_kernels=True,
                              cache_dir=tmp_path / "t").render()
    assert "_k0 as a warp-specialized Gluon kernel for Hopper: its loop streams the score-sized" in report
    off = compiler.dump(case.build(DIMS), inputs, after="target", target="cuda", cache_dir=tmp_path / "t")
    assert "hopper_kernels is off" in off


def test_interpreter_target_declines_every_kernel(tmp_path):
    case = kernel_case("attn")
    inputs = tuple(case.inputs(DIMS, "float16", "cpu", 0).values())
    options = CompileOptions(target="interpret", cache_dir=tmp_path / "t", hopper_kernels=True)
    c = run_pipeline(Compilation(case.build(DIMS), inputs, options, "attn"), until="codegen")
    assert not any(s.tune_role for s in c.sources)
    assert any("interpreter" in r.reason for r in c.plan.rejected)


# --- golden sources: the Gluon each case gets, or why it gets none ---

GOLDEN = HERE / "golden"
GOLDEN_DIMS = {"batch": 1, "heads": 2, "kv_heads": 1, "head_dim": 16, "q_len": 12, "kv_len": 20}
# the golden text does not depend on the installed Triton: it is written for the current TMA load name
GOLDEN_API = GluonApi("golden", "async_load")


@pytest.mark.parametrize("name", KERNEL_MODELS)
def test_golden_gluon(name, tmp_path):
    """Regenerate after an intended change: FTRUN_UPDATE_GOLDEN=1 python -m pytest -k golden_gluon"""
    c = compile_plan(name, GOLDEN_DIMS, tmp_path, api=GOLDEN_API)
    text = c.targets.render() + "".join(f"# ---- {s.name} ----\n{s.source}" for s in c.sources if s.tune_role)
    path = GOLDEN / f"{name}.gluon.txt"
    if os.environ.get("FTRUN_UPDATE_GOLDEN") == "1":
        path.write_text(text)
    assert path.exists(), f"{path.name} missing: run with FTRUN_UPDATE_GOLDEN=1 to create it"
    assert text == path.read_text(), f"{path.name} changed; if intended, regenerate (see the test's doc)"


# --- compiled for sm_90: what the SASS shows ---

def check_design(r: dict) -> None:
    """One compiled kernel shows the design: one warp-specialized region with two worker partitions
    (consumer warpgroup 1, producer) and registers moved to the consumers; 384 threads (the producer's
    warp rounded up to a warpgroup); TMA loads, mbarrier waits and asynchronous warpgroup matmuls in the
    PTX and the same in the SASS; nothing spilled."""
    assert (r["warp_specialize"], r["partitions"], r["requested_registers"]) == (1, 2, ["240, 24"]), r
    assert r["threads"] == 384 and r["local"] == 0 and r["shared"] <= 227 * 1024, r
    sass = r["sass"]
    assert r["wgmma"] > 0 and r["tma_loads"] > 0 and r["setmaxnreg"] > 0 and r["mbarrier_waits"] > 0, r
    assert sass["HGMMA"] > 0 and sass["UTMALDG"] > 0 and sass["USETMAXREG"] > 0 and sass["SYNCS"] > 0, r
    assert sass["MUFU_EX2"] > 0, r


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in KERNEL_MODELS if ACCEPTED[n]])
def test_hopper_kernels_compile_for_sm90(name, tmp_path):
    results = run_compile(hopper_jobs(compile_plan(name, DIMS, tmp_path), tmp_path), tmp_path)
    assert set(results) == ACCEPTED[name]
    for r in results.values():
        check_design(r)
    if name == "gemma2":
        # soft-capping stays one MUFU instruction per element, as on the Triton path
        assert results["gemma2_k0"]["sass"]["MUFU_TANH"] > 0


@pytest.mark.slow
@pytest.mark.parametrize("config_index", [0, 1])
def test_full_shape_configs_fit(config_index, tmp_path):
    """The H200 shape (head_dim 128): both candidate configs of the row and the column pass fit in
    shared memory and registers."""
    results = run_compile(hopper_jobs(compile_plan("h2o", FULL, tmp_path), tmp_path, config_index), tmp_path)
    assert set(results) == {"h2o_k0", "h2o_k1"}
    for r in results.values():
        check_design(r)


# a Python with only Triton 3.6 (the GPU machine's) installed: scripts/install.sh makes it beside the project
TRITON36 = os.environ.get("FTRUN_TRITON36_PYTHON") or str(ROOT / ".venv-triton36" / "bin" / "python")


@pytest.mark.slow
def test_triton36_compiles_its_own_spelling(tmp_path):
    """The GPU machine's Triton (3.6) names the TMA load async_copy_global_to_shared: sources generated
    for it compile there with the same structure."""
    if not Path(TRITON36).exists():
        pytest.fail(f"no Triton 3.6 at {TRITON36}: run scripts/install.sh (or set FTRUN_TRITON36_PYTHON)")
    api = GluonApi("3.6.0", "async_copy_global_to_shared")
    for name in ("gemma2", "h2o"):
        where = tmp_path / name
        where.mkdir()
        c = compile_plan(name, FULL, where, api=api)
        results = run_compile(hopper_jobs(c, where), where, TRITON36)
        assert results and all(r["triton"].startswith("3.6") for r in results.values())
        for r in results.values():
            check_design(r)


# --- the host side, on CPU tensors: descriptors, grid, launch plumbing ---

def _module(source, tmp_path):
    from compiler.launch.loader import load_module

    return load_module(source.name, source.source, tmp_path / "kernels")


def test_descriptors_and_grid(tmp_path):
    """The wrapper builds one TMA descriptor per operand with the box of the config, keeps pointer
    arguments for the rest, and gives the grid of the Triton path (longest tiles first is in-kernel)."""
    c = compile_plan("h2o", DIMS, tmp_path)
    row = next(s for s in c.sources if s.name == "h2o_k0")
    module = _module(row, tmp_path)
    tensors = _tensors_for(c, row)
    grid, args = module.arguments(*tensors, BLOCK_M=128, BLOCK_N=64, num_stages=3)
    assert grid == (2, 4)  # 200 queries in 128-row programs, 4 heads
    q_desc, k_desc, v_desc = args[:3]
    assert q_desc.block_shape == [1, 64, 1, 64] and k_desc.block_shape == [1, 64, 1, 64]
    assert q_desc.base is tensors[0] and list(q_desc.shape) == list(tensors[0].shape)
    assert args[-3:] == (128, 64, 3)


def test_a_tensor_tma_cannot_describe_is_copied(tmp_path):
    import torch

    c = compile_plan("attn", DIMS, tmp_path)
    module = _module(c.sources[0], tmp_path)
    q, k, v, out = _tensors_for(c, c.sources[0])
    # the same values with the head dim strided: TMA needs it contiguous, so the wrapper copies
    wide = torch.empty(*q.shape[:-1], 2 * q.shape[-1], dtype=q.dtype)[..., ::2]
    wide.copy_(q)
    (_, (q_desc, *_)) = module.arguments(wide, k, v, out, BLOCK_M=128, BLOCK_N=128, num_stages=2)
    assert q_desc.base is not wide and q_desc.base.is_contiguous() and torch.equal(q_desc.base, q)
    # a size-1 dim with a stride TMA could not take keeps its data and gets an aligned stride
    (_, (q_desc, *_)) = module.arguments(q, k, v, out, BLOCK_M=128, BLOCK_N=128, num_stages=2)
    assert q_desc.base is q and all(s * 2 % 16 == 0 for s in q_desc.strides[:-1])


def test_descriptors_are_kept_per_argument_and_never_stale(tmp_path):
    """A call over the same memory reuses each argument's descriptor (building them was most of a call's
    host time); new memory gets a new one and frees the old tensor; a copy is never reused."""
    import gc
    import weakref

    import torch

    c = compile_plan("attn", DIMS, tmp_path)
    module = _module(c.sources[0], tmp_path)
    q, k, v, out = _tensors_for(c, c.sources[0])
    first = module.arguments(q, k, v, out, BLOCK_M=128, BLOCK_N=128, num_stages=2)[1][:3]
    again = module.arguments(q, k, v, out, BLOCK_M=128, BLOCK_N=128, num_stages=2)[1][:3]
    assert all(a is b for a, b in zip(first, again))
    other = module.arguments(q, k, v, out, BLOCK_M=128, BLOCK_N=64, num_stages=2)[1][:3]
    assert other[0] is first[0] and other[1] is not first[1]  # a new box for the keys, the same for q
    fresh, gone = q.clone(), weakref.ref(q)
    del q, first, again, other
    new = module.arguments(fresh, k, v, out, BLOCK_M=128, BLOCK_N=128, num_stages=2)[1][0]
    gc.collect()
    assert new.base is fresh and gone() is None
    wide = torch.empty(*fresh.shape[:-1], 2 * fresh.shape[-1], dtype=fresh.dtype)[..., ::2]
    wide.copy_(fresh)
    copied = module.arguments(wide, k, v, out, BLOCK_M=128, BLOCK_N=128, num_stages=2)[1][0]
    wide.add_(1)
    recopied = module.arguments(wide, k, v, out, BLOCK_M=128, BLOCK_N=128, num_stages=2)[1][0]
    assert recopied is not copied and torch.equal(recopied.base, wide)


def _tensors_for(c, source):
    import torch

    from compiler.ir.dtypes import to_torch

    return [torch.randn(t.shape).to(to_torch(t.dtype)) for t in source.tensors]


def test_launch_plumbing():
    """Direct launches (launch/direct.py) key on what Triton specializes: a TMA descriptor by its element
    type, box, layout, padding, shape and strides, so a descriptor that differs in any of them goes back
    through Triton; a pinned config that a Hopper program cannot take is not used for it."""
    import torch

    from compiler.autotune.space import Config, fits
    from compiler.launch.direct import Direct, _key

    class Compiled:
        run = function = packed_metadata = None

    class Cuda:
        is_cuda = True

    class Desc:
        def __init__(self, base, block, shape=(64, 32), strides=(32, 1), layout="swizzle128"):
            self.base, self.block_shape, self.shape, self.strides = base, block, shape, strides
            self.layout, self.padding = layout, "zero"

    base = torch.zeros(64, 32, dtype=torch.float16)
    desc = Desc(base, [64, 32])
    with mock.patch("compiler.launch.direct._run_matches", return_value=True), \
            mock.patch("torch.cuda.current_device", return_value=0):
        made = Direct.after(Compiled(), [Cuda()], (desc, base, 32, 64))
    assert made is not None and made.key == _key((Desc(base, [64, 32]), base, 32, 64))
    for other in (Desc(base, [32, 32]), Desc(base.double(), [64, 32]), Desc(base, [64, 32], layout="swizzle64"),
                  Desc(base, [64, 32], shape=(48, 32)), Desc(base, [64, 32], strides=(64, 1))):
        assert _key((other, base, 32, 64)) != made.key
    assert _key((desc, base, 32, 65)) != made.key
    assert fits("hopper-row", Config(128, 64, 4, 3)) and not fits("hopper-row", Config(64, 64, 4, 3))
    assert fits("row", Config(64, 64, 4, 3)) and candidates("hopper-column", "cuda")[0].block_m == 128

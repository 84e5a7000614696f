"""The ways in: compile options, argument checks, torch.compile's backend, the jobs system adapter,
and the autotune cache."""

import math
import warnings
from pathlib import Path

import pytest
import torch

import compiler
from compiler.autotune.cache import TuneCache, cache_key
from compiler.autotune.space import INTERPRET, Config, candidates
from compiler.autotune.tune import choose
from jobs.cases import kernel_case
from jobs.check import check_outputs, nan_filled_allocations
from jobs.systems import REGISTRY, NotSupported, get_system
from results.case import CaseSpec

DIMS = {"batch": 1, "heads": 2, "kv_heads": 2, "head_dim": 16, "q_len": 24, "kv_len": 24}


def _case(name="h2o"):
    case = kernel_case(name)
    return case, case.inputs(DIMS, "float16", "cpu", 0)


def test_unknown_options_are_rejected_with_the_valid_ones(options):
    case, x = _case()
    with pytest.raises(TypeError, match="valid: .*autotune"):
        compiler.compile(case.build(DIMS), tuple(x.values()), options=options, blocks=64)


def test_cpu_inputs_without_the_interpreter_are_a_compile_error(monkeypatch, options):
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    case, x = _case()
    with pytest.raises(compiler.CompileError, match="TRITON_INTERPRET=1"):
        compiler.compile(case.build(DIMS), tuple(x.values()), options=options)


def test_the_callable_checks_its_arguments(options):
    case, x = _case("attn")
    fn = compiler.compile(case.build(DIMS), tuple(x.values()), options=options)
    q, k, v = x.values()
    with pytest.raises(TypeError, match="compiled for"):
        fn(q[:, :10], k, v)
    with pytest.raises(TypeError, match="expected 3 tensor arguments"):
        fn(q, k)
    assert fn.compile_seconds > 0 and set(fn.step_seconds) == set(compiler.PIPELINE_STEPS)


def test_a_number_argument_is_specialized_and_checked(options):
    def attend(q, k, v, scale: float):
        return torch.softmax(q @ k.transpose(-1, -2) * scale, -1) @ v

    _, x = _case("attn")
    q, k, v = (t.transpose(1, 2).float() for t in x.values())
    fn = compiler.compile(attend, (q, k, v, 0.25), options=options)
    assert [kernel.role for kernel in fn.plan.kernels] == ["row"]
    assert torch.allclose(fn(q, k, v, 0.25), attend(q, k, v, 0.25), atol=1e-5)
    with pytest.raises(TypeError, match="compiled for 0.25, got 0.5"):
        fn(q, k, v, 0.5)


def test_pinned_config_is_used(options):
    case, x = _case("attn")
    fn = compiler.compile(case.build(DIMS), tuple(x.values()), options=options, config=(16, 16, 4, 1))
    fn(*x.values())
    assert fn.launcher.stats.configs == {"attn_k0": "BM16/BN16/w4/s1"}


def test_torch_compile_backend(options):
    import torch._dynamo

    from compiler.dynamo import register

    register()
    case, x = _case()
    program = case.build(DIMS)
    torch._dynamo.reset()
    out = torch.compile(program, backend="flashtensor")(*x.values())
    check_outputs(out, case.outputs, case.reference(x), "float16")


def test_the_backend_is_declared_as_an_entry_point():
    text = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text()
    assert '[project.entry-points.torch_dynamo_backends]\nflashtensor = "compiler.dynamo:flashtensor_backend"' in text


def _spec(model: str) -> CaseSpec:
    return CaseSpec("kernel", model, "flashtensor", tuple(sorted(DIMS.items())), "float16", "cpu", "tiny")


def test_the_jobs_system_runs_a_case(tmp_path):
    assert "flashtensor" in REGISTRY
    system = get_system("flashtensor")
    assert system.name == "flashtensor" and system.unavailable() is None
    system.cache_dir = tmp_path / "autotune"
    case, x = _case("corm")
    fn = system.compile(case.build(DIMS), tuple(x.values()), _spec("corm"))
    with nan_filled_allocations():
        out = fn(*x.values())
    check_outputs(out, case.outputs, case.reference(x), "float16")


def test_the_jobs_system_maps_compile_errors_to_not_supported(tmp_path):
    system = get_system("flashtensor")
    system.cache_dir = tmp_path / "autotune"

    class Branchy(torch.nn.Module):
        def forward(self, q):
            return q * 2 if q.sum() > 0 else q

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(NotSupported, match="flashtensor: torch.export"):
            system.compile(Branchy(), (torch.randn(3, 3),), _spec("attn"))


def test_the_jobs_system_says_why_it_cannot_run(monkeypatch):
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert "TRITON_INTERPRET=1" in get_system("flashtensor").unavailable()


def test_tune_cache_round_trip_and_key(tmp_path):
    cache = TuneCache(tmp_path)
    key = cache_key("src", [(1, 2)], ["torch.float16"], "NVIDIA H200", "3.6.0")
    assert cache.get(key) is None
    cache.put(key, Config(128, 64, 8, 3), {"BM128/BN64/w8/s3": 0.3})
    assert TuneCache(tmp_path).get(key) == Config(128, 64, 8, 3)
    assert key != cache_key("src2", [(1, 2)], ["torch.float16"], "NVIDIA H200", "3.6.0")
    assert key != cache_key("src", [(1, 2)], ["torch.float16"], "NVIDIA H200", "3.9.0")


def test_config_space_is_data():
    assert candidates("row", "interpret") == (INTERPRET,)
    row, col = candidates("row", "cuda"), candidates("column", "cuda")
    assert Config(128, 128, 8, 3) in row and Config(128, 64, 4, 3) in col
    assert all(math.log2(c.block_m).is_integer() and c.block_n >= 16 for c in row + col)
    assert Config(128, 64, 8, 3) in candidates("stream", "cuda")
    wide = candidates("row", "cuda", "wide")
    assert len(wide) > len(row) and set(row) <= set(wide) and candidates("map", "cuda", "wide") == wide
    with pytest.raises(ValueError, match="default or wide"):
        candidates("row", "cuda", "widest")


def test_a_streaming_kernel_is_tuned_from_the_stream_list(options, tmp_path):
    """Both of Keyformer's passes stream the noise (the row pass with attention) and say so."""
    from compiler.pipeline import Compilation, run_pipeline

    case = kernel_case("kf")
    dims = {"batch": 1, "heads": 2, "kv_heads": 2, "head_dim": 16, "q_len": 24, "kv_len": 24}
    inputs = tuple(case.inputs(dims, "float16", "cpu", 0).values())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        c = run_pipeline(Compilation(case.build(dims), inputs, options, "kf"), until="codegen")
    assert [s.streams for s in c.sources] == [True, True]


def test_choose_without_tuning_takes_the_first_candidate(options):
    got = choose("k", "row", "src", None, [], options, "interpret")
    assert got == INTERPRET


def test_direct_launch_knows_the_installed_triton():
    """The launcher's direct path (launch/direct.py) is on only where Triton's run() launches a compiled
    kernel the way it does: true for the Triton CI installs, so a Triton that changes it shows here."""
    from triton.knobs import HookChain

    from compiler.launch import direct

    assert direct._run_matches()
    assert direct._hook(None) is None and direct._hook(HookChain()) is None  # nothing to call
    chain = HookChain()
    chain.add(print)
    assert direct._hook(chain) is chain
    assert direct.Direct.after(None, [torch.zeros(1)], ()) is None  # CPU or interpreter: Triton's path


def test_the_compiler_imports_nothing_of_the_project():
    """compiler/ is the ground floor (issue 17): no import of ftrun, jobs, results or plots, at module level
    (ruff's TID253 says so too) or inside a function."""
    import ast

    root = Path(__file__).resolve().parents[2] / "compiler"
    found = []
    for path in sorted(root.rglob("*.py")):
        for n in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in n.names] if isinstance(n, ast.Import) else [n.module or ""] if isinstance(
                n, ast.ImportFrom) and not n.level else []
            found += [f"{path.relative_to(root)}: {m}" for m in names
                      if m.split(".")[0] in ("ftrun", "jobs", "results", "plots")]
    assert not found, found

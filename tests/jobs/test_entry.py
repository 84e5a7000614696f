"""The job side end to end on the CPU: a case's record, and each failure class it can end in."""

from pathlib import Path

import pytest

from ftrun.submit import expand
from jobs.entry import run_case
from jobs.experiments import experiment
from jobs.runner import ChunkRun, run_chunk
from jobs.spec import SCALES, kernel_dims
from results.case import CaseSpec
from results.records import RunInfo
from results.runsdir import RunsDir


def spec(system: str, model: str = "attn", scale: str = "tiny") -> CaseSpec:
    return CaseSpec("kernel", model, system, kernel_dims(SCALES[scale], 4096), "float16", "cpu", scale)


def test_record_of_a_measured_case(runs_dir):
    record = run_case(spec("torch", "h2o"), RunsDir(runs_dir))
    assert record.state == "done"
    t = record.timing
    assert t.method == "perf_counter" and t.n >= 10 and len(t.samples) == t.n
    assert t.p10 <= t.median <= t.p90 and t.min <= t.median
    assert set(record.check["outputs"]) == {"out", "h2o_score"}
    prov = record.provenance
    assert prov["torch"] and prov["host"] and "commit" in prov["code"]
    on_disk = RunsDir(runs_dir).read_record(runs_dir / "results" / f"{record.key}--{record.attempt}.json")
    assert on_disk == record
    assert not list((runs_dir / "results").glob(".*.tmp"))


@pytest.mark.parametrize("system, error_class, message", [
    ("fake-wrong", "wrong_result", "out: "),
    ("fake-raises", "compile_error", "aten.frobnicate"),
    ("fake-unwritten", "wrong_result", "NaN/inf values"),
    ("fake-mutates", "wrong_result", "modified its inputs"),
    ("fake-oom", "oom", "out of memory"),
    ("korch", "unsupported", "not publicly available"),
])
def test_failures_are_classified_and_never_timed(runs_dir, system, error_class, message):
    record = run_case(spec(system), RunsDir(runs_dir))
    assert (record.state, record.error_class) == ("failed", error_class)
    assert message in record.error
    assert record.timing is None


def test_same_inputs_for_every_system_of_a_case():
    from jobs.measure import input_seed

    a, b = spec("torch"), spec("inductor")
    assert input_seed(a) == input_seed(b) and a.key != b.key
    assert input_seed(a) != input_seed(spec("torch", "h2o"))


def test_runner_survives_a_hang_and_a_dead_process_and_keeps_finished_cases(runs_dir, tmp_path, test_plugins):
    cases = [spec("torch"), spec("fake-hangs"), spec("torch", "h2o"), spec("fake-dies"), spec("torch", "corm")]
    limits = {"fake-hangs": 20.0}
    cfg = ChunkRun(RunsDir(runs_dir), lambda s: limits.get(s.system, 300.0), tmp_path / "chunk.log",
                   run=RunInfo(cluster="test"), plugins=test_plugins.to_json())
    records = run_chunk(cases, cfg)
    states = [(r.case.system, r.state, r.error_class) for r in records]
    assert states == [
        ("torch", "done", None), ("fake-hangs", "failed", "timeout"), ("torch", "done", None),
        ("fake-dies", "failed", "crash"), ("torch", "done", None),
    ]
    assert "status 7" in records[3].error and "20 s" in records[1].error
    assert len(list((runs_dir / "results").glob("*.json"))) == 5
    assert [r.run.position for r in records] == [0, 1, 2, 3, 4] and {r.run.cluster for r in records} == {"test"}
    assert "[ftrun] case" in Path(tmp_path / "chunk.log").read_text()


def test_experiments_expand_with_filters():
    cases = expand(experiment("fig13"), SCALES["small"], "cpu", {"seqlen": {"1024", "8192"}, "system": {"torch"}})
    assert [c.seqlen for c in cases] == [SCALES["small"].seq(1024), SCALES["small"].seq(8192)]
    both = expand(experiment("fig12"), SCALES["small"], "cpu", {"model": {"attn", "h2o"}, "system": {"torch"}})
    assert {(c.model, c.system) for c in both if c.part == "kernel"} == {("attn", "torch"), ("h2o", "torch")}


def test_the_tvm_prebuild_builds_the_cases_the_planner_makes():
    from jobs.systems.tvm_prebuild import tvm_specs

    planned = expand(experiment("fig12"), SCALES["small"], "any", {"system": {"tvm"}, "part": {"kernel"}})
    assert planned and tvm_specs("fig12", "small") == planned


def test_compiler_record_carries_capture_and_tune_times(runs_dir, monkeypatch):
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    record = run_case(spec("flashtensor", "h2o"), RunsDir(runs_dir))
    assert record.state == "done", record.error
    compiled = record.system
    assert compiled["kernels"] == 2 and set(compiled["configs"]) == {"h2o_k0", "h2o_k1"}
    # compile_s covers capture and the first call (Triton JIT + tuning), as inductor's covers its first call
    assert 0 < compiled["capture_s"] <= record.compile_s
    assert compiled["capture_s"] + compiled["first_call_s"] <= record.compile_s + 0.01


def test_the_compiler_in_the_interpreter_is_checked_never_timed(runs_dir):
    """No GPU: the compiler's kernels run in Triton's interpreter, whose speed says nothing about them."""
    record = run_case(spec("flashtensor"), RunsDir(runs_dir))
    assert (record.state, record.interpreted, record.label) == ("done", True, "INTERP")
    assert record.timing is None and record.memory is None
    assert set(record.check["outputs"]) == {"out"}

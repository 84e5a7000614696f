"""`ftrun status` as people read it: reasons on request, drift flagged, 80 columns without a cut number,
JSON for scripts, and an ETA from how long each system's cases took here before."""

import json

import pytest
from typer.testing import CliRunner

from ftrun.backends import Flight
from ftrun.cli import app
from ftrun.status import collect
from results.campaigns import Campaign
from results.case import CaseSpec
from results.records import Record, RunInfo, Timing
from results.runsdir import RunsDir

runner = CliRunner()
SYSTEMS = ("torch", "inductor", "tensorrt", "tvm", "korch", "einnet", "flashtensor", "cudnn", "flex", "xla")


def case(system, model="attn", seqlen=64) -> CaseSpec:
    dims = (("batch", 1), ("head_dim", 32), ("heads", 2), ("kv_heads", 2), ("kv_len", seqlen), ("q_len", seqlen))
    return CaseSpec("kernel", model, system, dims, "float16", "cpu", "tiny")


def at(second: int) -> str:
    return f"2026-01-01T00:{second // 60:02d}:{second % 60:02d}+00:00"


def done(c, attempt, ms, start, wall=10, **run) -> Record:
    return Record(c.key, attempt, c, "done", at(start), at(start + wall), timing=Timing(ms, ms, ms, n=1),
                  run=RunInfo(campaign="camp", chunk=0, **run))


@pytest.fixture
def runs(runs_dir) -> RunsDir:
    runs = RunsDir(runs_dir)
    cases = [case(s, m) for m in ("attn", "h2o") for s in SYSTEMS]
    runs.write_campaign(Campaign("camp", "fig12", "local", "tiny", "cpu", at(0), tuple(cases)))
    second = 0
    for c in cases:
        second += 20
        if c.system in ("tensorrt", "korch", "einnet", "cudnn"):
            runs.write_record(Record.failure(c, f"f{second}", "unsupported", f"{c.system} is not installed\nmore"))
        elif c.system == "flashtensor":
            runs.write_record(Record(c.key, f"i{second}", c, "done", at(second), at(second + 5), interpreted=True))
        elif c.system == "tvm":
            runs.write_record(Record.failure(c, f"w{second}", "wrong_result", "out: 3 of 4096 values differ"))
        else:
            runs.write_record(done(c, f"d{second}", 123.456789 + second, second))
    # the baseline of attn's chunk ran again at its end, 80x slower: drift
    runs.write_record(done(case("torch"), "late", 9876.54321, 900))
    return runs


def test_reasons_drift_and_80_columns(runs):
    plain = runner.invoke(app, ["status", "--runs-dir", str(runs.root)])
    assert plain.exit_code == 0, plain.output
    assert "…" not in plain.output
    assert max(len(line) for line in plain.output.splitlines()) <= 80
    text = " ".join(plain.output.split())
    assert "9877" in text and "143.5" in text and "INTERP" in text
    assert "drift: kernel/attn/torch@64" in text and f"{9876.54321 / 143.456789 - 1:+.0%}" in text
    assert "`ftrun status --why` says why" in text
    why = " ".join(runner.invoke(app, ["status", "--why", "--summary", "--runs-dir", str(runs.root)]).output.split())
    assert "NS tensorrt (kernel/attn@64, kernel/h2o@64): tensorrt is not installed" in why
    assert "FAIL tvm (kernel/attn@64, kernel/h2o@64): out: 3 of 4096 values differ" in why
    assert "INTERP flashtensor (kernel/attn@64, kernel/h2o@64): interpreter: correct, not timed" in why


def test_json(runs):
    data = json.loads(runner.invoke(app, ["status", "--json", "--runs-dir", str(runs.root)]).output)
    (group,) = data["groups"]
    assert group["counts"] == {"DONE": 8, "INTERP": 2, "NS": 8, "FAIL": 2} and group["total"] == 20
    reasons = {(c["model"], c["system"]): c["reason"] for c in data["cases"]}
    assert reasons[("attn", "korch")] == "korch is not installed" and reasons[("h2o", "torch")] == ""
    assert data["drift"][0]["first_ms"] == pytest.approx(143.456789) and data["drift"][0]["change"] > 60


def test_eta_from_each_systems_past_durations(runs):
    # in flight: two more torch cases (10 s each here before) and one of a system never run (the mean)
    new = [case("torch", "kf"), case("torch", "corm"), case("fake-slow", "kf")]
    runs.write_campaign(Campaign("more", "fig12", "local", "tiny", "cpu", at(0), tuple(new)))
    flight = Flight(cases={c.key: ("sub", 0) for c in new})
    report = collect(runs, "fig12", flight=flight, parallel={"local": 1}, with_cases=False)
    assert report.groups[("fig12", "local")]["QUEUED"] == 3
    # per (system, part, scale): torch, inductor, flex, xla 10 s; flashtensor 5 s; five failing systems 0 s
    torch, overall = 10.0, (10.0 * 4 + 5.0 + 0.0 * 5) / 10
    assert report.eta_s("fig12", "local") == pytest.approx(2 * torch + overall, rel=0.2)
    halved = collect(runs, "fig12", flight=flight, parallel={"local": 2}, with_cases=False)
    assert halved.eta_s("fig12", "local") == pytest.approx(report.eta_s("fig12", "local") / 2)

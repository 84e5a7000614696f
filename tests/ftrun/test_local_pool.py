"""The local GPU pool on fake GPU lists: one worker per GPU, never two cases on one GPU at once."""

import json

from typer.testing import CliRunner

from ftrun.backends import local
from ftrun.cli import app

runner = CliRunner()


def intervals(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_one_case_per_gpu_at_a_time_and_every_gpu_used(runs_dir, tmp_path, monkeypatch, plugin_toml):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1,2")
    probe = tmp_path / "probe.jsonl"
    monkeypatch.setenv("FTRUN_PROBE_FILE", str(probe))
    result = runner.invoke(app, ["submit", "pool", "--runs-dir", str(runs_dir)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    seen = intervals(probe)
    assert len(seen) == 12 and {s["gpu"] for s in seen} == {"0", "1", "2"}
    for gpu in ("0", "1", "2"):
        mine = sorted((s["start"], s["end"]) for s in seen if s["gpu"] == gpu)
        assert all(a_end <= b_start for (_, a_end), (b_start, _) in zip(mine, mine[1:])), mine
    overlapping = [(a, b) for a in seen for b in seen if a["gpu"] < b["gpu"]
                   and a["start"] < b["end"] and b["start"] < a["end"]]
    assert overlapping, "the three GPUs never worked at the same time"
    records = [json.loads(p.read_text()) for p in (runs_dir / "results").glob("*.json")]
    assert {r["run"]["gpu"] for r in records} == {"0", "1", "2"} and len(records) == 12


def test_gpus_option_restricts_the_pool(runs_dir, tmp_path, monkeypatch, plugin_toml):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1,2,3")
    probe = tmp_path / "probe.jsonl"
    monkeypatch.setenv("FTRUN_PROBE_FILE", str(probe))
    result = runner.invoke(app, ["submit", "pool", "--gpus", "0,3", "--only", "model=attn", "--only", "model=h2o",
                                 "--runs-dir", str(runs_dir)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert {s["gpu"] for s in intervals(probe)} <= {"0", "3"}


def test_unknown_gpu_is_an_error_and_runs_nothing(runs_dir, monkeypatch, plugin_toml):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    result = runner.invoke(app, ["submit", "pool", "--gpus", "0,5", "--runs-dir", str(runs_dir)])
    assert result.exit_code == 1 and "no GPU 5 here; visible: 0, 1" in result.output
    assert not runs_dir.exists()


def test_pool_size_follows_gpus_and_the_cap(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,5,7")
    assert local.pool(None, 64) == ["2", "5", "7"]
    assert local.pool(None, 2) == ["2", "5"]
    assert local.pool(["7"], 64) == ["7"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert local.pool(None, 64) == [None]

"""Bad input, table-driven (tests/bad_inputs.py: every command and config key): each gives one line
that starts with "error:", a non-zero exit, no traceback, and leaves the working folder and its runs folder
byte for byte as they were."""

import hashlib
import time
from pathlib import Path

import pytest
from bad_inputs import VALID_TOML, table
from typer.testing import CliRunner

from ftrun.cli import app
from ftrun.submit import expand
from jobs.experiments import experiment
from jobs.spec import SCALES
from results.campaigns import Campaign
from results.index import Index
from results.records import Record, Timing
from results.runsdir import RunsDir

runner = CliRunner()
# SQLite's own transient files: present while a connection is open, gone after; not the store's content
TRANSIENT = ("index.sqlite-wal", "index.sqlite-shm")


def snapshot(root: Path) -> dict[str, tuple[str, int]]:
    """Every file and folder under root: path -> (sha256 of the content, mode)."""
    out = {}
    for path in sorted(root.rglob("*")):
        if path.name in TRANSIENT:
            continue
        rel = str(path.relative_to(root))
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
        out[rel] = (digest, path.stat().st_mode)
    return out


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    """A small valid runs folder: the smoke campaign on the `box` cluster, both cases done, index synced."""
    root = tmp_path_factory.mktemp("store") / "ftrun-runs"
    runs = RunsDir(root)
    cases = expand(experiment("smoke"), SCALES["tiny"], "cpu")
    for i, case in enumerate(cases):
        runs.write_record(Record(case.key, f"a{i}", case, "done", "2026-12-01T00:00:00+00:00",
                                 "2026-12-01T00:00:01+00:00", timing=Timing(1.0 + i, 0.9, 1.2, 0.9, 1.0, 10)))
    runs.write_campaign(Campaign("c1-smoke-box", "smoke", "box", "tiny", "cpu", "2026-12-01T00:00:00+00:00",
                                 tuple(cases)))
    # files older than the index's clock granularity, so that a reading command finds the index current
    time.sleep(1.1)
    with Index(runs) as index:
        index.sync()
    return root


@pytest.fixture
def work(tmp_path, store, monkeypatch) -> Path:
    import shutil

    shutil.copytree(store, tmp_path / "ftrun-runs")
    (tmp_path / "ftrun.toml").write_text(VALID_TOML)
    (tmp_path / "afile").write_text("not a folder\n")
    (tmp_path / "adir").mkdir()
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("argv, words, setup", [pytest.param(a, w, s, id=i) for i, a, w, s in table()])
def test_bad_input_is_one_line_and_changes_nothing(work, monkeypatch, argv, words, setup):
    if setup.get("toml") is not None:
        (work / "ftrun.toml").write_text(setup["toml"])
    elif "toml" in setup:
        (work / "ftrun.toml").unlink()
    for name, content in setup.get("files", {}).items():
        (work / name).write_bytes(content) if isinstance(content, bytes) else (work / name).write_text(content)
    for key, value in setup.get("env", {}).items():
        monkeypatch.setenv(key, value)
    before = snapshot(work)
    result = runner.invoke(app, argv)
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 1, (result.exit_code, result.output)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert words in " ".join(lines[0].split()), lines[0]
    assert snapshot(work) == before, "the working folder changed"


def test_the_table_covers_every_command_and_config_key():
    import typer

    rows = table()
    assert len(rows) >= 80
    commands = {argv[0] for _, argv, _, _ in rows if argv}
    assert set(typer.main.get_command(app).commands) <= commands
    configs = " ".join(s.get("toml") or "" for _, _, _, s in rows)
    # every key a value of which can be wrong (free-form strings such as account or gres cannot)
    for key in ("kind", "partition", "cpus", "memory", "sbatch", "setup", "max_tasks", "cases_per_task",
                "case_timeout_min", "time_limits", "retries", "backoff_s", "scale", "runs_dir", "default_cluster",
                "modules", "paths", "models", "figure", "seqlens"):
        assert f"{key} =" in configs, key

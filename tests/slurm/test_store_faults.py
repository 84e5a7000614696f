"""A runs folder that becomes read-only or full while a Slurm task runs: every command says so in one
line, the task keeps what it finished and stops without a traceback, and once the folder is usable again
the campaign completes with nothing lost or duplicated. The folder is a bind mount of a small tmpfs
(the tests run as root, which permissions would not stop); it turns read-only by being mounted again
read-only (a remount of the busy mount itself is refused), so files the task holds open stay writable
and every file it opens anew is not."""

import subprocess

import pytest
from harness import (
    FAULT_CONFIG,
    assert_consistent,
    finish,
    follower,
    ftrun,
    records,
    slow,
    squeue_states,
    states,
    task_of,
    task_running,
    wait_for,
)
from stores import fill_up

pytestmark = pytest.mark.slurm


@pytest.fixture
def work(cluster, tmp_path, monkeypatch, plugins_table):
    # the fake systems and fault campaigns reach the Slurm tasks as a user's plug-ins do: named here
    (tmp_path / "ftrun.toml").write_text(plugins_table + FAULT_CONFIG)
    monkeypatch.chdir(tmp_path)
    store, runs = tmp_path / "store", tmp_path / "ftrun-runs"
    store.mkdir()
    runs.mkdir()
    mount("-t", "tmpfs", "-o", "size=64m", "tmpfs", store)
    mount("--bind", store, runs)
    yield tmp_path
    subprocess.run(["umount", "-l", str(runs)], check=True)
    subprocess.run(["umount", "-l", str(store)], check=True)


def mount(*args) -> None:
    subprocess.run(["mount", *map(str, args)], check=True)


def spoil(work, fault: str) -> None:
    runs = work / "ftrun-runs"
    if fault == "read-only":
        subprocess.run(["umount", "-l", str(runs)], check=True)
        mount("--bind", work / "store", runs)
        mount("-o", "remount,ro,bind", runs)
        return
    fill_up(runs)


def mend(work, fault: str) -> None:
    runs = work / "ftrun-runs"
    if fault == "read-only":
        subprocess.run(["umount", "-l", str(runs)], check=True)
        mount("--bind", work / "store", runs)
    else:
        (runs / "filler").unlink()


def one_line_at_most(out: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in out.stderr + out.stdout, out.stderr
    if out.returncode:
        lines = [line for line in out.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error:"), out.stderr


@pytest.mark.parametrize("fault", ["read-only", "full"])
def test_a_runs_folder_that_turns_read_only_or_full_loses_nothing(work, fault):
    ftrun("submit", "busy", "--cluster", "a100", "--only", "model=attn", env=slow(12))
    wait_for(lambda: task_running(work, "fake-slow"), 240)
    runs = work / "ftrun-runs"
    finished = {r["attempt"]: r for r in records(runs)}
    assert [r["state"] for r in finished.values()] == ["done"]
    job = task_of(work, "attn")
    spoil(work, fault)
    try:
        for args in (["status"], ["results", "export", "--csv", work / "x.csv"],
                     ["submit", "busy", "--cluster", "a100", "--only", "model=attn", "--follow", "--poll", "1"]):
            out = ftrun(*args, check=False, timeout=120)
            one_line_at_most(out)
        if fault == "read-only":
            assert "error:" in out.stderr
        wait_for(lambda: not squeue_states(job), 180)
    finally:
        mend(work, fault)
    log = next((runs / "logs").glob("*/task-*.log")).read_text(errors="replace")
    out = "".join(p.read_text(errors="replace") for p in (runs / "slurm").glob("*/*/*.out"))
    # ftrun's job side stops with one line (submitit may then fail to save its result pickle there too)
    assert "cannot write into the runs folder" in out, out[-3000:]
    assert "Traceback" not in out.split("cannot write into the runs folder")[0], out[-3000:]
    assert "Traceback" not in log, log[-3000:]
    now = {r["attempt"]: r for r in records(runs)}
    assert all(now[a] == r for a, r in finished.items()), "a finished result changed or went missing"
    finish(follower("busy", "--cluster", "a100", "--only", "model=attn", env=slow(2)))
    assert set(states(work).values()) == {"DONE"}
    assert_consistent(work)

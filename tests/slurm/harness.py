"""Driving ftrun on the dev Slurm cluster and checking the invariant every fault test ends with:
one record per (submission, task, position), each planned case in exactly one final state, and a
status that says so (nothing QUEUED, RUNNING, SUSPENDED or NEW left).
"""

import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEV = ROOT / "scripts" / "slurm-dev.sh"
FINAL = {"DONE", "NS", "OOM", "TLE", "CANCELLED"}
# the fault tests' cluster: at most 2 tasks at once, fake-slow cases limited to 30 s
FAULT_CONFIG = """
[clusters.a100]
kind = "slurm"
partition = "a100"
device = "a100"
gres = "gpu:a100:1"
cpus = 1
memory = "1G"
max_tasks = 2
case_timeout_min = 5
time_limits = { fake-slow = 0.5 }
retries = 2
backoff_s = 1
"""


def ftrun(*args, timeout=300, check=True, env=None):
    out = subprocess.run([sys.executable, "-m", "ftrun", *map(str, args)], capture_output=True, text=True,
                         timeout=timeout, env={**os.environ, **(env or {})})
    if check:
        assert out.returncode == 0, f"ftrun {' '.join(map(str, args))}\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    return out


def records(runs: Path) -> list[dict]:
    """Every readable record (a corrupt file planted by a test is not one)."""
    out = []
    for path in sorted((runs / "results").glob("*.json")):
        try:
            out.append(json.loads(path.read_text()))
        except json.JSONDecodeError:
            continue
    return out


def states(work: Path) -> dict[tuple[str, str], str]:
    """(model, system) -> state, from the CSV export (latest attempt per case)."""
    import csv

    ftrun("results", "export", "--csv", work / "x.csv")
    return {(r["model"], r["system"]): r["state"] if r["state"] != "FAIL" else f"FAIL({r['error_class']})"
            for r in csv.DictReader((work / "x.csv").open())}


def assert_consistent(work: Path) -> None:
    runs = work / "ftrun-runs"
    status = ftrun("status", "--summary").stdout
    assert not {"QUEUED", "RUNNING", "SUSPENDED", "NEW"} & set(status.split()), status
    positions = Counter((r["run"].get("submission"), r["run"].get("task"), r["run"].get("position"))
                        for r in records(runs) if r["run"].get("submission"))
    assert max(positions.values()) == 1, [p for p, n in positions.items() if n > 1]
    for case, state in states(work).items():
        assert state.split("(")[0] in FINAL | {"FAIL"}, (case, state)


def squeue_running(runs: Path | None = None) -> int:
    """Running Slurm tasks; with `runs`, only those of that runs folder's submissions (the dev cluster may
    be shared with other test sessions)."""
    out = subprocess.run(["squeue", "-h", "-t", "RUNNING", "-o", "%i %j"], capture_output=True, text=True)
    jobs = [line.split() for line in out.stdout.splitlines() if line.strip()]
    if runs is None:
        return len(jobs)
    ours = tuple(f"ftrun-{p.stem}" for p in (runs / "submissions").glob("*.json") if p.name.count(".") == 1)
    return len([job for job in jobs if ours and job[-1].startswith(ours)])


def sacct(job: str, fields: str) -> list[list[str]]:
    out = subprocess.run(["sacct", "-X", "-n", "-P", "-j", job, f"--format={fields}"], capture_output=True, text=True)
    return [line.split("|") for line in out.stdout.splitlines()]


def arrays(runs: Path) -> list[dict]:
    files = sorted((runs / "submissions").glob("*.arrays.json"))
    return [a for p in files for a in json.loads(p.read_text())["arrays"]]


def wait_for(condition, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.5)


def dev(*args: str, timeout: float = 300) -> None:
    """scripts/slurm-dev.sh ARGS (fault injection: kill a daemon, start what is missing)."""
    out = subprocess.run(["bash", str(DEV), *args], capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, out.stderr[-3000:]


def follower(experiment: str, *args: str, env: dict | None = None) -> subprocess.Popen:
    """`ftrun submit EXPERIMENT --follow` in the background."""
    return subprocess.Popen([sys.executable, "-m", "ftrun", "submit", experiment, *args, "--follow", "--poll", "2"],
                            env={**os.environ, **(env or {})}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def task_running(work: Path, system: str) -> str | None:
    """The job id of a task whose case in flight (its heartbeat) is of this system."""
    from results.runsdir import RunsDir

    runs = RunsDir(work / "ftrun-runs")
    for path in runs.submission_files():
        sub = runs.read_submission(path)
        for index, job in sub.task_job_ids().items():
            try:
                key = runs.heartbeat(sub.id, index).read_text()
            except OSError:
                continue
            if any(c.key == key and c.system == system for c in sub.tasks[index].cases):
                return job
    return None


def task_of(work: Path, model: str) -> str:
    """The job id of the (only) submitted task that runs this model's cases."""
    from results.runsdir import RunsDir

    runs = RunsDir(work / "ftrun-runs")
    for path in runs.submission_files():
        sub = runs.read_submission(path)
        for index, job in sub.task_job_ids().items():
            if sub.tasks[index].cases[0].model == model:
                return job
    raise AssertionError(f"no task of {model} was submitted")


def squeue_states(job: str) -> list[tuple[str, str, str]]:
    """(task, state, reason) of every task of this array that squeue lists."""
    out = subprocess.run(["squeue", "-h", "-r", "-j", job.split("_")[0], "-o", "%i|%T|%r"], capture_output=True,
                         text=True)
    return [tuple(line.split("|")) for line in out.stdout.splitlines()]


def slow(seconds: float) -> dict:
    return {"FTRUN_FAKE_SLOW_S": str(seconds)}


def finish(process: subprocess.Popen, timeout: float = 900) -> str:
    try:
        out = process.communicate(timeout=timeout)[0]
    finally:
        process.kill()
    assert process.returncode == 0, out[-3000:]
    assert "every case is final" in out, out[-3000:]
    return out

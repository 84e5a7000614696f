"""The job side of a Slurm task on the CPU, without Slurm: copies of one task, signals, suspension.

Each copy is a process running ftrun.backends.slurm.job.run_array_task with the environment Slurm gives
a task (SLURM_JOB_ID, SLURM_RESTART_COUNT), as submitit runs it on a node.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jobs.spec import SCALES, kernel_dims
from results.campaigns import Submission, TaskPlan
from results.case import CaseSpec
from results.runsdir import RunsDir

pytestmark = pytest.mark.slow


def spec(model: str, system: str) -> CaseSpec:
    return CaseSpec("kernel", model, system, kernel_dims(SCALES["tiny"], 4096), "float16", "cpu", "tiny")


def submission(runs: RunsDir, cases: list[CaseSpec], limit_s: float = 300.0) -> Path:
    """A submission of one task; it carries the active plug-ins (the tests' fake systems) as a submit does."""
    from jobs import plugins

    runs.write_submission(Submission.new("s1", "c", "a100", "a100",
                                         [TaskPlan(tuple(cases), {c.key: limit_s for c in cases})],
                                         plugins=plugins.active_spec().to_json()))
    return runs.submission_path("s1")


def start_copy(path: Path, attempt: int = 0, time_min: int | None = None, slow_s: float = 4.0) -> subprocess.Popen:
    code = ("import sys; from ftrun.backends.slurm.job import run_array_task; "
            f"print(run_array_task({str(path)!r}, 0, {time_min!r}))")
    env = {**os.environ, "SLURM_JOB_ID": "7", "SLURM_RESTART_COUNT": str(attempt), "FTRUN_FAKE_SLOW_S": str(slow_s)}
    return subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def wait_for(condition, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.2)


def in_flight(runs: RunsDir, case: CaseSpec) -> bool:
    try:
        return runs.heartbeat("s1", 0).read_text() == case.key
    except OSError:
        return False


def children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def records(runs: RunsDir) -> dict[int, object]:
    """position -> record; fails if a position has two."""
    out = {}
    for path in runs.results.glob("*.json"):
        record = runs.read_record(path)
        assert record.run.position not in out, f"two records for position {record.run.position}"
        out[record.run.position] = record
    return out


def test_a_superseded_copy_stops_at_its_next_case_and_the_new_one_waits_for_it(runs_dir):
    runs = RunsDir(runs_dir)
    cases = [spec(m, "fake-slow") for m in ("attn", "h2o", "roco")]
    path = submission(runs, cases)
    old = start_copy(path, attempt=0)
    wait_for(lambda: in_flight(runs, cases[0]))
    # the requeued copy starts while the old one (which outlived its signal) still runs case 0
    new = start_copy(path, attempt=1)
    old_err = old.communicate(timeout=300)[1]
    new_err = new.communicate(timeout=300)[1]
    assert old.returncode == 0 and new.returncode == 0, (old_err, new_err)
    assert "superseded by job 7 attempt 1" in old_err
    got = records(runs)
    assert sorted(got) == [0, 1, 2] and all(r.state == "done" for r in got.values())
    # never two cases of the task at once: the new copy started case 1 after case 0 ended
    assert got[0].finished <= got[1].started
    assert runs.read_claim("s1", 0).attempt == 1


@pytest.mark.parametrize("marked, time_min, first, rest", [
    (False, None, "preempted", None),
    (True, None, "cancelled", None),
    (False, 1, "timeout", "timeout"),
])
def test_sigterm_kills_the_case_worker_and_records_the_case_never_as_a_crash(runs_dir, marked, time_min, first,
                                                                                rest):
    runs = RunsDir(runs_dir)
    cases = [spec("attn", "fake-hangs"), spec("h2o", "torch")]
    path = submission(runs, cases)
    copy = start_copy(path, time_min=time_min)
    wait_for(lambda: in_flight(runs, cases[0]) and children(copy.pid))
    (worker,) = children(copy.pid)
    time.sleep(2)
    if marked:
        # `ftrun cancel` marks the case, then scancels the task
        runs.touch(runs.cancel_mark("s1", cases[0].key))
    copy.send_signal(signal.SIGTERM)
    err = copy.communicate(timeout=60)[1]
    assert copy.returncode == 0, err
    assert "Bypassing" not in err and "caught SIGTERM" in err
    wait_for(lambda: not alive(worker), 10)
    got = records(runs)
    assert got[0].error_class == first
    assert (got[1].error_class if 1 in got else None) == rest
    assert not runs.heartbeat("s1", 0).exists()


def test_time_spent_suspended_does_not_count_against_the_case_limit(runs_dir):
    runs = RunsDir(runs_dir)
    case = spec("attn", "fake-slow")
    path = submission(runs, [case], limit_s=25.0)
    copy = start_copy(path, slow_s=4.0)
    wait_for(lambda: in_flight(runs, case) and children(copy.pid))
    (worker,) = children(copy.pid)
    # what Slurm does to a suspended job: every process stopped, then continued
    for pid in (copy.pid, worker):
        os.kill(pid, signal.SIGSTOP)
    time.sleep(35)
    for pid in (worker, copy.pid):
        os.kill(pid, signal.SIGCONT)
    err = copy.communicate(timeout=120)[1]
    assert copy.returncode == 0, err
    assert records(runs)[0].state == "done", records(runs)[0].error

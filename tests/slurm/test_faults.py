"""Faults of issue 16 on the real dev cluster: requeue, suspend/resume, scancel of pending tasks under an
array limit, cancel with a follower running, slurmd killed, slurmdbd and MariaDB killed, a read-only or
full runs folder. Each test ends with the invariant check (harness.assert_consistent)."""

import subprocess
import time

import pytest
from harness import (
    FAULT_CONFIG,
    arrays,
    assert_consistent,
    dev,
    finish,
    follower,
    ftrun,
    records,
    slow,
    squeue_running,
    squeue_states,
    states,
    task_of,
    task_running,
    wait_for,
)

pytestmark = pytest.mark.slurm

TRANSIENT = {"crash", "preempted", "node_fail", "lost", "cuda_init", "killed"}


@pytest.fixture
def work(cluster, tmp_path, monkeypatch, plugins_table):
    # the fake systems and fault campaigns reach the Slurm tasks as a user's plug-ins do: named here
    (tmp_path / "ftrun.toml").write_text(plugins_table + FAULT_CONFIG)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_a_requeued_task_records_its_case_preempted_and_runs_nothing_twice(work):
    running = follower("busy", "--cluster", "a100", env=slow(8))
    wait_for(lambda: task_running(work, "fake-slow"), 240)
    job = task_running(work, "fake-slow")
    subprocess.run(["scontrol", "requeue", job], check=True)
    finish(running)
    runs = work / "ftrun-runs"
    mine = [r for r in records(runs) if r["run"].get("job_id") == job]
    assert any(r["error_class"] == "preempted" for r in mine), mine
    assert not [r for r in records(runs) if r["error_class"] == "crash"]
    assert set(states(work).values()) == {"DONE"}
    assert_consistent(work)


def test_a_suspended_task_shows_suspended_and_its_case_keeps_its_limit(work):
    # fake-slow takes 10 s of its 30 s limit; the task is suspended for 40 s in the middle
    ftrun("submit", "busy", "--cluster", "a100", "--only", "model=attn", env=slow(10))
    wait_for(lambda: task_running(work, "fake-slow"), 240)
    job = task_running(work, "fake-slow")
    subprocess.run(["scontrol", "suspend", job], check=True)
    try:
        time.sleep(3)
        status = ftrun("status")
        assert "SUSPENDED" in status.stdout, status.stdout
        time.sleep(37)
    finally:
        subprocess.run(["scontrol", "resume", job], check=True)
    ftrun("submit", "busy", "--cluster", "a100", "--only", "model=attn", "--follow", "--poll", "2", timeout=600)
    assert states(work) == {("attn", "torch"): "DONE", ("attn", "fake-slow"): "DONE"}
    assert_consistent(work)


def test_pending_tasks_cancelled_under_the_array_limit_end_cancelled_or_run_again(work):
    ftrun("submit", "busy", "--cluster", "a100", env=slow(20))
    wait_for(lambda: sum(1 for _, state, reason in squeue_states(task_of(work, "attn"))
                         if state == "PENDING" and reason == "JobArrayTaskLimit") >= 3, 120)
    status = ftrun("status")
    assert "JobArrayTaskLimit: held by the array's task limit" in status.stderr, status.stderr
    # kf's task is cancelled through ftrun, snapkv's by a plain scancel: both still pending
    ftrun("cancel", "--only", "model=kf")
    subprocess.run(["scancel", task_of(work, "snapkv")], check=True)
    finish(follower("busy", "--cluster", "a100", env=slow(2)))
    got = states(work)
    assert {got[("kf", s)] for s in ("torch", "fake-slow")} == {"CANCELLED"}
    assert {state for (model, _), state in got.items() if model != "kf"} == {"DONE"}
    assert "cancelled 0 case(s)" in ftrun("cancel", "--all").stdout
    assert_consistent(work)


def test_cancel_with_a_follower_running_is_final_and_spends_no_retry(work):
    running = follower("busy", "--cluster", "a100", env=slow(8))
    wait_for(lambda: squeue_running() >= 2, 240)
    time.sleep(4)
    cancelled_at = time.time()
    ftrun("cancel", "--all")
    finish(running, 600)
    runs = work / "ftrun-runs"
    assert all(a["submitted"] <= cancelled_at for a in arrays(runs)), "the follower resubmitted after the cancel"
    assert not [r for r in records(runs) if r["error_class"] in TRANSIENT]
    got = set(states(work).values())
    assert "CANCELLED" in got and got <= {"DONE", "CANCELLED"}, got
    assert_consistent(work)


@pytest.mark.parametrize("daemons", [("slurmd",), ("slurmdbd", "mariadb")])
def test_a_daemon_killed_and_restarted_mid_campaign_loses_and_duplicates_nothing(work, daemons):
    running = follower("busy", "--cluster", "a100", env=slow(6))
    try:
        wait_for(lambda: squeue_running() >= 2, 240)
        for daemon in daemons:
            dev("kill", daemon)
        time.sleep(3)
        status = ftrun("status", check=False)
        assert "Traceback" not in status.stderr and "FAIL" not in status.stdout, status
        if "slurmdbd" in daemons:
            assert "degraded: sacct is unavailable" in status.stderr, status.stderr
        time.sleep(10)
    finally:
        dev("start", timeout=600)
    finish(running)
    assert set(states(work).values()) == {"DONE"}
    assert_consistent(work)

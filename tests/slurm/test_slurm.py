"""ftrun against a real Slurm cluster (scripts/slurm-dev.sh), with faults injected mid-campaign.

Every test ends by checking the invariant that matters: each planned case is in exactly one final
state, and no (submission, task, position) has two records — nothing lost, nothing duplicated.
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter

import pytest
from harness import ROOT, arrays, assert_consistent, ftrun, records, sacct, squeue_running, states, wait_for

pytestmark = pytest.mark.slurm

CONFIG = """
[clusters.a100]
kind = "slurm"
partition = "a100"
device = "a100"
gres = "gpu:a100:1"
cpus = 1
memory = "1G"
max_tasks = 2
case_timeout_min = 5
time_limits = {{ fake-hangs = 0.15 }}
retries = 2
backoff_s = 1

[clusters.h100]
kind = "slurm"
partition = "h100"
device = "h100"
gres = "gpu:h100:1"
cpus = 1
memory = "1G"
max_tasks = 1
case_timeout_min = 5
"""
@pytest.fixture
def work(cluster, tmp_path, monkeypatch, plugins_table):
    # the fake systems and fault campaigns reach the Slurm tasks as a user's plug-ins do: named here
    (tmp_path / "ftrun.toml").write_text(plugins_table + CONFIG.format())
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_each_partition_gets_its_gres_and_time_limit(work):
    for cluster in ("a100", "h100"):
        ftrun("submit", "quick", "--cluster", cluster, "--follow", "--poll", "2", timeout=240)
    runs = work / "ftrun-runs"
    jobs = arrays(runs)
    assert len(jobs) == 2
    for job, partition in zip(jobs, ("a100", "h100")):
        tasks = sacct(job["job_id"], "Partition,AllocTRES,Timelimit")
        assert len(tasks) == 2
        for part, tres, limit in tasks:
            assert part == partition and f"gres/gpu:{partition}=1" in tres
            # a chunk of one torch case at 5 min: 5 * 1.1 + 5 minutes of overhead, rounded up
            assert limit == "00:11:00", limit
    assert {r["case"]["device"] for r in records(runs)} == {"a100", "h100"}
    assert_consistent(work)
    # both devices end up as rows of one figure (a plug-in experiment: drawn under its own name)
    ftrun("plot", "quick", "--out", work / "figs")
    rows = {line.split(",")[2] for line in (work / "figs" / "quick-kernel.csv").read_text().splitlines()[1:]}
    assert rows == {"a100", "h100"}


def test_the_cap_holds_over_all_arrays(work):
    samples = []
    done = threading.Event()

    def sample():
        while not done.is_set():
            samples.append(squeue_running(work / "ftrun-runs"))
            time.sleep(0.3)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        ftrun("submit", "busy", "--cluster", "a100", "--follow", "--poll", "2", timeout=600,
              env={"FTRUN_FAKE_SLOW_S": "3"})
    finally:
        done.set()
        sampler.join()
    assert max(samples) == 2, Counter(samples)
    assert_consistent(work)
    assert set(states(work).values()) == {"DONE"}


def test_timeouts_get_one_longer_retry_and_failures_are_final(work):
    ftrun("submit", "classes", "--cluster", "a100", "--follow", "--poll", "2", timeout=400)
    runs = work / "ftrun-runs"
    hangs = [r for r in records(runs) if r["case"]["system"] == "fake-hangs"]
    assert [r["error_class"] for r in hangs] == ["timeout", "timeout"]
    limits = sorted(r["error"].split("limit of ")[1].split(" s")[0] for r in hangs)
    assert limits == ["18", "9"]
    assert states(work) == {("attn", "torch"): "DONE", ("attn", "fake-raises"): "FAIL(compile_error)",
                            ("attn", "fake-hangs"): "TLE"}
    raised = [r for r in records(runs) if r["case"]["system"] == "fake-raises"]
    assert len(raised) == 1 and "aten.frobnicate" in raised[0]["error"]
    assert_consistent(work)


def test_scancel_node_down_and_controller_restart_mid_campaign(work):
    follower = subprocess.Popen([sys.executable, "-m", "ftrun", "submit", "busy", "--cluster", "a100", "--follow",
                                 "--poll", "2"], env={**os.environ, "FTRUN_FAKE_SLOW_S": "6"},
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for(lambda: squeue_running() >= 2, 120)
        running = subprocess.run(["squeue", "-h", "-t", "RUNNING", "-o", "%i"], capture_output=True,
                                 text=True).stdout.split()
        subprocess.run(["scancel", running[0]], check=True)
        node = subprocess.run(["sinfo", "-h", "-o", "%n"], capture_output=True, text=True).stdout.split()[0]
        wait_for(lambda: squeue_running() >= 1, 60)
        subprocess.run(["scontrol", "update", f"nodename={node}", "state=down", "reason=ftrun-test"], check=True)
        time.sleep(3)
        subprocess.run(["scontrol", "update", f"nodename={node}", "state=resume"], check=True)
        subprocess.run(["bash", str(ROOT / "scripts" / "slurm-dev.sh"), "restart-ctld"], check=True,
                       capture_output=True, timeout=120)
        output, _ = follower.communicate(timeout=900)
    finally:
        follower.kill()
    assert follower.returncode == 0, output[-3000:]
    assert "every case is final" in output
    runs = work / "ftrun-runs"
    # after scancel (or the node going down) Slurm waits KillWait before SIGKILL, and the task may finish
    # cases meanwhile; whichever way each case ended, it has exactly one record from that task
    # (assert_consistent): done, or a transient failure (a crash when SIGKILL took the case's process,
    # killed/node_fail written for the task once its heartbeat stopped) that was retried
    from results.records import TRANSIENT

    ended = [r for r in records(runs) if r["run"].get("job_id") == running[0]]
    assert ended and all(r["state"] == "done" or r["error_class"] in TRANSIENT for r in ended), ended
    assert set(states(work).values()) == {"DONE"}
    assert_consistent(work)


def test_a_killed_follower_and_two_submitters_at_once_submit_nothing_twice(work):
    env = {**os.environ, "FTRUN_FAKE_SLOW_S": "5"}
    first = subprocess.Popen([sys.executable, "-m", "ftrun", "submit", "busy", "--cluster", "a100", "--follow",
                              "--poll", "2"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    runs = work / "ftrun-runs"
    wait_for(lambda: (runs / "submissions").is_dir() and arrays(runs), 60)
    first.send_signal(signal.SIGKILL)
    first.wait()
    both = [subprocess.Popen([sys.executable, "-m", "ftrun", "submit", "busy", "--cluster", "a100", "--follow",
                              "--poll", "2"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            for _ in range(2)]
    outputs = [p.communicate(timeout=600)[0] for p in both]
    assert all(p.returncode == 0 for p in both), outputs
    subs = [json.loads(p.read_text()) for p in (runs / "submissions").glob("*.json") if ".arrays" not in p.name]
    submitted_keys = Counter(c["key"] for s in subs for t in s["tasks"] for c in t["cases"])
    # 6 chunks of torch, fake-slow, torch: each case submitted once
    assert len(subs) == 1 and set(submitted_keys.values()) == {1, 2}
    assert set(states(work).values()) == {"DONE"}
    assert_consistent(work)


def test_a_corrupt_result_is_reported_ignored_and_run_again(work):
    ftrun("submit", "quick", "--cluster", "a100", "--follow", "--poll", "2")
    runs = work / "ftrun-runs"
    victim = next(p for p in (runs / "results").glob("*.json") if json.loads(p.read_text())["case"]["model"] == "h2o")
    victim.write_text('{"format": "ftrun.result/1", "key": "trunc')
    (runs / "index.sqlite").unlink()
    status = ftrun("status")
    assert "skipped invalid file" in status.stderr
    ftrun("submit", "quick", "--cluster", "a100", "--follow", "--poll", "2")
    assert states(work) == {("attn", "torch"): "DONE", ("h2o", "torch"): "DONE"}
    assert_consistent(work)


def test_a_submission_recorded_before_sbatch_is_recovered_after_a_crash(work):
    from ftrun.backends.slurm import commands, queue
    from ftrun.settings import load_settings
    from results.campaigns import PendingArray, Submission, TaskPlan
    from results.case import CaseSpec
    from results.runsdir import RunsDir

    settings = load_settings(work / "ftrun.toml")
    cluster = settings.cluster("a100")
    runs = RunsDir(settings.runs.root.resolve())
    case = CaseSpec("kernel", "attn", "torch", tuple(sorted(
        {"batch": 1, "heads": 2, "kv_heads": 2, "head_dim": 32, "q_len": 64, "kv_len": 64}.items())),
        "float16", "a100", "tiny")
    sub = f"crash-{time.time_ns()}"
    runs.write_submission(Submission.new(sub, "c", "a100", "a100", [TaskPlan((case,), {case.key: 120.0})]))
    path = runs.submission_path(sub)
    # ftrun "dies" right after sbatch: the intent is on disk, the arrays file is not
    runs.write_pending(sub, 0, PendingArray(f"ftrun-{sub}-0", (0,), 1))
    commands.submit_array(path, [0], cluster, f"ftrun-{sub}-0", runs.slurm_dir(sub), 5, 1, [])
    queue.refresh(runs)
    (array,) = arrays(runs.root)
    assert array["indices"] == [0] and not list(runs.submissions.glob("*.pending-*"))
    wait_for(lambda: not queue.refresh(runs).cases, 120)
    done = [r for r in records(runs.root) if r["key"] == case.key]
    assert len(done) == 1 and done[0]["state"] == "done" and done[0]["run"]["job_id"] == array["tasks"][0]


def test_status_without_sacct_is_degraded_and_never_declares_a_pending_task_lost(work, tmp_path_factory):
    node = subprocess.run(["sinfo", "-h", "-o", "%n"], capture_output=True, text=True).stdout.split()[0]
    fake_bin = tmp_path_factory.mktemp("bin")
    (fake_bin / "sacct").write_text("#!/bin/sh\necho 'sacct: error: accounting storage is disabled' >&2\nexit 1\n")
    (fake_bin / "sacct").chmod(0o755)
    no_sacct = {"PATH": f"{fake_bin}:{os.environ['PATH']}"}
    subprocess.run(["scontrol", "update", f"nodename={node}", "state=drain", "reason=ftrun-test"], check=True)
    try:
        ftrun("submit", "quick", "--cluster", "a100", env=no_sacct)
        status = ftrun("status", env=no_sacct)
        assert "degraded: sacct is unavailable" in status.stderr
        assert "QUEUED" in status.stdout and "FAIL" not in status.stdout
    finally:
        subprocess.run(["scontrol", "update", f"nodename={node}", "state=resume"], check=True)
    ftrun("submit", "quick", "--cluster", "a100", "--follow", "--poll", "2", env=no_sacct)
    assert states(work) == {("attn", "torch"): "DONE", ("h2o", "torch"): "DONE"}


def test_bad_slurm_input_is_one_line_and_submits_nothing(work, tmp_path_factory, plugins_table):
    (work / "bad.toml").write_text(plugins_table + '[clusters.v100]\nkind = "slurm"\npartition = "v100"\n')
    out = ftrun("submit", "quick", "--cluster", "v100", "--config", work / "bad.toml", check=False)
    assert out.returncode == 1 and "Slurm has no partition 'v100'; partitions: a100, h100" in out.stderr
    empty = tmp_path_factory.mktemp("nobin")
    out = ftrun("submit", "quick", "--cluster", "a100", check=False, env={"PATH": str(empty)})
    assert out.returncode == 1 and "Slurm commands not found: sbatch" in out.stderr
    assert not (work / "ftrun-runs").exists()


def test_the_readme_slurm_examples_run_in_order(cluster, tmp_path, monkeypatch):
    import re
    import shlex

    monkeypatch.chdir(tmp_path)
    (tmp_path / "ftrun.toml").write_text((ROOT / "examples" / "ftrun.toml").read_text())
    block = re.search(r"```console-slurm\n(.*?)```", (ROOT / "README.md").read_text(), re.S).group(1)
    commands = [shlex.split(line[2:].split("#")[0]) for line in block.splitlines() if line.startswith("$ ftrun ")]
    assert len(commands) >= 6
    for argv in commands:
        ftrun(*argv[1:], timeout=900)
    assert states(tmp_path)[("attn", "torch")] == "DONE"
    jobs = [a["job_id"] for a in arrays(tmp_path / "ftrun-runs")]
    listed = subprocess.run(["sacct", "-a", "-r", "a100", "-X", "-n", "-o", "JobID"], capture_output=True, text=True)
    assert all(any(line.startswith(job) for line in listed.stdout.split()) for job in jobs)

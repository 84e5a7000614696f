"""Local runs under faults: two submits at once, a killed ftrun, a killed or stuck worker.

Nothing may run twice and nothing may be left running: a second submit waits for the first (and says
for whom), a killed ftrun takes its workers with it, a worker enforces its case's limit itself.
"""

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

CONFIG = '[clusters.box]\nkind = "local"\nmax_tasks = 1\ntime_limits = { fake-hangs = 0.1 }\n'


@pytest.fixture
def work(tmp_path, monkeypatch, plugins_table):
    # the fake systems and fault campaigns, named as a user's plug-ins are
    (tmp_path / "ftrun.toml").write_text(plugins_table + CONFIG)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def start(*args, slow_s: float = 3.0) -> subprocess.Popen:
    env = {**os.environ, "FTRUN_FAKE_SLOW_S": str(slow_s)}
    return subprocess.Popen([sys.executable, "-m", "ftrun", "submit", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def records(work: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in (work / "ftrun-runs" / "results").glob("*.json")]


def workers_of(pid: int) -> list[int]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = cmdline.read_bytes().split(b"\0")
            ppid = int((cmdline.parent / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid and b"jobs.worker" in argv:
            found.append(int(cmdline.parent.name))
    return found


def gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def wait_for(condition, timeout_s: float = 120.0):
    deadline = time.monotonic() + timeout_s
    while not (found := condition()):
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.2)
    return found


def test_two_local_submits_at_once_run_each_case_once(work):
    args = ("busy", "--cluster", "box", "--only", "model=attn", "--only", "model=h2o")
    first = start(*args)
    wait_for(lambda: workers_of(first.pid))
    second = start(*args)
    out_second = second.communicate(timeout=600)[0]
    out_first = first.communicate(timeout=600)[0]
    assert first.returncode == 0 and second.returncode == 0, (out_first, out_second)
    assert f"waiting for the runs folder's submit lock, held by pid {first.pid}" in " ".join(out_second.split())
    assert "nothing to run" in out_second
    got = records(work)
    # 2 models x (torch, fake-slow, torch again): one record per chunk position, all from the first submit
    assert len(got) == 6 and all(r["state"] == "done" for r in got)
    assert max(Counter((r["run"]["campaign"], r["run"]["chunk"], r["run"]["position"]) for r in got).values()) == 1
    assert len({r["run"]["campaign"] for r in got}) == 1


@pytest.mark.parametrize("sig, recorded", [(signal.SIGKILL, None), (signal.SIGTERM, "cancelled"),
                                           (signal.SIGINT, "cancelled")])
def test_a_killed_ftrun_leaves_nothing_running(work, sig, recorded):
    ftrun = start("classes", "--cluster", "local", "--only", "system=fake-hangs")
    (worker,) = wait_for(lambda: workers_of(ftrun.pid))
    time.sleep(3)
    ftrun.send_signal(sig)
    out = ftrun.communicate(timeout=60)[0]
    assert ftrun.returncode != 0
    wait_for(lambda: gone(worker), 15)
    assert [r["error_class"] for r in records(work)] == ([recorded] if recorded else [])
    assert "Traceback" not in out
    if sig == signal.SIGTERM:
        assert "stopped by SIGTERM" in out
    # the lock died with ftrun: the next submit runs the case (cancelled or never recorded) at once
    again = subprocess.run([sys.executable, "-m", "ftrun", "submit", "classes", "--cluster", "local", "--only",
                            "system=fake-hangs", "--dry-run"], capture_output=True, text=True, timeout=120)
    assert "1 to run" in again.stdout


def test_a_killed_worker_is_recorded_and_the_chunk_goes_on(work):
    ftrun = start("classes", "--cluster", "local", "--only", "model=attn")
    (worker,) = wait_for(lambda: [w for w in workers_of(ftrun.pid) if _runs_hang(work)])
    os.kill(worker, signal.SIGKILL)
    out = ftrun.communicate(timeout=600)[0]
    assert ftrun.returncode == 0, out
    classes = Counter((r["case"]["system"], r["error_class"]) for r in records(work))
    assert classes[("fake-hangs", "killed")] == 1 and classes[("torch", None)] == 2
    assert classes[("fake-raises", "compile_error")] == 1


def _runs_hang(work: Path) -> bool:
    logs = list((work / "ftrun-runs" / "logs").glob("*/chunk-*.log"))
    return any("fake-hangs" in p.read_text(errors="replace") for p in logs)


def test_a_worker_whose_parent_is_stopped_still_keeps_its_case_limit(work):
    ftrun = start("classes", "--cluster", "box", "--only", "system=fake-hangs")
    (worker,) = wait_for(lambda: workers_of(ftrun.pid))
    ftrun.send_signal(signal.SIGSTOP)
    try:
        # the case's limit is 6 s; the worker gives its parent 15 s more, then ends itself
        wait_for(lambda: gone(worker), 90)
    finally:
        ftrun.send_signal(signal.SIGCONT)
    out = ftrun.communicate(timeout=120)[0]
    assert ftrun.returncode == 0, out
    assert [r["error_class"] for r in records(work)] == ["timeout"]

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
from stores import fill_up

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
        if ppid == pid and b"jobs.entry" in argv:
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


def ftrun(*args, timeout: float = 600, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ftrun", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **env})


def one_line(out: subprocess.CompletedProcess, *words: str) -> None:
    assert "Traceback" not in out.stdout + out.stderr, out.stderr
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert out.returncode == 1 and len(lines) == 1 and lines[0].startswith("error:"), out.stderr
    assert all(w in " ".join(lines[0].split()) for w in words), lines[0]


@pytest.fixture
def small_disk(work):
    """The runs folder on a 16 MiB tmpfs (the tests run as root)."""
    runs = work / "ftrun-runs"
    runs.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(runs)], check=True)
    yield runs
    subprocess.run(["umount", "-l", str(runs)], check=True)


def test_a_full_disk_is_one_line_and_loses_nothing(work, small_disk):
    args = ("busy", "--cluster", "box", "--only", "model=attn")
    first = ftrun("submit", *args, FTRUN_FAKE_SLOW_S="0.1")
    assert first.returncode == 0, first.stderr
    done = {p.name: p.read_bytes() for p in (small_disk / "results").glob("*.json")}
    assert len(done) == 3
    fill_up(small_disk)
    for cmd in (("submit", "busy", "--cluster", "box", "--force", "--only", "model=h2o"),
                ("submit", "busy", "--cluster", "box", "--only", "model=h2o"), ("status",)):
        # status too: it brings the index up to date first, which needs room for SQLite's journal
        one_line(ftrun(*cmd, FTRUN_FAKE_SLOW_S="0.1"), "no space left")
    assert {p.name: p.read_bytes() for p in (small_disk / "results").glob("*.json")} == done
    (small_disk / "filler").unlink()
    again = ftrun("submit", "busy", "--cluster", "box", FTRUN_FAKE_SLOW_S="0.1")
    assert again.returncode == 0, again.stderr
    got = records(work)
    assert all(r["state"] == "done" for r in got)
    # attn's three results kept and not run again; every other case of the campaign run once, after the fault
    assert {p.name: p.read_bytes() for p in (small_disk / "results").glob("*.json") if p.name in done} == done
    assert sum(r["case"]["model"] == "attn" for r in got) == 3
    assert max(Counter((r["run"]["campaign"], r["run"]["chunk"], r["run"]["position"]) for r in got).values()) == 1
    campaigns = {}
    for r in got:  # the torch baseline runs first and last in a chunk; no case runs in two submits
        campaigns.setdefault(r["key"], set()).add(r["run"]["campaign"])
    assert all(len(c) == 1 for c in campaigns.values())


def test_a_poisoned_import_is_refused_file_by_file(work, tmp_path_factory):
    assert ftrun("submit", "busy", "--cluster", "box", "--only", "model=attn", FTRUN_FAKE_SLOW_S="0.1").returncode == 0
    good = sorted((work / "ftrun-runs" / "results").glob("*.json"))[0]
    other = tmp_path_factory.mktemp("other") / "ftrun-runs"
    (other / "results").mkdir(parents=True)
    record = json.loads(good.read_text())
    secret = tmp_path_factory.mktemp("outside") / "secret.json"
    secret.write_text(good.read_text())
    secret.chmod(0o600)
    poisons = {
        "negative.json": {**record, "timing": {**record["timing"], "median": -3}},
        "future.json": {**record, "finished": "9999-01-01T00:00:00+00:00"},
        "nodims.json": {**record, "case": {k: v for k, v in record["case"].items() if k != "dims"}},
        "typed.json": {**record, "error": 5},
    }
    for name, content in poisons.items():
        (other / "results" / name).write_text(json.dumps(content))
    (other / "results" / "nan.json").write_text(good.read_text().replace(str(record["timing"]["median"]), "NaN", 1))
    (other / "results" / "link.json").symlink_to(secret)
    before = sorted(p.name for p in (work / "ftrun-runs" / "results").iterdir())
    out = ftrun("results", "import", other)
    assert "Traceback" not in out.stdout + out.stderr, out.stderr
    text = " ".join((out.stdout + out.stderr).split())
    for name in [*poisons, "nan.json", "link.json"]:
        assert name in text, (name, text)
    assert sorted(p.name for p in (work / "ftrun-runs" / "results").iterdir()) == before
    for cmd in (("status",), ("results", "export", "--csv", work / "x.csv"), ("plot", "busy", "--out", work / "fig")):
        res = ftrun(*cmd)
        assert res.returncode == 0 and "Traceback" not in res.stderr, (cmd, res.stderr)


def test_a_corrupt_index_is_one_line_and_rebuild_recovers(work):
    assert ftrun("submit", "busy", "--cluster", "box", "--only", "model=attn", FTRUN_FAKE_SLOW_S="0.1").returncode == 0
    runs = work / "ftrun-runs"
    files = {p.name: p.read_bytes() for p in (runs / "results").glob("*.json")}
    for extra in runs.glob("index.sqlite-*"):
        extra.unlink()
    (runs / "index.sqlite").write_bytes(b"this is not a database" * 100)
    one_line(ftrun("status"), "results rebuild")
    rebuilt = ftrun("results", "rebuild")
    assert rebuilt.returncode == 0, rebuilt.stderr
    out = ftrun("status", "--json")
    assert out.returncode == 0, out.stderr
    assert {p.name: p.read_bytes() for p in (runs / "results").glob("*.json")} == files
    assert out.stdout.count('"DONE"') >= 1 or "DONE" in out.stdout

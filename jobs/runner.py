"""Run a chunk of cases in a child worker process, each under its own time limit.

The parent never runs GPU code: it feeds cases to `jobs.worker`, waits for each reply with a timeout,
kills the worker's process group when a case runs over (recorded as TLE) or notes when it dies
(recorded as a crash, or as killed by the system), and starts a fresh worker for the rest. Finished
cases are on disk the moment they finish, so nothing done is lost when a task is killed.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from results.case import CaseSpec
from results.records import Record, RunInfo, new_attempt_id, now
from results.runsdir import RunsDir

HEARTBEAT_S = 10.0


@dataclass
class ChunkRun:
    """How to run a chunk: where results go, the per-case limit, what to record about the run."""

    runs: RunsDir
    limit_s: Callable[[CaseSpec], float]
    log_path: Path
    run: RunInfo = field(default_factory=RunInfo)
    timing: dict = field(default_factory=dict)
    env: dict = field(default_factory=dict)
    heartbeat: Path | None = None
    # the plug-ins the cases need (jobs.plugins.PluginSpec.to_json), loaded by the worker
    plugins: dict = field(default_factory=dict)


class _Worker:
    def __init__(self, cfg: ChunkRun):
        cfg.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log = open(cfg.log_path, "ab")
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **cfg.env}
        root = str(Path(__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "jobs.worker", str(cfg.runs.root)], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=self.log, start_new_session=True, env=env,
        )
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.proc.stdout, selectors.EVENT_READ)

    def send(self, request: dict) -> None:
        self.proc.stdin.write((json.dumps(request) + "\n").encode())
        self.proc.stdin.flush()

    def reply(self, deadline: float, beat: Callable[[], None]) -> dict | None | str:
        """The worker's reply, "timeout", or None if it died first."""
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return "timeout"
            beat()
            if self.sel.select(timeout=min(left, HEARTBEAT_S)):
                line = self.proc.stdout.readline()
                return json.loads(line) if line else None

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.close()

    def close(self) -> int | None:
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            rc = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            rc = self.proc.wait()
        self.sel.close()
        self.proc.stdout.close()
        self.log.close()
        return rc


def run_chunk(cases: list[CaseSpec], cfg: ChunkRun, on_start: Callable[[CaseSpec], None] | None = None,
              on_done: Callable[[CaseSpec, Record], None] | None = None,
              skip: Callable[[int, CaseSpec], bool] | None = None) -> list[Record]:
    """Run cases in order; returns one record per case run (also written under the runs folder).

    `skip(position, spec)` is asked just before each case; a case it settles is not run. Each record's
    `run` holds the case's position in the chunk, so a requeued task can tell what it already did.
    """
    records, worker = [], None
    try:
        for position, spec in enumerate(cases):
            if skip and skip(position, spec):
                continue
            worker = worker or _Worker(cfg)
            attempt, started = new_attempt_id(), now()
            run = replace(cfg.run, position=position)
            if on_start:
                on_start(spec)
            if cfg.heartbeat:
                _beat(cfg.heartbeat, spec.key)
            beat = lambda: cfg.heartbeat and _beat(cfg.heartbeat)  # noqa: E731
            worker.send({"spec": spec.to_json(), "attempt": attempt, "run": run.to_json(), "timing": cfg.timing,
                         "plugins": cfg.plugins})
            answer = worker.reply(time.monotonic() + cfg.limit_s(spec), beat)
            if isinstance(answer, dict):
                try:
                    record = cfg.runs.read_record(cfg.runs.record_path(spec.key, attempt))
                except (OSError, ValueError) as e:
                    record = _write_failure(cfg, run, spec, attempt, started, "crash", f"no valid record: {e}")
                if record.error_class in ("crash", "cuda_init"):
                    worker.close()
                    worker = None
            elif answer == "timeout":
                worker.kill()
                worker = None
                record = _write_failure(cfg, run, spec, attempt, started, "timeout",
                                        f"over the per-case limit of {cfg.limit_s(spec):.0f} s")
            else:
                rc = worker.close()
                worker = None
                record = _write_failure(cfg, run, spec, attempt, started, *_death_class(rc))
            records.append(record)
            if on_done:
                on_done(spec, record)
    except BaseException:
        # interrupted (Ctrl-C, the task's own time limit): nothing of the case in flight survives anyway
        if worker:
            worker.kill()
        raise
    if worker:
        worker.close()
    return records


def _death_class(rc: int | None) -> tuple[str, str]:
    if rc is not None and rc < 0 and -rc == signal.SIGKILL:
        return "killed", "the case's process was killed by the system (SIGKILL: out of host memory?)"
    if rc is not None and rc < 0:
        return "crash", f"the case's process died with signal {signal.Signals(-rc).name}"
    return "crash", f"the case's process exited with status {rc} before finishing"


def _write_failure(cfg: ChunkRun, run: RunInfo, spec: CaseSpec, attempt: str, started: str, cls: str,
                   msg: str) -> Record:
    record = Record.failure(spec, attempt, cls, f"{msg}; log: {cfg.log_path}", run, started)
    cfg.runs.write_record(record)
    return record


def _beat(path: Path, current: str | None = None) -> None:
    """Touch the heartbeat file; its text names the case in flight."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if current is None:
        path.touch()
    else:
        path.write_text(current)

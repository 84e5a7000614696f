"""Run a chunk of cases in a child worker process, each under its own time limit.

The parent never runs GPU code: it feeds cases to the worker (jobs.entry), waits for each reply with a
timeout, kills the worker's process group when a case runs over (recorded as TLE) or notes when it dies
(recorded as a crash, or as killed by the system), and starts a fresh worker for the rest. Finished
cases are on disk the moment they finish, so nothing done is lost when a task is killed.

A `Stop` ends a chunk early (a signal to the task or to ftrun, a superseded task copy): the worker is
killed at once, the case in flight is recorded as the chunk's owner says (`ChunkRun.stopped`: cancelled,
preempted, timeout) and no further case starts. The worker dies with this process and enforces its case's
limit itself too, so nothing is left running whatever happens here. Time spent stopped (a suspended
Slurm job: SIGSTOP, then SIGCONT) does not count against a case's limit, on either side.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from results.case import CaseSpec
from results.records import Record, RunInfo, new_attempt_id, now
from results.runsdir import RunsDir

HEARTBEAT_S = 10.0
# the parent looks at the clock this often; a longer gap between looks is time spent stopped
TICK_S = 1.0
STALL_S = 2.0
# the worker kills itself this long after its case's limit, if the parent has not killed it by then
WORKER_GRACE_S = 15.0


class Stop:
    """A request to end a chunk early. Safe to call from a signal handler and from other threads: it kills
    every watched worker's process group at once; the chunk then records its case in flight and ends."""

    TERMINATED = "terminated"
    TIME_LIMIT = "time limit"
    SUPERSEDED = "superseded"
    INTERRUPTED = "interrupted"

    def __init__(self):
        self.kind: str | None = None
        self._lock = threading.RLock()
        self._groups: set[int] = set()

    @property
    def requested(self) -> bool:
        return self.kind is not None

    def request(self, kind: str) -> None:
        with self._lock:
            self.kind = self.kind or kind
            for group in self._groups:
                _kill_group(group)

    def watch(self, pid: int) -> None:
        with self._lock:
            self._groups.add(pid)
            if self.kind:
                _kill_group(pid)

    def forget(self, pid: int) -> None:
        with self._lock:
            self._groups.discard(pid)


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _stopped_locally(spec: CaseSpec, kind: str) -> tuple[str, str]:
    return "cancelled", f"ftrun was stopped ({kind}) while this case ran"


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
    stop: Stop = field(default_factory=Stop)
    # (failure class, message) of the case in flight when a Stop of this kind came
    stopped: Callable[[CaseSpec, str], tuple[str, str]] = _stopped_locally


class _Worker:
    def __init__(self, cfg: ChunkRun):
        cfg.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log = open(cfg.log_path, "ab")
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **cfg.env}
        root = str(Path(__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "jobs.entry", str(cfg.runs.root), str(os.getpid())], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=self.log, start_new_session=True, env=env,
        )
        self.stop = cfg.stop
        self.stop.watch(self.proc.pid)
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.proc.stdout, selectors.EVENT_READ)

    def send(self, request: dict) -> bool:
        """False if the worker is gone already."""
        try:
            self.proc.stdin.write((json.dumps(request) + "\n").encode())
            self.proc.stdin.flush()
        except BrokenPipeError:
            return False
        return True

    def reply(self, limit_s: float, beat: Callable[[], None]) -> dict | None | str:
        """The worker's reply, "timeout" once the case has run `limit_s` seconds, or None if it died first.
        A gap between two looks at the clock longer than a tick is time this process spent stopped."""
        used, last, beaten = 0.0, time.monotonic(), -HEARTBEAT_S
        while True:
            if used >= limit_s:
                return "timeout"
            if last - beaten >= HEARTBEAT_S:
                beat()
                beaten = last
            ready = self.sel.select(timeout=min(limit_s - used, TICK_S))
            now = time.monotonic()
            used += min(now - last, TICK_S + STALL_S)
            last = now
            if ready:
                line = self.proc.stdout.readline()
                return json.loads(line) if line else None

    def kill(self) -> None:
        _kill_group(self.proc.pid)
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
        self.stop.forget(self.proc.pid)
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
    records, worker, stop = [], None, cfg.stop
    try:
        for position, spec in enumerate(cases):
            if stop.requested:
                break
            if skip and skip(position, spec):
                continue
            if stop.requested:
                # skip() found this copy of the task superseded
                break
            worker = worker or _Worker(cfg)
            if stop.requested:
                break
            attempt, started = new_attempt_id(), now()
            run = replace(cfg.run, position=position)
            if on_start:
                on_start(spec)
            if cfg.heartbeat:
                _beat(cfg.heartbeat, spec.key)
            beat = lambda: cfg.heartbeat and _beat(cfg.heartbeat)  # noqa: E731
            limit = cfg.limit_s(spec)
            sent = worker.send({"spec": spec.to_json(), "attempt": attempt, "run": run.to_json(),
                                "timing": cfg.timing, "limit_s": limit + WORKER_GRACE_S, "plugins": cfg.plugins})
            answer = worker.reply(limit, beat) if sent else None
            if isinstance(answer, dict) and answer.get("over_limit"):
                # the worker's own watchdog ended the case (this process was stopped meanwhile)
                answer = "timeout"
            if not isinstance(answer, dict):
                # killed or dead: it may have written its record just before (then that one stands)
                record, worker = _ended(cfg, run, spec, attempt, started, answer, worker), None
            else:
                try:
                    record = cfg.runs.read_record(cfg.runs.record_path(spec.key, attempt))
                except (OSError, ValueError) as e:
                    record = _write_failure(cfg, run, spec, attempt, started, "crash", f"no valid record: {e}")
                if record.error_class in ("crash", "cuda_init"):
                    worker.close()
                    worker = None
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


def _ended(cfg: ChunkRun, run: RunInfo, spec: CaseSpec, attempt: str, started: str, answer: str | None,
           worker: _Worker) -> Record:
    """The record of a case whose worker gave no answer: stopped, over its limit, or dead."""
    if cfg.stop.requested or answer == "timeout":
        worker.kill()
        rc = None
    else:
        rc = worker.close()
    try:
        return cfg.runs.read_record(cfg.runs.record_path(spec.key, attempt))
    except (OSError, ValueError):
        pass
    if cfg.stop.requested:
        outcome = cfg.stopped(spec, cfg.stop.kind)
    elif answer == "timeout":
        outcome = "timeout", f"over the per-case limit of {cfg.limit_s(spec):.0f} s"
    else:
        outcome = _death_class(rc)
    return _write_failure(cfg, run, spec, attempt, started, *outcome)


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
    """Touch the heartbeat file; its text names the case in flight. A heartbeat that cannot be written
    (a read-only or full runs folder) only makes the task look older: it never stops the task."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if current is None:
            path.touch()
        else:
            path.write_text(current)
    except OSError:
        pass

"""The job side of a scheduler task: `run_task(submission_file, index, copy, stop)` runs one chunk.

Only the submission file's path and the task's index travel to the node; the cases and their limits are
read from the file, and the runs folder is the one that file lies in. The scheduler's own entry
(ftrun.backends.slurm.job) says which copy of the task this is and turns its signals into `stop`.

At most one copy of a task runs cases (results.leases): this copy claims the task, waits for the task's
lock (held by an older copy until it stops), and before each case checks that its claim still holds; a
superseded copy stops there. Before each case it also skips what is settled: a case this task finished in
an earlier life (requeued after preemption), a case another submission finished after this one was
made, a case cancelled with `ftrun cancel`. A stopped case is recorded CANCELLED (marked by `ftrun
cancel`), TLE (the task's time limit: every case of the chunk without a record ends so) or PREEMPTED.
"""

from __future__ import annotations

import contextlib
import os
import socket
import uuid
from dataclasses import dataclass
from pathlib import Path

from jobs.runner import ChunkRun, Stop, run_chunk
from results.campaigns import Submission, TaskStart
from results.leases import TaskClaim
from results.records import Record, RunInfo, now
from results.runsdir import RunsDir


@dataclass(frozen=True)
class TaskCopy:
    """Who runs this copy of a task: the scheduler's job id, the node, the scheduler's restart count."""

    job_id: str
    node: str
    attempt: int = 0


def settled_attempt(runs: RunsDir, key: str, submission: Submission, index: int, position: int) -> bool:
    """True if this case needs no run here: done by this task before, done elsewhere since, or cancelled."""
    if runs.cancel_mark(submission.id, key).exists():
        return True
    for record in runs.records_of(key):
        run = record.run
        if run.submission == submission.id:
            if run.task == index and run.position == position:
                return True
        elif record.state == "done" and record.finished > submission.created:
            return True
    return False


def runs_of(submission_file: Path) -> RunsDir:
    """The runs folder a submission file lies in (<runs>/submissions/<id>.json)."""
    return RunsDir(Path(submission_file).resolve().parent.parent)


def run_task(submission_file: str, index: int, copy: TaskCopy | None = None, stop: Stop | None = None) -> dict:
    # (an array submitted by an older ftrun calls this with the file and the index only)
    copy = copy or TaskCopy(f"pid-{os.getpid()}", socket.gethostname())
    stop = stop or Stop()
    runs = runs_of(Path(submission_file))
    submission = runs.read_submission(Path(submission_file))
    claim = TaskClaim(copy.job_id, copy.attempt, copy.node, os.getpid(), uuid.uuid4().hex, now())
    runs.write_claim(submission.id, index, claim)
    lock, log = runs.task_lock(submission.id, index), runs.task_log(submission.id, index)
    _say(f"task {submission.id}/{index}: {claim.describe()} claims it", log)
    if not lock.acquire(give_up=lambda: stop.requested or not _holds(runs, submission.id, index, claim)):
        _say("another copy of this task claimed it since: this copy stops without running a case", log)
        return {"job_id": copy.job_id, "node": copy.node, "records": 0, "superseded": True}
    try:
        return _run_claimed(runs, submission, index, copy, claim, stop)
    finally:
        lock.release()


def _run_claimed(runs: RunsDir, submission: Submission, index: int, copy: TaskCopy, claim: TaskClaim,
                 stop: Stop) -> dict:
    task = submission.tasks[index]
    runs.write_task_start(submission.id, index, TaskStart(copy.job_id, copy.node, now(), os.getpid()))
    limits = task.limits
    run = RunInfo(cluster=submission.cluster, job_id=copy.job_id, node=copy.node, submission=submission.id,
                  task=index)
    cfg = ChunkRun(runs=runs, limit_s=lambda s: float(limits[s.key]), run=run,
                   log_path=runs.task_log(submission.id, index), heartbeat=runs.heartbeat(submission.id, index),
                   timing=submission.timing, stop=stop, plugins=submission.plugins,
                   stopped=lambda spec, kind: _stopped(runs, submission, spec, kind))

    def settled(position, spec) -> bool:
        current = runs.read_claim(submission.id, index)
        if current is not None and current.token != claim.token:
            _say(f"superseded by {current.describe()}: this copy stops before case {position}", cfg.log_path)
            stop.request(Stop.SUPERSEDED)
            return True
        return settled_attempt(runs, spec.key, submission, index, position)

    try:
        records = run_chunk(list(task.cases), cfg, skip=settled)
        if stop.kind == Stop.TIME_LIMIT:
            _time_out_the_rest(runs, submission, index, run)
    except OSError as e:
        # a read-only or full runs folder: what finished is on disk; nothing more can be recorded
        _say(f"cannot write into the runs folder ({e.strerror or e}): stopping; finished results are kept",
             cfg.log_path)
        return {"job_id": copy.job_id, "node": copy.node, "records": None, "error": str(e)}
    finally:
        with contextlib.suppress(OSError):
            cfg.heartbeat.unlink(missing_ok=True)
    return {"job_id": copy.job_id, "node": copy.node, "records": len(records), "stopped": stop.kind}


def _holds(runs: RunsDir, sub_id: str, index: int, claim: TaskClaim) -> bool:
    current = runs.read_claim(sub_id, index)
    return current is None or current.token == claim.token


def _stopped(runs: RunsDir, submission: Submission, spec, kind: str) -> tuple[str, str]:
    """The class of a case stopped in flight."""
    if runs.cancel_mark(submission.id, spec.key).exists():
        return "cancelled", "cancelled with ftrun cancel while it ran"
    if kind == Stop.TIME_LIMIT:
        return "timeout", "the task reached its Slurm time limit before this case finished"
    return "preempted", f"the task was stopped ({kind}: scancel, requeue or preemption) while this case ran"


def _time_out_the_rest(runs: RunsDir, submission: Submission, index: int, run: RunInfo) -> None:
    """Slurm's time limit is near: every case of the chunk without a record ends as a timeout now."""
    for position, spec in enumerate(submission.tasks[index].cases):
        if settled_attempt(runs, spec.key, submission, index, position):
            continue
        attempt = f"t{submission.id[-8:]}{index:04d}{position:03d}"
        record = Record.failure(spec, attempt, "timeout", "the task reached its Slurm time limit before this case "
                                "finished", RunInfo(**{**run.to_json(), "position": position}))
        runs.write_record(record)


def _say(text: str, log: Path | None = None) -> None:
    """A line for the task's output (Slurm's file) and, where it can be written, the task's log."""
    line = f"[ftrun] {text}\n".encode()
    os.write(2, line)
    if log is not None:
        with contextlib.suppress(OSError), open(log, "ab") as f:
            f.write(line)

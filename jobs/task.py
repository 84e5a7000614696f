"""The job-side entry of a Slurm array task: `run_task(submission_file, index)` runs one chunk.

Only the submission file's path and the task's index travel in the pickle; the cases and their limits
are read from the file, and the runs folder is the one that file lies in. Before each case the task skips
what is already settled: a case this task finished in an earlier life (requeued after preemption), a case
another submission finished after this one was made, a case cancelled with `ftrun cancel`. When Slurm's
time limit comes (submitit's pre-timeout signal interrupts the task), every case of the chunk without a
record ends as a timeout; the finished ones stay as they are.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

from jobs.runner import ChunkRun, run_chunk
from results.campaigns import Submission, TaskStart
from results.records import Record, RunInfo, now
from results.runsdir import RunsDir


def slurm_ids() -> tuple[str, str]:
    """(job id as 'array_task' or plain id, node name) of the running task."""
    array, task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    job = f"{array}_{task}" if array and task else os.environ.get("SLURM_JOB_ID", f"pid-{os.getpid()}")
    return job, os.environ.get("SLURMD_NODENAME", socket.gethostname())


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


def run_task(submission_file: str, index: int) -> dict:
    runs = runs_of(Path(submission_file))
    submission = runs.read_submission(Path(submission_file))
    task = submission.tasks[index]
    job_id, node = slurm_ids()
    runs.write_task_start(submission.id, index, TaskStart(job_id, node, now(), os.getpid()))
    limits = task.limits
    run = RunInfo(cluster=submission.cluster, job_id=job_id, node=node, submission=submission.id, task=index)
    cfg = ChunkRun(runs=runs, limit_s=lambda s: float(limits[s.key]), run=run,
                   log_path=runs.task_log(submission.id, index), heartbeat=runs.heartbeat(submission.id, index),
                   timing=submission.timing, plugins=submission.plugins)
    settled = lambda position, spec: settled_attempt(runs, spec.key, submission, index, position)  # noqa: E731
    try:
        records = run_chunk(list(task.cases), cfg, skip=settled)
    except BaseException as e:
        if _is_time_limit(e):
            _time_out_the_rest(runs, submission, index, run)
        raise
    finally:
        cfg.heartbeat.unlink(missing_ok=True)
    return {"job_id": job_id, "node": node, "records": len(records)}


def _is_time_limit(e: BaseException) -> bool:
    return type(e).__name__ == "UncompletedJobError" and "timed-out" in str(e)


def _time_out_the_rest(runs: RunsDir, submission: Submission, index: int, run: RunInfo) -> None:
    """Slurm's time limit is near: every case of the chunk without a record ends as a timeout now."""
    for position, spec in enumerate(submission.tasks[index].cases):
        if settled_attempt(runs, spec.key, submission, index, position):
            continue
        attempt = f"t{submission.id[-8:]}{index:04d}{position:03d}"
        record = Record.failure(spec, attempt, "timeout", "the task reached its Slurm time limit before this case "
                                "finished", RunInfo(**{**run.to_json(), "position": position}))
        runs.write_record(record)

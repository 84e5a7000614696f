"""The job-side entry of a Slurm array task: `run_task(submission_file, index)` runs one chunk.

Only the submission file's path and the task's index travel in the pickle; the cases, their limits and
the runs folder are read from the file. Before each case the task skips what is already settled: a
case this task finished in an earlier life (requeued after preemption), a case another submission
finished after this one was made, a case cancelled with `ftrun cancel`. When Slurm's time limit comes
(submitit's pre-timeout signal interrupts the task), every case of the chunk without a record ends as a
timeout; the finished ones stay as they are.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

from jobs.runner import ChunkRun, run_chunk
from jobs.spec import CaseSpec
from results.records import failure_record, now, read_record, write_json_atomic, write_record


def slurm_ids() -> tuple[str, str]:
    """(job id as 'array_task' or plain id, node name) of the running task."""
    array, task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    job = f"{array}_{task}" if array and task else os.environ.get("SLURM_JOB_ID", f"pid-{os.getpid()}")
    return job, os.environ.get("SLURMD_NODENAME", socket.gethostname())


def settled_attempt(runs_dir: Path, key: str, submission: dict, index: int, position: int) -> bool:
    """True if this case needs no run here: done by this task before, done elsewhere since, or cancelled."""
    if (runs_dir / "cancel" / submission["id"] / key).exists():
        return True
    for path in (runs_dir / "results").glob(f"{key}--*.json"):
        try:
            record = read_record(path)
        except ValueError:
            continue
        run = record.get("run") or {}
        if run.get("submission") == submission["id"]:
            if run.get("task") == index and run.get("position") == position:
                return True
        elif record["state"] == "done" and (record.get("finished") or "") > submission["created"]:
            return True
    return False


def run_task(submission_file: str, index: int) -> dict:
    path = Path(submission_file)
    submission = json.loads(path.read_text())
    runs_dir = Path(submission["runs_dir"])
    task = submission["tasks"][index]
    job_id, node = slurm_ids()
    sub_id = submission["id"]
    write_json_atomic(runs_dir / "tasks" / sub_id / f"{index}.json",
                      {"job_id": job_id, "node": node, "started": now(), "pid": os.getpid()})
    specs = [CaseSpec.from_dict(c) for c in task["cases"]]
    limits = task["limits"]
    run = {"cluster": submission["cluster"], "job_id": job_id, "node": node, "submission": sub_id, "task": index}
    cfg = ChunkRun(runs_dir=runs_dir, limit_s=lambda s: float(limits[s.key]), run=run,
                   log_path=runs_dir / "logs" / sub_id / f"task-{index:04d}.log",
                   heartbeat=runs_dir / "heartbeats" / f"{sub_id}--{index}", timing=submission.get("timing", {}))
    settled = lambda position, spec: settled_attempt(runs_dir, spec.key, submission, index, position)  # noqa: E731
    try:
        records = run_chunk(specs, cfg, skip=settled)
    except BaseException as e:
        if _is_time_limit(e):
            _time_out_the_rest(runs_dir, submission, index, specs, run)
        raise
    finally:
        cfg.heartbeat.unlink(missing_ok=True)
    return {"job_id": job_id, "node": node, "records": len(records)}


def _is_time_limit(e: BaseException) -> bool:
    return type(e).__name__ == "UncompletedJobError" and "timed-out" in str(e)


def _time_out_the_rest(runs_dir: Path, submission: dict, index: int, specs: list, run: dict) -> None:
    """Slurm's time limit is near: every case of the chunk without a record ends as a timeout now."""
    for position, spec in enumerate(specs):
        if settled_attempt(runs_dir, spec.key, submission, index, position):
            continue
        attempt = f"t{submission['id'][-8:]}{index:04d}{position:03d}"
        record = failure_record(spec.to_dict(), attempt, "timeout",
                                "the task reached its Slurm time limit before this case finished",
                                {**run, "position": position})
        write_record(runs_dir, record)

"""Submissions: what was handed to a scheduler, which of it is still in flight, and what it left behind.

A submission file (runs/submissions/<id>.json) is written *before* anything reaches the scheduler and
holds every task's cases and limits; its arrays file (<id>.arrays.json) records the job ids as arrays are
submitted. So a submitting process may die at any moment: the next ftrun finds the jobs by their name
(`ftrun-<id>`) and never submits the same tasks twice.

Reconciling reads the scheduler's view of each task and, for a task that ended, writes a failure record
for every case it left without one (the class follows the task's end: TIMEOUT -> timeout, NODE_FAIL ->
node_fail, ...). Those records get attempt ids derived from (submission, task, position), so two ftrun
processes reconciling at once write the same file, never two.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from results.records import failure_record, write_json_atomic, write_record

TERMINAL = {"COMPLETED", "FAILED", "TIMEOUT", "CANCELLED", "NODE_FAIL", "PREEMPTED", "OUT_OF_MEMORY",
            "BOOT_FAIL", "DEADLINE", "REVOKED", "SPECIAL_EXIT"}
# how a task's end becomes the failure class of the cases it left without a record
END_CLASS = {"COMPLETED": "lost", "FAILED": "crash", "TIMEOUT": "timeout", "DEADLINE": "timeout",
             "NODE_FAIL": "node_fail", "BOOT_FAIL": "node_fail", "PREEMPTED": "preempted", "REVOKED": "killed",
             "OUT_OF_MEMORY": "killed", "SPECIAL_EXIT": "crash", "LOST": "lost"}
# a task that vanished from every scheduler view, with no heartbeat for this long, is lost
LOST_GRACE_S = 600.0
# a task whose heartbeat is this fresh is still running, whatever the scheduler says: after scancel,
# Slurm waits KillWait (30 s by default) before SIGKILL and submitit ignores the SIGTERM, so a case may
# still finish and write its own record; records on its behalf wait until the heartbeat goes stale
ALIVE_S = 45.0


@dataclass
class TaskView:
    """The scheduler's view of one array task; state None means unknown (nothing answered)."""

    state: str | None
    node: str | None = None


@dataclass
class Flight:
    """Cases still in flight (per key: submission id, task index) and what reconciling found."""

    cases: dict[str, tuple[str, int]] = field(default_factory=dict)
    running: set[str] = field(default_factory=set)
    written: int = 0
    degraded: str | None = None


def submissions_dir(runs_dir: Path) -> Path:
    return Path(runs_dir) / "submissions"


def new_submission(runs_dir: Path, sub_id: str, campaign: str, cluster: str, partition: str | None,
                   tasks: list[dict], timing: dict | None = None) -> Path:
    path = submissions_dir(runs_dir) / f"{sub_id}.json"
    data = {"id": sub_id, "campaign": campaign, "cluster": cluster, "partition": partition,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "runs_dir": str(Path(runs_dir).resolve()), "job_name": f"ftrun-{sub_id}", "tasks": tasks,
            "timing": timing or {}}
    write_json_atomic(path, data)
    return path


def load(runs_dir: Path) -> list[dict]:
    """Every submission with its arrays ({"job_id", "indices", "throttle"}) attached."""
    out = []
    folder = submissions_dir(runs_dir)
    if not folder.is_dir():
        return out
    for path in sorted(folder.glob("*.json")):
        if path.name.count(".") != 1:
            # <id>.arrays.json and <id>.pending-N.json sit beside the submission files
            continue
        try:
            sub = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        arrays = folder / f"{sub['id']}.arrays.json"
        sub["arrays"] = json.loads(arrays.read_text())["arrays"] if arrays.exists() else None
        sub["path"] = str(path)
        out.append(sub)
    return out


def add_array(runs_dir: Path, sub_id: str, tasks: list[str], indices: list[int], throttle: int) -> dict:
    """Record an array: `tasks[i]` is the job id of the task that runs task index `indices[i]`."""
    path = submissions_dir(runs_dir) / f"{sub_id}.arrays.json"
    arrays = json.loads(path.read_text())["arrays"] if path.exists() else []
    array = {"job_id": tasks[0].split("_")[0], "tasks": tasks, "indices": indices, "throttle": throttle,
             "submitted": time.time()}
    arrays.append(array)
    write_json_atomic(path, {"arrays": arrays})
    return array


def task_ids_of(base: str, count: int) -> list[str]:
    """The job ids Slurm gives the tasks of an array of `count` (a lone task is a plain job)."""
    return [base] if count == 1 else [f"{base}_{i}" for i in range(count)]


def task_job_ids(sub: dict) -> dict[int, str]:
    """task index -> job id, for the tasks already handed to the scheduler."""
    out = {}
    for array in sub.get("arrays") or []:
        out.update(zip(array["indices"], array["tasks"]))
    return out


def reconcile(runs_dir: Path, subs: list[dict], views: dict[str, TaskView], recorded: set[tuple[str, int, int]],
              degraded: str | None = None, now: float | None = None) -> Flight:
    """Find what is in flight; write failure records for cases that tasks which ended left behind.

    `views` maps 'array_task' job ids to the scheduler's view (missing: nothing answered for it);
    `recorded` holds (submission, task, position) of every record already written.
    """
    flight = Flight(degraded=degraded)
    now = time.time() if now is None else now
    for sub in subs:
        ids = task_job_ids(sub)
        for index, task in enumerate(sub["tasks"]):
            open_positions = {p for p in range(len(task["cases"])) if (sub["id"], index, p) not in recorded}
            job = ids.get(index)
            marked = {p for p in open_positions if cancelled(runs_dir, sub["id"], task["cases"][p]["key"])}
            if job is None and marked:
                # held back by the cap and cancelled since: it never reaches the scheduler
                flight.written += _write_ended(runs_dir, sub, index, marked, "cancelled",
                                               "cancelled before it reached the scheduler")
                open_positions -= marked
            if not open_positions:
                continue
            view = views.get(job) if job else TaskView("HELD")
            state = _effective_state(runs_dir, sub, index, view, now)
            if state in TERMINAL and _beating(runs_dir, sub["id"], index, now):
                state = "RUNNING"  # ended for the scheduler, but its process is still winding down
            if state in TERMINAL or state == "LOST":
                why = f"the Slurm task {job} ended {state} before this case finished"
                flight.written += _write_ended(runs_dir, sub, index, open_positions,
                                               _end_class(runs_dir, sub, state), why, view)
                continue
            for position in open_positions:
                flight.cases[task["cases"][position]["key"]] = (sub["id"], index)
            if state == "RUNNING":
                current = _heartbeat_case(runs_dir, sub["id"], index)
                if current:
                    flight.running.add(current)
    return flight


def cancelled(runs_dir: Path, sub_id: str, key: str) -> bool:
    """`ftrun cancel` marked this case of this submission."""
    return (Path(runs_dir) / "cancel" / sub_id / key).exists()


def _effective_state(runs_dir: Path, sub: dict, index: int, view: TaskView | None, now: float) -> str | None:
    """The scheduler's state, or LOST for a started task that no view knows and whose heartbeat is old."""
    if view is None:
        return None
    if view.state != "ABSENT":
        return view.state
    started = Path(runs_dir) / "tasks" / sub["id"] / f"{index}.json"
    beat = _heartbeat(runs_dir, sub["id"], index)
    last = max((p.stat().st_mtime for p in (started, beat) if p.exists()), default=None)
    if last is None:
        last = max(a["submitted"] for a in sub.get("arrays") or [{"submitted": now}])
    return "LOST" if now - last > LOST_GRACE_S else None


def _end_class(runs_dir: Path, sub: dict, state: str) -> str:
    if state == "CANCELLED":
        ours = (Path(runs_dir) / "cancel" / sub["id"]).is_dir()
        return "cancelled" if ours else "killed"
    return END_CLASS.get(state, "crash")


def _heartbeat(runs_dir: Path, sub_id: str, index: int) -> Path:
    return Path(runs_dir) / "heartbeats" / f"{sub_id}--{index}"


def _beating(runs_dir: Path, sub_id: str, index: int, now: float) -> bool:
    try:
        return now - _heartbeat(runs_dir, sub_id, index).stat().st_mtime < ALIVE_S
    except OSError:
        return False


def _heartbeat_case(runs_dir: Path, sub_id: str, index: int) -> str | None:
    try:
        return _heartbeat(runs_dir, sub_id, index).read_text().strip() or None
    except OSError:
        return None


def _write_ended(runs_dir: Path, sub: dict, index: int, positions: set[int], cls: str, why: str,
                 view: TaskView | None = None) -> int:
    job = task_job_ids(sub).get(index)
    for position in sorted(positions):
        case = sub["tasks"][index]["cases"][position]
        marked = cancelled(runs_dir, sub["id"], case["key"])
        attempt = "r" + hashlib.sha256(f"{sub['id']}/{index}/{position}".encode()).hexdigest()[:11]
        run = {"cluster": sub["cluster"], "job_id": job, "node": view.node if view else None,
               "submission": sub["id"], "task": index, "position": position,
               "log": str(Path(runs_dir) / "logs" / sub["id"] / f"task-{index:04d}.log")}
        record = failure_record(case, attempt, "cancelled" if marked else cls,
                                "cancelled with ftrun cancel" if marked else why, run)
        write_record(runs_dir, record)
    return len(positions)

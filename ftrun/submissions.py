"""Submissions: what was handed to a scheduler, which of it is still in flight, and what it left behind.

A submission file is written *before* anything reaches the scheduler and holds every task's cases and
limits; its arrays file records the job ids as arrays are submitted (file layout: results.runsdir). So a
submitting process may die at any moment: the next ftrun finds the jobs by their name (`ftrun-<id>`)
and never submits the same tasks twice.

Reconciling reads the scheduler's view of each task and, for a task that ended, writes a failure record
for every case it left without one (the class follows the task's end: TIMEOUT -> timeout, NODE_FAIL ->
node_fail, ...). Those records get attempt ids derived from (submission, task, position), so two ftrun
processes reconciling at once write the same file, never two.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone

from results.campaigns import ArrayRecord, Submission, TaskPlan
from results.records import Record, RunInfo
from results.runsdir import RunsDir

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
    bad_files: list[tuple[str, str]] = field(default_factory=list)


def new_submission(runs: RunsDir, sub_id: str, campaign: str, cluster: str, partition: str | None,
                   tasks: list[TaskPlan], timing: dict | None = None, plugins: dict | None = None) -> Submission:
    sub = Submission(sub_id, campaign, cluster, partition, datetime.now(timezone.utc).isoformat(timespec="seconds"),
                     f"ftrun-{sub_id}", tuple(tasks), timing or {}, plugins=plugins or {})
    runs.write_submission(sub)
    return sub


def load(runs: RunsDir) -> tuple[list[Submission], list[tuple[str, str]]]:
    """Every readable submission with its arrays, and the files that are not (path, why)."""
    subs, bad = [], []
    for path in runs.submission_files():
        try:
            subs.append(runs.read_submission(path))
        except (OSError, ValueError) as e:
            bad.append((str(path), str(e)))
    return subs, bad


def add_array(runs: RunsDir, sub: Submission, tasks: list[str], indices: list[int], throttle: int) -> Submission:
    """Record an array: `tasks[i]` is the job id of the task that runs task index `indices[i]`."""
    array = ArrayRecord(tasks[0].split("_")[0], tuple(tasks), tuple(indices), throttle, time.time())
    arrays = (sub.arrays or ()) + (array,)
    runs.write_arrays(sub.id, arrays)
    return sub.with_arrays(arrays)


def task_ids_of(base: str, count: int) -> list[str]:
    """The job ids Slurm gives the tasks of an array of `count` (a lone task is a plain job)."""
    return [base] if count == 1 else [f"{base}_{i}" for i in range(count)]


def reconcile(runs: RunsDir, subs: list[Submission], views: dict[str, TaskView],
              recorded: set[tuple[str, int, int]], degraded: str | None = None, now: float | None = None) -> Flight:
    """Find what is in flight; write failure records for cases that tasks which ended left behind.

    `views` maps 'array_task' job ids to the scheduler's view (missing: nothing answered for it);
    `recorded` holds (submission, task, position) of every record already written.
    """
    flight = Flight(degraded=degraded)
    now = time.time() if now is None else now
    for sub in subs:
        ids = sub.task_job_ids()
        for index, task in enumerate(sub.tasks):
            open_positions = {p for p in range(len(task.cases)) if (sub.id, index, p) not in recorded}
            job = ids.get(index)
            marked = {p for p in open_positions if cancelled(runs, sub.id, task.cases[p].key)}
            if job is None and marked:
                # held back by the cap and cancelled since: it never reaches the scheduler
                flight.written += _write_ended(runs, sub, index, marked, "cancelled",
                                               "cancelled before it reached the scheduler")
                open_positions -= marked
            if not open_positions:
                continue
            view = views.get(job) if job else TaskView("HELD")
            state = _effective_state(runs, sub, index, view, now)
            if state in TERMINAL and _beating(runs, sub.id, index, now):
                state = "RUNNING"  # ended for the scheduler, but its process is still winding down
            if state in TERMINAL or state == "LOST":
                why = f"the Slurm task {job} ended {state} before this case finished"
                flight.written += _write_ended(runs, sub, index, open_positions, _end_class(runs, sub, state), why,
                                               view)
                continue
            for position in open_positions:
                flight.cases[task.cases[position].key] = (sub.id, index)
            if state == "RUNNING":
                current = _heartbeat_case(runs, sub.id, index)
                if current:
                    flight.running.add(current)
    return flight


def cancelled(runs: RunsDir, sub_id: str, key: str) -> bool:
    """`ftrun cancel` marked this case of this submission."""
    return runs.cancel_mark(sub_id, key).exists()


def _effective_state(runs: RunsDir, sub: Submission, index: int, view: TaskView | None, now: float) -> str | None:
    """The scheduler's state, or LOST for a started task that no view knows and whose heartbeat is old."""
    if view is None:
        return None
    if view.state != "ABSENT":
        return view.state
    last = max((p.stat().st_mtime for p in (runs.task_start(sub.id, index), runs.heartbeat(sub.id, index))
                if p.exists()), default=None)
    if last is None:
        last = max((a.submitted for a in sub.arrays or ()), default=now)
    return "LOST" if now - last > LOST_GRACE_S else None


def _end_class(runs: RunsDir, sub: Submission, state: str) -> str:
    if state == "CANCELLED":
        return "cancelled" if runs.cancel_dir(sub.id).is_dir() else "killed"
    return END_CLASS.get(state, "crash")


def _beating(runs: RunsDir, sub_id: str, index: int, now: float) -> bool:
    try:
        return now - runs.heartbeat(sub_id, index).stat().st_mtime < ALIVE_S
    except OSError:
        return False


def _heartbeat_case(runs: RunsDir, sub_id: str, index: int) -> str | None:
    try:
        return runs.heartbeat(sub_id, index).read_text().strip() or None
    except OSError:
        return None


def _write_ended(runs: RunsDir, sub: Submission, index: int, positions: set[int], cls: str, why: str,
                 view: TaskView | None = None) -> int:
    job = sub.task_job_ids().get(index)
    run = RunInfo(cluster=sub.cluster, job_id=job, node=view.node if view else None, submission=sub.id, task=index)
    for position in sorted(positions):
        case = sub.tasks[index].cases[position]
        marked = cancelled(runs, sub.id, case.key)
        attempt = "r" + hashlib.sha256(f"{sub.id}/{index}/{position}".encode()).hexdigest()[:11]
        record = Record.failure(case, attempt, "cancelled" if marked else cls,
                                "cancelled with ftrun cancel" if marked else why, replace(run, position=position))
        runs.write_record(record)
    return len(positions)

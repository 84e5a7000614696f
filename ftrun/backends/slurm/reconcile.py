"""Reconciling Slurm's view of each task with the result files: what is in flight, what ended.

For a task that ended, a failure record is written for every case it left without one (the class follows
the task's end: TIMEOUT -> timeout, NODE_FAIL -> node_fail, a case marked by `ftrun cancel` ->
cancelled, ...). Those records get attempt ids derived from (submission, task, position), so two ftrun
processes reconciling at once write the same file, never two. A task's own process writes its records
before it drops its heartbeat, so the heartbeat is looked at *before* the records are read: a task seen
beating may still write, one seen silent has written all it will.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import replace

from ftrun.backends import Flight
from ftrun.backends.slurm.submissions import cancelled
from ftrun.backends.slurm.views import TERMINAL, TaskView, reason_text
from results.campaigns import Submission
from results.records import Record, RunInfo
from results.runsdir import RunsDir

# how a task's end becomes the failure class of the cases it left without a record
END_CLASS = {"COMPLETED": "lost", "FAILED": "crash", "TIMEOUT": "timeout", "DEADLINE": "timeout",
             "NODE_FAIL": "node_fail", "BOOT_FAIL": "node_fail", "PREEMPTED": "preempted", "REVOKED": "killed",
             "OUT_OF_MEMORY": "killed", "SPECIAL_EXIT": "crash", "LOST": "lost", "CANCELLED": "killed",
             "VANISHED": "killed"}
ENDED = TERMINAL | {"LOST", "VANISHED"}
# a task that vanished from every scheduler view (squeue only), with no heartbeat for this long, is lost
LOST_GRACE_S = 600.0
# a task whose heartbeat is this fresh is still running, whatever the scheduler says: after scancel Slurm
# waits KillWait before SIGKILL, and the task records its case in flight before it stops
ALIVE_S = 45.0
HELD = "HELD"
HELD_REASON = "held by ftrun's cap on tasks (submitted by `submit --follow` or the next submit)"


def beating(runs: RunsDir, sub_id: str, index: int, now: float) -> bool:
    try:
        return now - runs.heartbeat(sub_id, index).stat().st_mtime < ALIVE_S
    except OSError:
        return False


def reconcile(runs: RunsDir, subs: list[Submission], views: dict[str, TaskView], alive: set[tuple[str, int]],
              recorded: set[tuple[str, int, int]], degraded: str | None = None, now: float | None = None) -> Flight:
    """Find what is in flight; write failure records for cases that tasks which ended left behind.

    `views` maps job ids to the scheduler's view (missing: nothing answered for it); `alive` holds the
    (submission, task) seen beating before `recorded`, the (submission, task, position) of every record, was
    read.
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
            view = views.get(job) if job else TaskView(HELD, reason=HELD_REASON)
            state = _effective_state(runs, sub, index, view, now)
            if state in ENDED and (sub.id, index) not in alive:
                flight.written += _write_ended(runs, sub, index, open_positions, END_CLASS.get(state, "crash"),
                                               _why(job, state, runs, sub, index), view)
                continue
            _add_in_flight(flight, runs, sub, index, open_positions, "RUNNING" if state in ENDED else state, view)
    return flight


def _add_in_flight(flight: Flight, runs: RunsDir, sub: Submission, index: int, positions: set[int],
                   state: str | None, view: TaskView | None) -> None:
    keys = {sub.tasks[index].cases[p].key for p in positions}
    flight.tasks[(sub.id, index)] = keys
    for key in keys:
        flight.cases[key] = (sub.id, index)
    if state == "SUSPENDED":
        flight.suspended |= keys
    elif state in ("PENDING", HELD) and view is not None:
        why = view.reason if state == HELD else reason_text(view.reason)
        flight.waiting.update(dict.fromkeys(keys, why) if why else {})
    elif state in ("RUNNING", "COMPLETING"):
        current = _heartbeat_case(runs, sub.id, index)
        if current in keys:
            flight.running.add(current)


def _why(job: str | None, state: str, runs: RunsDir, sub: Submission, index: int) -> str:
    if state == "VANISHED" and not runs.task_start(sub.id, index).exists():
        return f"the Slurm task {job} left the queue before it started (cancelled while pending)"
    return f"the Slurm task {job} ended {state} before this case finished"


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

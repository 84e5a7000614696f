"""Submissions: what was handed to Slurm, and which of it may still be in flight.

A submission file is written *before* anything reaches the scheduler and holds every task's cases and
limits; its arrays file records the job ids as arrays are submitted (file layout: results.runsdir). So a
submitting process may die at any moment: the next ftrun finds the jobs by their name (`ftrun-<id>`)
and never submits the same tasks twice.

A submission whose every task position has a record is closed for good (records are never taken back);
the index remembers it, so looking at what is in flight costs the open submissions only, however many
a runs folder has seen.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from ftrun.backends.slurm import commands
from results.campaigns import ArrayRecord, Submission
from results.index import Index
from results.runsdir import RunsDir


@dataclass
class Open:
    """The submissions that may have something in flight, and what their tasks recorded so far."""

    subs: list[Submission] = field(default_factory=list)
    recorded: set[tuple[str, int, int]] = field(default_factory=set)
    bad: list[tuple[str, str]] = field(default_factory=list)


def open_submissions(runs: RunsDir, index: Index, cluster: str | None = None) -> Open:
    """Every readable submission not closed yet (of this cluster), with the positions already recorded;
    those found complete now are closed. Unreadable files are reported as (path, why)."""
    found = Open()
    closed = index.closed_submissions()
    for path in runs.submission_files():
        if path.stem in closed:
            continue
        try:
            sub = runs.read_submission(path)
        except (OSError, ValueError) as e:
            found.bad.append((str(path), str(e)))
            continue
        if cluster is None or sub.cluster == cluster:
            found.subs.append(sub)
    found.recorded = index.task_positions([s.id for s in found.subs])
    complete = [s.id for s in found.subs if not open_positions(s, found.recorded)]
    index.close_submissions(complete)
    found.subs = [s for s in found.subs if s.id not in complete]
    return found


def open_positions(sub: Submission, recorded: set[tuple[str, int, int]]) -> list[tuple[int, int]]:
    """(task, position) of every case of the submission without a record."""
    return [(i, p) for i, t in enumerate(sub.tasks) for p in range(len(t.cases)) if (sub.id, i, p) not in recorded]


def add_array(runs: RunsDir, sub: Submission, tasks: list[str], indices: list[int], throttle: int) -> Submission:
    """Record an array: `tasks[i]` is the job id of the task that runs task index `indices[i]`."""
    array = ArrayRecord(tasks[0].split("_")[0], tuple(tasks), tuple(indices), throttle, time.time())
    arrays = (sub.arrays or ()) + (array,)
    runs.write_arrays(sub.id, arrays)
    return sub.with_arrays(arrays)


def task_ids_of(base: str, count: int) -> list[str]:
    """The job ids Slurm gives the tasks of an array of `count` (a lone task is a plain job)."""
    return [base] if count == 1 else [f"{base}_{i}" for i in range(count)]


def recover_pending(runs: RunsDir, sub: Submission) -> Submission:
    """An sbatch whose job id was never written down (ftrun died in between): find it by its name."""
    for intent in runs.pending_paths(sub.id):
        try:
            pending = runs.read_pending(intent)
        except (OSError, ValueError):
            continue
        found = commands.find_arrays(pending.job_name) if commands.available() else None
        if found is None:
            # nobody answered: the array may exist; ask again next time, never submit it twice
            continue
        if found:
            tasks = task_ids_of(found[0], len(pending.indices))
            sub = add_array(runs, sub, tasks, list(pending.indices), pending.throttle)
        intent.unlink()
    return sub


def cancelled(runs: RunsDir, sub_id: str, key: str) -> bool:
    """`ftrun cancel` marked this case of this submission."""
    return runs.cancel_mark(sub_id, key).exists()

"""Campaigns on Slurm: top up to the cluster's cap, look at what is in flight, cancel.

Callers hold the runs folder's submit lock (ftrun.submit), so two ftrun processes never both decide
that the same case needs a job. Everything that reaches Slurm goes through ftrun.backends.slurm.commands.
"""

from __future__ import annotations

import time

from ftrun.backends import Cancelled, Flight
from ftrun.backends.slurm import commands
from ftrun.backends.slurm.reconcile import beating, reconcile
from ftrun.backends.slurm.submissions import add_array, cancelled, open_positions, open_submissions, recover_pending
from ftrun.backends.slurm.views import TERMINAL, TaskView, task_views
from ftrun.settings import Cluster
from results.campaigns import PendingArray, Submission
from results.index import Index
from results.runsdir import RunsDir

TASK_OVERHEAD_MIN = 5.0


def refresh(runs: RunsDir, cluster: str | None = None) -> Flight:
    """Recover half-made submissions, ask Slurm about every open task, write records for what ended."""
    if not runs.submissions.is_dir():
        return Flight()
    with Index(runs) as index:
        index.sync()
        found = open_submissions(runs, index, cluster)
        subs = [recover_pending(runs, sub) for sub in found.subs]
        expected = [job for s in subs for job in s.task_job_ids().values()]
        views, degraded = _ask_slurm(expected)
        # who beats is seen before the records are read: a task records its cases before it stops beating
        now = time.time()
        alive = {(s.id, i) for s in subs for i in range(len(s.tasks)) if beating(runs, s.id, i, now)}
        index.sync()
        recorded = index.task_positions([s.id for s in subs])
    flight = reconcile(runs, subs, views, alive, recorded, degraded, now)
    flight.bad_files = found.bad
    if flight.written:
        with Index(runs) as index:
            index.sync()
    return flight


def _ask_slurm(expected: list[str]) -> tuple[dict[str, TaskView], str | None]:
    if not expected:
        return {}, None
    if not commands.available():
        return {}, "Slurm commands are not available here: states of submitted tasks are unknown"
    arrays = sorted({job.split("_")[0] for job in expected})
    return task_views(expected, commands.sacct(arrays), commands.squeue(arrays))


def top_up(runs: RunsDir, cluster: Cluster) -> list[str]:
    """Submit held tasks of this cluster while the cap leaves room. Returns the new arrays' ids."""
    nodes = commands.partition_nodes(cluster.partition)
    with Index(runs) as index:
        live = open_submissions(runs, index, cluster.name)
    expected = [job for s in live.subs for job in s.task_job_ids().values()]
    views, _ = _ask_slurm(expected)
    used = 0
    for sub in live.subs:
        for array in sub.arrays or ():
            active = sum(1 for job in array.tasks if (views.get(job) or TaskView(None)).state not in TERMINAL
                         and (views.get(job) or TaskView(None)).state != "VANISHED")
            used += min(array.throttle, active)
    free = cluster.max_tasks - used
    new = []
    for sub in live.subs:
        submitted = sub.task_job_ids()
        held = sorted({i for i, p in open_positions(sub, live.recorded) if i not in submitted
                       and not cancelled(runs, sub.id, sub.tasks[i].cases[p].key)})
        for start in range(0, len(held), commands.max_array_size() - 1):
            group = held[start:start + commands.max_array_size() - 1]
            if free <= 0:
                return new
            throttle = min(free, len(group))
            sub, job = _submit_group(runs, sub, group, cluster, throttle, nodes)
            new.append(job)
            free -= throttle
    return new


def _submit_group(runs: RunsDir, sub: Submission, group: list[int], cluster: Cluster, throttle: int,
                  nodes: list[str]) -> tuple[Submission, str]:
    time_min = task_time_min(cluster, [sum(sub.tasks[i].limits.values()) for i in group])
    exclude = sorted({n for i in group for n in sub.tasks[i].exclude})
    if set(nodes) <= set(exclude):
        # excluding every node of the partition would leave the retry nowhere to run
        exclude = []
    number = len(sub.arrays or ())
    job_name = f"{sub.job_name}-{number}"
    intent = runs.write_pending(sub.id, number, PendingArray(job_name, tuple(group), throttle))
    tasks = commands.submit_array(runs.submission_path(sub.id), group, cluster, job_name, runs.slurm_dir(sub.id),
                                  time_min, throttle, exclude)
    sub = add_array(runs, sub, tasks, group, throttle)
    intent.unlink()
    return sub, sub.arrays[-1].job_id


def task_time_min(cluster: Cluster, task_limits_s: list[float]) -> int:
    """Slurm's time limit for an array whose tasks' cases add up to these limits (the longest wins)."""
    time_min = (max(task_limits_s) if task_limits_s else 0) / 60.0 * 1.1 + TASK_OVERHEAD_MIN
    if cluster.task_time_min:
        time_min = min(time_min, cluster.task_time_min)
    return int(time_min + 0.999)


def cancel(runs: RunsDir, flight: Flight, keys: set[str]) -> Cancelled:
    """Mark these cases cancelled; tasks left with nothing else to do are scancelled, the rest skip them."""
    chosen = {k for k in keys if k in flight.cases}
    stop = []
    subs = {}
    for (sub_id, index), open_keys in flight.tasks.items():
        mine = open_keys & chosen
        if not mine:
            continue
        for key in mine:
            runs.touch(runs.cancel_mark(sub_id, key))
        if sub_id not in subs:
            subs[sub_id] = runs.read_submission(runs.submission_path(sub_id))
        job = subs[sub_id].task_job_ids().get(index)
        if job and mine == open_keys:
            stop.append(job)
    commands.cancel(stop)
    return Cancelled(len(chosen), tuple(stop))

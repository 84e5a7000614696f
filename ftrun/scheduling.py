"""Campaigns on Slurm: submit under the cluster's cap, refresh what is in flight, follow, cancel.

One lock file per runs folder serialises submitters, so two ftrun processes never both decide that the
same case needs a job. Everything that reaches Slurm goes through ftrun.backends.slurm.
"""

from __future__ import annotations

import contextlib
import fcntl
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from ftrun import submissions
from ftrun.backends import slurm
from ftrun.campaign import Plan
from ftrun.settings import Cluster, Settings
from jobs import plugins
from results.campaigns import PendingArray, Submission, TaskPlan
from results.index import Index
from results.runsdir import RunsDir

TASK_OVERHEAD_MIN = 5.0


@contextlib.contextmanager
def submit_lock(runs: RunsDir) -> Iterator[None]:
    runs.root.mkdir(parents=True, exist_ok=True)
    with open(runs.lock, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def refresh(runs: RunsDir, cluster: str | None = None) -> submissions.Flight:
    """Recover half-made submissions, ask Slurm about every open task, write records for what ended."""
    subs, bad = submissions.load(runs)
    subs = [s for s in subs if cluster is None or s.cluster == cluster]
    subs = [_recover_pending(runs, sub) for sub in subs]
    with Index(runs) as index:
        index.sync()
        recorded = index.task_positions()
        open_subs = [s for s in subs if _has_open_tasks(s, recorded)]
        expected = [job for s in open_subs for job in s.task_job_ids().values()]
        arrays = sorted({job.split("_")[0] for job in expected})
        views, degraded = slurm.task_views(arrays) if arrays and slurm_available() else ({}, None)
        if arrays and not slurm_available():
            degraded = "Slurm commands are not available here: states of submitted tasks are unknown"
        elif degraded and "squeue" in degraded:
            views = slurm.absent_tasks(views, expected)
        # read the records only now: a task that Slurm calls ended wrote them before it ended
        index.sync()
        recorded = index.task_positions()
    flight = submissions.reconcile(runs, open_subs, views, recorded, degraded)
    flight.bad_files = bad
    if flight.written:
        with Index(runs) as index:
            index.sync()
    return flight


def slurm_available() -> bool:
    try:
        slurm.require_commands()
    except Exception:  # noqa: BLE001
        return False
    return True


def _has_open_tasks(sub: Submission, recorded: set) -> bool:
    return any((sub.id, i, p) not in recorded for i, t in enumerate(sub.tasks) for p in range(len(t.cases)))


def _recover_pending(runs: RunsDir, sub: Submission) -> Submission:
    """An sbatch whose job id was never written down (ftrun died in between): find it by its name."""
    for intent in runs.pending_paths(sub.id):
        try:
            pending = runs.read_pending(intent)
        except (OSError, ValueError):
            continue
        found = slurm.find_arrays(pending.job_name) if slurm_available() else None
        if found is None:
            continue
        if found:
            tasks = submissions.task_ids_of(found[0], len(pending.indices))
            sub = submissions.add_array(runs, sub, tasks, list(pending.indices), pending.throttle)
        intent.unlink()
    return sub


@dataclass
class SubmitSummary:
    submission: str | None
    tasks: int
    submitted: int
    held: int
    arrays: list[str]


def submit(settings: Settings, plan: Plan, chunk_list: list, campaign_id: str) -> SubmitSummary:
    """Write a submission for the planned chunks and hand Slurm as many tasks as the cap allows."""
    cluster = plan.cluster
    tasks = []
    for chunk in chunk_list:
        exclude = tuple(sorted({n for _, d in chunk for n in d.exclude}))
        limits = {c.key: cluster.case_limit_s(c.system) * d.limit_scale for c, d in chunk}
        tasks.append(TaskPlan(tuple(c for c, _ in chunk), limits, exclude))
    sub_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
    submissions.new_submission(settings.runs, sub_id, campaign_id, cluster.name, cluster.partition, tasks,
                               plugins=plugins.active_spec().to_json())
    arrays = top_up(settings.runs, cluster)
    subs, _ = submissions.load(settings.runs)
    submitted = len(next(s for s in subs if s.id == sub_id).task_job_ids())
    return SubmitSummary(sub_id, len(tasks), submitted, len(tasks) - submitted, arrays)


def top_up(runs: RunsDir, cluster: Cluster) -> list[str]:
    """Submit held tasks of this cluster while the cap leaves room. Returns the new arrays' ids."""
    nodes = slurm.check_partition(cluster.partition)
    subs = [s for s in submissions.load(runs)[0] if s.cluster == cluster.name]
    with Index(runs) as index:
        recorded = index.task_positions()
    live = [s for s in subs if _has_open_tasks(s, recorded)]
    arrays = sorted({a.job_id for s in live for a in s.arrays or ()})
    views, _ = slurm.task_views(arrays)
    used = 0
    for sub in live:
        for array in sub.arrays or ():
            open_tasks = sum(1 for job in array.tasks
                             if (views.get(job) or submissions.TaskView(None)).state not in submissions.TERMINAL)
            used += min(array.throttle, open_tasks)
    free = cluster.max_tasks - used
    new = []
    for sub in live:
        if free <= 0:
            break
        submitted = sub.task_job_ids()
        held = [i for i in range(len(sub.tasks)) if i not in submitted
                and any((sub.id, i, p) not in recorded and not submissions.cancelled(runs, sub.id, c.key)
                        for p, c in enumerate(sub.tasks[i].cases))]
        for start in range(0, len(held), slurm.max_array_size() - 1):
            group = held[start:start + slurm.max_array_size() - 1]
            if free <= 0 or not group:
                break
            throttle = min(free, len(group))
            sub, job = _submit_group(runs, sub, group, cluster, throttle, nodes)
            new.append(job)
            free -= throttle
    return new


def _submit_group(runs: RunsDir, sub: Submission, group: list[int], cluster: Cluster, throttle: int,
                  nodes: list[str]) -> tuple[Submission, str]:
    time_min = max(sum(sub.tasks[i].limits.values()) / 60.0 for i in group) * 1.1 + TASK_OVERHEAD_MIN
    if cluster.task_time_min:
        time_min = min(time_min, cluster.task_time_min)
    exclude = sorted({n for i in group for n in sub.tasks[i].exclude})
    if set(nodes) <= set(exclude):
        # excluding every node of the partition would leave the retry nowhere to run
        exclude = []
    number = len(sub.arrays or ())
    job_name = f"{sub.job_name}-{number}"
    intent = runs.write_pending(sub.id, number, PendingArray(job_name, tuple(group), throttle))
    tasks = slurm.submit_array(runs.submission_path(sub.id), group, cluster, job_name, runs.slurm_dir(sub.id),
                               int(time_min + 0.999), throttle, exclude)
    sub = submissions.add_array(runs, sub, tasks, group, throttle)
    intent.unlink()
    return sub, sub.arrays[-1].job_id


def cancel(runs: RunsDir, keys: set[str]) -> tuple[int, list[str]]:
    """Stop these cases: whole tasks left with nothing else to do are scancelled, the rest skip them.

    Returns (cases cancelled, job ids scancelled).
    """
    flight = refresh(runs)
    targets = {k: v for k, v in flight.cases.items() if k in keys}
    by_task: dict[tuple[str, int], set[str]] = {}
    for key, (sub_id, index) in targets.items():
        by_task.setdefault((sub_id, index), set()).add(key)
    open_by_task: dict[tuple[str, int], set[str]] = {}
    for key, where in flight.cases.items():
        open_by_task.setdefault(where, set()).add(key)
    subs = {s.id: s for s in submissions.load(runs)[0]}
    stop = []
    for (sub_id, index), chosen in by_task.items():
        for key in chosen:
            runs.touch(runs.cancel_mark(sub_id, key))
        job = subs[sub_id].task_job_ids().get(index)
        if job and chosen >= open_by_task[(sub_id, index)]:
            stop.append(job)
    slurm.cancel(stop)
    return len(targets), stop


def sbatch_preview(cluster: Cluster, chunk_list: list) -> list[str]:
    """The sbatch options a submit would use (for --dry-run)."""
    limits = [sum(cluster.case_limit_s(c.system) * d.limit_scale for c, d in chunk) / 60 for chunk in chunk_list]
    time_min = (max(limits) if limits else 0) * 1.1 + TASK_OVERHEAD_MIN
    if cluster.task_time_min:
        time_min = min(time_min, cluster.task_time_min)
    options = [f"--partition={cluster.partition}", f"--time={int(time_min + 0.999)}",
               f"--cpus-per-task={cluster.cpus}", f"--array=0-{max(0, len(chunk_list) - 1)}%{cluster.max_tasks}"]
    options += [f"--{k}={getattr(cluster, k)}" for k in ("gres", "account", "qos") if getattr(cluster, k)]
    if cluster.memory:
        options.append(f"--mem={cluster.memory}")
    options += [f"--{k}={v}" for k, v in cluster.sbatch.items()]
    options += [f"setup: {line}" for line in cluster.setup]
    return options

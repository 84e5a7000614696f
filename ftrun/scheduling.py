"""Campaigns on Slurm: submit under the cluster's cap, refresh what is in flight, follow, cancel.

One lock file per runs folder serialises submitters, so two ftrun processes never both decide that the
same case needs a job. Everything that reaches Slurm goes through ftrun.backends.slurm.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ftrun import submissions
from ftrun.backends import slurm
from ftrun.campaign import Plan
from ftrun.settings import Cluster, Settings
from results.index import Index
from results.records import write_json_atomic

TASK_OVERHEAD_MIN = 5.0


@contextlib.contextmanager
def submit_lock(runs_dir: Path) -> Iterator[None]:
    Path(runs_dir).mkdir(parents=True, exist_ok=True)
    with open(Path(runs_dir) / ".submit.lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def refresh(runs_dir: Path, cluster: str | None = None) -> submissions.Flight:
    """Recover half-made submissions, ask Slurm about every open task, write records for what ended."""
    subs = [s for s in submissions.load(runs_dir) if cluster is None or s["cluster"] == cluster]
    for sub in subs:
        _recover_pending(runs_dir, sub)
    with Index(runs_dir) as index:
        index.sync()
        open_subs = [s for s in subs if _has_open_tasks(s, index.task_positions())]
        expected = [job for s in open_subs for job in submissions.task_job_ids(s).values()]
        arrays = sorted({job.split("_")[0] for job in expected})
        views, degraded = slurm.task_views(arrays) if arrays and slurm_available() else ({}, None)
        if arrays and not slurm_available():
            degraded = "Slurm commands are not available here: states of submitted tasks are unknown"
        elif degraded and "squeue" in degraded:
            views = slurm.absent_tasks(views, expected)
        # read the records only now: a task that Slurm calls ended wrote them before it ended
        index.sync()
        recorded = index.task_positions()
    flight = submissions.reconcile(runs_dir, open_subs, views, recorded, degraded)
    if flight.written:
        with Index(runs_dir) as index:
            index.sync()
    return flight


def slurm_available() -> bool:
    try:
        slurm.require_commands()
    except Exception:  # noqa: BLE001
        return False
    return True


def _has_open_tasks(sub: dict, recorded: set) -> bool:
    return any((sub["id"], i, p) not in recorded for i, t in enumerate(sub["tasks"]) for p in range(len(t["cases"])))


def _recover_pending(runs_dir: Path, sub: dict) -> None:
    """An sbatch whose job id was never written down (ftrun died in between): find it by its name."""
    folder = submissions.submissions_dir(runs_dir)
    for intent in sorted(folder.glob(f"{sub['id']}.pending-*.json")):
        data = json.loads(intent.read_text())
        found = slurm.find_arrays(data["job_name"]) if slurm_available() else None
        if found is None:
            continue
        if found:
            tasks = submissions.task_ids_of(found[0], len(data["indices"]))
            array = submissions.add_array(runs_dir, sub["id"], tasks, data["indices"], data["throttle"])
            sub["arrays"] = (sub.get("arrays") or []) + [array]
        intent.unlink()


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
        exclude = sorted({n for _, d in chunk for n in d.exclude})
        limits = {c.key: cluster.case_limit_s(c.system) * d.limit_scale for c, d in chunk}
        tasks.append({"cases": [c.to_dict() for c, _ in chunk], "limits": limits, "exclude": exclude})
    sub_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
    submissions.new_submission(settings.runs_dir, sub_id, campaign_id, cluster.name, cluster.partition, tasks)
    arrays = top_up(settings.runs_dir, cluster)
    subs = {s["id"]: s for s in submissions.load(settings.runs_dir)}
    submitted = len(submissions.task_job_ids(subs[sub_id]))
    return SubmitSummary(sub_id, len(tasks), submitted, len(tasks) - submitted, arrays)


def top_up(runs_dir: Path, cluster: Cluster) -> list[str]:
    """Submit held tasks of this cluster while the cap leaves room. Returns the new arrays' ids."""
    nodes = slurm.check_partition(cluster.partition)
    subs = [s for s in submissions.load(runs_dir) if s["cluster"] == cluster.name]
    with Index(runs_dir) as index:
        recorded = index.task_positions()
    live = [s for s in subs if _has_open_tasks(s, recorded)]
    arrays = sorted({a["job_id"] for s in live for a in s.get("arrays") or []})
    views, _ = slurm.task_views(arrays)
    used = 0
    for sub in live:
        for array in sub.get("arrays") or []:
            open_tasks = sum(1 for job in array["tasks"]
                             if (views.get(job) or submissions.TaskView(None)).state not in submissions.TERMINAL)
            used += min(array["throttle"], open_tasks)
    free = cluster.max_tasks - used
    new = []
    for sub in live:
        if free <= 0:
            break
        held = [i for i in range(len(sub["tasks"])) if i not in submissions.task_job_ids(sub)
                and any((sub["id"], i, p) not in recorded and not submissions.cancelled(runs_dir, sub["id"], c["key"])
                        for p, c in enumerate(sub["tasks"][i]["cases"]))]
        for start in range(0, len(held), slurm.max_array_size() - 1):
            group = held[start:start + slurm.max_array_size() - 1]
            if free <= 0 or not group:
                break
            throttle = min(free, len(group))
            new.append(_submit_group(runs_dir, sub, group, cluster, throttle, nodes))
            free -= throttle
    return new


def _submit_group(runs_dir: Path, sub: dict, group: list[int], cluster: Cluster, throttle: int,
                  nodes: list[str]) -> str:
    time_min = max(sum(sub["tasks"][i]["limits"].values()) / 60.0 for i in group) * 1.1 + TASK_OVERHEAD_MIN
    if cluster.task_time_min:
        time_min = min(time_min, cluster.task_time_min)
    exclude = sorted({n for i in group for n in sub["tasks"][i].get("exclude", [])})
    if set(nodes) <= set(exclude):
        # excluding every node of the partition would leave the retry nowhere to run
        exclude = []
    number = len(sub.get("arrays") or [])
    job_name = f"{sub['job_name']}-{number}"
    folder = submissions.submissions_dir(runs_dir)
    intent = folder / f"{sub['id']}.pending-{number}.json"
    write_json_atomic(intent, {"job_name": job_name, "indices": group, "throttle": throttle})
    tasks = slurm.submit_array(Path(sub["path"]), group, cluster, job_name, Path(runs_dir) / "slurm" / sub["id"],
                               int(time_min + 0.999), throttle, exclude)
    array = submissions.add_array(runs_dir, sub["id"], tasks, group, throttle)
    intent.unlink()
    sub["arrays"] = (sub.get("arrays") or []) + [array]
    return array["job_id"]


def cancel(runs_dir: Path, keys: set[str]) -> tuple[int, list[str]]:
    """Stop these cases: whole tasks left with nothing else to do are scancelled, the rest skip them.

    Returns (cases cancelled, job ids scancelled).
    """
    flight = refresh(runs_dir)
    targets = {k: v for k, v in flight.cases.items() if k in keys}
    by_task: dict[tuple[str, int], set[str]] = {}
    for key, (sub_id, index) in targets.items():
        by_task.setdefault((sub_id, index), set()).add(key)
    open_by_task: dict[tuple[str, int], set[str]] = {}
    for key, where in flight.cases.items():
        open_by_task.setdefault(where, set()).add(key)
    subs = {s["id"]: s for s in submissions.load(runs_dir)}
    stop = []
    for (sub_id, index), chosen in by_task.items():
        marks = Path(runs_dir) / "cancel" / sub_id
        marks.mkdir(parents=True, exist_ok=True)
        for key in chosen:
            (marks / key).touch()
        job = submissions.task_job_ids(subs[sub_id]).get(index)
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

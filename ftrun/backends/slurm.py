"""Everything that talks to Slurm lives here: sbatch (through submitit), sacct, squeue, scancel, scontrol.

Scheduler answers are hints; result files decide what finished. State comes from sacct; when sacct does
not answer (no accounting), from squeue, and then the view is marked degraded: a task absent from
squeue is only declared lost once its heartbeat is old (see ftrun.submissions).
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
from pathlib import Path

from ftrun.errors import FtrunError
from ftrun.settings import Cluster
from ftrun.submissions import TaskView


def require_commands() -> None:
    missing = [c for c in ("sbatch", "squeue", "scancel", "scontrol", "sinfo") if shutil.which(c) is None]
    if missing:
        raise FtrunError(f"Slurm commands not found: {', '.join(missing)}; run on a Slurm login node "
                         "(or start the dev cluster: scripts/slurm-dev.sh start)")


def _run(cmd: list[str], timeout: float = 30) -> subprocess.CompletedProcess | None:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired):
        return None


@functools.lru_cache(maxsize=1)
def max_array_size() -> int:
    """MaxArraySize of this site (array indices must stay below it); 1001 when scontrol does not say."""
    out = _run(["scontrol", "show", "config"])
    m = re.search(r"^MaxArraySize\s*=\s*(\d+)", out.stdout if out and out.returncode == 0 else "", re.M)
    return int(m.group(1)) if m else 1001


def check_partition(partition: str) -> list[str]:
    """The partition's nodes; FtrunError if Slurm does not know the partition."""
    out = _run(["sinfo", "-h", "-p", partition, "-o", "%P|%n"])
    if out is None or out.returncode != 0:
        raise FtrunError(f"sinfo failed for partition {partition!r}: {(out.stderr if out else 'no answer').strip()}")
    nodes = [line.split("|")[1] for line in out.stdout.splitlines() if "|" in line]
    if not nodes:
        known = _run(["sinfo", "-h", "-o", "%P"])
        names = sorted({p.strip("*") for p in (known.stdout.split() if known else [])})
        raise FtrunError(f"Slurm has no partition {partition!r}; partitions: {', '.join(names) or '(none)'}")
    return sorted(set(nodes))


def submit_array(submission_file: Path, indices: list[int], cluster: Cluster, job_name: str, folder: Path,
                 time_min: int, throttle: int, exclude: list[str]) -> list[str]:
    """One job array: task i runs jobs.task.run_task(submission_file, indices[i]).

    Returns each task's job id ('array_task'; a lone task is submitted as a plain job, 'id').
    """
    import submitit

    from jobs.task import run_task

    executor = submitit.SlurmExecutor(folder=str(folder / "%j"), max_num_timeout=0)
    extra = dict(cluster.sbatch)
    params = {"partition": cluster.partition, "time": max(1, int(time_min)), "job_name": job_name,
              "cpus_per_task": cluster.cpus, "array_parallelism": max(1, throttle), "use_srun": False,
              "stderr_to_stdout": True, "signal_delay_s": 120, "setup": list(cluster.setup),
              "additional_parameters": extra}
    for key in ("gres", "account", "qos"):
        if getattr(cluster, key):
            params[key] = getattr(cluster, key)
    if cluster.memory:
        params["mem"] = cluster.memory
    if exclude:
        params["exclude"] = ",".join(sorted(exclude))
    executor.update_parameters(**params)
    try:
        jobs = executor.map_array(run_task, [str(submission_file)] * len(indices), indices)
    except Exception as e:  # noqa: BLE001 - sbatch refusing is the user's problem to see, in one line
        raise FtrunError(f"sbatch refused the array for {cluster.name}: {str(e).strip().splitlines()[-1]}") from None
    return [job.job_id for job in jobs]


def task_views(array_ids: list[str]) -> tuple[dict[str, TaskView], str | None]:
    """'array_task' -> view for every task of these arrays, and why the view is degraded (or None)."""
    if not array_ids:
        return {}, None
    views = _sacct(array_ids)
    if views is not None:
        return views, None
    views = _squeue(array_ids)
    if views is None:
        return {}, "neither sacct nor squeue answered: states unknown, nothing is declared lost"
    return views, "sacct is unavailable: states from squeue and heartbeats"


def _sacct(array_ids: list[str]) -> dict[str, TaskView] | None:
    if shutil.which("sacct") is None:
        return None
    out = _run(["sacct", "-X", "-n", "-P", "-j", ",".join(array_ids), "--format=JobID,State,NodeList"])
    if out is None or out.returncode != 0:
        return None
    views = {}
    for line in out.stdout.splitlines():
        job, state, node = (line.split("|") + ["", "", ""])[:3]
        state = state.split()[0] if state else ""
        for task in _expand(job):
            views[task] = TaskView(state, node if node not in ("", "None assigned") else None)
    # a task sacct does not list (yet) is unknown, not absent: never conclude from silence
    return views


def _squeue(array_ids: list[str]) -> dict[str, TaskView] | None:
    out = _run(["squeue", "-h", "-r", "-j", ",".join(array_ids), "-o", "%i|%T|%N"])
    if out is None or out.returncode != 0:
        if out is not None and "Invalid job id" in out.stderr:
            return {}
        return None
    views = {}
    for line in out.stdout.splitlines():
        job, state, node = (line.split("|") + ["", ""])[:3]
        views[job] = TaskView(state, node or None)
    return views


def _expand(job: str) -> list[str]:
    """'12_[3-5,7%2]' -> ['12_3', '12_4', '12_5', '12_7']; plain ids pass through."""
    m = re.fullmatch(r"(\d+)_\[([^\]]+)\]", job)
    if not m:
        return [job]
    out = []
    for part in m.group(2).split("%")[0].split(","):
        lo, _, hi = part.partition("-")
        out += [f"{m.group(1)}_{i}" for i in range(int(lo), int(hi or lo) + 1)]
    return out


def absent_tasks(views: dict[str, TaskView], expected: list[str]) -> dict[str, TaskView]:
    """With squeue as the only source, expected tasks it does not list are ABSENT (maybe finished)."""
    return {job: views.get(job, TaskView("ABSENT")) for job in expected}


def find_arrays(job_name: str) -> list[str]:
    """Job ids of arrays with this name, from squeue then sacct (recovery after a crash mid-submit)."""
    ids: set[str] = set()
    out = _run(["squeue", "-h", "--name", job_name, "-o", "%F"])
    if out and out.returncode == 0:
        ids |= set(out.stdout.split())
    if shutil.which("sacct"):
        out = _run(["sacct", "-X", "-n", "-P", "--name", job_name, "-S", "now-30days", "--format=JobID"])
        if out and out.returncode == 0:
            ids |= {line.split("_")[0] for line in out.stdout.split()}
    # newest first: a name is unique per submission, but be safe against an old namesake
    return sorted(ids, key=lambda i: int(i) if i.isdigit() else 0, reverse=True)


def cancel(job_ids: list[str]) -> None:
    if job_ids:
        out = _run(["scancel", *job_ids])
        if out is None or (out.returncode != 0 and "already completing" not in out.stderr):
            raise FtrunError(f"scancel failed: {(out.stderr if out else 'no answer').strip()}")

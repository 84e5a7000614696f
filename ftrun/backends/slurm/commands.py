"""The one module that talks to Slurm: sbatch (through submitit), sacct, squeue, scancel, scontrol, sinfo.

It runs the commands and hands their answers on as text lines; what the answers mean is
ftrun.backends.slurm.views'. A command that fails or hangs answers None, never an exception.
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
from pathlib import Path

from ftrun.errors import FtrunError
from ftrun.settings import Cluster

REQUIRED = ("sbatch", "squeue", "scancel", "scontrol", "sinfo")
# what sacct and squeue are asked for; ftrun.backends.slurm.views reads these columns
SACCT_FORMAT = "JobID,State,NodeList,Reason"
SQUEUE_FORMAT = "%i|%T|%N|%r"


def require() -> None:
    missing = [c for c in REQUIRED if shutil.which(c) is None]
    if missing:
        raise FtrunError(f"Slurm commands not found: {', '.join(missing)}; run on a Slurm login node "
                         "(or start the dev cluster: scripts/slurm-dev.sh start)")


def available() -> bool:
    return all(shutil.which(c) for c in REQUIRED)


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


def partition_nodes(partition: str) -> list[str]:
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


def sbatch_options(cluster: Cluster, time_min: int, throttle: int, exclude: list[str]) -> dict:
    """submitit's parameters for one array of this cluster."""
    params = {"partition": cluster.partition, "time": max(1, int(time_min)), "cpus_per_task": cluster.cpus,
              "array_parallelism": max(1, throttle), "use_srun": False, "stderr_to_stdout": True,
              "signal_delay_s": 120, "setup": list(cluster.setup), "additional_parameters": dict(cluster.sbatch)}
    for key in ("gres", "account", "qos"):
        if getattr(cluster, key):
            params[key] = getattr(cluster, key)
    if cluster.memory:
        params["mem"] = cluster.memory
    if exclude:
        params["exclude"] = ",".join(sorted(exclude))
    return params


def submit_array(submission_file: Path, indices: list[int], cluster: Cluster, job_name: str, folder: Path,
                 time_min: int, throttle: int, exclude: list[str]) -> list[str]:
    """One job array: task i runs ftrun.backends.slurm.job.run_array_task(submission_file, indices[i]).

    Returns each task's job id ('array_task'; a lone task is submitted as a plain job, 'id').
    """
    import submitit

    from ftrun.backends.slurm.job import run_array_task

    # max_num_timeout=0: ftrun decides about time limits itself (the job side handles the signals)
    executor = submitit.SlurmExecutor(folder=str(folder / "%j"), max_num_timeout=0)
    executor.update_parameters(job_name=job_name, **sbatch_options(cluster, time_min, throttle, exclude))
    n = len(indices)
    try:
        jobs = executor.map_array(run_array_task, [str(submission_file)] * n, indices, [int(time_min)] * n)
    except Exception as e:  # noqa: BLE001 - sbatch refusing is the user's problem to see, in one line
        raise FtrunError(f"sbatch refused the array for {cluster.name}: {str(e).strip().splitlines()[-1]}") from None
    return [job.job_id for job in jobs]


def sacct(array_ids: list[str]) -> list[str] | None:
    """sacct's lines (SACCT_FORMAT, '|'-separated) for these arrays; None if sacct did not answer."""
    if shutil.which("sacct") is None:
        return None
    out = _run(["sacct", "-X", "-n", "-P", "-j", ",".join(array_ids), f"--format={SACCT_FORMAT}"])
    if out is None or out.returncode != 0:
        return None
    return out.stdout.splitlines()


def squeue(array_ids: list[str]) -> list[str] | None:
    """squeue's lines (SQUEUE_FORMAT) for every task of these arrays that slurmctld still knows, finished
    ones included (`-t all`, kept for MinJobAge); [] when it knows none of them; None if it did not answer."""
    out = _run(["squeue", "-h", "-r", "-t", "all", "-j", ",".join(array_ids), "-o", SQUEUE_FORMAT])
    if out is None:
        return None
    if out.returncode != 0:
        return [] if "Invalid job id" in out.stderr else None
    return out.stdout.splitlines()


def find_arrays(job_name: str) -> list[str] | None:
    """Job ids of arrays with this name, newest first, from squeue then sacct (recovery after a crash
    mid-submit); None if neither answered."""
    ids: set[str] = set()
    answered = False
    out = _run(["squeue", "-h", "--name", job_name, "-o", "%F"])
    if out and out.returncode == 0:
        answered = True
        ids |= set(out.stdout.split())
    if shutil.which("sacct"):
        out = _run(["sacct", "-X", "-n", "-P", "--name", job_name, "-S", "now-30days", "--format=JobID"])
        if out and out.returncode == 0:
            answered = True
            ids |= {line.split("_")[0] for line in out.stdout.split()}
    if not answered:
        return None
    # a name is unique per submission, but be safe against an old namesake
    return sorted(ids, key=lambda i: int(i) if i.isdigit() else 0, reverse=True)


def cancel(job_ids: list[str]) -> None:
    if job_ids:
        out = _run(["scancel", *job_ids])
        if out is None or (out.returncode != 0 and "already completing" not in out.stderr):
            raise FtrunError(f"scancel failed: {(out.stderr if out else 'no answer').strip()}")

"""The Slurm backend: chunks become tasks of job arrays (through submitit), capped per cluster.

    commands     the one module that runs Slurm's commands and submitit
    views        what sacct's and squeue's answers say about each task
    submissions  what was handed over (submission files), which submissions are still open
    reconcile    the scheduler's view against the result files: in flight, or ended (records written)
    queue        submit under the cap, top up, refresh, cancel
    job          the job side's entry: what submitit runs on the node
"""

from __future__ import annotations

from ftrun.backends import Cancelled, Flight
from ftrun.backends.slurm import commands, queue
from ftrun.errors import FtrunError
from results.runsdir import RunsDir


class SlurmBackend:
    kind = "slurm"

    def prepare(self, cluster, gpus: tuple[str, ...] | None) -> None:
        if gpus:
            raise FtrunError("--gpus chooses GPUs of this machine: it applies to the local cluster only")
        commands.require()
        commands.partition_nodes(cluster.partition)

    def preview(self, cluster, chunk_list: list) -> list[str]:
        """The sbatch options a submit would use (for --dry-run)."""
        limits = [sum(cluster.case_limit_s(c.system) * d.limit_scale for c, d in chunk) for chunk in chunk_list]
        options = [f"--partition={cluster.partition}", f"--time={queue.task_time_min(cluster, limits)}",
                   f"--cpus-per-task={cluster.cpus}", f"--array=0-{max(0, len(chunk_list) - 1)}%{cluster.max_tasks}"]
        options += [f"--{k}={getattr(cluster, k)}" for k in ("gres", "account", "qos") if getattr(cluster, k)]
        if cluster.memory:
            options.append(f"--mem={cluster.memory}")
        options += [f"--{k}={v}" for k, v in cluster.sbatch.items()]
        options += [f"setup: {line}" for line in cluster.setup]
        return options

    def submit(self, runs: RunsDir, plan, chunk_list: list, campaign_id: str, gpus=None):
        yield from queue.submit(runs, plan, chunk_list, campaign_id)

    def reconcile(self, runs: RunsDir, cluster: str | None = None) -> Flight:
        return queue.refresh(runs, cluster)

    def cancel(self, runs: RunsDir, flight: Flight, keys: set[str]) -> Cancelled:
        return queue.cancel(runs, flight, keys)


BACKEND = SlurmBackend()

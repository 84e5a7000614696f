"""The Slurm backend: chunks become tasks of job arrays (through submitit), capped per cluster.

    commands     the one module that runs Slurm's commands and submitit
    views        what sacct's and squeue's answers say about each task
    submissions  which submissions are still open, and the arrays handed over for each
    reconcile    the scheduler's view against the result files: in flight, or ended (records written)
    queue        top up to the cap (submit held tasks), refresh, cancel
    job          the job side's entry: what submitit runs on the node
"""

from __future__ import annotations

import time
import uuid

from ftrun.backends import Cancelled, Flight
from ftrun.backends.slurm import commands, queue
from ftrun.errors import FtrunError
from ftrun.events import Message, Submitted, ToppedUp
from jobs import plugins
from results.campaigns import Submission, TaskPlan
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
        """Write a submission for the planned chunks (one task each) and hand Slurm as many tasks as the cap
        allows; or, with nothing to plan, top up held tasks. Yields what happened (ftrun.events)."""
        cluster = plan.cluster
        if not plan.to_run:
            new = queue.top_up(runs, cluster)
            yield ToppedUp(new) if new else Message(
                "nothing to submit: every case has a result or is in flight (use --force to run again)")
            return
        tasks = []
        for chunk in chunk_list:
            exclude = tuple(sorted({n for _, d in chunk for n in d.exclude}))
            limits = {c.key: cluster.case_limit_s(c.system) * d.limit_scale for c, d in chunk}
            tasks.append(TaskPlan(tuple(c for c, _ in chunk), limits, exclude))
        sub_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
        # the plug-ins the cases need travel with the submission: the task loads them before its first case
        runs.write_submission(Submission.new(sub_id, campaign_id, cluster.name, cluster.partition, tasks,
                                             plugins=plugins.active_spec().to_json()))
        arrays = queue.top_up(runs, cluster)
        submitted = len(runs.read_submission(runs.submission_path(sub_id)).task_job_ids())
        yield Submitted(sub_id, len(tasks), submitted, len(tasks) - submitted, arrays, cluster.max_tasks)

    def reconcile(self, runs: RunsDir, cluster: str | None = None) -> Flight:
        return queue.refresh(runs, cluster)

    def cancel(self, runs: RunsDir, flight: Flight, keys: set[str]) -> Cancelled:
        return queue.cancel(runs, flight, keys)


BACKEND = SlurmBackend()

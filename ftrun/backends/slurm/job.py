"""The job side of a Slurm array task: what submitit runs on the node (`run_array_task`).

It says who this copy of the task is (job id, node, Slurm's restart count) and turns Slurm's signals into
a stop of the chunk, replacing submitit's handlers (which log "Bypassing signal SIGTERM" and run on):

- SIGTERM (scancel, requeue, preemption, the time limit): the case in flight is killed and recorded
  (CANCELLED if `ftrun cancel` marked it, TLE at the task's time limit, else PREEMPTED); no case starts.
- SIGUSR2 (submitit asks Slurm for it before the time limit): the same, as a time limit.
- SIGCONT (a suspended job resumes): noted in the log; time spent suspended does not count against a
  case's limit (jobs.runner).

Then jobs.task.run_task runs the chunk; nothing here knows about cases.
"""

from __future__ import annotations

import os
import signal
import socket
import time

# SIGTERM this close to the task's time limit is the limit, not a cancel
TIME_LIMIT_SLACK_S = 90.0


def this_copy():
    """(job id as 'array_task' or plain id, node name, restart count) of the running task."""
    from jobs.task import TaskCopy

    array, task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    job = f"{array}_{task}" if array and task else os.environ.get("SLURM_JOB_ID", f"pid-{os.getpid()}")
    restarts = os.environ.get("SLURM_RESTART_COUNT", "0")
    return TaskCopy(job, os.environ.get("SLURMD_NODENAME", socket.gethostname()),
                    int(restarts) if restarts.isdigit() else 0)


def run_array_task(submission_file: str, index: int, time_min: int | None = None) -> dict:
    from jobs.runner import Stop
    from jobs.task import run_task

    started = time.monotonic()
    stop = Stop()

    def on_term(signum, frame):
        near_limit = time_min is not None and time.monotonic() - started > time_min * 60 - TIME_LIMIT_SLACK_S
        _say(f"caught {signal.Signals(signum).name}: stopping the chunk")
        stop.request(Stop.TIME_LIMIT if near_limit else Stop.TERMINATED)

    def on_usr2(signum, frame):
        _say("caught SIGUSR2: the task's time limit is near")
        stop.request(Stop.TIME_LIMIT)

    def on_cont(signum, frame):
        _say("caught SIGCONT: resumed")

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGUSR2, on_usr2)
    signal.signal(signal.SIGCONT, on_cont)
    return run_task(submission_file, index, this_copy(), stop)


def _say(text: str) -> None:
    # os.write, not print: a handler may interrupt a print to the same stream
    os.write(2, f"[ftrun] {text}\n".encode())

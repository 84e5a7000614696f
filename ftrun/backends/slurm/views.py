"""What Slurm's answers say about each task ftrun submitted: one TaskView per 'array_task' job id.

Two sources, read as Slurm means them (both checked against a real slurmctld/slurmdbd, see tests/slurm):

- squeue (`-t all -r`) is slurmctld's own view: every task it still knows, one line each, pending ones
  with their reason, finished ones for MinJobAge. It is current.
- sacct is the database: one line per task that started, but the tasks of an array that never started
  share one line with a range (`105_[2,4-5%2]`) that the database updates late: a pending task cancelled
  with scancel vanishes from squeue at once and never gets a line of its own, while the range may still
  list it as PENDING.

So a task is what squeue says; else what its own sacct line says; else, when both answered and slurmctld
does not know it, it is VANISHED (it left the queue without a record of its own) unless the range names a
final state for it. When sacct does not answer the view is degraded: what squeue does not list is only
ABSENT (maybe finished), and only a stale heartbeat later makes it lost.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

TERMINAL = {"COMPLETED", "FAILED", "TIMEOUT", "CANCELLED", "NODE_FAIL", "PREEMPTED", "OUT_OF_MEMORY",
            "BOOT_FAIL", "DEADLINE", "REVOKED", "SPECIAL_EXIT"}
# Slurm's pending reasons, in words (others are shown as Slurm spells them)
REASONS = {
    "Priority": "waiting for priority",
    "Resources": "waiting for resources",
    "JobArrayTaskLimit": "held by the array's task limit",
    "PartitionDown": "the partition is down",
    "PartitionInactive": "the partition is inactive",
    "ReqNodeNotAvail": "its nodes are down or drained",
    "BeginTime": "requeued, waiting for its begin time",
    "Dependency": "waiting for a dependency",
    "QOSMaxJobsPerUserLimit": "held by the QoS's job limit",
    "AssocGrpGRES": "held by the account's GPU limit",
}
SLURM_DRAINED = "Nodes required for job are DOWN, DRAINED"


@dataclass
class TaskView:
    """The scheduler's view of one task. state None: unknown (nothing answered for it)."""

    state: str | None
    node: str | None = None
    reason: str | None = None


def expand(job: str) -> list[str]:
    """'12_[3-5,7%2]' -> ['12_3', '12_4', '12_5', '12_7']; plain ids pass through."""
    m = re.fullmatch(r"(\d+)_\[([^\]]+)\]", job)
    if not m:
        return [job]
    out = []
    for part in m.group(2).split("%")[0].split(","):
        lo, _, hi = part.partition("-")
        out += [f"{m.group(1)}_{i}" for i in range(int(lo), int(hi or lo) + 1)]
    return out


def reason_text(reason: str | None) -> str | None:
    """Slurm's pending reason with what it means, e.g. 'JobArrayTaskLimit: held by the array's task limit'."""
    if not reason or reason == "None":
        return None
    if reason.startswith(SLURM_DRAINED):
        return "ReqNodeNotAvail: its nodes are down or drained"
    word = reason.split(",")[0].strip()
    return f"{word}: {REASONS[word]}" if word in REASONS else reason


def _fields(line: str, n: int) -> list[str]:
    return (line.split("|") + [""] * n)[:n]


def _state(text: str) -> str:
    # "CANCELLED by 0" -> CANCELLED
    return text.split()[0] if text.strip() else ""


def _node(text: str) -> str | None:
    return text if text not in ("", "None assigned", "(null)") else None


def parse_sacct(lines: list[str]) -> tuple[dict[str, TaskView], dict[str, TaskView]]:
    """(tasks with a line of their own, tasks named only by an array range)."""
    own, ranged = {}, {}
    for line in lines:
        job, state, node, reason = _fields(line, 4)
        view = TaskView(_state(state), _node(node), reason if _state(state) == "PENDING" else None)
        if "[" in job:
            for task in expand(job):
                ranged[task] = view
        elif job:
            own[job] = view
    return own, ranged


def parse_squeue(lines: list[str]) -> dict[str, TaskView]:
    views = {}
    for line in lines:
        job, state, node, reason = _fields(line, 4)
        if job:
            views[job] = TaskView(state, _node(node), reason if state == "PENDING" else None)
    return views


def task_views(expected: list[str], sacct: list[str] | None, squeue: list[str] | None
               ) -> tuple[dict[str, TaskView], str | None]:
    """A view for each expected task id, and why the views are degraded (None when they are not)."""
    if sacct is None and squeue is None:
        return {}, "neither sacct nor squeue answered: states unknown, nothing is declared lost"
    queued = parse_squeue(squeue) if squeue is not None else {}
    own, ranged = parse_sacct(sacct) if sacct is not None else ({}, {})
    views = {}
    for job in expected:
        if job in queued:
            views[job] = queued[job]
        elif job in own:
            views[job] = own[job]
        elif sacct is None:
            views[job] = TaskView("ABSENT")
        elif squeue is None:
            # slurmctld did not answer: the database alone may be behind, conclude nothing new
            views[job] = ranged.get(job, TaskView(None))
        elif job in ranged and ranged[job].state in TERMINAL:
            views[job] = ranged[job]
        else:
            views[job] = TaskView("VANISHED")
    if sacct is None:
        return views, "sacct is unavailable: states from squeue and heartbeats"
    return views, None

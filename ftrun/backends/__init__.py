"""Where chunks run: one interface, one backend per cluster kind (`local`, `slurm`).

    prepare(cluster, gpus)              check that the cluster can take work, before anything is written
    preview(cluster, chunks)            what a submit would ask the scheduler for (`--dry-run`)
    submit(runs, plan, chunks, cid)     hand the planned chunks over; yields events (ftrun.events)
    reconcile(runs, cluster)            look at what was handed over, record what ended: what is in flight
    cancel(runs, flight, keys)          stop these cases

`in_flight(runs)` asks every backend (after reconciling) and is what status, logs and submit read.
The backends are imported on first use, so nothing of Slurm or submitit loads for a local run.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

from results.runsdir import RunsDir

MODULES = {"local": "ftrun.backends.local", "slurm": "ftrun.backends.slurm"}


@dataclass
class Flight:
    """Cases handed to a backend and not final yet, and what reconciling found on the way."""

    # key -> (submission, task) that will run it
    cases: dict[str, tuple[str, int]] = field(default_factory=dict)
    running: set[str] = field(default_factory=set)
    suspended: set[str] = field(default_factory=set)
    # key -> why it waits: the scheduler's pending reason, or ftrun's own cap
    waiting: dict[str, str] = field(default_factory=dict)
    # (submission, task) -> its keys without a record yet
    tasks: dict[tuple[str, int], set[str]] = field(default_factory=dict)
    written: int = 0
    degraded: str | None = None
    bad_files: list[tuple[str, str]] = field(default_factory=list)

    def merge(self, other: Flight) -> Flight:
        self.cases.update(other.cases)
        self.running |= other.running
        self.suspended |= other.suspended
        self.waiting.update(other.waiting)
        self.tasks.update(other.tasks)
        self.written += other.written
        self.degraded = self.degraded or other.degraded
        self.bad_files += other.bad_files
        return self


@dataclass(frozen=True)
class Cancelled:
    """What `cancel` did: cases marked, and the scheduler jobs stopped."""

    cases: int
    jobs: tuple[str, ...]


class Backend(Protocol):
    kind: str

    def prepare(self, cluster, gpus: tuple[str, ...] | None) -> None: ...

    def preview(self, cluster, chunk_list: list) -> list[str]: ...

    def submit(self, runs: RunsDir, plan, chunk_list: list, campaign_id: str,
               gpus: tuple[str, ...] | None = None) -> Iterator: ...

    def reconcile(self, runs: RunsDir, cluster: str | None = None) -> Flight: ...

    def cancel(self, runs: RunsDir, flight: Flight, keys: set[str]) -> Cancelled: ...


def backend(kind: str) -> Backend:
    """The backend of a cluster kind (settings validated the kind)."""
    return importlib.import_module(MODULES[kind]).BACKEND


def in_flight(runs: RunsDir, cluster=None) -> Flight:
    """Every backend's cases in flight, after recording what ended (for one cluster, or all)."""
    flight = Flight()
    kinds = [cluster.kind] if cluster is not None else list(MODULES)
    for kind in kinds:
        flight.merge(backend(kind).reconcile(runs, cluster.name if cluster is not None else None))
    return flight

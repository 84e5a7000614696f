"""`ftrun submit` and `ftrun retry`: plan, record the campaign, hand the chunks to the cluster's backend.

Each round plans once, under the runs folder's submit lock (local and Slurm alike), against what is in
flight: so two ftrun processes never both decide that a case needs running, and a local run holds the
lock while its cases run (a second submit waits, and says for whom). The library yields events
(ftrun.events); only the CLI renders them.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from ftrun.backends import backend, in_flight
from ftrun.campaign import chunks, decide_plan, draft_plan, parse_filters, write_campaign
from ftrun.errors import FtrunError
from ftrun.events import DryRun, Following, Message, Planned, Waiting
from ftrun.settings import Settings
from results.leases import LockHolder
from results.records import now
from results.runsdir import RunsDir


@dataclass(frozen=True)
class Request:
    """What the user asked `ftrun submit` for."""

    experiment: str
    cluster: str | None
    scale: str | None
    only: tuple[str, ...] = ()
    force: bool = False
    weights: Path | None = None
    gpus: tuple[str, ...] | None = None


def check_writable(settings: Settings) -> None:
    runs = settings.runs.root
    try:
        runs.mkdir(parents=True, exist_ok=True)
        probe = runs / ".ftrun-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as e:
        raise FtrunError(f"runs folder {runs} is not writable ({e.strerror}); choose another with --runs-dir") from None


@contextlib.contextmanager
def submit_lock(runs: RunsDir, argv: list[str] | tuple[str, ...] = (),
                on_wait: Callable[[LockHolder | None], None] | None = None) -> Iterator[None]:
    """Hold the runs folder's submit lock, waiting for it if another ftrun holds it (`on_wait` is told
    who, first). The holder writes who it is into the lock file; the kernel frees the lock if it dies."""
    lock = runs.submit_lock()
    if not lock.try_acquire():
        if on_wait:
            on_wait(runs.lock_holder(lock))
        lock.acquire(poll_s=0.5)
    try:
        lock.write_holder(LockHolder(os.getpid(), socket.gethostname(), " ".join(argv) or "ftrun", now()))
        yield
    finally:
        lock.release()


def _announce_wait(runs: RunsDir) -> Iterator[Waiting]:
    """A Waiting event if another ftrun holds the lock now (`submit_lock` then waits for it)."""
    lock = runs.submit_lock()
    if lock.try_acquire():
        lock.release()
        return
    yield Waiting(runs.lock_holder(lock))


def submit_experiment(settings: Settings, req: Request, dry_run: bool = False, argv: list[str] = (),
                      follow: bool = False, poll_s: float = 15.0) -> Iterator:
    """Plan the request and hand it to its cluster's backend; with `follow`, stay until every case is
    final (topping up, retrying). Yields ftrun.events."""
    draft = draft_plan(settings, req.experiment, req.cluster, req.scale, parse_filters(list(req.only)), req.weights)
    cluster = draft.cluster
    back = backend(cluster.kind)
    back.prepare(cluster, req.gpus)
    runs = settings.runs
    if dry_run:
        plan = decide_plan(draft, runs, req.force)
        chunk_list = chunks(plan)
        yield Planned(plan, len(chunk_list))
        yield DryRun(chunk_list, back.preview(cluster, chunk_list))
        return
    check_writable(settings)
    campaign_id = None
    while True:
        yield from _announce_wait(runs)
        with submit_lock(runs, argv):
            flight = in_flight(runs, cluster)
            # a plain submit runs cancelled cases again; a follower never does (`ftrun cancel` holds for it)
            plan = decide_plan(draft, runs, req.force and not campaign_id, frozenset(flight.cases),
                               datetime.now(timezone.utc), rerun_cancelled=not follow)
            chunk_list = chunks(plan)
            if campaign_id is None:
                yield Planned(plan, len(chunk_list))
                campaign_id = write_campaign(runs, plan, argv)
            for event in back.submit(runs, plan, chunk_list, campaign_id, req.gpus):
                if not (follow and isinstance(event, Message)):
                    yield event
        if not follow:
            return
        from ftrun.status import collect

        yield Following(collect(runs, req.experiment, flight, {cluster.name: cluster.max_tasks}, with_cases=False))
        if not flight.cases and not plan.to_run and plan.unsettled == 0:
            yield Message("every case is final")
            return
        time.sleep(poll_s)


def run_plans(settings: Settings, plans: list, argv: list[str] = ()) -> Iterator:
    """Run ready-made plans (e.g. from `ftrun retry`) on their clusters. Yields ftrun.events."""
    check_writable(settings)
    runs = settings.runs
    for _, plan, chunk_list in plans:
        back = backend(plan.cluster.kind)
        back.prepare(plan.cluster, None)
        yield Planned(plan, len(chunk_list))
        yield from _announce_wait(runs)
        with submit_lock(runs, argv):
            flight = in_flight(runs, plan.cluster)
            busy = [c for c, _ in plan.to_run if c.key in flight.cases]
            if busy:
                raise FtrunError(f"{len(busy)} of these cases are in flight already (e.g. {busy[0].label()})")
            yield from back.submit(runs, plan, chunk_list, "retry")

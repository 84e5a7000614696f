"""`ftrun submit` and `ftrun retry`: plan, record the campaign, hand the chunks to the cluster's backend.

`plan` is the one planning step: the experiment expanded into its cases (`expand`: a case is born here,
with its key), filtered, on one cluster. Each round then decides once which of them to run now, under the
runs folder's submit lock (local and Slurm alike), against what is in flight: so two ftrun processes
never both decide that a case needs running, and a local run holds the lock while its cases run (a second
submit waits, and says for whom). The library yields events (ftrun.events); only the CLI renders them.
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
from ftrun.campaign import (
    Plan,
    check_experiment,
    chunks,
    decide_plan,
    find_experiment,
    parse_filters,
    resolve_device_and_scale,
    show_filters,
    write_campaign,
)
from ftrun.errors import FtrunError
from ftrun.events import DryRun, Following, Message, Planned, Waiting
from ftrun.settings import Settings
from jobs import plugins
from jobs.experiments import Experiment, matches, shape
from jobs.spec import SCALES, Scale
from jobs.systems import systems
from results.case import CaseSpec
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


def plan(settings: Settings, req: Request) -> Plan:
    """The request's cases on its cluster, each once; nothing decided yet (`decide_plan`, each round).
    Reads no store and writes nothing, so bad input fails here and changes nothing."""
    filters = parse_filters(list(req.only))
    chosen = find_experiment(req.experiment)
    check_experiment(chosen, settings)
    cluster = settings.cluster(req.cluster)
    device, scale, notes = resolve_device_and_scale(cluster, req.scale or chosen.default_scale)
    e2e_options = {}
    if req.weights is not None:
        if not Path(req.weights).exists():
            raise FtrunError(f"weights {req.weights} do not exist: give a Hugging Face safetensors checkpoint folder")
        e2e_options["weights"] = str(Path(req.weights).resolve())
    try:
        cases = expand(chosen, SCALES[scale], device, filters, e2e_options)
    except ValueError as e:
        raise FtrunError(f"experiment {req.experiment} at scale {scale}: {e}") from None
    known = systems()
    missing = sorted({c.system for c in cases} - set(known))
    if missing:
        notes.append(f"not in this ftrun yet, left out: {', '.join(missing)}")
        cases = [c for c in cases if c.system in known]
    if not cases:
        raise FtrunError(f"no case of {req.experiment} matches the filters {show_filters(filters)}")
    return Plan(req.experiment, cluster, scale, device, cases, [], notes=notes)


def expand(experiment: Experiment, scale: Scale, device: str, filters: dict[str, set[str]] | None = None,
           e2e_options: dict[str, str] | None = None) -> list[CaseSpec]:
    """Every case of an experiment at one scale on one device class that the filters let through, in
    figure order, each once (an experiment that names a case twice, or two lengths a small scale maps to
    one size, make one case). `e2e_options` (e.g. {"weights": path}) become part of the e2e cases' identity."""
    e2e_opts = tuple(sorted((e2e_options or {}).items()))
    # a filter on seqlen speaks the paper's lengths, whatever the scale
    full_of = {v: k for k, v in scale.seqlens.items()}
    cases = {}
    for part in experiment.parts:
        for model in part.models:
            options = e2e_opts if part.part == "e2e" else plugins.case_options(model)
            for seqlen in part.seqlens:
                dims, dtype = shape(experiment, scale, part.part, seqlen)
                for system in part.systems:
                    case = CaseSpec(part.part, model, system, dims, dtype, device, scale.name, options=options)
                    if matches(case, filters or {}, full_of):
                        cases.setdefault(case.key, case)
    return list(cases.values())


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
    draft = plan(settings, req)
    cluster = draft.cluster
    back = backend(cluster.kind)
    back.prepare(cluster, req.gpus)
    runs = settings.runs
    if dry_run:
        decided = decide_plan(draft, runs, req.force)
        chunk_list = chunks(decided)
        yield Planned(decided, len(chunk_list))
        yield DryRun(chunk_list, back.preview(cluster, chunk_list))
        return
    check_writable(settings)
    campaign_id = None
    while True:
        yield from _announce_wait(runs)
        with submit_lock(runs, argv):
            flight = in_flight(runs, cluster)
            # a plain submit runs cancelled cases again; a follower never does (`ftrun cancel` holds for it)
            decided = decide_plan(draft, runs, req.force and not campaign_id, frozenset(flight.cases),
                                  datetime.now(timezone.utc), rerun_cancelled=not follow)
            chunk_list = chunks(decided)
            if campaign_id is None:
                yield Planned(decided, len(chunk_list))
                campaign_id = write_campaign(runs, decided, argv)
            for event in back.submit(runs, decided, chunk_list, campaign_id, req.gpus):
                if not (follow and isinstance(event, Message)):
                    yield event
        if not follow:
            return
        from ftrun.status import collect

        yield Following(collect(runs, req.experiment, flight, {cluster.name: cluster.max_tasks}, with_cases=False))
        if not flight.cases and not decided.to_run and decided.unsettled == 0:
            yield Message("every case is final")
            return
        time.sleep(poll_s)


def run_plans(settings: Settings, plans: list, argv: list[str] = ()) -> Iterator:
    """Run ready-made plans (e.g. from `ftrun retry`) on their clusters. Yields ftrun.events."""
    check_writable(settings)
    runs = settings.runs
    for _, decided, chunk_list in plans:
        back = backend(decided.cluster.kind)
        back.prepare(decided.cluster, None)
        yield Planned(decided, len(chunk_list))
        yield from _announce_wait(runs)
        with submit_lock(runs, argv):
            flight = in_flight(runs, decided.cluster)
            busy = [c for c, _ in decided.to_run if c.key in flight.cases]
            if busy:
                raise FtrunError(f"{len(busy)} of these cases are in flight already (e.g. {busy[0].label()})")
            yield from back.submit(runs, decided, chunk_list, "retry")

"""`ftrun submit`: plan, record the campaign, hand the chunks to the cluster's backend."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from ftrun.campaign import chunks, make_plan, parse_filters, write_campaign
from ftrun.errors import FtrunError
from ftrun.settings import Settings


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


def submit_experiment(settings: Settings, req: Request, dry_run: bool, argv: list[str], render,
                      follow: bool = False, poll_s: float = 15.0) -> list[dict]:
    filters = parse_filters(list(req.only))
    plan = make_plan(settings, req.experiment, req.cluster, req.scale, filters, req.force, req.weights)
    if req.gpus and plan.cluster.kind != "local":
        raise FtrunError("--gpus chooses GPUs of this machine: it applies to the local cluster only")
    if plan.cluster.kind == "local":
        from ftrun.backends import local

        local.pool(list(req.gpus) if req.gpus else None, plan.cluster.max_tasks)
    if plan.cluster.kind == "slurm":
        return _submit_slurm(settings, req, filters, dry_run, argv, render, follow, poll_s)
    chunk_list = chunks(plan)
    render.plan_summary(plan, len(chunk_list))
    if dry_run:
        render.dry_run(chunk_list)
        return []
    check_writable(settings)
    campaign_id = write_campaign(settings.runs, plan, argv)
    if not plan.to_run:
        render.line("nothing to run: every case has a result (use --force to run again)")
        return []
    from ftrun.backends import local

    workers = local.pool(list(req.gpus) if req.gpus else None, plan.cluster.max_tasks)
    if workers != [None]:
        render.note(f"{len(workers)} worker(s), one per GPU: {', '.join(workers)}")
    with render.case_progress(sum(len(c) for c in chunk_list)) as (on_start, on_done):
        records = local.run(plan, chunk_list, settings.runs, campaign_id, on_start, on_done,
                            list(req.gpus) if req.gpus else None)
    render.line(f"done: {len(records)} case runs recorded under {settings.runs.root}; see `ftrun status`")
    return records


def run_plans(settings: Settings, plans: list, render) -> None:
    """Run ready-made plans (e.g. from `ftrun retry`) on their clusters."""
    from ftrun import scheduling
    from ftrun.backends import local

    check_writable(settings)
    for _, plan, chunk_list in plans:
        render.plan_summary(plan, len(chunk_list))
        if plan.cluster.kind == "local":
            with render.case_progress(sum(len(c) for c in chunk_list)) as (on_start, on_done):
                local.run(plan, chunk_list, settings.runs, "retry", on_start, on_done)
        else:
            with scheduling.submit_lock(settings.runs):
                flight = scheduling.refresh(settings.runs)
                busy = [c for c, _ in plan.to_run if c.key in flight.cases]
                if busy:
                    raise FtrunError(f"{len(busy)} of these cases are in flight already (e.g. {busy[0].label()})")
                render.submitted(scheduling.submit(settings, plan, chunk_list, "retry"), [], plan.cluster)


def _submit_slurm(settings: Settings, req: Request, filters: dict, dry_run: bool, argv: list[str], render,
                  follow: bool, poll_s: float) -> list[dict]:
    from ftrun import scheduling
    from ftrun.backends import slurm

    cluster = settings.cluster(req.cluster)
    slurm.require_commands()
    slurm.check_partition(cluster.partition)
    if dry_run:
        plan = make_plan(settings, req.experiment, req.cluster, req.scale, filters, req.force, req.weights)
        chunk_list = chunks(plan)
        render.plan_summary(plan, len(chunk_list))
        render.dry_run(chunk_list, scheduling.sbatch_preview(cluster, chunk_list))
        return []
    check_writable(settings)
    campaign_id = None
    while True:
        with scheduling.submit_lock(settings.runs):
            flight = scheduling.refresh(settings.runs)
            plan = make_plan(settings, req.experiment, req.cluster, req.scale, filters, req.force and not campaign_id,
                             req.weights, frozenset(flight.cases), datetime.now(timezone.utc))
            chunk_list = chunks(plan)
            if campaign_id is None:
                render.plan_summary(plan, len(chunk_list))
                campaign_id = write_campaign(settings.runs, plan, argv)
            summary = scheduling.submit(settings, plan, chunk_list, campaign_id) if plan.to_run else None
            new = scheduling.top_up(settings.runs, cluster) if summary is None else summary.arrays
        if summary or new:
            render.submitted(summary, new, cluster)
        elif not follow:
            render.line("nothing to submit: every case has a result or is in flight (use --force to run again)")
        if not follow:
            return []
        render.follow_view(req.experiment, settings.runs, flight, {cluster.name: cluster.max_tasks})
        if not flight.cases and not plan.to_run and plan.unsettled == 0:
            render.line("every case is final")
            return []
        time.sleep(poll_s)

"""`ftrun submit`: plan, record the campaign, hand the chunks to the cluster's backend."""

from __future__ import annotations

from pathlib import Path

from ftrun.campaign import chunks, make_plan, parse_filters, write_campaign
from ftrun.errors import FtrunError
from ftrun.settings import Settings


def check_writable(settings: Settings) -> None:
    runs = settings.runs_dir
    try:
        runs.mkdir(parents=True, exist_ok=True)
        probe = runs / ".ftrun-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as e:
        raise FtrunError(f"runs folder {runs} is not writable ({e.strerror}); choose another with --runs-dir") from None


def submit_experiment(settings: Settings, experiment: str, cluster: str | None, scale: str | None,
                      only: list[str], force: bool, dry_run: bool, argv: list[str], render,
                      weights: Path | None = None) -> list[dict]:
    filters = parse_filters(only)
    plan = make_plan(settings, experiment, cluster, scale, filters, force, weights)
    chunk_list = chunks(plan)
    render.plan_summary(plan, len(chunk_list))
    if dry_run:
        render.dry_run(chunk_list)
        return []
    check_writable(settings)
    campaign_id = write_campaign(settings.runs_dir, plan, argv)
    if not plan.to_run:
        render.line("nothing to run: every case has a result (use --force to run again)")
        return []
    if plan.cluster.kind == "local":
        from ftrun.backends import local

        with render.case_progress(sum(len(c) for c in chunk_list)) as (on_start, on_done):
            records = local.run(plan, chunk_list, settings.runs_dir, campaign_id, on_start, on_done)
        render.line(f"done: {len(records)} case runs recorded under {settings.runs_dir}; see `ftrun status`")
        return records
    raise FtrunError(f"cluster {plan.cluster.name!r} is of kind {plan.cluster.kind!r}, which this ftrun cannot "
                     "submit to yet")

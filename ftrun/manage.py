"""`ftrun logs`, `ftrun cancel`, `ftrun retry`: find cases in the store and act on them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ftrun.backends import Cancelled
from ftrun.campaign import Plan, chunks, parse_filters
from ftrun.errors import FtrunError
from ftrun.policy import TIMEOUT_SCALE, Decision
from ftrun.settings import Settings
from jobs.experiments import matches
from jobs.spec import SCALES
from results.case import CaseSpec
from results.index import Index
from results.records import ERROR_CLASSES, TIMEOUT, RunInfo
from results.runsdir import RunsDir


@dataclass
class Member:
    experiment: str
    cluster: str
    spec: CaseSpec
    state: str | None
    error_class: str | None
    run: RunInfo | None


def members(runs: RunsDir, only: list[str]) -> list[Member]:
    """Every case some campaign planned, with its deciding attempt, filtered like `submit --only`."""
    filters = parse_filters(only)
    if not runs.root.is_dir():
        raise FtrunError(f"no runs folder at {runs.root}: nothing was submitted there")
    out = []
    with Index(runs) as index:
        index.sync()
        latest = index.latest()
        for m in index.members():
            if not m["spec"]:
                continue
            spec = CaseSpec.from_json(json.loads(m["spec"]))
            full = {v: k for k, v in SCALES[spec.scale].seqlens.items()} if spec.scale in SCALES else {}
            if not matches(spec, filters, full):
                continue
            row = latest.get(spec.key)
            out.append(Member(m["experiment"], m["cluster"], spec, row["state"] if row else None,
                              row["error_class"] if row else None, _run_of(row) if row else None))
    return out


def _run_of(row) -> RunInfo:
    return RunInfo(submission=row["submission"], task=row["task"], position=row["position"],
                   campaign=row["campaign"], chunk=row["chunk"], log=row["log"])


def find_case(runs: RunsDir, which: str) -> Member:
    """A case by key (or a unique key prefix) or by '[part/]model/system[@seqlen]'."""
    found = {}
    for m in members(runs, []):
        label = f"{m.spec.model}/{m.spec.system}"
        names = (label, f"{label}@{m.spec.seqlen}", f"{m.spec.part}/{label}", m.spec.label())
        if m.spec.key.startswith(which) or which in names:
            found[m.spec.key] = m
    if not found:
        raise FtrunError(f"no case matches {which!r}: give a case key (see `ftrun results export`) or model/system")
    if len(found) > 1:
        options = ", ".join(sorted(f"{m.spec.key} ({m.spec.label()})" for m in found.values())[:8])
        raise FtrunError(f"{which!r} matches {len(found)} cases: {options}; "
                         "give a longer key, or name the part (kernel/...) or the length (...@4096)")
    return next(iter(found.values()))


def in_flight(runs: RunsDir, key: str) -> bool:
    from ftrun.backends import in_flight as flight_of

    return key in flight_of(runs).cases


def log_path(runs: RunsDir, member: Member) -> Path | None:
    """The log of the case's running task, else of its deciding attempt."""
    from ftrun.backends import in_flight as flight_of

    where = flight_of(runs).cases.get(member.spec.key)
    if where:
        return runs.task_log(*where)
    return runs.log_of(member.run) if member.run else None


def cancel(settings: Settings, only: list[str], every: bool, argv: list[str] = (), on_wait=None) -> Cancelled:
    """Stop the cases in flight that match (`every`: all of them), on every cluster's backend."""
    from ftrun.backends import MODULES, backend
    from ftrun.backends import in_flight as flight_of
    from ftrun.submit import submit_lock

    if not only and not every:
        raise FtrunError("say which cases to cancel: --only key=value (repeatable) or --all")
    keys = {m.spec.key for m in members(settings.runs, only)}
    cases, jobs = 0, ()
    with submit_lock(settings.runs, argv, on_wait):
        flight = flight_of(settings.runs)
        for kind in MODULES:
            done = backend(kind).cancel(settings.runs, flight, keys)
            cases, jobs = cases + done.cases, jobs + done.jobs
    return Cancelled(cases, jobs)


def retry(settings: Settings, only: list[str], classes: list[str], cluster_name: str | None,
          runs: RunsDir) -> list[tuple[str, Plan, list]]:
    """Plans to run again every failed case (of these classes) that matches, per cluster."""
    for cls in classes:
        if cls not in ERROR_CLASSES:
            raise FtrunError(f"unknown failure class {cls!r}; valid: {', '.join(ERROR_CLASSES)}")
    chosen = [m for m in members(runs, only)
              if m.state == "failed" and (not classes or m.error_class in classes)]
    plans = []
    by_cluster: dict[str, dict[str, CaseSpec]] = {}
    scale_of: dict[str, float] = {}
    for m in chosen:
        by_cluster.setdefault(cluster_name or m.cluster, {})[m.spec.key] = m.spec
        scale_of[m.spec.key] = TIMEOUT_SCALE if m.error_class == TIMEOUT else 1.0
    for name, specs in by_cluster.items():
        cluster = settings.cluster(name)
        cases = list(specs.values())
        elsewhere = sorted({c.device for c in cases} - {cluster.device or cases[0].device})
        if cluster.device and elsewhere:
            raise FtrunError(f"cluster {name} runs {cluster.device} cases; these failed on {', '.join(elsewhere)}: "
                             "retry them on their own cluster")
        plan = Plan("retry", cluster, cases[0].scale, cases[0].device, cases,
                    [(c, Decision(True, "retry", scale_of[c.key])) for c in cases])
        plans.append((name, plan, chunks(plan)))
    return plans

"""The planning step's parts: filters, the experiment and its checks, the scale, the resume check (which
cases to run now), chunks, the campaign file. The step itself, where a case is born, is ftrun.submit.plan.

Submitting writes a campaign file (which cases this experiment wants on this cluster) before anything
runs, so `ftrun status` can show cases that never started, and a resumed submit finds them again.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime

from ftrun.devices import local_device
from ftrun.errors import FtrunError, choose
from ftrun.policy import Decision, decide
from ftrun.settings import Cluster, Settings
from jobs import plugins
from jobs.experiments import FILTER_KEYS, Experiment, experiments
from jobs.experiments import experiment as lookup_experiment
from jobs.spec import SCALES
from jobs.systems import BASELINE, systems
from results.campaigns import Campaign
from results.case import PARTS, CaseSpec
from results.index import Index
from results.records import now
from results.runsdir import RunsDir


@dataclass
class Plan:
    experiment: str
    cluster: Cluster
    scale: str
    device: str
    cases: list[CaseSpec]
    to_run: list[tuple[CaseSpec, Decision]]
    skipped: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    # cases neither run now nor final (in flight, backing off): a follower waits for them
    unsettled: int = 0


def parse_filters(items: list[str]) -> dict[str, set[str]]:
    """['model=attn', 'model=h2o', 'system=torch'] -> {'model': {'attn', 'h2o'}, 'system': {'torch'}}."""
    filters: dict[str, set[str]] = {}
    valid_values = {"model": tuple(plugins.case_names()), "system": tuple(systems()), "part": PARTS}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not value:
            raise FtrunError(f"filter {item!r} is not key=value; keys: {', '.join(FILTER_KEYS)}")
        choose("filter key", key, FILTER_KEYS)
        if key in valid_values:
            choose(key, value, valid_values[key])
        elif not value.isdigit():
            raise FtrunError(f"seqlen filter {value!r} is not a number (the paper's lengths, e.g. 4096)")
        filters.setdefault(key, set()).add(value)
    return filters


def find_experiment(name: str) -> Experiment:
    found = lookup_experiment(name)
    if found is None:
        choose("experiment", name, experiments())
    return found


def check_experiment(experiment: Experiment, settings: Settings) -> None:
    """Its cases and systems exist, each plug-in case runs (and exports, where a system needs it), and
    the clusters' time limits name known systems: one line otherwise, before anything is written."""
    from jobs.case_check import EXPORTING, check_case

    known_cases, known_systems = plugins.case_names(), systems()
    for model in experiment.models():
        choose(f"case in experiment {experiment.name}", model, known_cases)
    for system in experiment.systems():
        choose(f"system in experiment {experiment.name}", system, known_systems)
    for cluster in settings.clusters.values():
        for system in cluster.time_limits:
            choose(f"system in time_limits of cluster {cluster.name}", system, known_systems)
    exporting = any(s in EXPORTING for s in experiment.systems())
    for model in experiment.models():
        if plugins.is_plugin_case(model):
            check_case(plugins.case(model), export=exporting)


def resolve_device_and_scale(cluster: Cluster, scale: str | None) -> tuple[str, str, list[str]]:
    notes = []
    device = cluster.device or (local_device() if cluster.kind == "local" else "gpu")
    if scale is None:
        scale = cluster.scale
    if scale is None:
        scale = "full" if device != "cpu" else "small"
        if device == "cpu":
            notes.append("no GPU on this machine: using the small scale (--scale full to override)")
    choose("scale", scale, SCALES)
    return device, scale, notes


def decide_plan(draft: Plan, runs: RunsDir, force: bool = False, in_flight: frozenset[str] = frozenset(),
                now: datetime | None = None, rerun_cancelled: bool = True) -> Plan:
    """Which cases of the draft (ftrun.submit.plan) to run now (ftrun.policy.decide), from their attempts in
    the store."""
    cluster = draft.cluster
    plan = replace(draft, to_run=[], skipped={}, notes=list(draft.notes), unsettled=0)
    if not runs.root.exists():
        plan.to_run = [(case, decide([], cluster.retries, force)) for case in plan.cases]
        return plan
    with Index(runs) as index:
        index.sync()
        for case in plan.cases:
            decision = decide(index.attempts(case.key), cluster.retries, force, case.key in in_flight, now,
                              cluster.backoff_s, rerun_cancelled)
            if decision.run:
                plan.to_run.append((case, decision))
            else:
                reason = decision.why.split(":")[0]
                plan.skipped[reason] = plan.skipped.get(reason, 0) + 1
                plan.unsettled += 0 if decision.final else 1
    return plan


def chunks(plan: Plan) -> list[list[tuple[CaseSpec, Decision]]]:
    """One chunk per (part, model, seqlen): the baseline first and again last, so clock drift shows."""
    groups: dict[tuple, list] = {}
    for case, decision in plan.to_run:
        groups.setdefault((case.part, case.model, case.seqlen), []).append((case, decision))
    out = []
    for group in groups.values():
        base = [item for item in group if item[0].system == BASELINE]
        rest = [item for item in group if item[0].system != BASELINE]
        chunk = base + rest + (base if rest and base else [])
        size = max(1, plan.cluster.cases_per_task)
        out.extend(chunk[i:i + size] for i in range(0, len(chunk), size))
    return out


def write_campaign(runs: RunsDir, plan: Plan, argv: list[str]) -> str:
    """Record what this submit wants, before running anything; returns the campaign id."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    cid = f"{stamp}-{plan.experiment}-{plan.cluster.name}-{uuid.uuid4().hex[:6]}"
    runs.write_campaign(Campaign(cid, plan.experiment, plan.cluster.name, plan.scale, plan.device, now(),
                                 tuple(plan.cases), socket.gethostname(), os.getpid(), tuple(argv)))
    return cid


def show_filters(filters: dict[str, set[str]]) -> str:
    return " ".join(f"{k}={v}" for k, vs in sorted(filters.items()) for v in sorted(vs)) or "(none)"

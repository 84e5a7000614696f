"""Case states for `ftrun status`: result files first, then what the scheduler says about the rest."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from results.index import Index
from results.records import state_label

ORDER = ("NEW", "QUEUED", "RUNNING", "DONE", "NS", "OOM", "TLE", "FAIL", "CANCELLED")


@dataclass
class CaseState:
    experiment: str
    cluster: str
    part: str
    model: str
    system: str
    device: str
    seqlen: int
    key: str
    state: str
    median_ms: float | None = None
    error: str | None = None
    wall_s: float | None = None


@dataclass
class StatusReport:
    cases: list[CaseState] = field(default_factory=list)
    bad_files: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    parallel: dict[str, int] = field(default_factory=dict)

    def counts(self) -> dict[tuple[str, str], Counter]:
        out: dict[tuple[str, str], Counter] = {}
        for c in self.cases:
            out.setdefault((c.experiment, c.cluster), Counter())[c.state.split("(")[0]] += 1
        return out

    def eta_s(self, experiment: str, cluster: str) -> float | None:
        """Mean wall time of the finished cases × cases left, spread over the cluster's parallel tasks."""
        group = [c for c in self.cases if (c.experiment, c.cluster) == (experiment, cluster)]
        walls = [c.wall_s for c in group if c.wall_s is not None]
        left = sum(1 for c in group if c.state in ("QUEUED", "RUNNING"))
        if not left:
            return 0.0
        if not walls:
            return None
        return sum(walls) / len(walls) * left / max(1, self.parallel.get(cluster, 1))


def collect(runs_dir: Path, experiment: str | None = None, flight=None,
            parallel: dict[str, int] | None = None) -> StatusReport:
    report = StatusReport(parallel=parallel or {})
    if not Path(runs_dir).is_dir():
        report.notes.append(f"no runs folder at {runs_dir}: nothing submitted yet")
        return report
    if flight is None and (Path(runs_dir) / "submissions").is_dir():
        from ftrun.scheduling import refresh

        flight = refresh(runs_dir)
    if flight is not None and flight.degraded:
        report.notes.append(f"degraded: {flight.degraded}")
    in_flight = flight.cases if flight else {}
    running = flight.running if flight else set()
    with Index(runs_dir) as index:
        index.sync()
        report.bad_files = index.bad_files()
        latest = index.latest()
        for m in index.members():
            if experiment and m["experiment"] != experiment:
                continue
            row = latest.get(m["key"])
            if m["key"] in in_flight:
                state = "RUNNING" if m["key"] in running else "QUEUED"
            else:
                state = state_label(row["state"], row["error_class"]) if row else "NEW"
            report.cases.append(CaseState(
                m["experiment"], m["cluster"], m["part"], m["model"], m["system"], m["device"], m["seqlen"],
                m["key"], state, row["median_ms"] if row else None, row["error"] if row else None,
                _wall_s(row) if row else None))
    return report


def _wall_s(row) -> float | None:
    try:
        return (datetime.fromisoformat(row["finished"]) - datetime.fromisoformat(row["started"])).total_seconds()
    except (TypeError, ValueError):
        return None

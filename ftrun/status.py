"""Case states for `ftrun status`: result files first, then what the scheduler says about the rest.

Counts come from one aggregate query over the index, so a store of 100 000 results answers quickly;
only the (few) cases in flight are looked at one by one.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from results.index import Index
from results.records import state_label
from results.runsdir import RunsDir

ORDER = ("NEW", "QUEUED", "RUNNING", "SUSPENDED", "DONE", "NS", "OOM", "TLE", "FAIL", "CANCELLED")
CASE_ROWS = 500


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


@dataclass
class StatusReport:
    groups: dict[tuple[str, str], Counter] = field(default_factory=dict)
    walls: dict[tuple[str, str], float] = field(default_factory=dict)
    cases: list[CaseState] = field(default_factory=list)
    more_cases: int = 0
    bad_files: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    parallel: dict[str, int] = field(default_factory=dict)

    def counts(self) -> dict[tuple[str, str], Counter]:
        return self.groups

    def eta_s(self, experiment: str, cluster: str) -> float | None:
        """Mean wall time of the finished cases × cases in flight, over the cluster's parallel tasks."""
        c = self.groups.get((experiment, cluster), Counter())
        left = c.get("QUEUED", 0) + c.get("RUNNING", 0)
        if not left:
            return 0.0
        wall = self.walls.get((experiment, cluster))
        return None if wall is None else wall * left / max(1, self.parallel.get(cluster, 1))


def collect(runs: RunsDir, experiment: str | None = None, flight=None, parallel: dict[str, int] | None = None,
            with_cases: bool = True) -> StatusReport:
    report = StatusReport(parallel=parallel or {})
    if not runs.root.is_dir():
        report.notes.append(f"no runs folder at {runs.root}: nothing submitted yet")
        return report
    if flight is None:
        from ftrun.backends import in_flight as flight_of

        flight = flight_of(runs)
    if flight.degraded:
        report.notes.append(f"degraded: {flight.degraded}")
    report.notes += _waiting_notes(flight)
    in_flight = flight.cases
    with Index(runs) as index:
        sync = index.sync()
        report.bad_files = index.bad_files() + flight.bad_files
        report.notes += [f"could not read {name} now ({why}): tried again next time" for name, why in sync.unreadable]
        _count(report, index.state_counts(experiment))
        for row in index.member_states(experiment, keys=list(in_flight)) if in_flight else []:
            group = report.groups[(row["experiment"], row["cluster"])]
            group[_label(row)] -= 1
            group[_flight_state(flight, row["key"])] += 1
        if with_cases:
            rows = index.member_states(experiment, limit=CASE_ROWS + 1)
            report.more_cases = max(0, sum(sum(c.values()) for c in report.groups.values()) - CASE_ROWS)
            for row in rows[:CASE_ROWS]:
                state = _flight_state(flight, row["key"]) if row["key"] in in_flight else _label(row)
                report.cases.append(CaseState(row["experiment"], row["cluster"], row["part"], row["model"],
                                              row["system"], row["device"], row["seqlen"], row["key"], state,
                                              row["median_ms"], row["error"]))
    for group in report.groups.values():
        for state in [s for s, n in group.items() if n <= 0]:
            del group[state]
    return report


def _flight_state(flight, key: str) -> str:
    if key in flight.running:
        return "RUNNING"
    return "SUSPENDED" if key in flight.suspended else "QUEUED"


def _waiting_notes(flight) -> list[str]:
    """Why queued cases wait, in the scheduler's words: one line per reason."""
    reasons = Counter(flight.waiting.values())
    return [f"{n} queued case(s): {why}" for why, n in reasons.most_common()]


def _label(row) -> str:
    return state_label(row["state"], row["error_class"])


def _count(report: StatusReport, rows) -> None:
    walls: dict[tuple[str, str], list[tuple[float, int]]] = {}
    for row in rows:
        group = (row["experiment"], row["cluster"])
        report.groups.setdefault(group, Counter())[_label(row)] += row["n"]
        if row["wall_s"] is not None:
            walls.setdefault(group, []).append((row["wall_s"], row["n"]))
    for group, parts in walls.items():
        report.walls[group] = sum(w * n for w, n in parts) / sum(n for _, n in parts)

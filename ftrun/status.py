"""Case states for `ftrun status`: result files first, then what the scheduler says about the rest.

Counts come from one aggregate query over the index, so a store of 100 000 results answers quickly;
only the (few) cases in flight are looked at one by one. The ETA adds up, for every case still in flight,
how long a case of its system, part and scale took here before (the store remembers), over the tasks that
run at once; a case of a kind never run here counts as the mean of those that were.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field

from results.index import Index
from results.records import INTERPRETED_TEXT, state_label
from results.rows import DRIFT_THRESHOLD
from results.runsdir import RunsDir

ORDER = ("NEW", "QUEUED", "RUNNING", "SUSPENDED", "DONE", "INTERP", "NS", "OOM", "TLE", "FAIL", "CANCELLED")
CASE_ROWS = 500
# states that carry a reason worth reading (`ftrun status --why`)
EXPLAINED = ("INTERP", "NS", "OOM", "TLE", "FAIL", "CANCELLED")


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
    scale: str | None = None

    @property
    def reason(self) -> str:
        """Why the case has no time, in one line ('' for a time or a case not finished)."""
        if self.state == "INTERP":
            return INTERPRETED_TEXT
        lines = (self.error or "").strip().splitlines()
        return lines[0][:300] if lines and self.state in EXPLAINED else ""

    def label(self) -> str:
        return f"{self.model}@{self.seqlen}"


@dataclass
class Drift:
    """A case run twice in one chunk (the baseline) whose two medians differ beyond the threshold."""

    experiment: str
    cluster: str
    label: str
    first_ms: float
    last_ms: float

    @property
    def change(self) -> float:
        return self.last_ms / self.first_ms - 1.0


@dataclass
class StatusReport:
    groups: dict[tuple[str, str], Counter] = field(default_factory=dict)
    etas: dict[tuple[str, str], float | None] = field(default_factory=dict)
    cases: list[CaseState] = field(default_factory=list)
    more_cases: int = 0
    drifts: list[Drift] = field(default_factory=list)
    bad_files: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def counts(self) -> dict[tuple[str, str], Counter]:
        return self.groups

    def eta_s(self, experiment: str, cluster: str) -> float | None:
        """Seconds until the cases in flight are done (0: none in flight; None: nothing to go by)."""
        return self.etas.get((experiment, cluster), 0.0)

    def to_json(self) -> dict:
        return {
            "groups": [{"experiment": e, "cluster": c, "counts": dict(n), "total": sum(n.values()),
                        "eta_s": self.eta_s(e, c)} for (e, c), n in sorted(self.groups.items())],
            "cases": [{**asdict(c), "reason": c.reason} for c in self.cases], "more_cases": self.more_cases,
            "drift": [{**asdict(d), "change": round(d.change, 4)} for d in self.drifts],
            "bad_files": [{"file": f, "why": w} for f, w in self.bad_files], "notes": self.notes,
        }


def collect(runs: RunsDir, experiment: str | None = None, flight=None, parallel: dict[str, int] | None = None,
            with_cases: bool = True, drift_threshold: float = DRIFT_THRESHOLD) -> StatusReport:
    report = StatusReport()
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
        flying = index.member_states(experiment, keys=list(in_flight)) if in_flight else []
        for row in flying:
            group = report.groups[(row["experiment"], row["cluster"])]
            group[_label(row)] -= 1
            group[_flight_state(flight, row["key"])] += 1
        _eta(report, flying, index.durations(), parallel or {})
        report.drifts = _drifts(index, experiment, drift_threshold)
        if with_cases:
            rows = index.member_states(experiment, limit=CASE_ROWS + 1)
            report.more_cases = max(0, sum(sum(c.values()) for c in report.groups.values()) - CASE_ROWS)
            for row in rows[:CASE_ROWS]:
                state = _flight_state(flight, row["key"]) if row["key"] in in_flight else _label(row)
                report.cases.append(CaseState(row["experiment"], row["cluster"], row["part"], row["model"],
                                              row["system"], row["device"], row["seqlen"], row["key"], state,
                                              row["median_ms"] if state == "DONE" else None, row["error"],
                                              row["scale"]))
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
    return state_label(row["state"], row["error_class"], bool(row["interpreted"]))


def _count(report: StatusReport, rows) -> None:
    for row in rows:
        report.groups.setdefault((row["experiment"], row["cluster"]), Counter())[_label(row)] += row["n"]


def _eta(report: StatusReport, flying: list, durations: dict[tuple[str, str, str], float],
         parallel: dict[str, int]) -> None:
    """Per (experiment, cluster): the expected seconds of its cases in flight, over its parallel tasks."""
    by_system: dict[str, list[float]] = {}
    for (system, _, _), wall in durations.items():
        by_system.setdefault(system, []).append(wall)
    overall = sum(durations.values()) / len(durations) if durations else None
    totals: dict[tuple[str, str], float | None] = {}
    for row in flying:
        group = (row["experiment"], row["cluster"])
        guess = durations.get((row["system"], row["part"], row["scale"]))
        if guess is None and row["system"] in by_system:
            guess = sum(by_system[row["system"]]) / len(by_system[row["system"]])
        guess = overall if guess is None else guess
        if guess is None or totals.get(group, 0.0) is None:
            totals[group] = None
        else:
            totals[group] = totals.get(group, 0.0) + guess
    for (experiment, cluster), total in totals.items():
        report.etas[(experiment, cluster)] = None if total is None else total / max(1, parallel.get(cluster, 1))


def _drifts(index: Index, experiment: str | None, threshold: float) -> list[Drift]:
    """Cases whose deciding run closed a chunk that drifted: its first and last baseline run disagree."""
    repeats: dict[str, dict[str, tuple[float, float]]] = {}
    for key, attempt, first, last in index.repeats():
        if first and abs(last / first - 1.0) > threshold:
            repeats.setdefault(key, {})[attempt] = (first, last)
    if not repeats:
        return []
    out = []
    for row in index.member_states(experiment, keys=list(repeats)):
        if row["attempt"] in repeats[row["key"]]:
            first, last = repeats[row["key"]][row["attempt"]]
            out.append(Drift(row["experiment"], row["cluster"], f"{row['part']}/{row['model']}/{row['system']}"
                             f"@{row['seqlen']}", first, last))
    return out

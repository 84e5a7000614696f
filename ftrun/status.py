"""Case states for `ftrun status`, from the index: result files first, then what backends know."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from results.index import Index
from results.records import state_label

ORDER = ("NEW", "QUEUED", "RUNNING", "DONE", "NS", "OOM", "TLE", "FAIL")


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
    cases: list[CaseState] = field(default_factory=list)
    bad_files: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def counts(self) -> dict[tuple[str, str], Counter]:
        out: dict[tuple[str, str], Counter] = {}
        for c in self.cases:
            out.setdefault((c.experiment, c.cluster), Counter())[c.state.split("(")[0]] += 1
        return out


def collect(runs_dir: Path, experiment: str | None = None) -> StatusReport:
    report = StatusReport()
    if not Path(runs_dir).is_dir():
        report.notes.append(f"no runs folder at {runs_dir}: nothing submitted yet")
        return report
    with Index(runs_dir) as index:
        sync = index.sync()
        report.bad_files = sync.bad_files
        latest = index.latest()
        for m in index.members():
            if experiment and m["experiment"] != experiment:
                continue
            row = latest.get(m["key"])
            state = state_label(row["state"], row["error_class"]) if row else "NEW"
            report.cases.append(CaseState(
                m["experiment"], m["cluster"], m["part"], m["model"], m["system"], m["device"], m["seqlen"],
                m["key"], state, row["median_ms"] if row else None, row["error"] if row else None))
    return report

"""The tidy row: one measurement (or one final failure) of one case, as export, figures and reports read it.

Rows come from the index (a case's deciding attempt, or every attempt) and from the paper's published
numbers, in the same shape, so everything downstream has one type to read and one CSV layout to write.
"""

from __future__ import annotations

import csv
import json
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

from results.records import INTERPRETED_TEXT, state_label

# a case run twice in one chunk (the baseline, first and last) whose two medians differ by more than this
# fraction drifted: the machine changed under the chunk (clocks, another job), and its times are suspect
DRIFT_THRESHOLD = 0.10


@dataclass(frozen=True)
class Row:
    part: str
    model: str
    system: str
    device: str
    seqlen: int
    state: str  # DONE, INTERP, NS, OOM, TLE, FAIL, CANCELLED (results.records.state_label)
    dims: dict = field(default_factory=dict)
    dtype: str = "float16"
    scale: str = "full"
    # the paper's sequence length this row's stands for (set by the caller who knows the scales)
    full_seqlen: int | None = None
    error_class: str | None = None
    error: str | None = None
    median_ms: float | None = None
    p10_ms: float | None = None
    p90_ms: float | None = None
    min_ms: float | None = None
    mean_ms: float | None = None
    n: int | None = None
    compile_s: float | None = None
    peak_mib: float | None = None
    extra_mib: float | None = None
    key: str | None = None
    attempt: str | None = None
    cluster: str | None = None
    job_id: str | None = None
    node: str | None = None
    finished: str | None = None
    # where the row comes from: "ftrun" (measured here), "flashtensor-artifact" (imported logs), "paper"
    source: str = "ftrun"
    # paper rows and imported artifact logs: the figure the number belongs to
    figure: str | None = None
    # checked in Triton's interpreter, not timed (state INTERP)
    interpreted: bool = False
    # the medians of the first and last run of this case in its chunk (None unless it ran twice there)
    drift_first_ms: float | None = None
    drift_last_ms: float | None = None
    # where it was measured (results.provenance.FIELDS)
    provenance: dict = field(default_factory=dict)

    @property
    def done(self) -> bool:
        """A time that can be shown: measured, checked, not interpreted."""
        return self.state == "DONE"

    @property
    def drift(self) -> float | None:
        """How much the chunk's repeated case moved between its first and last run (0.25: 25 % slower)."""
        if self.drift_first_ms is None or self.drift_last_ms is None:
            return None
        return self.drift_last_ms / self.drift_first_ms - 1.0

    def drifted(self, threshold: float = DRIFT_THRESHOLD) -> bool:
        d = self.drift
        return d is not None and abs(d) > threshold

    def reason(self) -> str:
        """Why there is no time, in one line ('' for a time)."""
        if self.state == "DONE":
            return ""
        if self.interpreted:
            return INTERPRETED_TEXT
        text = (self.error or "").strip().splitlines()
        return text[0][:300] if text else (self.error_class or "")

    @property
    def length(self) -> int:
        """The paper's sequence length when known, else this row's own."""
        return self.full_seqlen if self.full_seqlen is not None else self.seqlen

    @classmethod
    def from_index(cls, r) -> Row:
        """A row of the index's attempts joined with its case (results.index.Index.measurements)."""
        values = {name: r[name] for name in r.keys() if name in _FIELDS}
        values["dims"] = json.loads(r["dims"]) if r["dims"] else {}
        values["interpreted"] = bool(r["interpreted"]) if "interpreted" in r.keys() else False
        values["state"] = state_label(r["state"], r["error_class"], values["interpreted"])
        values["source"] = r["source"] or "ftrun"
        values["provenance"] = json.loads(r["provenance"]) if "provenance" in r.keys() and r["provenance"] else {}
        spec = json.loads(r["spec"]) if "spec" in r.keys() and r["spec"] else {}
        values["figure"] = (spec.get("options") or {}).get("figure")
        return cls(**values)

    def with_(self, **changes) -> Row:
        return replace(self, **changes)

    def as_dict(self) -> dict:
        d = asdict(self)
        d["dims"] = json.dumps(self.dims, sort_keys=True)
        d["provenance"] = json.dumps(self.provenance, sort_keys=True)
        return d


_FIELDS = {f.name for f in fields(Row)}
# the export's columns, in order
COLUMNS = ("key", "part", "model", "system", "device", "dtype", "scale", "seqlen", "dims", "state",
           "error_class", "median_ms", "p10_ms", "p90_ms", "min_ms", "mean_ms", "n", "compile_s", "peak_mib",
           "extra_mib", "interpreted", "drift_first_ms", "drift_last_ms", "cluster", "job_id", "node", "finished",
           "attempt", "source", "figure", "provenance", "error")


def write_csv(path: Path, rows: list[dict], columns: tuple[str, ...]) -> None:
    """Rows (Row.as_dict(), plus any extra columns) as a CSV with these columns, written whole or not at all."""
    tmp = Path(path).with_name(f".{Path(path).name}.tmp")
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(path)

"""The tidy row: one measurement (or one final failure) of one case, as export, figures and reports read it.

Rows come from the index (a case's deciding attempt, or every attempt) and from the paper's published
numbers, in the same shape, so everything downstream has one type to read and one CSV layout to write.
"""

from __future__ import annotations

import csv
import json
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

from results.records import state_label


@dataclass(frozen=True)
class Row:
    part: str
    model: str
    system: str
    device: str
    seqlen: int
    state: str  # DONE, NS, OOM, TLE, FAIL, CANCELLED (results.records.state_label)
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
    # paper rows: the figure the number belongs to
    figure: str | None = None

    @property
    def done(self) -> bool:
        return self.state == "DONE"

    @property
    def length(self) -> int:
        """The paper's sequence length when known, else this row's own."""
        return self.full_seqlen if self.full_seqlen is not None else self.seqlen

    @classmethod
    def from_index(cls, r) -> Row:
        """A row of the index's attempts joined with its case (results.index.Index.measurements)."""
        values = {name: r[name] for name in r.keys() if name in _FIELDS}
        values["dims"] = json.loads(r["dims"]) if r["dims"] else {}
        values["state"] = state_label(r["state"], r["error_class"])
        values["source"] = r["source"] or "ftrun"
        return cls(**values)

    def with_(self, **changes) -> Row:
        return replace(self, **changes)

    def as_dict(self) -> dict:
        d = asdict(self)
        d["dims"] = json.dumps(self.dims, sort_keys=True)
        return d


_FIELDS = {f.name for f in fields(Row)}
# the export's columns, in order
COLUMNS = ("key", "part", "model", "system", "device", "dtype", "scale", "seqlen", "dims", "state",
           "error_class", "median_ms", "p10_ms", "p90_ms", "min_ms", "mean_ms", "n", "compile_s", "peak_mib",
           "extra_mib", "cluster", "job_id", "node", "finished", "attempt", "source", "error")


def write_csv(path: Path, rows: list[dict], columns: tuple[str, ...]) -> None:
    """Rows (Row.as_dict(), plus any extra columns) as a CSV with these columns, written whole or not at all."""
    tmp = Path(path).with_name(f".{Path(path).name}.tmp")
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(path)

"""Tidy CSV export: one row per case's measurement (its latest attempt), or per attempt."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from results.index import Index
from results.records import state_label

COLUMNS = ("key", "part", "model", "system", "device", "dtype", "scale", "seqlen", "dims", "state",
           "error_class", "median_ms", "p10_ms", "p90_ms", "min_ms", "mean_ms", "n", "compile_s", "peak_mib",
           "extra_mib", "cluster", "job_id", "node", "finished", "attempt", "source", "error")


def export_csv(runs_dir: Path, out: Path, all_attempts: bool = False) -> int:
    """Write the CSV; returns the number of rows."""
    with Index(runs_dir) as index:
        index.sync()
        if all_attempts:
            rows = index.db.execute("SELECT k.*, a.* FROM attempts a JOIN cases k ON k.key = a.key "
                                    "ORDER BY k.part, k.model, k.system, a.finished").fetchall()
        else:
            rows = index.measurements()
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for r in rows:
            d = dict(r)
            d["state"] = state_label(d["state"], d["error_class"])
            d["dims"] = json.dumps(json.loads(d["dims"]), sort_keys=True)
            writer.writerow(d)
    return len(rows)

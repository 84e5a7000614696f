"""Tidy CSV export: one row per case's measurement (its deciding attempt), or per attempt."""

from __future__ import annotations

from pathlib import Path

from results.files import StoreError
from results.index import Index
from results.rows import COLUMNS, write_csv
from results.runsdir import RunsDir


def export_csv(runs: RunsDir, out: Path, all_attempts: bool = False) -> int:
    """Write the CSV; returns the number of rows."""
    if not runs.root.is_dir():
        raise StoreError(f"no runs folder at {runs.root}: nothing to export (give one with --runs-dir)")
    with Index(runs) as index:
        index.sync()
        rows = index.all_attempts() if all_attempts else index.measurements()
    write_csv(out, [r.as_dict() for r in rows], COLUMNS)
    return len(rows)

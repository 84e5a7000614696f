"""One side of a comparison: the results of a runs folder, a campaign, a commit or a cluster of one store.

    runs:PATH (or a folder)    every case's deciding attempt in that runs folder
    campaign:ID (or a prefix)  the attempts that campaign ran (its local chunks or its Slurm submissions)
    cluster:NAME               the attempts made on that cluster
    commit:HEX (4+ digits)     the attempts made by code at that commit

Without a prefix the first kind that matches wins, in that order. Within a side each case is decided as in
the index (its best evidence, the latest among equals), and each timed row comes with its samples, read
from its record file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from results.files import StoreError
from results.index import Index
from results.records import evidence_rank
from results.rows import Row
from results.runsdir import RunsDir

KINDS = ("runs", "campaign", "cluster", "commit")
_HEX = re.compile(r"[0-9a-fA-F]{4,40}")


class SideError(StoreError):
    """A side that names nothing in the store; the message lists what there is."""


@dataclass(frozen=True)
class Side:
    said: str
    kind: str
    name: str
    rows: tuple[Row, ...]
    # attempt -> every timing sample (ms) of that attempt's record
    samples: dict[str, tuple[float, ...]] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.kind} {self.name}"


def resolve(runs: RunsDir, said: str) -> Side:
    """The side `said` names, in `runs` (or, for runs:PATH, in that folder). SideError if none."""
    kind, sep, value = said.partition(":")
    if not sep or kind not in KINDS:
        kind, value = None, said
    if kind in (None, "runs") and _is_runs_folder(Path(value)):
        return _folder_side(said, RunsDir(Path(value)))
    if kind == "runs":
        raise SideError(f"{value} is not a runs folder (it has no results/ or index.sqlite)")
    if not runs.root.is_dir():
        raise SideError(f"{said!r} is no runs folder, and there is no store at {runs.root} to look it up in")
    with Index(runs) as index:
        index.sync()
        for candidate in ([kind] if kind else ["campaign", "cluster", "commit"]):
            found = _LOOKUP[candidate](index, runs, value)
            if found is not None:
                name, where, args = found
                return _attempts_side(said, candidate, name, index, runs, where, args)
        raise SideError(f"{said!r} names no runs folder, campaign, cluster or commit in {runs.root}; "
                        f"there are {_known(index)}")


def _is_runs_folder(path: Path) -> bool:
    return path.is_dir() and ((path / "results").is_dir() or (path / "index.sqlite").is_file())


def _folder_side(said: str, runs: RunsDir) -> Side:
    with Index(runs) as index:
        index.sync()
        rows = index.measurements()
    return Side(said, "runs folder", str(runs.root), tuple(rows), _samples(runs, rows))


def _attempts_side(said: str, kind: str, name: str, index: Index, runs: RunsDir, where: str, args: list) -> Side:
    sql = f"SELECT k.*, a.* FROM attempts a JOIN cases k ON k.key = a.key WHERE {where} ORDER BY a.finished, a.attempt"
    best: dict[str, tuple[tuple, Row]] = {}
    for r in index.db.execute(sql, args):
        rank = (evidence_rank(r["state"], r["error_class"]), r["finished"] or "", r["attempt"])
        if r["key"] not in best or rank > best[r["key"]][0]:
            best[r["key"]] = (rank, Row.from_index(r))
    rows = index.with_drift([row for _, row in best.values()])
    return Side(said, kind, name, tuple(rows), _samples(runs, rows))


def _campaign(index: Index, runs: RunsDir, value: str):
    ids = [r[0] for r in index.db.execute("SELECT id FROM campaigns WHERE id = ? OR id LIKE ?", (value, f"{value}%"))]
    if value in ids:
        ids = [value]
    if len(ids) > 1:
        raise SideError(f"campaign {value!r} is ambiguous: {', '.join(sorted(ids)[:5])}")
    if not ids:
        return None
    subs = [s for s, c in _submission_campaigns(runs).items() if c == ids[0]]
    where = f"(a.campaign = ? OR a.submission IN ({','.join('?' * len(subs))}))" if subs else "a.campaign = ?"
    return ids[0], where, [ids[0], *subs]


def _cluster(index: Index, runs: RunsDir, value: str):
    hit = index.db.execute("SELECT 1 FROM attempts WHERE cluster = ? LIMIT 1", (value,)).fetchone()
    return (value, "a.cluster = ?", [value]) if hit else None


def _commit(index: Index, runs: RunsDir, value: str):
    if not _HEX.fullmatch(value):
        return None
    commits = {r[0] for r in index.db.execute(
        "SELECT DISTINCT json_extract(provenance, '$.commit') FROM attempts "
        "WHERE json_extract(provenance, '$.commit') LIKE ?", (f"{value.lower()}%",))}
    if len(commits) > 1:
        raise SideError(f"commit {value!r} is ambiguous: {', '.join(sorted(commits)[:5])}")
    if not commits:
        return None
    commit = commits.pop()
    return commit[:12], "json_extract(a.provenance, '$.commit') = ?", [commit]


_LOOKUP = {"campaign": _campaign, "cluster": _cluster, "commit": _commit}


def _submission_campaigns(runs: RunsDir) -> dict[str, str]:
    out = {}
    for path in runs.submission_files():
        try:
            sub = runs.read_submission(path)
        except (OSError, ValueError):
            continue
        out[sub.id] = sub.campaign
    return out


def _samples(runs: RunsDir, rows: list[Row]) -> dict[str, tuple[float, ...]]:
    out = {}
    for row in rows:
        if not row.done or row.attempt is None or row.key is None:
            continue
        try:
            record = runs.read_record(runs.record_path(row.key, row.attempt))
        except (OSError, ValueError):
            continue
        if record.timing and record.timing.samples:
            out[row.attempt] = record.timing.samples
    return out


def _known(index: Index) -> str:
    campaigns = [r[0] for r in index.db.execute("SELECT id FROM campaigns ORDER BY created DESC LIMIT 4")]
    clusters = [r[0] for r in index.db.execute("SELECT DISTINCT cluster FROM attempts WHERE cluster IS NOT NULL")]
    commits = [r[0][:10] for r in index.db.execute(
        "SELECT DISTINCT json_extract(provenance, '$.commit') FROM attempts WHERE provenance IS NOT NULL")
        if r[0]]
    parts = [f"campaigns {', '.join(campaigns)}" if campaigns else "no campaigns",
             f"clusters {', '.join(sorted(clusters))}" if clusters else "no clusters",
             f"commits {', '.join(sorted(commits)[:6])}" if commits else "no commits"]
    return "; ".join(parts) + " (prefix one with campaign:, cluster:, commit: or runs: to be explicit)"


def describe(side: Side) -> dict:
    return {"said": side.said, "kind": side.kind, "name": side.name, "cases": len(side.rows),
            "timed": sum(r.done for r in side.rows)}


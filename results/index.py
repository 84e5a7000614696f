"""The SQLite index over a runs folder: built from the result and campaign files, rebuilt at will.

Several ftrun processes may sync at once: ingestion is idempotent (keyed by file name and attempt id)
and runs in IMMEDIATE transactions under WAL, so readers never block and nothing is counted twice.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

from results.migrations import migrate
from results.records import read_record

INDEX_NAME = "index.sqlite"
_ATTEMPT_COLUMNS = (
    "attempt", "key", "state", "error_class", "error", "median_ms", "p10_ms", "p90_ms", "min_ms", "mean_ms",
    "n", "compile_s", "peak_mib", "extra_mib", "cluster", "job_id", "node", "log", "started", "finished",
    "file", "source", "submission", "task", "position",
)
_LATEST_COLUMNS = ("key", "attempt", "state", "error_class", "median_ms", "error", "started", "finished")
# keep the newest attempt per case: later `finished`, then the larger attempt id (as the figures order them)
_UPSERT_LATEST = f"""INSERT INTO latest VALUES ({','.join('?' * len(_LATEST_COLUMNS))}) ON CONFLICT(key) DO UPDATE SET
    {', '.join(f'{c} = excluded.{c}' for c in _LATEST_COLUMNS[1:])}
    WHERE excluded.finished > latest.finished
       OR (excluded.finished = latest.finished AND excluded.attempt > latest.attempt)"""
_CASE_COLUMNS = ("key", "part", "model", "system", "device", "dtype", "scale", "seqlen", "dims", "protocol", "spec")


@dataclass
class SyncReport:
    new_results: int = 0
    new_campaigns: int = 0
    bad_files: list[tuple[str, str]] = field(default_factory=list)


def case_row(case: dict) -> tuple:
    dims = case["dims"]
    seqlen = dims.get("q_len", dims.get("seq", 0))
    return (case["key"], case["part"], case["model"], case["system"], case["device"], case["dtype"],
            case.get("scale", ""), seqlen, json.dumps(dims, sort_keys=True), case.get("protocol", 0),
            json.dumps(case, sort_keys=True))


def attempt_row(record: dict, file: str, source: str = "ftrun") -> tuple:
    t = record.get("timing") or {}
    mem = record.get("memory") or {}
    run = record.get("run") or {}
    values = {
        "attempt": record["attempt"], "key": record["key"], "state": record["state"],
        "error_class": record.get("error_class"), "error": (record.get("error") or "")[:500] or None,
        "median_ms": t.get("median"), "p10_ms": t.get("p10"), "p90_ms": t.get("p90"), "min_ms": t.get("min"),
        "mean_ms": t.get("mean"), "n": t.get("n"), "compile_s": record.get("compile_s"),
        "peak_mib": mem.get("peak_mib"), "extra_mib": mem.get("extra_mib"), "cluster": run.get("cluster"),
        "job_id": run.get("job_id"), "node": run.get("node"), "log": run.get("log"),
        "started": record.get("started"), "finished": record.get("finished"), "file": file, "source": source,
        "submission": run.get("submission"), "task": run.get("task"), "position": run.get("position"),
    }
    return tuple(values[c] for c in _ATTEMPT_COLUMNS)


def _set_wal(db: sqlite3.Connection, patience_s: float = 60.0) -> None:
    """Switch to WAL. Changing the journal mode ignores the busy timeout, so retry while another
    process holds the database (two ftrun processes opening a fresh index at once)."""
    deadline = time.monotonic() + patience_s
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


class Index:
    """Open (and migrate) the index of one runs folder."""

    def __init__(self, runs_dir: Path):
        self.runs_dir = Path(runs_dir)
        self.path = self.runs_dir / INDEX_NAME
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        self.db.row_factory = sqlite3.Row
        _set_wal(self.db)
        self.db.execute("PRAGMA synchronous=NORMAL")
        migrate(self.db)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Index:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- ingestion -------------------------------------------------------------------------------

    def sync(self) -> SyncReport:
        """Read every result and campaign file not read before."""
        report = SyncReport()
        seen = None
        for sub, ingest in (("campaigns", self._ingest_campaign), ("results", self._ingest_result)):
            folder = self.runs_dir / sub
            if not folder.is_dir() or self._unchanged(sub, folder):
                continue
            scanned = time.time_ns()
            mtime = folder.stat().st_mtime_ns
            if seen is None:
                seen = {row[0] for row in self.db.execute("SELECT name FROM ingested")}
            names = sorted(e.name for e in os.scandir(folder)
                           if e.name.endswith(".json") and not e.name.startswith("."))
            fresh = [n for n in names if f"{sub}/{n}" not in seen]
            for start in range(0, len(fresh), 2000):
                self._ingest_batch(sub, folder, fresh[start:start + 2000], ingest, report)
            self.db.execute("INSERT OR REPLACE INTO folders VALUES (?, ?, ?)", (sub, mtime, scanned))
        return report

    def _unchanged(self, sub: str, folder: Path) -> bool:
        """The folder's mtime is the one of the last complete scan, and that scan came well after it
        (a file added in the same clock tick as a scan could otherwise go unseen)."""
        row = self.db.execute("SELECT mtime_ns, scanned_ns FROM folders WHERE name = ?", (sub,)).fetchone()
        if row is None:
            return False
        return folder.stat().st_mtime_ns == row[0] and row[1] - row[0] > 1_000_000_000

    def _ingest_batch(self, sub, folder, names, ingest, report) -> None:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            for name in names:
                error = None
                try:
                    ingest(folder / name, report)
                except ValueError as e:
                    error = str(e)
                    report.bad_files.append((f"{sub}/{name}", error))
                self.db.execute("INSERT OR IGNORE INTO ingested VALUES (?, ?)", (f"{sub}/{name}", error))
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def _ingest_result(self, path: Path, report: SyncReport) -> None:
        record = read_record(path)
        self.add_result(record, f"results/{path.name}")
        report.new_results += 1

    def add_result(self, record: dict, file: str, source: str = "ftrun") -> None:
        self.db.execute(f"INSERT OR IGNORE INTO cases VALUES ({','.join('?' * len(_CASE_COLUMNS))})",
                        case_row(record["case"]))
        row = attempt_row(record, file, source)
        cur = self.db.execute(f"INSERT OR IGNORE INTO attempts VALUES ({','.join('?' * len(_ATTEMPT_COLUMNS))})", row)
        if cur.rowcount:
            values = dict(zip(_ATTEMPT_COLUMNS, row))
            self.db.execute(_UPSERT_LATEST, tuple(values[c] for c in _LATEST_COLUMNS))

    def _ingest_campaign(self, path: Path, report: SyncReport) -> None:
        try:
            c = json.loads(path.read_text())
            row = (c["id"], c["experiment"], c["cluster"], c.get("scale"), c.get("device"), c.get("created"))
            cases = c["cases"]
        except (OSError, json.JSONDecodeError, KeyError, TypeError) as e:
            raise ValueError(f"{path}: not a campaign file ({e})") from None
        self.db.execute("INSERT OR IGNORE INTO campaigns VALUES (?,?,?,?,?,?)", row)
        for case in cases:
            self.db.execute(f"INSERT OR IGNORE INTO cases VALUES ({','.join('?' * len(_CASE_COLUMNS))})",
                            case_row(case))
            self.db.execute("INSERT OR IGNORE INTO members VALUES (?, ?)", (c["id"], case["key"]))
            self.db.execute("INSERT OR IGNORE INTO planned VALUES (?, ?, ?)",
                            (c["experiment"], c["cluster"], case["key"]))
        report.new_campaigns += 1

    def rebuild(self) -> SyncReport:
        """Forget everything and read all files again."""
        self.db.execute("BEGIN IMMEDIATE")
        for table in ("ingested", "cases", "attempts", "campaigns", "members", "latest", "folders", "planned"):
            self.db.execute(f"DELETE FROM {table}")
        self.db.execute("COMMIT")
        return self.sync()

    # ---- queries ---------------------------------------------------------------------------------

    def latest(self, keys: list[str] | None = None) -> dict[str, sqlite3.Row]:
        """The latest finished attempt of each case (the one that decides its state)."""
        sql = "SELECT a.* FROM latest l JOIN attempts a ON a.attempt = l.attempt"
        if keys is None:
            return {r["key"]: r for r in self.db.execute(sql)}
        rows = {}
        for start in range(0, len(keys), 500):
            part = keys[start:start + 500]
            query = f"{sql} WHERE l.key IN ({','.join('?' * len(part))})"
            rows.update({r["key"]: r for r in self.db.execute(query, part)})
        return rows

    def bad_files(self) -> list[tuple[str, str]]:
        """Files that could not be read as records (corrupt, foreign), with why: they stay reported."""
        return [(r[0], r[1]) for r in self.db.execute("SELECT name, error FROM ingested WHERE error IS NOT NULL")]

    def task_positions(self) -> set[tuple[str, int, int]]:
        """(submission, task, position) of every attempt recorded by a scheduler task."""
        rows = self.db.execute("SELECT submission, task, position FROM attempts WHERE submission IS NOT NULL")
        return {(r[0], r[1], r[2]) for r in rows}

    def attempts(self, key: str) -> list[sqlite3.Row]:
        return list(self.db.execute("SELECT * FROM attempts WHERE key = ? ORDER BY finished", (key,)))

    def member_states(self, experiment: str | None = None, keys: list[str] | None = None,
                      limit: int | None = None) -> list[sqlite3.Row]:
        """One row per planned case and (experiment, cluster), with its latest attempt's state, if any,
        in the order the campaigns planned them (figure order)."""
        where, args = [], []
        if experiment:
            where.append("p.experiment = ?")
            args.append(experiment)
        if keys is not None:
            where.append(f"p.key IN ({','.join('?' * len(keys))})")
            args += keys
        sql = f"""SELECT p.experiment, p.cluster, k.key, k.part, k.model, k.system, k.device, k.seqlen,
                  l.state, l.error_class, l.median_ms, l.error, l.started, l.finished
                  FROM planned p JOIN cases k ON k.key = p.key LEFT JOIN latest l ON l.key = p.key
                  {"WHERE " + " AND ".join(where) if where else ""}
                  ORDER BY p.rowid
                  {f"LIMIT {int(limit)}" if limit else ""}"""
        return list(self.db.execute(sql, args))

    def state_counts(self, experiment: str | None = None) -> list[sqlite3.Row]:
        """(experiment, cluster, state, error_class, cases, mean wall seconds of those finished)."""
        sql = f"""SELECT p.experiment, p.cluster, l.state, l.error_class, COUNT(*) AS n,
                  AVG((julianday(l.finished) - julianday(l.started)) * 86400.0) AS wall_s
                  FROM planned p LEFT JOIN latest l ON l.key = p.key {"WHERE p.experiment = ?" if experiment else ""}
                  GROUP BY p.experiment, p.cluster, l.state, l.error_class"""
        return list(self.db.execute(sql, [experiment] if experiment else []))

    def members(self) -> list[sqlite3.Row]:
        """(experiment, cluster, case columns) for every planned case, once per experiment and cluster."""
        sql = """SELECT p.experiment, p.cluster, k.* FROM planned p JOIN cases k ON k.key = p.key"""
        return list(self.db.execute(sql))

    def measurements(self) -> list[sqlite3.Row]:
        """Every case's latest attempt joined with the case's fields: what figures and exports read."""
        sql = """SELECT k.*, a.attempt, a.state, a.error_class, a.error, a.median_ms, a.p10_ms, a.p90_ms,
                 a.min_ms, a.mean_ms, a.n, a.compile_s, a.peak_mib, a.extra_mib, a.cluster, a.job_id,
                 a.node, a.finished, a.source
                 FROM latest l JOIN attempts a ON a.attempt = l.attempt JOIN cases k ON k.key = l.key
                 ORDER BY k.part, k.model, k.device, k.seqlen, k.system"""
        return list(self.db.execute(sql))

"""The SQLite index over a runs folder: built from the result and campaign files, rebuilt at will.

Several ftrun processes may sync at once: ingestion is idempotent (keyed by file name and attempt id)
and runs in IMMEDIATE transactions under WAL, so readers never block and nothing is counted twice.
A file that is not a valid record is remembered with the reason (and read again once it changes); a file
that cannot be read right now (permissions, a network FS) is simply tried again at the next sync.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

from results.files import StoreError, no_space
from results.migrations import NewerIndex, migrate
from results.provenance import summarize
from results.records import Record, evidence_rank
from results.rows import Row
from results.runsdir import RunsDir

_ATTEMPT_COLUMNS = (
    "attempt", "key", "state", "error_class", "error", "median_ms", "p10_ms", "p90_ms", "min_ms", "mean_ms",
    "n", "compile_s", "peak_mib", "extra_mib", "cluster", "job_id", "node", "log", "started", "finished",
    "file", "source", "submission", "task", "position", "campaign", "chunk", "interpreted", "provenance",
)
_LATEST_COLUMNS = ("key", "attempt", "state", "error_class", "median_ms", "error", "started", "finished", "rank",
                   "interpreted")
# keep each case's deciding attempt: the best evidence (results.records.evidence_rank), then the latest
_UPSERT_LATEST = f"""INSERT INTO latest VALUES ({','.join('?' * len(_LATEST_COLUMNS))}) ON CONFLICT(key) DO UPDATE SET
    {', '.join(f'{c} = excluded.{c}' for c in _LATEST_COLUMNS[1:])}
    WHERE excluded.rank > latest.rank OR (excluded.rank = latest.rank AND (excluded.finished > latest.finished
       OR (excluded.finished = latest.finished AND excluded.attempt > latest.attempt)))"""
_CASE_COLUMNS = ("key", "part", "model", "system", "device", "dtype", "scale", "seqlen", "dims", "protocol", "spec")
_TABLES = ("ingested", "cases", "attempts", "campaigns", "members", "latest", "folders", "planned", "closed")


@dataclass
class SyncReport:
    new_results: int = 0
    new_campaigns: int = 0
    bad_files: list[tuple[str, str]] = field(default_factory=list)
    # files that could not be read this time (tried again at the next sync)
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    moved_aside: Path | None = None


def case_row(case) -> tuple:
    dims = dict(case.dims)
    return (case.key, case.part, case.model, case.system, case.device, case.dtype, case.scale, case.seqlen,
            json.dumps(dims, sort_keys=True), case.protocol, json.dumps(case.to_json(), sort_keys=True))


def attempt_row(record: Record, file: str) -> tuple:
    # an interpreted run's time (records from before the flag have one) is never a time
    t = None if record.interpreted else record.timing
    mem, run = record.memory, record.run
    values = {
        "attempt": record.attempt, "key": record.key, "state": record.state, "error_class": record.error_class,
        "error": (record.error or "")[:500] or None, "median_ms": t.median if t else None,
        "p10_ms": t.p10 if t else None, "p90_ms": t.p90 if t else None, "min_ms": t.min if t else None,
        "mean_ms": t.mean if t else None, "n": t.n if t else None, "compile_s": record.compile_s,
        "peak_mib": mem.peak_mib if mem else None, "extra_mib": mem.extra_mib if mem else None,
        "cluster": run.cluster, "job_id": run.job_id, "node": run.node, "log": run.log,
        "started": record.started, "finished": record.finished, "file": file, "source": record.source,
        "submission": run.submission, "task": run.task, "position": run.position,
        "campaign": run.campaign, "chunk": run.chunk, "interpreted": int(record.interpreted),
        "provenance": json.dumps(summarize(record.provenance, record.timing.method if record.timing else None)),
    }
    return tuple(values[c] for c in _ATTEMPT_COLUMNS)


class Index:
    """Open (and migrate) the index of one runs folder. StoreError if it is damaged or newer than this
    ftrun (`ftrun results rebuild` fixes both: `Index.rebuilt`)."""

    def __init__(self, runs: RunsDir):
        self.runs = runs
        self.path = runs.index
        try:
            runs.root.mkdir(parents=True, exist_ok=True)
            self.db = _open(self.path)
        except NewerIndex as e:
            raise StoreError(f"{self.path} was written by a newer ftrun ({e}): upgrade ftrun, or rebuild it "
                             "for this one with `ftrun results rebuild`") from None
        except sqlite3.DatabaseError as e:
            raise StoreError(_database_error(self.path, e)) from None

    @classmethod
    def rebuilt(cls, runs: RunsDir) -> tuple[Index, SyncReport]:
        """The index read again from every file. A damaged, foreign or newer index file is moved aside
        (index.sqlite.broken-<time>) first; it is derived data, the files are the truth."""
        moved = None
        try:
            index = cls(runs)
            index._forget()
        except StoreError:
            moved = runs.root / f"{runs.index.name}.broken-{time.strftime('%Y%m%d-%H%M%S')}"
            for suffix in ("", "-wal", "-shm"):
                old = Path(f"{runs.index}{suffix}")
                if old.exists():
                    old.replace(Path(f"{moved}{suffix}"))
            index = cls(runs)
        report = index.sync()
        report.moved_aside = moved
        return index, report

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
        for sub, folder in (("campaigns", self.runs.campaigns), ("results", self.runs.results)):
            if not folder.is_dir() or self._unchanged(sub, folder):
                continue
            scanned, mtime = time.time_ns(), folder.stat().st_mtime_ns
            fresh = self._fresh(sub, folder)
            before = len(report.unreadable)
            for start in range(0, len(fresh), 2000):
                self._ingest_batch(sub, folder, fresh[start:start + 2000], report)
            if len(report.unreadable) == before:
                # a complete scan: until the folder changes, the next sync need not list it again
                self.db.execute("INSERT OR REPLACE INTO folders VALUES (?, ?, ?)", (sub, mtime, scanned))
        return report

    def _fresh(self, sub: str, folder: Path) -> list[str]:
        """Files never ingested, and refused ones that changed since."""
        seen = {row[0]: row[1] for row in self.db.execute("SELECT name, stamp FROM ingested WHERE name LIKE ?",
                                                             (f"{sub}/%",))}
        names = sorted(e.name for e in os.scandir(folder) if e.name.endswith(".json") and not e.name.startswith("."))
        return [n for n in names if f"{sub}/{n}" not in seen
                or (seen[f"{sub}/{n}"] is not None and seen[f"{sub}/{n}"] != _stamp(folder / n))]

    def _unchanged(self, sub: str, folder: Path) -> bool:
        """The folder's mtime is the one of the last complete scan, and that scan came well after it
        (a file added in the same clock tick as a scan could otherwise go unseen)."""
        row = self.db.execute("SELECT mtime_ns, scanned_ns FROM folders WHERE name = ?", (sub,)).fetchone()
        if row is None:
            return False
        return folder.stat().st_mtime_ns == row[0] and row[1] - row[0] > 1_000_000_000

    def _ingest_batch(self, sub: str, folder: Path, names: list[str], report: SyncReport) -> None:
        ingest = self._ingest_campaign if sub == "campaigns" else self._ingest_result
        self.db.execute("BEGIN IMMEDIATE")
        try:
            for name in names:
                path, error, stamp = folder / name, None, None
                try:
                    ingest(path, report)
                except OSError as e:
                    report.unreadable.append((f"{sub}/{name}", e.strerror or str(e)))
                    continue
                except ValueError as e:
                    error, stamp = str(e), _stamp(path)
                    report.bad_files.append((f"{sub}/{name}", error))
                self.db.execute("INSERT OR REPLACE INTO ingested VALUES (?, ?, ?)", (f"{sub}/{name}", error, stamp))
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def _ingest_result(self, path: Path, report: SyncReport) -> None:
        self.add_result(self.runs.read_record(path), f"results/{path.name}")
        report.new_results += 1

    def add_result(self, record: Record, file: str) -> None:
        self.db.execute(f"INSERT OR IGNORE INTO cases VALUES ({','.join('?' * len(_CASE_COLUMNS))})",
                        case_row(record.case))
        row = attempt_row(record, file)
        cur = self.db.execute(f"INSERT OR IGNORE INTO attempts VALUES ({','.join('?' * len(_ATTEMPT_COLUMNS))})", row)
        if cur.rowcount:
            values = dict(zip(_ATTEMPT_COLUMNS, row), rank=evidence_rank(record.state, record.error_class))
            self.db.execute(_UPSERT_LATEST, tuple(values[c] for c in _LATEST_COLUMNS))

    def _ingest_campaign(self, path: Path, report: SyncReport) -> None:
        c = self.runs.read_campaign(path)
        self.db.execute("INSERT OR IGNORE INTO campaigns VALUES (?,?,?,?,?,?)",
                        (c.id, c.experiment, c.cluster, c.scale, c.device, c.created))
        for case in c.cases:
            self.db.execute(f"INSERT OR IGNORE INTO cases VALUES ({','.join('?' * len(_CASE_COLUMNS))})",
                            case_row(case))
            self.db.execute("INSERT OR IGNORE INTO members VALUES (?, ?)", (c.id, case.key))
            self.db.execute("INSERT OR IGNORE INTO planned VALUES (?, ?, ?)", (c.experiment, c.cluster, case.key))
        report.new_campaigns += 1

    def _forget(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")
        for table in _TABLES:
            self.db.execute(f"DELETE FROM {table}")
        self.db.execute("COMMIT")

    # ---- queries ---------------------------------------------------------------------------------

    def latest(self, keys: list[str] | None = None) -> dict[str, sqlite3.Row]:
        """Each case's deciding attempt (its best evidence, the latest among equals)."""
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
        """Files that are not valid records or campaigns, with why: they stay reported until they change."""
        return [(r[0], r[1]) for r in self.db.execute("SELECT name, error FROM ingested WHERE error IS NOT NULL")]

    def task_positions(self, submissions: list[str] | None = None) -> set[tuple[str, int, int]]:
        """(submission, task, position) of every attempt recorded by a scheduler task (of these submissions)."""
        if submissions is None:
            rows = self.db.execute("SELECT submission, task, position FROM attempts WHERE submission IS NOT NULL")
            return {(r[0], r[1], r[2]) for r in rows}
        out: set[tuple[str, int, int]] = set()
        for start in range(0, len(submissions), 500):
            part = submissions[start:start + 500]
            rows = self.db.execute("SELECT submission, task, position FROM attempts "
                                   f"WHERE submission IN ({','.join('?' * len(part))})", part)
            out |= {(r[0], r[1], r[2]) for r in rows}
        return out

    def closed_submissions(self) -> set[str]:
        """Submissions with a record for every task position (see `close_submissions`)."""
        return {r[0] for r in self.db.execute("SELECT submission FROM closed")}

    def close_submissions(self, ids: list[str]) -> None:
        """Remember that these submissions have nothing left in flight, ever."""
        if ids:
            self.db.executemany("INSERT OR IGNORE INTO closed VALUES (?)", [(i,) for i in ids])

    def attempts(self, key: str) -> list[sqlite3.Row]:
        return list(self.db.execute("SELECT * FROM attempts WHERE key = ? ORDER BY finished, attempt", (key,)))

    def member_states(self, experiment: str | None = None, keys: list[str] | None = None,
                      limit: int | None = None) -> list[sqlite3.Row]:
        """One row per planned case and (experiment, cluster), with its deciding attempt's state, if any,
        in the order the campaigns planned them (figure order)."""
        where, args = [], []
        if experiment:
            where.append("p.experiment = ?")
            args.append(experiment)
        if keys is not None:
            where.append(f"p.key IN ({','.join('?' * len(keys))})")
            args += keys
        sql = f"""SELECT p.experiment, p.cluster, k.key, k.part, k.model, k.system, k.device, k.scale, k.seqlen,
                  l.attempt, l.state, l.error_class, l.interpreted, l.median_ms, l.error, l.started, l.finished
                  FROM planned p JOIN cases k ON k.key = p.key LEFT JOIN latest l ON l.key = p.key
                  {"WHERE " + " AND ".join(where) if where else ""}
                  ORDER BY p.rowid
                  {f"LIMIT {int(limit)}" if limit else ""}"""
        return list(self.db.execute(sql, args))

    def state_counts(self, experiment: str | None = None) -> list[sqlite3.Row]:
        """(experiment, cluster, state, error_class, interpreted, cases)."""
        sql = f"""SELECT p.experiment, p.cluster, l.state, l.error_class, l.interpreted, COUNT(*) AS n
                  FROM planned p LEFT JOIN latest l ON l.key = p.key {"WHERE p.experiment = ?" if experiment else ""}
                  GROUP BY p.experiment, p.cluster, l.state, l.error_class, l.interpreted"""
        return list(self.db.execute(sql, [experiment] if experiment else []))

    def durations(self) -> dict[tuple[str, str, str], float]:
        """Mean wall seconds of a finished attempt per (system, part, scale) over the whole store: how long
        a case of that kind takes here, for an ETA (cancelled attempts say nothing about that)."""
        sql = """SELECT k.system, k.part, k.scale,
                 AVG((julianday(a.finished) - julianday(a.started)) * 86400.0) AS wall_s
                 FROM attempts a JOIN cases k ON k.key = a.key
                 WHERE a.error_class IS NOT 'cancelled' AND a.started IS NOT NULL AND a.source = 'ftrun'
                 GROUP BY k.system, k.part, k.scale"""
        return {(r[0], r[1], r[2]): r[3] for r in self.db.execute(sql) if r[3] is not None and r[3] >= 0}

    def members(self) -> list[sqlite3.Row]:
        """(experiment, cluster, case columns) for every planned case, once per experiment and cluster."""
        return list(self.db.execute("SELECT p.experiment, p.cluster, k.* FROM planned p JOIN cases k ON k.key = p.key"))

    def measurements(self) -> list[Row]:
        """Every case's deciding attempt as a tidy row: what figures, reports and exports read."""
        sql = """SELECT k.*, a.attempt, a.state, a.error_class, a.error, a.median_ms, a.p10_ms, a.p90_ms,
                 a.min_ms, a.mean_ms, a.n, a.compile_s, a.peak_mib, a.extra_mib, a.cluster, a.job_id,
                 a.node, a.finished, a.source, a.interpreted, a.provenance
                 FROM latest l JOIN attempts a ON a.attempt = l.attempt JOIN cases k ON k.key = l.key
                 ORDER BY k.part, k.model, k.device, k.seqlen, k.system"""
        return self.with_drift([Row.from_index(r) for r in self.db.execute(sql)])

    def all_attempts(self) -> list[Row]:
        """One tidy row per attempt, oldest first within a case."""
        sql = """SELECT k.*, a.* FROM attempts a JOIN cases k ON k.key = a.key
                 ORDER BY k.part, k.model, k.system, a.finished, a.attempt"""
        return self.with_drift([Row.from_index(r) for r in self.db.execute(sql)])

    def repeats(self) -> list[tuple[str, str, float, float]]:
        """Each case timed more than once by one campaign (or Slurm submission) — the baseline, first and last
        in its chunk — as (key, attempt of its last run, median of the first run, median of the last)."""
        sql = """SELECT DISTINCT key, last_attempt, first_ms, last_ms FROM (
                 SELECT key, FIRST_VALUE(median_ms) OVER w AS first_ms, LAST_VALUE(median_ms) OVER w AS last_ms,
                        LAST_VALUE(attempt) OVER w AS last_attempt, COUNT(*) OVER w AS runs
                 FROM attempts WHERE median_ms IS NOT NULL AND COALESCE(campaign, submission) IS NOT NULL
                 WINDOW w AS (PARTITION BY key, COALESCE(campaign, submission) ORDER BY finished, attempt
                              ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING))
                 WHERE runs > 1"""
        return [tuple(r) for r in self.db.execute(sql)]

    def with_drift(self, rows: list[Row]) -> list[Row]:
        repeats = {attempt: (first, last) for _, attempt, first, last in self.repeats()}
        return [r.with_(drift_first_ms=repeats[r.attempt][0], drift_last_ms=repeats[r.attempt][1])
                if r.attempt in repeats else r for r in rows]


def _open(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, timeout=60, isolation_level=None)
    try:
        db.row_factory = sqlite3.Row
        _set_wal(db)
        db.execute("PRAGMA synchronous=NORMAL")
        migrate(db)
        # a file that SQLite opens but that is not ours (a foreign database, another schema)
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not set(_TABLES) <= tables:
            raise sqlite3.DatabaseError(f"tables {', '.join(sorted(set(_TABLES) - tables))} are missing")
    except BaseException:
        db.close()
        raise
    return db


def _database_error(path: Path, e: sqlite3.DatabaseError) -> str:
    text = str(e)
    if "full" in text or _no_space(path.parent):
        # SQLite says "disk I/O error" when its journal cannot grow: not damage, and a rebuild would fail too
        return no_space(str(path.parent), text)
    if "readonly" in text or "unable to open" in text:
        return (f"cannot write the index {path} ({text}): the runs folder must be writable; "
                "choose another with --runs-dir")
    return f"the index {path} is damaged ({text}): run `ftrun results rebuild` to rebuild it from the result files"


def _no_space(folder: Path) -> bool:
    try:
        st = os.statvfs(folder)
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < (1 << 20)


def _stamp(path: Path) -> str | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return f"{st.st_size}:{st.st_mtime_ns}"


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

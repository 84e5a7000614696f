"""Schema migrations of the SQLite index, applied in order and recorded in PRAGMA user_version.

The index is derived data (it can always be rebuilt from the files), but migrations keep an index
written by an older ftrun usable without a rebuild.
"""

from __future__ import annotations

import sqlite3


class NewerIndex(Exception):
    """The index was written by a newer ftrun."""


MIGRATIONS: list[str] = [
    # 1: files read, cases, attempts (one row per result file), campaigns and their members
    """
    CREATE TABLE ingested (name TEXT PRIMARY KEY, error TEXT);
    CREATE TABLE cases (
        key TEXT PRIMARY KEY, part TEXT, model TEXT, system TEXT, device TEXT, dtype TEXT,
        scale TEXT, seqlen INTEGER, dims TEXT, protocol INTEGER);
    CREATE TABLE attempts (
        attempt TEXT PRIMARY KEY, key TEXT NOT NULL, state TEXT NOT NULL, error_class TEXT, error TEXT,
        median_ms REAL, p10_ms REAL, p90_ms REAL, min_ms REAL, mean_ms REAL, n INTEGER,
        compile_s REAL, peak_mib REAL, extra_mib REAL, cluster TEXT, job_id TEXT, node TEXT, log TEXT,
        started TEXT, finished TEXT, file TEXT, source TEXT);
    CREATE INDEX attempts_by_key ON attempts (key, finished);
    CREATE TABLE campaigns (
        id TEXT PRIMARY KEY, experiment TEXT, cluster TEXT, scale TEXT, device TEXT, created TEXT);
    CREATE TABLE members (campaign TEXT NOT NULL, key TEXT NOT NULL, PRIMARY KEY (campaign, key));
    CREATE INDEX members_by_key ON members (key);
    """,
    # 2: where an attempt ran within a Slurm submission, so reconciling needs no file reads
    """
    ALTER TABLE attempts ADD COLUMN submission TEXT;
    ALTER TABLE attempts ADD COLUMN task INTEGER;
    ALTER TABLE attempts ADD COLUMN position INTEGER;
    CREATE INDEX attempts_by_task ON attempts (submission, task, position);
    """,
    # 3: the whole case spec (with its options), so a case can be run again from the index alone
    """
    ALTER TABLE cases ADD COLUMN spec TEXT;
    """,
    # 4: each case's latest attempt kept up to date at ingestion (status over 100k results in well
    # under a second), and each folder's mtime at its last scan (an unchanged folder is not listed again)
    """
    CREATE TABLE latest (
        key TEXT PRIMARY KEY, attempt TEXT, state TEXT, error_class TEXT, median_ms REAL, error TEXT,
        started TEXT, finished TEXT);
    INSERT INTO latest SELECT key, attempt, state, error_class, median_ms, error, started, finished FROM (
        SELECT *, ROW_NUMBER() OVER (PARTITION BY key ORDER BY finished DESC, attempt DESC) AS rn FROM attempts)
        WHERE rn = 1;
    CREATE TABLE folders (name TEXT PRIMARY KEY, mtime_ns INTEGER, scanned_ns INTEGER);
    """,
    # 5: which cases each (experiment, cluster) wants, once however often it was submitted
    """
    CREATE TABLE planned (experiment TEXT NOT NULL, cluster TEXT NOT NULL, key TEXT NOT NULL,
                          PRIMARY KEY (experiment, cluster, key));
    INSERT OR IGNORE INTO planned SELECT c.experiment, c.cluster, m.key FROM members m
        JOIN campaigns c ON c.id = m.campaign;
    CREATE INDEX planned_by_key ON planned (key);
    """,
    # 6: a case is decided by its best evidence, not its newest attempt (results.records.evidence_rank: a
    # result is never hidden by a later crash or cancel), and a file that could not be parsed is read again
    # once it changes (its size and mtime when it was refused)
    """
    ALTER TABLE latest ADD COLUMN rank INTEGER NOT NULL DEFAULT 0;
    DELETE FROM latest;
    INSERT INTO latest SELECT key, attempt, state, error_class, median_ms, error, started, finished, rk FROM (
        SELECT *, ROW_NUMBER() OVER (PARTITION BY key ORDER BY rk DESC, finished DESC, attempt DESC) AS rn FROM (
            SELECT *, CASE WHEN state = 'done' OR error_class IN ('compile_error', 'unsupported', 'wrong_result',
                'oom') THEN 2 WHEN error_class = 'timeout' THEN 1 ELSE 0 END AS rk FROM attempts))
        WHERE rn = 1;
    ALTER TABLE ingested ADD COLUMN stamp TEXT;
    ALTER TABLE attempts ADD COLUMN campaign TEXT;
    ALTER TABLE attempts ADD COLUMN chunk INTEGER;
    DELETE FROM folders;
    """,
    # 7: whether an attempt ran in Triton's interpreter (checked, not timed) and the facts of where it ran
    # (results.provenance); every file is read again, so attempts indexed before know both too
    """
    ALTER TABLE attempts ADD COLUMN interpreted INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE attempts ADD COLUMN provenance TEXT;
    ALTER TABLE latest ADD COLUMN interpreted INTEGER NOT NULL DEFAULT 0;
    DELETE FROM attempts;
    DELETE FROM latest;
    DELETE FROM ingested WHERE name LIKE 'results/%';
    DELETE FROM folders;
    """,
    # 8: submissions every task position of which has a record: closed for good (records are never
    # taken back), so status and submit neither read their files nor ask the scheduler about them again
    """
    CREATE TABLE closed (submission TEXT PRIMARY KEY);
    """,
]


def migrate(db: sqlite3.Connection) -> int:
    """Apply the migrations this index has not seen; returns the resulting version.

    The version is read inside an IMMEDIATE transaction, so two processes opening a new index at once
    cannot both apply the same migration.
    """
    db.execute("BEGIN IMMEDIATE")
    try:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            raise NewerIndex(f"schema {version}, this ftrun knows {len(MIGRATIONS)}")
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            for statement in filter(str.strip, script.split(";")):
                db.execute(statement)
            db.execute(f"PRAGMA user_version = {number}")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return len(MIGRATIONS)

"""The store: files are the truth, the index is rebuilt from them, two writers never duplicate."""

import json
import multiprocessing
import sqlite3

import pytest

from results.index import Index
from results.records import FORMAT, failure_record, read_record, write_record


def case(model="attn", system="torch", key=None):
    dims = {"batch": 1, "heads": 2, "kv_heads": 2, "head_dim": 32, "q_len": 64, "kv_len": 64}
    return {"key": key or f"{model}-{system}", "part": "kernel", "model": model, "system": system, "dims": dims,
            "dtype": "float16", "device": "cpu", "scale": "tiny", "protocol": 1}


def done(c, attempt, ms, finished="2026-01-01T00:00:00+00:00"):
    return {"format": FORMAT, "key": c["key"], "attempt": attempt, "case": c, "state": "done",
            "timing": {"median": ms, "p10": ms, "p90": ms, "min": ms, "mean": ms, "n": 10},
            "started": finished, "finished": finished}


def test_round_trip_and_rebuild(runs_dir):
    write_record(runs_dir, done(case(), "a1", 1.5))
    write_record(runs_dir, failure_record(case("h2o"), "a2", "timeout", "over the limit"))
    with Index(runs_dir) as index:
        report = index.sync()
        assert (report.new_results, report.bad_files) == (2, [])
        assert index.sync().new_results == 0
        rows = {r["model"]: r for r in index.measurements()}
        assert rows["attn"]["median_ms"] == 1.5 and rows["h2o"]["error_class"] == "timeout"
    (runs_dir / "index.sqlite").unlink()
    for extra in ("index.sqlite-wal", "index.sqlite-shm"):
        (runs_dir / extra).unlink(missing_ok=True)
    with Index(runs_dir) as index:
        assert index.sync().new_results == 2
        assert len(index.measurements()) == 2
        assert index.rebuild().new_results == 2


def test_latest_attempt_decides(runs_dir):
    c = case()
    write_record(runs_dir, done(c, "old", 2.0, "2026-01-01T00:00:00+00:00"))
    write_record(runs_dir, done(c, "new", 1.0, "2026-01-02T00:00:00+00:00"))
    with Index(runs_dir) as index:
        index.sync()
        assert index.latest()[c["key"]]["attempt"] == "new"
        assert [a["attempt"] for a in index.attempts(c["key"])] == ["old", "new"]


def test_corrupt_and_foreign_files_are_reported_not_ingested(runs_dir):
    write_record(runs_dir, done(case(), "ok", 1.0))
    (runs_dir / "results" / "x--torn.json").write_text('{"format": "ftrun.result/1", "key"')
    (runs_dir / "results" / "y--foreign.json").write_text(json.dumps({"hello": 1}))
    with Index(runs_dir) as index:
        report = index.sync()
        assert report.new_results == 1
        assert sorted(name for name, _ in report.bad_files) == ["results/x--torn.json", "results/y--foreign.json"]
        assert len(index.measurements()) == 1
    with pytest.raises(ValueError, match="not a readable JSON"):
        read_record(runs_dir / "results" / "x--torn.json")


def _sync(path, barrier):
    barrier.wait()
    with Index(path) as index:
        index.sync()


def test_concurrent_syncs_count_each_result_once(runs_dir):
    for i in range(300):
        write_record(runs_dir, done(case(key=f"k{i}"), f"a{i}", float(i + 1)))
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(3)
    procs = [ctx.Process(target=_sync, args=(runs_dir, barrier)) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    db = sqlite3.connect(runs_dir / "index.sqlite")
    assert db.execute("SELECT COUNT(*), COUNT(DISTINCT attempt) FROM attempts").fetchone() == (300, 300)


def test_a_newer_schema_is_refused(runs_dir):
    Index(runs_dir).close()
    db = sqlite3.connect(runs_dir / "index.sqlite")
    db.execute("PRAGMA user_version = 99")
    db.close()
    with pytest.raises(RuntimeError, match="newer than this ftrun"):
        Index(runs_dir)

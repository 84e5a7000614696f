"""The store: files are the truth, the index is rebuilt from them, two writers never duplicate, and no file
can poison it."""

import json
import multiprocessing
import os
import sqlite3

import pytest

from results.case import CaseSpec
from results.files import FILE_MODE, StoreError, no_space
from results.index import Index
from results.records import Record, RecordError, Timing
from results.runsdir import RunsDir


def case(model="attn", system="torch", device="cpu") -> CaseSpec:
    dims = (("batch", 1), ("head_dim", 32), ("heads", 2), ("kv_heads", 2), ("kv_len", 64), ("q_len", 64))
    return CaseSpec("kernel", model, system, dims, "float16", device, "tiny")


def done(c, attempt, ms, finished="2026-01-01T00:00:00+00:00") -> Record:
    return Record(c.key, attempt, c, "done", finished, finished, timing=Timing(ms, ms, ms, ms, ms, 10))


def failed(c, attempt, cls, finished="2026-01-02T00:00:00+00:00") -> Record:
    return Record(c.key, attempt, c, "failed", finished, finished, error_class=cls, error="why")


@pytest.fixture
def runs(runs_dir) -> RunsDir:
    return RunsDir(runs_dir)


def test_round_trip_and_rebuild(runs):
    runs.write_record(done(case(), "a1", 1.5))
    runs.write_record(Record.failure(case("h2o"), "a2", "timeout", "over the limit"))
    with Index(runs) as index:
        report = index.sync()
        assert (report.new_results, report.bad_files) == (2, [])
        assert index.sync().new_results == 0
        rows = {r.model: r for r in index.measurements()}
        assert rows["attn"].median_ms == 1.5 and rows["h2o"].error_class == "timeout"
        assert rows["h2o"].state == "TLE"
    for name in ("index.sqlite", "index.sqlite-wal", "index.sqlite-shm"):
        (runs.root / name).unlink(missing_ok=True)
    with Index(runs) as index:
        assert index.sync().new_results == 2
        assert len(index.measurements()) == 2
    index, report = Index.rebuilt(runs)
    index.close()
    assert report.new_results == 2 and report.moved_aside is None


def test_a_record_round_trips_through_its_file(runs):
    record = done(case(), "a1", 1.5)
    assert runs.read_record(runs.write_record(record)) == record


def test_latest_attempt_decides_among_equals(runs):
    c = case()
    runs.write_record(done(c, "old", 2.0, "2026-01-01T00:00:00+00:00"))
    runs.write_record(done(c, "new", 1.0, "2026-01-02T00:00:00+00:00"))
    with Index(runs) as index:
        index.sync()
        assert index.latest()[c.key]["attempt"] == "new"
        assert [a["attempt"] for a in index.attempts(c.key)] == ["old", "new"]


@pytest.mark.parametrize("later, decides", [
    ("crash", "ok"), ("cancelled", "ok"), ("killed", "ok"), ("timeout", "ok"), ("wrong_result", "later"),
])
def test_a_result_is_not_hidden_by_a_later_transient_failure(runs, later, decides):
    c = case()
    runs.write_record(done(c, "ok", 1.0, "2026-01-01T00:00:00+00:00"))
    runs.write_record(failed(c, "later", later, "2026-01-02T00:00:00+00:00"))
    with Index(runs) as index:
        index.sync()
        assert index.latest()[c.key]["attempt"] == decides


def write_raw(runs, name, data):
    runs.results.mkdir(parents=True, exist_ok=True)
    text = data if isinstance(data, str) else json.dumps(data)
    (runs.results / name).write_text(text)


def poisoned_variants(good: dict) -> dict[str, object]:
    """Damaged copies of a valid record, each of a kind that once crashed every command."""
    def change(**kv):
        d = json.loads(json.dumps(good))
        for path, value in kv.items():
            where = d
            *parents, last = path.split("__")
            for p in parents:
                where = where[p]
            if value is DROP:
                del where[last]
            else:
                where[last] = value
        return d
    return {
        "torn": '{"format": "ftrun.result/1", "key"',
        "foreign": {"hello": 1},
        "a list": [1, 2],
        "no dims": change(case__dims=DROP),
        "timing a string": change(timing="fast"),
        "error a number": change(state="failed", error_class="crash", timing=None, error=5),
        "negative median": change(timing__median=-3),
        "NaN median": json.dumps(good).replace('"median": 1.0', '"median": NaN'),
        "inf median": json.dumps(good).replace('"median": 1.0', '"median": 1e999'),
        "finished in 9999": change(finished="9999-01-01T00:00:00+00:00"),
        "no time zone": change(finished="2026-01-01T00:00:00"),
        "key of another case": change(key="0123456789abcdef"),
        "path in the system name": change(case__system="../../etc"),
        "unknown failure class": change(state="failed", error_class="bored", timing=None),
        "done without timing": change(timing=None),
        "samples not numbers": change(timing__samples=["a"]),
        "task not an integer": change(run__task="x"),
    }


DROP = object()


def test_no_damaged_file_reaches_the_index(runs):
    good = done(case(), "good", 1.0)
    runs.write_record(good)
    variants = poisoned_variants(good.to_json())
    for i, data in enumerate(variants.values()):
        write_raw(runs, f"{good.key}--bad{i}.json", data)
    with Index(runs) as index:
        report = index.sync()
        assert report.new_results == 1
        assert len(report.bad_files) == len(variants)
        assert all(why.startswith(str(runs.results)) for _, why in report.bad_files)
        assert [r.attempt for r in index.measurements()] == ["good"]
        # reported until they change, not read again on every sync
        assert index.sync().bad_files == [] and len(index.bad_files()) == len(variants)
    for data in (d for d in variants.values() if not isinstance(d, str)):
        with pytest.raises(RecordError):
            Record.from_json(data)


def test_a_refused_file_is_read_again_once_fixed(runs):
    c = case()
    write_raw(runs, f"{c.key}--a1.json", "{broken")
    with Index(runs) as index:
        assert index.sync().new_results == 0
        os.utime(runs.results, ns=(1, 1))
        runs.write_record(done(c, "a1", 1.0))
        assert index.sync().new_results == 1
        assert index.bad_files() == []


def test_an_unreadable_file_is_not_remembered_as_bad(runs, monkeypatch):
    runs.write_record(done(case(), "a1", 1.0))
    real = RunsDir.read_record

    def denied(self, path):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(RunsDir, "read_record", denied)
    with Index(runs) as index:
        report = index.sync()
        assert report.new_results == 0 and [why for _, why in report.unreadable] == ["Permission denied"]
        monkeypatch.setattr(RunsDir, "read_record", real)
        assert index.sync().new_results == 1 and index.bad_files() == []


@pytest.mark.parametrize("damage", [b"this is not a database at all" * 100, b""])
def test_a_damaged_index_is_one_error_and_rebuild_recovers(runs, damage):
    runs.write_record(done(case(), "a1", 1.0))
    Index(runs).close()
    for name in ("index.sqlite-wal", "index.sqlite-shm"):
        (runs.root / name).unlink(missing_ok=True)
    runs.index.write_bytes(damage)
    if damage:
        with pytest.raises(StoreError, match="results rebuild"):
            Index(runs)
    index, report = Index.rebuilt(runs)
    with index:
        assert report.new_results == 1 and len(index.measurements()) == 1
    assert report.moved_aside is None if not damage else report.moved_aside.read_bytes() == damage


def test_a_foreign_database_is_refused_and_rebuilt(runs):
    db = sqlite3.connect(runs.root.mkdir(parents=True) or runs.index)
    db.execute("CREATE TABLE other (x)")
    db.execute("PRAGMA user_version = 5")
    db.close()
    with pytest.raises(StoreError, match="damaged"):
        Index(runs)
    index, report = Index.rebuilt(runs)
    index.close()
    assert report.moved_aside is not None


def test_a_newer_schema_is_refused_and_rebuilt(runs):
    Index(runs).close()
    db = sqlite3.connect(runs.index)
    db.execute("PRAGMA user_version = 99")
    db.close()
    with pytest.raises(StoreError, match="newer ftrun"):
        Index(runs)
    Index.rebuilt(runs)[0].close()
    Index(runs).close()


def _sync(path, barrier):
    barrier.wait()
    with Index(RunsDir(path)) as index:
        index.sync()


def test_concurrent_syncs_count_each_result_once(runs):
    for i in range(300):
        runs.write_record(done(case(system=f"s{i}"), f"a{i}", float(i + 1)))
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(3)
    procs = [ctx.Process(target=_sync, args=(runs.root, barrier)) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    db = sqlite3.connect(runs.index)
    assert db.execute("SELECT COUNT(*), COUNT(DISTINCT attempt) FROM attempts").fetchone() == (300, 300)


def test_files_follow_the_umask_not_mkstemps_0600(runs):
    umask = os.umask(0o022)
    os.umask(umask)
    path = runs.write_record(done(case(), "a1", 1.0))
    assert path.stat().st_mode & 0o777 == FILE_MODE == 0o666 & ~umask


def test_a_full_disk_is_said_with_or_without_the_place():
    assert no_space("/runs", "database or disk is full") == (
        "no space left on the device of /runs (database or disk is full): free some space; finished results are kept")
    assert no_space(None) == "no space left on the device: free some space; finished results are kept"

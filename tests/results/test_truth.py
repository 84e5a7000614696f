"""What a result says about itself: checked-but-interpreted is no time, a drifting chunk is flagged, and the
facts of where it ran reach every row; older record and index files keep working."""

import json
import sqlite3

import pytest

from results.case import CaseSpec
from results.index import Index
from results.migrations import MIGRATIONS
from results.provenance import short, summarize
from results.records import Record, RecordError, RunInfo, Timing
from results.runsdir import RunsDir

SMI = {"driver_version": "550.1", "clocks.max.sm": "1980", "power.limit": "700"}
PROVENANCE = {"host": "node1", "gpu": {"name": "NVIDIA H100", "smi": SMI},
              "torch": "2.13.0", "triton": "3.6.0", "cuda": "12.8", "python": "3.11.2",
              "code": {"commit": "1a2b3c4d5e6f7a8b", "dirty": False}}


def case(system="torch", model="attn") -> CaseSpec:
    dims = (("batch", 1), ("head_dim", 32), ("heads", 2), ("kv_heads", 2), ("kv_len", 64), ("q_len", 64))
    return CaseSpec("kernel", model, system, dims, "float16", "cpu", "tiny")


def timed(c, attempt, ms, finished, campaign="c1", method="cuda_events") -> Record:
    return Record(c.key, attempt, c, "done", finished, finished, timing=Timing(ms, ms * 0.9, ms * 1.1, n=3,
                                                                                samples=(ms,) * 3, method=method),
                  run=RunInfo(campaign=campaign, chunk=0), provenance=PROVENANCE)


@pytest.fixture
def runs(runs_dir) -> RunsDir:
    return RunsDir(runs_dir)


def test_an_interpreted_run_is_checked_and_has_no_time(runs):
    c = case("flashtensor")
    record = Record(c.key, "i1", c, "done", "2026-01-01T00:00:00+00:00", "2026-01-01T00:00:00+00:00",
                    interpreted=True, check={"outputs": {}})
    assert record.label == "INTERP"
    assert runs.read_record(runs.write_record(record)) == record
    with Index(runs) as index:
        index.sync()
        (row,) = index.measurements()
    assert (row.state, row.interpreted, row.median_ms, row.done) == ("INTERP", True, None, False)
    assert row.reason() == "interpreter: correct, not timed"


def test_only_an_interpreted_record_may_be_done_without_a_time(runs):
    c = case()
    d = Record(c.key, "x", c, "done", "2026-01-01T00:00:00+00:00", "2026-01-01T00:00:00+00:00",
               interpreted=True).to_json()
    d["interpreted"] = False
    with pytest.raises(RecordError, match="a done record without a timing"):
        Record.from_json(d)
    d["interpreted"] = "yes"
    with pytest.raises(RecordError, match="interpreted must be true or false"):
        Record.from_json(d)


def test_records_from_before_the_flag(runs):
    """The compiler timed with the CPU's clock ran in the interpreter: read so, and never shown as a time."""
    old = timed(case("flashtensor"), "old", 900.0, "2026-01-01T00:00:00+00:00", method="perf_counter").to_json()
    del old["interpreted"]
    assert Record.from_json(old).interpreted
    torch_old = timed(case("torch"), "t", 1.0, "2026-01-01T00:00:00+00:00", method="perf_counter").to_json()
    del torch_old["interpreted"]
    assert not Record.from_json(torch_old).interpreted
    (runs.results).mkdir(parents=True)
    (runs.results / f"{old['key']}--old.json").write_text(json.dumps(old))
    with Index(runs) as index:
        index.sync()
        (row,) = index.measurements()
    assert row.state == "INTERP" and row.median_ms is None


def test_a_chunk_whose_baseline_moved_is_flagged(runs):
    base, other = case("torch"), case("inductor")
    runs.write_record(timed(base, "first", 0.64, "2026-01-01T00:00:00+00:00"))
    runs.write_record(timed(other, "mid", 0.30, "2026-01-01T00:00:01+00:00"))
    runs.write_record(timed(base, "last", 75.11, "2026-01-01T00:00:02+00:00"))
    # the same case once in another campaign: nothing to compare it with there
    runs.write_record(timed(base, "alone", 0.70, "2026-01-02T00:00:00+00:00", campaign="c2"))
    with Index(runs) as index:
        index.sync()
        assert {(k, a) for k, a, _, _ in index.repeats()} == {(base.key, "last")}
        rows = {r.attempt: r for r in index.all_attempts()}
    assert rows["last"].drift == pytest.approx(75.11 / 0.64 - 1) and rows["last"].drifted()
    assert rows["alone"].drift is None and rows["mid"].drift is None and not rows["first"].drifted()


def test_drift_within_the_threshold_is_not_flagged(runs):
    base = case("torch")
    runs.write_record(timed(base, "first", 1.00, "2026-01-01T00:00:00+00:00"))
    runs.write_record(timed(base, "last", 1.05, "2026-01-01T00:00:02+00:00"))
    with Index(runs) as index:
        index.sync()
        (row,) = index.measurements()
    assert row.drift == pytest.approx(0.05) and not row.drifted() and row.drifted(0.01)


def test_provenance_facts_reach_the_rows(runs):
    runs.write_record(timed(case(), "a", 1.0, "2026-01-01T00:00:00+00:00"))
    with Index(runs) as index:
        index.sync()
        (row,) = index.measurements()
    assert row.provenance["gpu"] == "NVIDIA H100" and row.provenance["sm_clock_max_mhz"] == "1980"
    assert row.provenance["commit"] == "1a2b3c4d5e6f7a8b" and row.provenance["timing_method"] == "cuda_events"
    assert short(row.provenance) == "NVIDIA H100 · torch 2.13.0 · triton 3.6.0 · 1a2b3c4"
    assert summarize({"cpu": "x86_64", "gpu": None})["gpu"] == "cpu (x86_64)"
    assert summarize("garbage")["gpu"] is None


def test_an_index_written_before_migration_7_reads_every_record_again(runs):
    record = timed(case("flashtensor"), "old", 900.0, "2026-01-01T00:00:00+00:00", method="perf_counter")
    old = record.to_json()
    del old["interpreted"]
    path = runs.record_path(record.key, record.attempt)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(old))
    db = sqlite3.connect(runs.index)
    for number, script in enumerate(MIGRATIONS[:6], start=1):
        for statement in filter(str.strip, script.split(";")):
            db.execute(statement)
        db.execute(f"PRAGMA user_version = {number}")
    # as the older ftrun left it: the file read, its time shown
    db.execute("INSERT INTO ingested VALUES (?, NULL, NULL)", (f"results/{path.name}",))
    db.execute("INSERT INTO attempts (attempt, key, state, median_ms) VALUES ('old', ?, 'done', 900.0)", (record.key,))
    db.commit()
    db.close()
    with Index(runs) as index:
        index.sync()
        (row,) = index.measurements()
    assert row.state == "INTERP" and row.median_ms is None and row.provenance["gpu"] == "NVIDIA H100"

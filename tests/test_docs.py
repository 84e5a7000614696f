"""docs/RESULTS.md names every field a record, its parts and the tidy row have, so the page cannot fall behind
the code."""

from dataclasses import fields
from pathlib import Path

from results.case import CaseSpec
from results.provenance import FIELDS
from results.records import Memory, Record, RunInfo, Timing
from results.rows import COLUMNS, Row

DOC = (Path(__file__).resolve().parent.parent / "docs" / "RESULTS.md").read_text()


def test_every_field_is_documented():
    names = {f.name for cls in (Record, Timing, Memory, RunInfo, CaseSpec, Row) for f in fields(cls)}
    # the record's JSON has `format` on top of its fields
    names |= {"format"} | set(COLUMNS) | set(FIELDS)
    missing = sorted(n for n in names if f"`{n}`" not in DOC)
    assert missing == []

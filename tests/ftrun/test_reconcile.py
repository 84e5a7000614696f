"""Reconciling the scheduler's view with the result files, without a scheduler."""

import os
import time

from ftrun import submissions
from ftrun.submissions import ALIVE_S, TaskView, reconcile
from jobs.spec import SCALES, CaseSpec, kernel_dims


def _submission(runs):
    spec = CaseSpec("kernel", "attn", "torch", kernel_dims(SCALES["tiny"], 4096), "float16", "a100", "tiny")
    task = {"cases": [spec.to_dict()], "limits": {spec.key: 60}, "exclude": []}
    submissions.new_submission(runs, "s1", "c", "a100", "a100", [task])
    sub = submissions.load(runs)[0]
    sub["arrays"] = [{"job_id": "7", "indices": [0], "tasks": ["7"], "submitted": time.time()}]
    return sub


def test_a_cancelled_task_that_still_beats_is_left_to_write_its_own_records(tmp_path):
    # after scancel Slurm says CANCELLED at once, but the task runs on until KillWait ends: a case may
    # still finish; a record written for it now would be a second record of the same run
    sub = _submission(tmp_path)
    beat = tmp_path / "heartbeats" / "s1--0"
    beat.parent.mkdir(parents=True)
    beat.write_text(sub["tasks"][0]["cases"][0]["key"])
    views = {"7": TaskView("CANCELLED", "n1")}
    flight = reconcile(tmp_path, [sub], views, set())
    assert flight.written == 0 and flight.cases
    assert not list((tmp_path / "results").glob("*.json"))

    stale = time.time() - ALIVE_S - 5
    os.utime(beat, (stale, stale))
    flight = reconcile(tmp_path, [sub], views, set())
    assert flight.written == 1
    (record,) = list((tmp_path / "results").glob("*.json"))
    assert '"killed"' in record.read_text()

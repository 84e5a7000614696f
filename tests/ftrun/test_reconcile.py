"""Reconciling the scheduler's view with the result files, without a scheduler."""

import os
import time

from ftrun import submissions
from ftrun.submissions import ALIVE_S, TaskView, reconcile
from jobs.spec import SCALES, kernel_dims
from results.campaigns import TaskPlan
from results.case import CaseSpec
from results.runsdir import RunsDir


def _submission(runs):
    spec = CaseSpec("kernel", "attn", "torch", kernel_dims(SCALES["tiny"], 4096), "float16", "a100", "tiny")
    task = TaskPlan((spec,), {spec.key: 60.0})
    sub = submissions.new_submission(runs, "s1", "c", "a100", "a100", [task])
    return submissions.add_array(runs, sub, ["7"], [0], 1)


def test_a_cancelled_task_that_still_beats_is_left_to_write_its_own_records(tmp_path):
    # after scancel Slurm says CANCELLED at once, but the task runs on until KillWait ends: a case may
    # still finish; a record written for it now would be a second record of the same run
    runs = RunsDir(tmp_path)
    sub = _submission(runs)
    beat = runs.heartbeat("s1", 0)
    runs.touch(beat, sub.tasks[0].cases[0].key)
    views = {"7": TaskView("CANCELLED", "n1")}
    flight = reconcile(runs, [sub], views, set())
    assert flight.written == 0 and flight.cases
    assert not list((tmp_path / "results").glob("*.json"))

    stale = time.time() - ALIVE_S - 5
    os.utime(beat, (stale, stale))
    flight = reconcile(runs, [sub], views, set())
    assert flight.written == 1
    (record,) = list((tmp_path / "results").glob("*.json"))
    assert '"killed"' in record.read_text()

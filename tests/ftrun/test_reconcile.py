"""Reconciling the scheduler's view with the result files, without a scheduler.

The sacct/squeue lines below are what Slurm 22.05 answered on the dev cluster (scripts/slurm-dev.sh)
for an array 0-5%2 with tasks 3 and then 4 scancelled while pending (sacct's range lags one update).
"""

import os
import time

from ftrun.backends.slurm import submissions
from ftrun.backends.slurm.reconcile import ALIVE_S, reconcile
from ftrun.backends.slurm.views import TaskView, reason_text, task_views
from jobs.spec import SCALES, kernel_dims
from results.campaigns import Submission, TaskPlan
from results.case import CaseSpec
from results.records import Record
from results.runsdir import RunsDir

SACCT = ["103_0|RUNNING|vm|None", "103_1|RUNNING|vm|None", "103_[2,4-5%2]|PENDING|None assigned|JobArrayTaskLimit"]
SQUEUE = ["103_2|PENDING||JobArrayTaskLimit", "103_5|PENDING||JobArrayTaskLimit", "103_1|RUNNING|vm|None",
          "103_0|RUNNING|vm|None"]
TASKS = [f"103_{i}" for i in range(6)]


def spec(model="attn", system="torch"):
    return CaseSpec("kernel", model, system, kernel_dims(SCALES["tiny"], 4096), "float16", "a100", "tiny")


def _submission(runs, tasks=None, job_ids=("7",)):
    tasks = tasks or [TaskPlan((spec(),), {spec().key: 60.0})]
    sub = Submission.new("s1", "c", "a100", "a100", tasks)
    runs.write_submission(sub)
    return submissions.add_array(runs, sub, list(job_ids), list(range(len(job_ids))), 2)


def test_pending_tasks_cancelled_under_an_array_limit_vanish_and_are_not_pending():
    views, degraded = task_views(TASKS, SACCT, SQUEUE)
    assert degraded is None
    assert {job: v.state for job, v in views.items()} == {
        "103_0": "RUNNING", "103_1": "RUNNING", "103_2": "PENDING", "103_3": "VANISHED", "103_4": "VANISHED",
        "103_5": "PENDING"}
    assert reason_text(views["103_2"].reason) == "JobArrayTaskLimit: held by the array's task limit"


def test_a_range_names_a_final_state_once_slurmctld_forgot_the_tasks():
    sacct = ["103_0|CANCELLED by 0|vm|None", "103_[2,4-5%2]|CANCELLED by 0|None assigned|JobArrayTaskLimit"]
    views, _ = task_views(TASKS, sacct, [])
    assert [views[j].state for j in TASKS] == ["CANCELLED", "VANISHED", "CANCELLED", "VANISHED", "CANCELLED",
                                               "CANCELLED"]


def test_silence_is_never_a_conclusion_when_a_source_is_missing():
    # slurmctld down: the database alone may be behind
    views, degraded = task_views(["9_0", "9_1"], ["9_0|COMPLETED|vm|None"], None)
    assert views["9_0"].state == "COMPLETED" and views["9_1"].state is None and degraded is None
    # sacct down: what squeue does not list is only ABSENT (a stale heartbeat makes it lost later)
    views, degraded = task_views(["9_0", "9_1"], None, ["9_0|RUNNING|vm|None"])
    assert views["9_1"].state == "ABSENT" and "sacct is unavailable" in degraded
    assert task_views(["9_0"], None, None)[0] == {}


def test_a_suspended_task_and_a_drained_node_are_shown_as_slurm_says(tmp_path):
    runs = RunsDir(tmp_path)
    tasks = [TaskPlan((spec("attn"),), {spec("attn").key: 60.0}), TaskPlan((spec("h2o"),), {spec("h2o").key: 60.0})]
    sub = _submission(runs, tasks, ("7_0", "7_1"))
    drained = "Nodes required for job are DOWN, DRAINED or reserved for jobs in higher priority partitions"
    views = {"7_0": TaskView("SUSPENDED", "vm"), "7_1": TaskView("PENDING", reason=drained)}
    flight = reconcile(runs, [sub], views, set(), set())
    assert flight.suspended == {spec("attn").key}
    assert flight.waiting == {spec("h2o").key: "ReqNodeNotAvail: its nodes are down or drained"}


def test_a_vanished_task_that_never_started_records_its_cases_and_cancel_marks_win(tmp_path):
    runs = RunsDir(tmp_path)
    tasks = [TaskPlan((spec("attn"), spec("h2o")), {spec("attn").key: 60.0, spec("h2o").key: 60.0})]
    sub = _submission(runs, tasks)
    runs.touch(runs.cancel_mark("s1", spec("h2o").key))
    flight = reconcile(runs, [sub], {"7": TaskView("VANISHED")}, set(), set())
    assert flight.written == 2 and not flight.cases
    got = {r.case.model: r for r in (runs.read_record(p) for p in runs.results.glob("*.json"))}
    assert got["h2o"].error_class == "cancelled"
    assert got["attn"].error_class == "killed" and "cancelled while pending" in got["attn"].error


def test_a_cancelled_task_that_still_beats_is_left_to_write_its_own_records(tmp_path):
    # after scancel Slurm says CANCELLED at once, but the task runs on until it has recorded its case in
    # flight: a record written for it now would be a second record of the same run
    runs = RunsDir(tmp_path)
    sub = _submission(runs)
    beat = runs.heartbeat("s1", 0)
    runs.touch(beat, sub.tasks[0].cases[0].key)
    views = {"7": TaskView("CANCELLED", "n1")}
    flight = reconcile(runs, [sub], views, {("s1", 0)}, set())
    assert flight.written == 0 and flight.cases
    assert not list((tmp_path / "results").glob("*.json"))

    stale = time.time() - ALIVE_S - 5
    os.utime(beat, (stale, stale))
    flight = reconcile(runs, [sub], views, set(), set())
    assert flight.written == 1
    (record,) = list((tmp_path / "results").glob("*.json"))
    assert '"killed"' in record.read_text()


def test_a_submission_with_every_position_recorded_is_closed_and_never_read_again(tmp_path):
    from results.index import Index

    runs = RunsDir(tmp_path)
    sub = _submission(runs)
    case = sub.tasks[0].cases[0]
    with Index(runs) as index:
        assert [s.id for s in submissions.open_submissions(runs, index).subs] == ["s1"]
    record = Record.failure(case, "a1", "cancelled", "x").with_run(submission="s1", task=0, position=0)
    runs.write_record(record)
    with Index(runs) as index:
        index.sync()
        assert submissions.open_submissions(runs, index).subs == []
        assert index.closed_submissions() == {"s1"}
    # a closed submission's file is not even parsed again
    runs.submission_path("s1").write_text("{ damaged")
    with Index(runs) as index:
        found = submissions.open_submissions(runs, index)
    assert found.subs == [] and found.bad == []

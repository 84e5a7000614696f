"""Which cases run: a result is never hidden, a cancel holds for followers, a plan holds each case once."""

import pytest
from typer.testing import CliRunner

from ftrun.cli import app
from ftrun.policy import decide
from jobs import experiments as registry
from jobs.experiments import Experiment, Part
from jobs.spec import SCALES


def attempt(state: str, cls: str | None = None, finished: str = "2026-01-01T00:00:00+00:00") -> dict:
    return {"state": state, "error_class": cls, "finished": finished, "node": "n1"}


@pytest.mark.parametrize("later", ["crash", "cancelled", "killed", "preempted", "timeout"])
def test_a_result_is_never_hidden_by_a_later_failure_of_the_same_case(later):
    # a task's closing baseline repetition of a case already DONE failed or was cancelled
    decision = decide([attempt("done"), attempt("failed", later)], retries=0)
    assert (decision.run, decision.why) == (False, "done")


def test_a_cancel_holds_for_followers_and_spends_no_retry():
    cancelled = [attempt("failed", "crash"), attempt("failed", "cancelled")]
    assert decide(cancelled, retries=1).run
    follower = decide(cancelled, retries=1, rerun_cancelled=False)
    assert not follower.run and follower.final and follower.why.startswith("cancelled")
    assert decide(cancelled, retries=1, force=True, rerun_cancelled=False).run
    # two cancels and one crash: one transient failure, within a budget of one
    spent = decide([attempt("failed", "cancelled"), attempt("failed", "cancelled"), attempt("failed", "crash")],
                   retries=1, backoff_s=0)
    assert spent.run and spent.why == "retry after crash (1/1)"


def test_scales_map_every_length_they_are_asked_for_or_refuse_it():
    assert SCALES["full"].seq(777) == 777
    assert SCALES["tiny"].seq(8192) == 80
    with pytest.raises(ValueError, match="the tiny scale has no sequence length for 512"):
        SCALES["tiny"].seq(512)


def test_a_plan_holds_each_case_once_and_an_unmapped_length_is_one_line(runs_dir, monkeypatch):
    twice = Experiment("twice", "a system and a length listed twice", (
        Part("kernel", ("attn",), ("torch", "torch"), (1024, 2048, 1024)),), default_scale="tiny")
    odd = Experiment("odd", "a length the tiny scale does not map", (Part("kernel", ("attn",), ("torch",), (512,)),),
                     default_scale="tiny")
    monkeypatch.setitem(registry.EXPERIMENTS, "twice", twice)
    monkeypatch.setitem(registry.EXPERIMENTS, "odd", odd)
    runner = CliRunner()
    result = runner.invoke(app, ["submit", "twice", "--dry-run", "--runs-dir", str(runs_dir)])
    assert result.exit_code == 0, result.output
    assert "2 cases, 2 to run" in result.output
    result = runner.invoke(app, ["submit", "odd", "--runs-dir", str(runs_dir)])
    assert result.exit_code == 1 and "the tiny scale has no sequence length for 512" in result.output
    assert result.output.strip().startswith("error:") and not runs_dir.exists()

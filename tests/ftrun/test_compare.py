"""`ftrun compare`: the ratio of medians with a bootstrap interval, the verdicts, state changes, provenance
that differs, the sides it understands, and an exit status CI can gate on."""

import json

import pytest
from stores import case, record, samples, two_runs, write
from typer.testing import CliRunner

from ftrun.cli import app
from ftrun.compare import bootstrap_ratio, compare_sides, verdict_of
from results.runsdir import RunsDir

runner = CliRunner()
def test_every_kind_of_change(tmp_path):
    a, b = two_runs(tmp_path)
    result = compare_sides(RunsDir(tmp_path / "none"), str(a.root), f"runs:{b.root}", threshold=0.05)
    verdicts = {p.system if p.model == "attn" else p.case: p.verdict for p in result.pairs}
    assert verdicts == {"torch": "same", "inductor": "slower", "flex": "faster", "xla": "unsure", "tvm": "broken",
                        "cudnn": "fixed", "flashtensor": "interp", "kernel/h2o/torch@64": "only A"}
    slower = next(p for p in result.pairs if p.system == "inductor")
    assert slower.ratio == pytest.approx(1.5, rel=0.03) and slower.ci[0] < slower.ratio < slower.ci[1]
    assert slower.ci[0] > 1.05 and slower.n == (60, 60) and slower.differs == ("gpu", "commit")
    assert "wrong_result" not in next(p for p in result.pairs if p.system == "tvm").note
    assert "DONE -> FAIL" in next(p for p in result.pairs if p.system == "tvm").note
    assert {p.verdict for p in result.regressions} == {"slower", "broken"}
    assert result.provenance["gpu"] == (["NVIDIA H100"], ["NVIDIA A100", "NVIDIA H100"])
    assert result.provenance["commit"] == (["aaaa1111"], ["bbbb2222"])
    # the worst first
    assert [p.verdict for p in result.pairs][:2] == ["broken", "slower"]


def test_the_interval_covers_the_true_ratio_and_shrinks_with_samples():
    wide = bootstrap_ratio(samples(1.0, 0.3, n=20), samples(1.2, 0.3, n=20, seed=1), seed="x")
    narrow = bootstrap_ratio(samples(1.0, 0.3, n=2000), samples(1.2, 0.3, n=2000, seed=1), seed="x")
    assert wide[0] < 1.2 < wide[1] and narrow[0] < 1.2 < narrow[1]
    assert narrow[1] - narrow[0] < (wide[1] - wide[0]) / 3
    assert bootstrap_ratio([1.0] * 10, [2.0] * 10, seed="y") == (2.0, 2.0)


@pytest.mark.parametrize("ratio, ci, verdict", [
    (1.2, (1.1, 1.3), "slower"), (0.8, (0.7, 0.9), "faster"), (1.0, (0.97, 1.03), "same"),
    (1.04, (0.99, 1.08), "unsure"), (1.2, None, "slower"), (1.01, None, "same"),
])
def test_verdicts_at_a_threshold(ratio, ci, verdict):
    assert verdict_of(ratio, ci, 0.05) == verdict


def test_cli_table_json_files_and_exit_status(tmp_path):
    a, b = two_runs(tmp_path)
    out = tmp_path / "cmp"
    result = runner.invoke(app, ["compare", str(a.root), str(b.root), "--out", str(out)])
    assert result.exit_code == 3, result.output
    assert "regression:" in result.output and "slower" in result.output and "differs: gpu" in result.output
    assert "…" not in result.output
    assert max(len(line) for line in result.output.splitlines() if str(tmp_path) not in line) <= 80
    assert {p.name for p in out.iterdir()} == {"compare.csv", "compare.json", "compare.png", "compare.pdf"}
    data = json.loads(runner.invoke(app, ["compare", str(a.root), str(b.root), "--json"]).output)
    assert data["regressions"] == 2 and data["counts"]["slower"] == 1
    # the same side twice: nothing changed, exit 0
    same = runner.invoke(app, ["compare", str(a.root), str(a.root)])
    assert same.exit_code == 0 and "no regression" in same.output


def test_sides_by_campaign_cluster_and_commit_of_one_store(tmp_path):
    runs = RunsDir(tmp_path / "runs")
    write(runs, "20260101-fig12-local-aaaaaa", [record(case("torch"), "x1", samples(1.0, 0.02), second=1,
                                                       campaign="20260101-fig12-local-aaaaaa")])
    write(runs, "20260102-fig12-local-bbbbbb", [record(case("torch"), "x2", samples(2.0, 0.02), second=2,
                                                       campaign="20260102-fig12-local-bbbbbb", commit="cafe0001",
                                                       cluster="h100")])
    store = RunsDir(runs.root)
    for a, b in (("campaign:20260101", "20260102-fig12"), ("aaaa1111", "commit:cafe"), ("cluster:local", "h100")):
        result = compare_sides(store, a, b)
        (pair,) = result.pairs
        assert pair.verdict == "slower" and pair.ratio == pytest.approx(2.0, rel=0.05), (a, b)
    bad = runner.invoke(app, ["compare", "nothing-here", "h100", "--runs-dir", str(runs.root)])
    assert bad.exit_code == 1 and "names no runs folder, campaign, cluster or commit" in bad.output
    assert "clusters h100, local" in bad.output
    ambiguous = runner.invoke(app, ["compare", "campaign:2026", "h100", "--runs-dir", str(runs.root)])
    assert ambiguous.exit_code == 1 and "is ambiguous" in ambiguous.output

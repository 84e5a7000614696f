"""`ftrun report`: one self-contained page, opened in a real headless browser (Debian's chromium): the table
of every case and the figures render, sorting and filtering work, the comparison is there, a screenshot
is taken."""

import re
from pathlib import Path

import pytest
from browser import Browser, chromium
from stores import record, samples, two_runs, write
from typer.testing import CliRunner

from ftrun.cli import app
from results.case import CaseSpec
from results.runsdir import RunsDir

runner = CliRunner()


def campaign_runs(root: Path) -> RunsDir:
    """A small Fig. 12 campaign at the tiny scale: times, an interpreted compiler, NS and a wrong result."""
    runs = RunsDir(root)
    dims = (("batch", 1), ("head_dim", 32), ("heads", 2), ("kv_heads", 2), ("kv_len", 64), ("q_len", 64))
    cases = {s: CaseSpec("kernel", m, s, dims, "float16", "cpu", "tiny") for m in ("attn",)
             for s in ("torch", "inductor", "flashtensor", "tensorrt", "tvm")}
    write(runs, "camp", [record(cases["torch"], "r1", samples(0.4, 0.05), campaign="camp"),
                         record(cases["inductor"], "r2", samples(0.1, 0.05), campaign="camp"),
                         record(cases["flashtensor"], "r3", interpreted=True, campaign="camp"),
                         record(cases["tensorrt"], "r4", error_class="unsupported", campaign="camp"),
                         record(cases["tvm"], "r5", error_class="wrong_result", campaign="camp")])
    return runs


def test_a_self_contained_page(tmp_path):
    runs = campaign_runs(tmp_path / "runs")
    out = tmp_path / "site"
    result = runner.invoke(app, ["report", "--out", str(out), "--runs-dir", str(runs.root)])
    assert result.exit_code == 0, result.output
    html = (out / "index.html").read_text()
    # nothing fetched from anywhere: every image is inside the page, no script or style comes from outside
    assert not re.search(r"""(src|href)=['"]?(https?:|//)""", html) and "url(" not in html
    # fig12-kernel (ours beside the paper's) and fig12-e2e (the paper's alone)
    assert html.count("data:image/png;base64,") == 2
    assert "interpreter: correct, not timed" in html and "out: 3 of 4096 values differ" in html
    assert "A100 16.21" in html  # the paper's number for torch's attention kernel, beside ours


def test_bad_input_is_one_line(tmp_path):
    empty = runner.invoke(app, ["report", "--out", str(tmp_path / "x"), "--runs-dir", str(tmp_path / "none")])
    assert empty.exit_code == 1 and "no results in" in empty.output
    unknown = runner.invoke(app, ["report", "fig99", "--runs-dir", str(tmp_path / "none")])
    assert unknown.exit_code == 1 and "unknown experiment 'fig99'" in unknown.output


def test_the_page_in_headless_chromium(tmp_path):
    if chromium() is None:
        pytest.fail("chromium is not installed: scripts/install.sh installs Debian's chromium (apt)")
    a, b = two_runs(tmp_path)
    out = tmp_path / "site"
    result = runner.invoke(app, ["report", "fig12", "--out", str(out), "--runs-dir", str(b.root), "--baseline",
                                 str(a.root)])
    assert result.exit_code == 0, result.output
    with Browser(width=1280, height=900) as browser:
        browser.open((out / "index.html").as_uri())
        assert browser.evaluate("document.querySelectorAll('#cases tbody tr').length") == 7
        images = browser.evaluate("Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth])")
        # fig12's end-to-end figure has the paper's rows only (none measured here)
        assert [alt for alt, _, _ in images] == ["compare", "fig12-kernel", "fig12-e2e"]
        assert all(complete and width > 500 for _, complete, width in images), images
        # sort by the median, ascending: the times in order, the cases without one last
        browser.evaluate("document.querySelectorAll('#cases th')[7].click()")
        medians = browser.evaluate("Array.from(document.querySelectorAll('#cases tbody tr'))"
                                   ".map(r => r.cells[7].dataset.v)")
        times = [float(v) for v in medians if v]
        assert times == sorted(times) and len(times) == 5 and medians[-2:] == ["", ""]
        browser.evaluate("const f = document.getElementById('filter'); f.value = 'inductor';"
                         "f.dispatchEvent(new Event('input'))")
        assert browser.evaluate("Array.from(document.querySelectorAll('#cases tbody tr'))"
                                ".filter(r => !r.hidden).map(r => r.cells[2].textContent)") == ["inductor"]
        verdicts = browser.evaluate("Array.from(document.querySelectorAll('h2'))"
                                    ".filter(h => h.textContent == 'Comparison').length")
        assert verdicts == 1 and "slower" in browser.evaluate("document.body.innerText")
        assert browser.console_errors() == []
        shot = browser.screenshot(tmp_path / "report.png")
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 50_000

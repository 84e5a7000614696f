"""Figures: the expected panels, failure labels instead of bars, the compiler's speedup, the CSV."""

import csv

from plots import bars, fig13
from plots.common import speedup
from results.paper import paper_rows
from results.rows import Row


def row(device, model, system, ms=None, state="DONE", source="ftrun", scale="full", seqlen=4096):
    dims = {"batch": 1, "heads": 32, "kv_heads": 32, "head_dim": 128, "q_len": seqlen, "kv_len": seqlen}
    return Row("kernel", model, system, device, seqlen, state, dims, scale=scale, median_ms=ms, p10_ms=ms, p90_ms=ms,
               source=source)


def test_one_panel_per_model_and_device_with_failure_labels():
    rows = [row("h200", "attn", "torch", 6.7), row("h200", "attn", "inductor", 0.85),
            row("h200", "attn", "flashtensor", 0.3), row("h200", "attn", "tvm", state="NS"),
            row("h200", "h2o", "torch", 7.2), row("h200", "h2o", "tensorrt", state="OOM"),
            row("h100", "attn", "torch", 11.9, source="paper")]
    fig, plotted = bars.build(rows, ["attn", "h2o"], ["torch", "inductor", "tensorrt", "tvm", "flashtensor"], "t")
    axes = fig.axes
    assert len(axes) == 4
    assert [ax.get_title() for ax in axes[:2]] == ["Attn", "H2O"]
    assert axes[0].get_ylabel().startswith("H200") and axes[2].get_ylabel().startswith("H100 (paper)")
    texts = [t.get_text() for t in axes[0].texts]
    assert "NS" in texts and "2.83× vs Inductor" in texts
    assert "OOM" in [t.get_text() for t in axes[1].texts]
    assert len(axes[0].patches) == 3
    assert {r["system"] for r in plotted if r["device"] == "h200" and r["model"] == "attn"} == {
        "torch", "inductor", "flashtensor", "tvm"}


def test_speedup_ignores_failed_systems_and_needs_the_compiler():
    panel = [row("h200", "attn", "torch", 6.0), row("h200", "attn", "flashtensor", 2.0),
             row("h200", "attn", "tvm", state="FAIL")]
    assert speedup(panel) == (3.0, "torch")
    assert speedup(panel[:1]) is None


def test_fig13_three_panels_per_device_and_tflops(tmp_path):
    rows = [row("h200", "h2o", s, ms, seqlen=L) for s, ms, L in
            [("torch", 1.0, 1024), ("torch", 4.0, 2048), ("flashtensor", 0.1, 1024), ("flashtensor", 0.3, 2048)]]
    paths = fig13.draw(rows, ["h2o"], ["torch", "flashtensor"], tmp_path)
    assert [p.suffix for p in paths] == [".pdf", ".png", ".csv"]
    # 4·B·H·L²·D/2 at L=1024 over 0.1 ms
    assert abs(fig13.causal_tflops(rows[2]) - 4 * 32 * 1024 * 1024 * 128 / 2 / 1e-4 / 1e12) < 1e-9
    assert len(list(csv.DictReader(paths[2].open()))) == 4


def test_paper_rows_are_the_published_numbers():
    rows = paper_rows()
    assert len(rows) == 172
    ours = [r for r in rows if r.figure == "fig12" and r.part == "kernel" and r.device == "h100"
            and r.model == "gemma2" and r.system == "flashtensor-paper"]
    assert ours[0].median_ms == 0.652
    failed = [r for r in rows if r.state != "DONE"]
    assert failed and all(r.system == "tvm" and r.model == "corm" for r in failed)

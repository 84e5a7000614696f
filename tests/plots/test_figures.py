"""Figures: the expected panels, states instead of bars (an interpreted run is never a time), the compiler's
speedup, error bars, drift, a legend of drawn systems only, titles true to the scale, no overlapping text."""

import csv
import itertools

from plots import bars, fig13
from plots.common import PAGE_WIDTH_IN, speedup
from plots.draw import draw
from results.paper import paper_rows
from results.rows import Row

E2E_SMALL = {"batch": 1, "seq": 256, "layers": 2, "hidden": 256, "heads": 4, "kv_heads": 4, "head_dim": 64,
             "intermediate": 688}
E2E_FULL = {**E2E_SMALL, "seq": 4096, "layers": 32, "hidden": 4096, "heads": 32, "kv_heads": 32, "head_dim": 128}


def row(device, model, system, ms=None, state="DONE", source="ftrun", scale="full", seqlen=4096, spread=0.0,
        part="kernel", dims=None, **kw):
    dims = dims or {"batch": 1, "heads": 32, "kv_heads": 32, "head_dim": 128, "q_len": seqlen, "kv_len": seqlen}
    low, high = (ms * (1 - spread), ms * (1 + spread)) if ms else (None, None)
    return Row(part, model, system, device, seqlen, state, dims, scale=scale, median_ms=ms, p10_ms=low, p90_ms=high,
               source=source, **kw)


def texts(ax) -> list[str]:
    return [t.get_text() for t in ax.texts]


def test_one_panel_per_model_and_device_with_state_labels():
    rows = [row("h200", "attn", "torch", 6.7), row("h200", "attn", "inductor", 0.85),
            row("h200", "attn", "flashtensor", 0.3), row("h200", "attn", "tvm", state="NS"),
            row("h200", "h2o", "torch", 7.2), row("h200", "h2o", "tensorrt", state="OOM"),
            row("h100", "attn", "torch", 11.9, source="paper")]
    fig, plotted = bars.build(rows, ["attn", "h2o", "kf"], ["torch", "inductor", "tensorrt", "tvm", "flashtensor"], "t")
    axes = fig.axes
    # kf has no row anywhere: no panel for it
    assert len(axes) == 4 and [ax.get_title() for ax in axes[:2]] == ["Attn", "H2O"]
    assert axes[0].get_ylabel().startswith("H200") and axes[2].get_ylabel().startswith("H100 (paper)")
    assert "TVM: NS" in texts(axes[0]) and "2.83× vs Inductor" in texts(axes[0])
    assert "TensorRT: OOM" in texts(axes[1])
    assert len(axes[0].patches) == 3 and "no result" in texts(axes[3])
    assert {r["system"] for r in plotted if r["device"] == "h200" and r["model"] == "attn"} == {
        "torch", "inductor", "flashtensor", "tvm"}
    # the legend names the systems with a bar, and only those
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == ["PyTorch", "Inductor", "ftrun compiler"]


def test_an_interpreted_run_is_a_state_never_a_time_or_a_speedup():
    rows = [row("cpu", "attn", "torch", 0.4, scale="small", seqlen=256),
            row("cpu", "attn", "flashtensor", None, state="INTERP", scale="small", seqlen=256, interpreted=True)]
    fig, plotted = bars.build(rows, ["attn"], ["torch", "flashtensor"], "t")
    (ax,) = fig.axes
    assert len(ax.patches) == 1 and "ftrun compiler: INTERP" in texts(ax)
    assert not any("×" in t for t in texts(ax)) and speedup(rows) is None
    assert "INTERP: interpreter: correct, not timed" in fig._supxlabel.get_text()
    assert [r["speedup_vs_best_baseline"] for r in plotted] == [None, None]


def test_error_bars_from_p10_p90_and_a_drift_warning():
    rows = [row("h200", "attn", "torch", 2.0, spread=0.25, drift_first_ms=1.0, drift_last_ms=2.0),
            row("h200", "attn", "flashtensor", 0.5, spread=0.1)]
    fig, _ = bars.build(rows, ["attn"], ["torch", "flashtensor"], "t")
    (ax,) = fig.axes
    segments = [seg for c in ax.collections for seg in c.get_segments()]
    assert sorted((round(s[0][1], 3), round(s[1][1], 3)) for s in segments) == [(0.45, 0.55), (1.5, 2.5)]
    assert "drift +100%" in texts(ax) and "drift:" in fig._supxlabel.get_text()


def test_titles_true_to_the_scale(tmp_path):
    small = [row("cpu", "attn", "torch", 90.0, part="e2e", scale="small", seqlen=256, dims=E2E_SMALL)]
    paths = draw("fig12", small, ["attn"], ["torch"], tmp_path, "smoke")
    assert [p.name for p in paths] == ["smoke-e2e.pdf", "smoke-e2e.png", "smoke-e2e.csv"]
    fig, _ = bars.build(small, ["attn"], ["torch"], "t")
    note = fig._supxlabel.get_text()
    assert "a 2-layer Llama-style model (hidden 256)" in note and "Llama-2-7B" not in note
    fig, _ = bars.build([row("h100", "attn", "torch", 500.0, part="e2e", dims=E2E_FULL)], ["attn"], ["torch"], "t")
    assert "Llama-2-7B" in fig._supxlabel.get_text()


def test_no_text_overlaps_and_a_paper_width():
    """Every text of the figure (titles, labels, states, speedups, ticks, legend) is clear of every other."""
    models = ["attn", "h2o", "roco", "kf", "snapkv", "corm", "gemma2"]
    systems = ["torch", "inductor", "tensorrt", "tvm", "korch", "einnet", "flashtensor", "cudnn", "flex", "xla"]
    rows = [row("h200", m, s, 1.0 + i, state="DONE" if i % 3 else "NS") for m in models for i, s in enumerate(systems)]
    rows += [r for r in paper_rows() if r.figure == "fig12" and r.part == "kernel"]
    fig, _ = bars.build(rows, models, systems + ["flashtensor-paper"], "Fig. 12 (kernel): time")
    assert fig.get_figwidth() == PAGE_WIDTH_IN
    assert overlapping_texts(fig) == []


def test_a_drift_note_is_clear_of_a_tall_state_label():
    """A user's two-case experiment on a CPU: the baseline drifted and the compiler ran in the interpreter,
    whose state label stands as tall as the short panel."""
    rows = [row("cpu", m, s, ms, scale="tiny", seqlen=64, drift_first_ms=0.3, drift_last_ms=24.0)
            for m in ("sink_window", "attn") for s, ms in (("torch", 24.0), ("inductor", 0.3), ("flex", 116.0))]
    rows += [row("cpu", m, "flashtensor", state="INTERP", scale="tiny", seqlen=64, interpreted=True)
             for m in ("sink_window", "attn")]
    fig, _ = bars.build(rows, ["sink_window", "attn"], ["torch", "inductor", "flex", "flashtensor"], "mine")
    assert any("drift" in t for ax in fig.axes for t in texts(ax))
    assert overlapping_texts(fig) == []


def overlapping_texts(fig) -> list[tuple[str, str]]:
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = []
    (legend,) = fig.legends
    shown = [legend.get_title(), fig._supxlabel, *legend.get_texts()]
    for ax in fig.axes:
        if not (ax.get_visible() and ax.axison):
            continue  # a grid's empty slot: nothing of it is drawn
        low, high = ax.get_ylim()
        shown += [ax.title, ax.yaxis.label, *ax.texts]
        # tick labels outside the view are not drawn
        shown += [t for t in ax.get_yticklabels() if low <= t.get_position()[1] <= high]
    for artist in shown:
        assert artist.get_fontsize() >= 5.5, artist.get_text()
        if artist.get_visible() and artist.get_text().strip():
            boxes.append((artist.get_text(), artist.get_window_extent(renderer)))
    # the rotated state labels of one panel sit in their own slots; the legend and title never touch a panel
    return [(a, b) for (a, ba), (b, bb) in itertools.combinations(boxes, 2) if ba.overlaps(bb)
            and ba.width > 0 and bb.width > 0]


def test_speedup_ignores_failed_systems_and_needs_the_compiler():
    panel = [row("h200", "attn", "torch", 6.0), row("h200", "attn", "flashtensor", 2.0),
             row("h200", "attn", "tvm", state="FAIL")]
    assert speedup(panel) == (3.0, "torch")
    assert speedup(panel[:1]) is None


def test_fig13_three_panels_per_device_and_tflops(tmp_path):
    rows = [row("h200", "h2o", s, ms, seqlen=L, spread=0.1) for s, ms, L in
            [("torch", 1.0, 1024), ("torch", 4.0, 2048), ("flashtensor", 0.1, 1024), ("flashtensor", 0.3, 2048)]]
    rows.append(row("h200", "h2o", "tensorrt", None, state="NS", seqlen=1024))
    paths = draw("fig13", rows, ["h2o"], ["torch", "tensorrt", "flashtensor"], tmp_path, "fig13")
    assert [p.suffix for p in paths] == [".pdf", ".png", ".csv"]
    # 4·B·H·L²·D/2 at L=1024 over 0.1 ms
    assert abs(fig13.causal_tflops(rows[2]) - 4 * 32 * 1024 * 1024 * 128 / 2 / 1e-4 / 1e12) < 1e-9
    assert len(list(csv.DictReader(paths[2].open()))) == 5
    assert fig13.flops_unit(rows) == ("TFLOP/s", 1.0)
    # a length without a time is named above the time panel, never drawn as a point
    partial = rows + [row("h200", "h2o", "flashtensor", None, state="INTERP", seqlen=4096, interpreted=True)]
    assert fig13.untimed_text(partial) == "ftrun compiler: INTERP at 4096\nTensorRT: NS"
    tiny = [row("cpu", "h2o", "torch", 5.0, seqlen=64, dims={"batch": 1, "heads": 2, "kv_heads": 2, "head_dim": 32,
                                                              "q_len": 64, "kv_len": 64})]
    assert fig13.flops_unit(tiny)[0] == "MFLOP/s"


def test_paper_rows_are_the_published_numbers():
    rows = paper_rows()
    assert len(rows) == 172
    ours = [r for r in rows if r.figure == "fig12" and r.part == "kernel" and r.device == "h100"
            and r.model == "gemma2" and r.system == "flashtensor-paper"]
    assert ours[0].median_ms == 0.652
    failed = [r for r in rows if r.state != "DONE"]
    assert failed and all(r.system == "tvm" and r.model == "corm" for r in failed)

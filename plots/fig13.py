"""Fig. 13: the H2O kernel across sequence lengths: time, effective TFLOP/s and peak memory."""

from __future__ import annotations

from pathlib import Path

from plots.common import device_rows, plain_log_ticks, pyplot, save
from plots.style import SYSTEM_COLORS, device_label, system_label
from results.rows import Row


def causal_tflops(row: dict) -> float | None:
    """Causal attention FLOPs 4·B·H·Lq·Lk·D/2 over the median time (the paper's accounting)."""
    if row.state != "DONE" or not row.dims:
        return None
    d = row.dims
    flops = 4 * d["batch"] * d["heads"] * d["q_len"] * d["kv_len"] * d["head_dim"] / 2
    return flops / (row.median_ms * 1e-3) / 1e12


def draw(rows: list[Row], models: list[str], systems: list[str], out_dir: Path, name: str = "fig13",
         title: str = "Fig. 13: H2O kernel vs sequence length") -> list[Path]:
    plt = pyplot()
    devices = device_rows(rows) or ["(no results)"]
    fig, axes = plt.subplots(len(devices), 3, figsize=(11, 3 * len(devices)), squeeze=False)
    plotted = []
    for i, device in enumerate(devices):
        dev_rows = [r for r in rows if device_label(r) == device]
        for system in systems:
            series = sorted((r for r in dev_rows if r.system == system), key=lambda r: r.seqlen)
            plotted += [r.as_dict() for r in series]
            done = [r for r in series if r.state == "DONE"]
            if not done:
                continue
            style = {"color": SYSTEM_COLORS.get(system, "#444"), "marker": "o", "label": system_label(system)}
            xs = [r.seqlen for r in done]
            axes[i][0].plot(xs, [r.median_ms for r in done], **style)
            flops = [(r.seqlen, causal_tflops(r)) for r in done]
            axes[i][1].plot([x for x, f in flops if f], [f for _, f in flops if f], **style)
            mem = [(r.seqlen, r.peak_mib) for r in done if r.peak_mib]
            if mem:
                axes[i][2].plot([x for x, _ in mem], [m for _, m in mem], **style)
        for ax, ylabel in zip(axes[i], ("ms (log)", "TFLOP/s", "peak MiB (log)")):
            ax.set_xscale("log", base=2)
            ax.set_xlabel("sequence length", fontsize=8)
            ax.set_ylabel(f"{device}\n{ylabel}" if ylabel.startswith("ms") else ylabel, fontsize=8)
            ax.tick_params(labelsize=7)
        for ax in (axes[i][0], axes[i][2]):
            ax.set_yscale("log")
            plain_log_ticks(ax.yaxis)
        for ax in axes[i]:
            plain_log_ticks(ax.xaxis)
        if not any(r.peak_mib for r in dev_rows):
            axes[i][2].text(0.5, 0.5, "no memory measured\n(CPU or paper source)", ha="center", va="center",
                            transform=axes[i][2].transAxes, fontsize=8)
        axes[i][0].legend(fontsize=7, frameon=False)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return save(fig, out_dir, name, plotted)

"""Fig. 13: the H2O kernel across sequence lengths: time, effective TFLOP/s and peak memory.

Times are drawn with their p10-p90 band; a length without a time (not supported, failed, or checked in
Triton's interpreter) is marked at the foot of the time panel with its state, never as a point.
"""

from __future__ import annotations

from plots.common import (
    PAGE_WIDTH_IN,
    Sheet,
    device_rows,
    drift_text,
    footnote,
    heading,
    plain_log_ticks,
    plotted,
    pyplot,
    spread,
    state_label,
)
from plots.style import SYSTEM_COLORS, device_label, figure_title, shape_text
from results.rows import Row

PANELS = ("ms (log)", "FLOP/s", "peak MiB (log)")


def causal_tflops(row: Row) -> float | None:
    """Causal attention FLOPs 4·B·H·Lq·Lk·D/2 over the median time (the paper's accounting)."""
    if not row.done or not row.dims:
        return None
    d = row.dims
    flops = 4 * d["batch"] * d["heads"] * d["q_len"] * d["kv_len"] * d["head_dim"] / 2
    return flops / (row.median_ms * 1e-3) / 1e12


def sheets(name: str = "fig13") -> list[Sheet]:
    return [Sheet(name, f"{figure_title(name)}: H2O kernel vs sequence length", build)]


def build(rows: list[Row], models: list[str], systems: list[str], title: str, name: str = "fig13"):
    """The figure (a row of three panels per device) and the rows it plots."""
    plt = pyplot()
    devices = device_rows(rows) or ["(no results)"]
    fig, axes = plt.subplots(len(devices), 3, figsize=(PAGE_WIDTH_IN, 0.8 + 2.0 * len(devices)), squeeze=False,
                             layout="constrained")
    out, shapes, drawn = [], [], []
    for i, device in enumerate(devices):
        dev_rows = [r for r in rows if device_label(r) == device]
        shapes.append(shape_text(device, dev_rows))
        unit, factor = flops_unit(dev_rows)
        for system in systems:
            series = sorted((r for r in dev_rows if r.system == system), key=lambda r: r.seqlen)
            out += [plotted(r, name) for r in series]
            if _series(axes[i], system, series, factor) and system not in drawn:
                drawn.append(system)
        _axes(axes[i], device, dev_rows, unit)
    heading(fig, plt, title, [(s, "line") for s in drawn])
    fig.supxlabel(footnote(rows, shapes), fontsize=6, x=0.01, ha="left", color="#555555", linespacing=1.3)
    return fig, out


def flops_unit(rows: list[Row]) -> tuple[str, float]:
    """The throughput unit that reads best for these rows (a CPU's tiny kernels are MFLOP/s, not 1e-6 TFLOP/s)
    and the factor from TFLOP/s to it."""
    peak = max((causal_tflops(r) or 0.0 for r in rows), default=0.0)
    for unit, factor in (("TFLOP/s", 1.0), ("GFLOP/s", 1e3), ("MFLOP/s", 1e6)):
        if peak * factor >= 0.5:
            return unit, factor
    return "MFLOP/s", 1e6


def _series(row_axes, system: str, series: list[Row], unit_scale: float) -> bool:
    """Draw one system's lines; mark its lengths without a time. True if a line was drawn."""
    done = [r for r in series if r.done]
    style = {"color": SYSTEM_COLORS.get(system, "#444"), "marker": "o", "markersize": 3, "linewidth": 1.2}
    if not done:
        return False
    xs = [r.seqlen for r in done]
    row_axes[0].plot(xs, [r.median_ms for r in done], **style)
    bars = [(r.seqlen, r.median_ms, spread(r)) for r in done if spread(r)]
    if bars:
        row_axes[0].errorbar([x for x, _, _ in bars], [m for _, m, _ in bars], fmt="none", ecolor=style["color"],
                             yerr=[[s[0] for _, _, s in bars], [s[1] for _, _, s in bars]], elinewidth=0.8,
                             capsize=1.5)
    row_axes[1].plot(xs, [causal_tflops(r) * unit_scale for r in done], **style)
    mem = [(r.seqlen, r.peak_mib) for r in done if r.peak_mib]
    if mem:
        row_axes[2].plot([x for x, _ in mem], [m for _, m in mem], **style)
    return True


def untimed_text(rows: list[Row]) -> str:
    """One line per system without a time at some lengths: 'TensorRT: NS', or 'TVM: FAIL at 8192'."""
    lines = []
    for system in dict.fromkeys(r.system for r in rows):
        missing = [r for r in rows if r.system == system and not r.done]
        for state in dict.fromkeys(r.state for r in missing):
            lengths = sorted(r.seqlen for r in missing if r.state == state)
            every = len(lengths) == len([r for r in rows if r.system == system])
            lines.append(f"{state_label(missing[0]).split(':')[0]}: {state}"
                         + ("" if every else f" at {', '.join(map(str, lengths))}"))
    return "\n".join(lines)


def _axes(row_axes, device: str, dev_rows: list[Row], flops_unit: str) -> None:
    lengths = sorted({r.seqlen for r in dev_rows})
    for ax, ylabel in zip(row_axes, (PANELS[0], flops_unit, PANELS[2])):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("sequence length", fontsize=7)
        ax.set_ylabel(ylabel, fontsize=7)
        ax.tick_params(labelsize=6)
        if lengths:
            ax.set_xticks(lengths)
            ax.set_xlim(lengths[0] / 1.2, lengths[-1] * 1.2)
        plain_log_ticks(ax.xaxis)
    # lengths without a time are named in the time panel, never drawn as points
    untimed = untimed_text(dev_rows)
    if untimed:
        # above the panel, where no line can run into it
        row_axes[0].set_title(untimed, loc="left", fontsize=5.5, color="#555555", linespacing=1.2, pad=2)
    drift = drift_text(dev_rows)
    if drift:
        row_axes[0].text(0.98, 0.02, drift, transform=row_axes[0].transAxes, ha="right", va="bottom", fontsize=6,
                         color="#d35400", fontweight="bold")
    row_axes[1].set_title(device, fontsize=7.5, pad=3)
    for ax in (row_axes[0], row_axes[2]):
        ax.set_yscale("log")
        plain_log_ticks(ax.yaxis)
    if not any(r.peak_mib for r in dev_rows):
        row_axes[2].text(0.5, 0.5, "no memory measured\n(CPU, or not in the source)", ha="center", va="center",
                         transform=row_axes[2].transAxes, fontsize=7, color="#555555")

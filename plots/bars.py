"""Grouped bar panels: one panel per model, one bar per system, a block of panels per device (Fig. 12, 14).

Drawn at a paper's text width: at most four panels side by side (more models wrap), every system in the
same slot of every panel, a bar only for a time (median, with p10-p90 error bars), the system's name and
state in its slot otherwise, and the legend only for systems that have a bar.
"""

from __future__ import annotations

import math

from plots.common import (
    PAGE_WIDTH_IN,
    device_rows,
    drift_text,
    footnote,
    heading,
    plain_log_ticks,
    plotted,
    pyplot,
    speedup,
    spread,
    state_label,
)
from plots.style import COMPILERS, SYSTEM_COLORS, device_label, model_label, shape_text, system_label
from results.rows import Row

MAX_COLUMNS = 4
PANEL_HEIGHT_IN = 1.45
FAILURE_COLOR = "#b00020"
MUTED_COLOR = "#555555"


def build(rows: list[Row], models: list[str], systems: list[str], title: str, name: str = "figure"):
    """The figure and the rows it plots. Models and systems without any row are left out."""
    plt = pyplot()
    models = [m for m in models if any(r.model == m for r in rows)] or ["(no results)"]
    slots = [s for s in systems if any(r.system == s for r in rows)]
    devices = device_rows(rows) or ["(no results)"]
    columns = min(MAX_COLUMNS, len(models))
    per_device = math.ceil(len(models) / columns)
    fig, axes = plt.subplots(len(devices) * per_device, columns, squeeze=False, layout="constrained",
                             figsize=(PAGE_WIDTH_IN, 0.5 + PANEL_HEIGHT_IN * len(devices) * per_device))
    out, shapes = [], []
    for i, device in enumerate(devices):
        dev_rows = [r for r in rows if device_label(r) == device]
        shapes.append(shape_text(device, dev_rows))
        for j, model in enumerate(models):
            ax = axes[i * per_device + j // columns][j % columns]
            panel = [r for r in dev_rows if r.model == model]
            out += [plotted(r, name, _gain(r, panel)) for r in panel]
            _panel(ax, panel, slots)
            ax.set_title(model_label(model), fontsize=7.5, pad=2)
            if j % columns == 0:
                ax.set_ylabel(f"{device}\nms (log)", fontsize=7)
        for j in range(len(models), per_device * columns):
            axes[i * per_device + j // columns][j % columns].set_axis_off()
    heading(fig, plt, title, [(s, "bar") for s in _drawn(rows, slots)])
    fig.supxlabel(footnote(rows, shapes), fontsize=6, x=0.01, ha="left", color=MUTED_COLOR, linespacing=1.3)
    return fig, out


def _drawn(rows: list[Row], slots: list[str]) -> list[str]:
    """The systems with at least one bar: the legend's entries."""
    return [s for s in slots if any(r.system == s and r.done for r in rows)]


def _gain(row: Row, panel: list[Row]) -> float | None:
    if row.system not in COMPILERS:
        return None
    g = speedup(panel)
    return g[0] if g else None


def _panel(ax, panel: list[Row], slots: list[str]) -> None:
    by_system = {r.system: r for r in panel}
    done = [r for r in panel if r.done]
    low = min(r.p10_ms or r.median_ms for r in done) if done else 1.0
    high = max(r.p90_ms or r.median_ms for r in done) if done else 10.0
    floor = low / 4
    ax.set_yscale("log")
    ax.set_ylim(floor, high * 4)
    plain_log_ticks(ax.yaxis, high * 4 / floor)
    ax.tick_params(axis="y", labelsize=6, pad=1)
    ax.set_xlim(-0.6, len(slots) - 0.4)
    ax.set_xticks([])
    for x, system in enumerate(slots):
        row = by_system.get(system)
        if row is None:
            continue
        if row.done:
            ax.bar(x, row.median_ms, color=SYSTEM_COLORS.get(system, "#444"), width=0.8)
            bar = spread(row)
            if bar:
                ax.errorbar(x, row.median_ms, yerr=[[bar[0]], [bar[1]]], fmt="none", ecolor="#222",
                            elinewidth=0.6, capsize=1.2, capthick=0.6)
        else:
            color = MUTED_COLOR if row.interpreted else FAILURE_COLOR
            ax.text(x, floor * 1.15, state_label(row), ha="center", va="bottom", rotation=90, fontsize=5.5,
                    color=color)
    if not panel:
        ax.text(0.5, 0.5, "no result", transform=ax.transAxes, ha="center", va="center", fontsize=7,
                color=MUTED_COLOR)
    gain = speedup(panel)
    lines = [f"{gain[0]:.2f}× vs {system_label(gain[1])}"] if gain else []
    drift = drift_text(panel)
    if gain:
        ax.text(0.5, 0.97, lines[0], transform=ax.transAxes, ha="center", va="top", fontsize=6.5,
                fontweight="bold")
    if drift:
        # at the left: the last slot, the compiler's, may hold a state label as tall as the panel
        ax.text(0.02, 0.80 if gain else 0.97, drift, transform=ax.transAxes, ha="left", va="top", fontsize=6,
                color="#d35400", fontweight="bold")

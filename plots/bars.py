"""Grouped bar panels: one panel per model, one bar per system, one row per device (Fig. 12, Fig. 14)."""

from __future__ import annotations

from pathlib import Path

from plots.common import device_rows, failure_text, plain_log_ticks, pyplot, save, speedup
from plots.style import SYSTEM_COLORS, device_label, model_label, system_label
from results.rows import Row


def bar_figure(rows: list[Row], models: list[str], systems: list[str], title: str, out_dir: Path,
               name: str) -> list[Path]:
    fig, plotted = build(rows, models, systems, title)
    return save(fig, out_dir, name, plotted)


def build(rows: list[Row], models: list[str], systems: list[str], title: str):
    """The figure (rows of devices × columns of models) and the rows it plots."""
    plt = pyplot()
    devices = device_rows(rows) or ["(no results)"]
    fig, axes = plt.subplots(len(devices), len(models), figsize=(2.3 * len(models) + 1, 2.6 * len(devices)),
                             squeeze=False)
    plotted = []
    for i, device in enumerate(devices):
        for j, model in enumerate(models):
            panel = [r for r in rows if device_label(r) == device and r.model == model]
            plotted += _panel(axes[i][j], panel, systems)
            if i == 0:
                axes[i][j].set_title(model_label(model), fontsize=10)
            if j == 0:
                axes[i][j].set_ylabel(f"{device}\nms (log)", fontsize=9)
    shown = [s for s in systems if any(r.system == s for r in rows)]
    handles = [plt.Rectangle((0, 0), 1, 1, color=SYSTEM_COLORS.get(s, "#444")) for s in shown]
    fig.legend(handles, [system_label(s) for s in shown], loc="lower center", ncol=max(1, min(len(shown), 7)),
               fontsize=8, frameon=False, bbox_to_anchor=(0.5, -0.02 - 0.02 * (len(shown) > 7)))
    fig.suptitle(title, fontsize=11)
    fig.tight_layout(rect=(0, 0.06, 1, 0.97))
    return fig, plotted


def _panel(ax, panel: list[Row], systems: list[str]) -> list[dict]:
    by_system = {r.system: r for r in panel}
    present = [s for s in systems if s in by_system]
    done = [by_system[s].median_ms for s in present if by_system[s].state == "DONE"]
    floor = min(done) / 3 if done else 0.1
    ax.set_yscale("log")
    plain_log_ticks(ax.yaxis)
    for x, system in enumerate(present):
        row = by_system[system]
        if row.state == "DONE":
            ax.bar(x, row.median_ms, color=SYSTEM_COLORS.get(system, "#444"), width=0.8)
        else:
            ax.text(x, floor * 1.3, failure_text(row), ha="center", va="bottom", rotation=90, fontsize=7,
                    color="#b00020")
    if done:
        ax.set_ylim(floor, max(done) * 3)
    ax.set_xticks(range(len(present)))
    ax.set_xticklabels([system_label(s) for s in present], rotation=90, fontsize=6)
    ax.tick_params(axis="y", labelsize=7)
    gain = speedup(panel)
    if gain:
        ax.text(0.5, 0.97, f"{gain[0]:.2f}× vs {system_label(gain[1])}", transform=ax.transAxes,
                ha="center", va="top", fontsize=7, fontweight="bold")
    out = []
    for r in panel:
        g = speedup(panel) if r.system in ("flashtensor", "flashtensor-paper") else None
        out.append({**r.as_dict(), "speedup_vs_best_baseline": round(g[0], 3) if g else None})
    return out

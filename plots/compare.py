"""The figure of `ftrun compare`: each timed case's ratio of medians B/A with its 95 % interval.

A column-wide forest plot: one line per case, log scale, the band of "same" (within the threshold) shaded,
slower cases red, faster green, unsure grey; the worst cases first.
"""

from __future__ import annotations

import math
from pathlib import Path

from plots.common import plain_log_ticks, pyplot

COLUMN_WIDTH_IN = 3.5
MAX_CASES = 60
COLORS = {"slower": "#c0392b", "faster": "#1e8449", "same": "#2c3e50", "unsure": "#7f8c8d"}


def draw(result, out_dir: Path, name: str = "compare") -> list[Path]:
    plt = pyplot()
    timed = [p for p in result.pairs if p.ratio is not None]
    shown = sorted(timed, key=lambda p: -abs(math.log(p.ratio)))[:MAX_CASES]
    fig, ax = plt.subplots(figsize=(COLUMN_WIDTH_IN, 1.0 + 0.17 * max(1, len(shown))), layout="constrained")
    t = result.threshold
    ax.axvspan(1 / (1 + t), 1 + t, color="#d5dbdb", alpha=0.6, linewidth=0)
    ax.axvline(1.0, color="#555555", linewidth=0.6)
    for y, p in enumerate(reversed(shown)):
        color = COLORS.get(p.verdict, "#2c3e50")
        if p.ci:
            ax.plot(p.ci, [y, y], color=color, linewidth=1.2)
        ax.plot([p.ratio], [y], "o", color=color, markersize=3)
    ax.set_yticks(range(len(shown)))
    ax.set_yticklabels([p.case for p in reversed(shown)], fontsize=5.5)
    ax.set_xscale("log")
    values = [v for p in shown for v in ((p.ci or (p.ratio, p.ratio)) + (p.ratio,))] or [1.0]
    low, high = min(values + [1 / (1 + t)]), max(values + [1 + t])
    ax.set_xlim(low / 1.15, high * 1.15)
    plain_log_ticks(ax.xaxis, high / low)
    ax.tick_params(axis="x", labelsize=6)
    ax.set_xlabel(f"B / A (median time; < 1: B faster), 95% interval; band: within ±{t:.0%}", fontsize=6.5)
    counts = ", ".join(f"{n} {v}" for v, n in result.counts().items())
    ax.set_title(f"A: {result.a['said']}\nB: {result.b['said']}\n{counts}", fontsize=6.5, loc="left")
    if not shown:
        ax.text(0.5, 0.5, "no case timed on both sides", transform=ax.transAxes, ha="center", fontsize=7)
    if len(timed) > len(shown):
        fig.supxlabel(f"the {len(shown)} largest changes of {len(timed)} timed cases", fontsize=6)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{name}.png", out_dir / f"{name}.pdf"]
    fig.savefig(paths[0], dpi=200, bbox_inches="tight")
    fig.savefig(paths[1], bbox_inches="tight")
    plt.close(fig)
    return paths

"""Shared figure plumbing: what a sheet is, row grouping, state labels, error bars, footnotes."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from dataclasses import dataclass

from plots.style import COMPILERS, device_label, system_label
from results.records import INTERPRETED, INTERPRETED_TEXT
from results.rows import DRIFT_THRESHOLD, Row

CSV_COLUMNS = ("figure", "source", "device", "scale", "part", "model", "system", "seqlen", "state", "median_ms",
               "p10_ms", "p90_ms", "peak_mib", "drift_first_ms", "drift_last_ms", "speedup_vs_best_baseline",
               "reason")
# a paper's text width (two columns) in inches: figures are drawn at the size they are printed
PAGE_WIDTH_IN = 7.0
FOOTNOTE_CHARS = 150
# what each state label means, for the footnote of a figure that shows it
STATE_MEANINGS = {
    INTERPRETED: f"{INTERPRETED_TEXT} (Triton's interpreter, no GPU)",
    "NS": "not supported or not installed", "FAIL": "failed (the reason: ftrun status --why)",
    "OOM": "out of memory", "TLE": "over its time limit", "CANCELLED": "cancelled",
}


@dataclass(frozen=True)
class Sheet:
    """One figure file of a figure, as data (plots.draw draws it): its name, its title, its drawing
    (rows, models, systems, title, name) -> (matplotlib figure, the rows it plots), and its part, if it
    shows the rows of one part only."""

    name: str
    title: str
    build: Callable
    part: str | None = None


def pyplot():
    """matplotlib's pyplot on the file-only backend (figures are written, never shown)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plain_log_ticks(axis, span: float | None = None) -> None:
    """Log-axis tick labels as plain numbers (0.5, 2, 10) instead of powers of ten, no minor labels; over
    a span of less than two decades also at 2 and 5, so that no axis reads as a single number."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    if span is not None and span < 100:
        axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


def device_rows(rows: list[Row]) -> list[str]:
    """Device labels in figure order: measured devices first, then imported logs, then the paper's."""
    order = {"ftrun": 0, "flashtensor-artifact": 1, "paper": 2}
    seen = []
    for r in sorted(rows, key=lambda r: (order.get(r.source, 1), r.device)):
        label = device_label(r)
        if label not in seen:
            seen.append(label)
    return seen


def speedup(rows: list[Row]) -> tuple[float, str] | None:
    """Speedup of the compiler over the fastest timed baseline among rows of one panel. Only timed rows
    count: an interpreted run of the compiler has no speedup."""
    ours = [r for r in rows if r.system in COMPILERS and r.done]
    base = [r for r in rows if r.system not in COMPILERS and r.done]
    if not ours or not base:
        return None
    best = min(base, key=lambda r: r.median_ms)
    return best.median_ms / ours[0].median_ms, best.system


def spread(row: Row) -> tuple[float, float] | None:
    """(below, above) the median to p10 and p90, for an error bar; None without both."""
    if row.p10_ms is None or row.p90_ms is None or row.median_ms is None:
        return None
    return max(0.0, row.median_ms - row.p10_ms), max(0.0, row.p90_ms - row.median_ms)


def drift_text(rows: list[Row]) -> str:
    """'drift +117%' for the worst drifted row of a panel, else ''."""
    drifted = [r for r in rows if r.drifted()]
    if not drifted:
        return ""
    worst = max(drifted, key=lambda r: abs(r.drift))
    return f"drift {worst.drift:+.0%}"


def footnote(rows: list[Row], shapes: list[str]) -> str:
    """The figure's small print: what each device row measured, what its state labels mean, drift."""
    parts = [s for s in shapes if s]
    states = sorted({r.state for r in rows if r.state in STATE_MEANINGS})
    if states:
        parts.append("; ".join(f"{s}: {STATE_MEANINGS[s]}" for s in states))
    if any(r.drifted() for r in rows):
        parts.append(f"drift: the baseline's first and last run in its chunk differ by more than "
                     f"{DRIFT_THRESHOLD:.0%}, so that panel's times are suspect")
    if any(r.done and spread(r) for r in rows):
        parts.append("error bars: p10 to p90 of the samples")
    return "\n".join(textwrap.fill(p, FOOTNOTE_CHARS) for p in parts)


def heading(fig, plt, title: str, shown: list[tuple[str, str]]) -> None:
    """The title, with the legend of the systems drawn (as "bar" or "line") under it: only those."""
    from plots.style import SYSTEM_COLORS

    if not shown:
        fig.suptitle(title, fontsize=9)
        return
    handles = [plt.Rectangle((0, 0), 1, 1, color=SYSTEM_COLORS.get(s, "#444")) if kind == "bar" else
               plt.Line2D([], [], color=SYSTEM_COLORS.get(s, "#444"), marker="o", markersize=3)
               for s, kind in shown]
    fig.legend(handles, [system_label(s) for s, _ in shown], loc="outside upper center", ncol=min(len(shown), 6),
               fontsize=6.5, frameon=False, handlelength=1.0, columnspacing=1.0, handletextpad=0.4, title=title,
               title_fontsize=9)


def state_label(row: Row) -> str:
    """The text drawn in place of a bar: the system and why it has no time."""
    return f"{system_label(row.system)}: {row.state}"


def plotted(row: Row, name: str, gain: float | None = None) -> dict:
    return {**row.as_dict(), "figure": name, "speedup_vs_best_baseline": round(gain, 3) if gain else None,
            "reason": row.reason()}

"""Shared figure plumbing: row grouping, failure labels, speedup text, saving PDF + PNG + CSV."""

from __future__ import annotations

from pathlib import Path

from plots.style import COMPILERS, device_label
from results.rows import Row, write_csv

CSV_COLUMNS = ("figure", "source", "device", "scale", "part", "model", "system", "seqlen", "state", "median_ms",
               "p10_ms", "p90_ms", "peak_mib", "speedup_vs_best_baseline")


def pyplot():
    """matplotlib's pyplot on the file-only backend (figures are written, never shown)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plain_log_ticks(axis) -> None:
    """Log-axis tick labels as plain numbers (0.5, 2, 10) instead of powers of ten, no minor labels."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


def device_rows(rows: list[Row]) -> list[str]:
    """Device labels in figure order: measured devices first, then the paper's."""
    seen = []
    for r in sorted(rows, key=lambda r: (r.source == "paper", r.device)):
        label = device_label(r)
        if label not in seen:
            seen.append(label)
    return seen


def speedup(rows: list[Row]) -> tuple[float, str] | None:
    """Speedup of the compiler over the fastest finished baseline among rows of one panel."""
    ours = [r for r in rows if r.system in COMPILERS and r.state == "DONE"]
    base = [r for r in rows if r.system not in COMPILERS and r.state == "DONE"]
    if not ours or not base:
        return None
    best = min(base, key=lambda r: r.median_ms)
    return best.median_ms / ours[0].median_ms, best.system


def failure_text(row: Row | None) -> str:
    return "–" if row is None else row.state


def save(fig, out_dir: Path, name: str, plotted: list[dict]) -> list[Path]:
    """Write name.pdf, name.png and name.csv (the plotted numbers) into out_dir."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{name}.pdf", out_dir / f"{name}.png", out_dir / f"{name}.csv"]
    fig.savefig(paths[0], bbox_inches="tight")
    fig.savefig(paths[1], bbox_inches="tight", dpi=150)
    write_csv(paths[2], [{**row, "figure": name} for row in plotted], CSV_COLUMNS)
    pyplot().close(fig)
    return paths

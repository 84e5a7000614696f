"""Fig. 12: kernel time (and end-to-end time) of the seven attention variants × systems."""

from __future__ import annotations

from pathlib import Path

from plots.bars import bar_figure
from plots.style import figure_title
from results.rows import Row

TITLES = {"kernel": "kernel time per call", "e2e": "end-to-end prefill time"}


def draw(rows: list[Row], models: list[str], systems: list[str], out_dir: Path, name: str = "fig12") -> list[Path]:
    """One figure per part that has rows: NAME-kernel and NAME-e2e."""
    paths = []
    for part, what in TITLES.items():
        part_rows = [r for r in rows if r.part == part]
        if part_rows:
            title = f"{figure_title(name)} ({part}): {what}, ms (log scale), lower is better"
            paths += bar_figure(part_rows, models, systems, title, out_dir, f"{name}-{part}")
    return paths

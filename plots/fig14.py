"""Fig. 14: attention and Gemma2 kernels against attention libraries."""

from __future__ import annotations

from pathlib import Path

from plots.bars import bar_figure
from plots.style import figure_title
from results.rows import Row


def draw(rows: list[Row], models: list[str], systems: list[str], out_dir: Path, name: str = "fig14") -> list[Path]:
    title = f"{figure_title(name)}: attention libraries, kernel time per call, ms (log scale), lower is better"
    return bar_figure(rows, models, systems, title, out_dir, name)

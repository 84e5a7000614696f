"""Fig. 14: attention and Gemma2 kernels against attention libraries."""

from __future__ import annotations

from pathlib import Path

from plots.bars import bar_figure
from results.rows import Row


def draw(rows: list[Row], models: list[str], systems: list[str], out_dir: Path) -> list[Path]:
    return bar_figure(rows, models, systems, "Fig. 14: attention libraries, time per call, ms", out_dir, "fig14")

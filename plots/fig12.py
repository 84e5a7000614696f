"""Fig. 12: kernel time (and end-to-end time) of the seven attention variants × systems."""

from __future__ import annotations

from pathlib import Path

from plots.bars import bar_figure
from results.rows import Row


def draw(rows: list[Row], models: list[str], systems: list[str], out_dir: Path) -> list[Path]:
    paths = []
    for part, title in (("kernel", "Fig. 12 (kernel): time per call"),
                        ("e2e", "Fig. 12 (end to end): Llama-2-7B prefill time")):
        part_rows = [r for r in rows if r.part == part]
        if part_rows or part == "kernel":
            paths += bar_figure(part_rows, models, systems, f"{title}, ms, lower is better", out_dir,
                                f"fig12-{part}")
    return paths

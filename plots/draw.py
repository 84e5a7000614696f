"""The one drawing station: an experiment's figure and its rows, drawn and saved sheet by sheet.

A figure module says what to draw, as data (`sheets`: each sheet's file name, title, drawing and the part
of the rows it shows); the sheet's drawing (`plots.bars.build`, `plots.fig13.build`) makes the matplotlib
figure and the rows it plots; `save` writes NAME.pdf, NAME.png and NAME.csv (the plotted numbers).
"""

from __future__ import annotations

from pathlib import Path

from plots import fig12, fig13, fig14
from plots.common import CSV_COLUMNS, pyplot
from results.rows import Row, write_csv

SHEETS = {"fig12": fig12.sheets, "fig13": fig13.sheets, "fig14": fig14.sheets}


def draw(figure: str, rows: list[Row], models: list[str], systems: list[str], out_dir: Path,
         name: str) -> list[Path]:
    """Draw and save the sheets of one figure ("fig12", "fig13", "fig14") under `name`; a sheet of one part
    is drawn only where that part has rows."""
    paths = []
    for sheet in SHEETS[figure](name):
        shown = [r for r in rows if sheet.part is None or r.part == sheet.part]
        if sheet.part is not None and not shown:
            continue
        fig, plotted = sheet.build(shown, models, systems, sheet.title, sheet.name)
        paths += save(fig, out_dir, sheet.name, plotted)
    return paths


def save(fig, out_dir: Path, name: str, rows: list[dict]) -> list[Path]:
    """Write name.pdf, name.png and name.csv (the plotted numbers) into out_dir."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{name}.pdf", out_dir / f"{name}.png", out_dir / f"{name}.csv"]
    fig.savefig(paths[0], bbox_inches="tight")
    fig.savefig(paths[1], bbox_inches="tight", dpi=200)
    write_csv(paths[2], rows, CSV_COLUMNS)
    pyplot().close(fig)
    return paths

"""`ftrun report`: one self-contained HTML page about a runs folder.

The page needs no server and no network: figures are PNGs inside it (base64), the table's data is inside
it, and its few lines of script only sort and filter. Sections: the state of every campaign, warnings
(drift, interpreted runs, invalid files), the figures of each experiment (with the paper's device rows
where the paper has that figure), a sortable table of every case (state, median, p10-p90, reason, compile
time, peak memory, the paper's number for the same case, provenance), the provenance of the results,
and a comparison when a baseline is given.
"""

from __future__ import annotations

import base64
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ftrun import report_html
from ftrun.errors import FtrunError, choose
from ftrun.figures import measured_rows, select
from jobs.experiments import experiments
from results.paper import paper_rows
from results.provenance import short
from results.rows import Row
from results.runsdir import RunsDir

PAPER_FIGURES = ("fig12", "fig13", "fig14")


@dataclass
class Figure:
    experiment: str
    name: str
    png_base64: str


@dataclass
class ReportData:
    title: str
    runs: str
    generated: str
    version: str
    status: object
    rows: list[Row]
    paper: dict[tuple, dict[str, float]]
    figures: list[Figure] = field(default_factory=list)
    comparison: object | None = None
    compare_png: str | None = None
    notes: list[str] = field(default_factory=list)


def write_report(runs: RunsDir, out_dir: Path, wanted: list[str], baseline: str | None = None,
                 candidate: str | None = None, threshold: float = 0.05) -> Path:
    """Write out_dir/index.html; returns its path."""
    data = collect(runs, wanted, baseline, candidate, threshold)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "index.html"
    tmp = out_dir / ".index.html.tmp"
    tmp.write_text(report_html.page(data), encoding="utf-8")
    tmp.replace(path)
    return path


def collect(runs: RunsDir, wanted: list[str], baseline: str | None, candidate: str | None,
            threshold: float) -> ReportData:
    from datetime import datetime, timezone

    from ftrun.clihelp import version_text
    from ftrun.status import collect as status

    for name in wanted:
        choose("experiment", name, experiments())
    rows = measured_rows(runs)
    names = wanted or _experiments_of(runs, rows)
    if not names and baseline is None:
        raise FtrunError(f"no results in {runs.root}: run `ftrun submit EXPERIMENT` (or import some) first")
    shown = _rows_of(rows, names) if wanted else rows
    data = ReportData(f"ftrun report: {', '.join(names) or 'comparison'}", str(runs.root),
                      datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), version_text(),
                      status(runs, with_cases=False), shown, paper_numbers())
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            data.figures += _figures(runs, name, Path(tmp) / name)
        if baseline is not None:
            _comparison(data, runs, baseline, candidate, threshold, Path(tmp) / "compare")
    return data


def _experiments_of(runs: RunsDir, rows: list[Row]) -> list[str]:
    """The experiments this runs folder ran (its campaigns) and the figures of the logs it imported; without
    either, every experiment its results fit."""
    from results.index import Index

    named = {r.figure for r in rows if r.figure}
    if runs.index.exists():
        with Index(runs) as index:
            named |= {r["experiment"] for r in index.db.execute("SELECT DISTINCT experiment FROM planned")}
    known = [n for n in experiments() if n in named]
    return known or [n for n in experiments() if select(rows, n)[0]]


def _rows_of(rows: list[Row], names: list[str]) -> list[Row]:
    keep: list[Row] = []
    for name in names:
        keep += [r for r in select(rows, name)[0] if r not in keep]
    return keep


def _figures(runs: RunsDir, name: str, out: Path) -> list[Figure]:
    from ftrun.figures import plot

    source = "both" if name in PAPER_FIGURES else "measured"
    try:
        paths = plot(name, runs, out, source)
    except FtrunError:
        return []
    return [Figure(name, p.stem, _base64(p)) for p in paths if p.suffix == ".png"]


def _comparison(data: ReportData, runs: RunsDir, baseline: str, candidate: str | None, threshold: float,
                out: Path) -> None:
    from ftrun.compare import compare_sides
    from plots.compare import draw

    data.comparison = compare_sides(runs, baseline, candidate or f"runs:{runs.root}", threshold)
    png = [p for p in draw(data.comparison, out) if p.suffix == ".png"][0]
    data.compare_png = _base64(png)


def paper_numbers() -> dict[tuple, dict[str, float]]:
    """(part, model, system, the paper's seqlen) -> {device: ms} of the paper's published numbers; our
    compiler is set beside the paper's ("flashtensor" looks up "flashtensor-paper")."""
    out: dict[tuple, dict[str, float]] = {}
    for r in paper_rows():
        if r.done and r.figure in ("fig12", "fig13"):
            # a case in both figures (H2O at 4096) keeps its Fig. 12 number, the one Fig. 12 shows
            out.setdefault((r.part, r.model, r.system, r.seqlen), {}).setdefault(r.device, r.median_ms)
    return out


def paper_for(row: Row, paper: dict[tuple, dict[str, float]]) -> dict[str, float]:
    system = "flashtensor-paper" if row.system == "flashtensor" else row.system
    return paper.get((row.part, row.model, system, row.length), {})


def provenance_groups(rows: list[Row]) -> list[tuple[str, int, dict]]:
    """Each distinct provenance among the rows, with how many results share it, most common first."""
    groups: dict[str, list] = {}
    for r in rows:
        text = short(r.provenance)
        if text:
            groups.setdefault(text, [0, r.provenance])[0] += 1
    return sorted(((text, n, facts) for text, (n, facts) in groups.items()), key=lambda g: -g[1])


def _base64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()

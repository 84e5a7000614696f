"""`ftrun plot`: pick an experiment's rows from the store and/or the paper, and draw its figure."""

from __future__ import annotations

import importlib
from pathlib import Path

from ftrun.errors import FtrunError, choose
from jobs.experiments import experiments
from jobs.spec import SCALES
from results.index import Index
from results.paper import paper_rows
from results.rows import Row
from results.runsdir import RunsDir

SOURCES = ("measured", "paper", "both")


def measured_rows(runs: RunsDir) -> list[Row]:
    if not runs.index.exists() and not runs.results.is_dir():
        return []
    with Index(runs) as index:
        index.sync()
        rows = index.measurements()
    out = []
    for r in rows:
        scale = SCALES.get(r.scale)
        out.append(r.with_(full_seqlen=scale.full_seqlen(r.seqlen) if scale else r.seqlen))
    return out


def select(rows: list[Row], experiment: str) -> tuple[list[Row], list[str], list[str]]:
    """Rows of an experiment, with its models and systems in figure order. Rows that name their figure
    (the paper's numbers, imported artifact logs) belong to that figure only; measured rows belong where
    their part, model, system and (the paper's) sequence length fit. Systems found only in the rows (the
    paper's own compiler) are drawn after the experiment's."""
    exp = experiments()[experiment]
    models, systems = [], []
    for part in exp.parts:
        models += [m for m in part.models if m not in models]
        systems += [s for s in part.systems if s not in systems]
    chosen = [r for r in rows if _belongs(r, exp)]
    models += [m for m in dict.fromkeys(r.model for r in chosen) if m not in models]
    systems += [s for s in dict.fromkeys(r.system for r in chosen) if s not in systems]
    return chosen, models, systems


def _belongs(row: Row, exp) -> bool:
    if row.figure is not None:
        return row.figure == exp.name
    return any(row.part == part.part and row.model in part.models and row.system in part.systems
               and row.length in part.seqlens for part in exp.parts)


def plot(experiment: str, runs: RunsDir, out_dir: Path | None, source: str = "measured") -> list[Path]:
    choose("experiment", experiment, experiments())
    choose("source", source, SOURCES)
    rows: list[Row] = []
    if source in ("measured", "both"):
        rows += measured_rows(runs)
    if source in ("paper", "both"):
        rows += paper_rows()
    chosen, models, systems = select(rows, experiment)
    if not chosen:
        hint = f"run `ftrun submit {experiment}` first, or use --source paper" if source != "paper" else ""
        raise FtrunError(f"no {source} results for {experiment} in {runs.root}; {hint}".rstrip("; "))
    module = importlib.import_module(f"plots.{experiments()[experiment].figure}")
    return module.draw(chosen, models, systems, Path(out_dir or runs.figures), experiment)

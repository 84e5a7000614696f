"""`ftrun plot`: pick an experiment's rows from the store and/or the paper, and draw its figure."""

from __future__ import annotations

from pathlib import Path

from ftrun.errors import FtrunError, choose
from jobs import plugins
from jobs.experiments import EXPERIMENTS, experiments
from jobs.experiments import experiment as find_experiment
from jobs.spec import SCALES
from plots.draw import draw
from results.case import CaseSpec
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
    their part, model, system and (the paper's) sequence length fit, and, for a plug-in case, when they
    were measured with its current source. Systems found only in the rows (the paper's own compiler) are
    drawn after the experiment's."""
    exp = find_experiment(experiment)
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
    return is_current(row) and any(row.part == part.part and row.model in part.models and row.system in part.systems
                                   and row.length in part.seqlens for part in exp.parts)


def is_current(row: Row) -> bool:
    """Whether a plug-in case's row was measured with its source as it is now (an edited variant's older
    results stay in the store under their own keys, and are never drawn beside the new ones)."""
    if row.source != "ftrun" or not plugins.is_plugin_case(row.model):
        return True
    try:
        options = plugins.case_options(row.model)
    except KeyError:
        return True  # the plug-in is not loaded here: nothing to tell versions apart by
    spec = CaseSpec(row.part, row.model, row.system, tuple(sorted(row.dims.items())), row.dtype, row.device,
                    row.scale, options=options)
    return spec.key == row.key


def plot(experiment: str, runs: RunsDir, out_dir: Path | None, source: str = "measured") -> list[Path]:
    if find_experiment(experiment) is None:
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
    return draw_experiment(find_experiment(experiment), chosen, models, systems, Path(out_dir or runs.figures))


def draw_experiment(exp, rows: list[Row], models: list[str], systems: list[str], out: Path) -> list[Path]:
    """The figure its experiment names (fig12 bars, the fig13 sweep, fig14 bars), under the experiment's
    name. A user's bar-figure experiment over several lengths gets one panel per case and length."""
    if exp.name not in EXPERIMENTS and exp.figure != "fig13":
        rows, models = per_length(rows, models)
    return draw(exp.figure, rows, models, systems, out, exp.name)


def per_length(rows: list[Row], models: list[str]) -> tuple[list[Row], list[str]]:
    """One panel per case and length (the panels of fig12 are per case, at one length)."""
    lengths = sorted({r.length for r in rows})
    if len(lengths) < 2:
        return rows, models
    return ([r.with_(model=f"{r.model} @{r.length}") for r in rows], [f"{m} @{n}" for m in models for n in lengths])

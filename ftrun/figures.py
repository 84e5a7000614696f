"""`ftrun plot`: pick an experiment's rows from the store and/or the paper, and draw its figure."""

from __future__ import annotations

import importlib
from pathlib import Path

from ftrun.errors import FtrunError, choose
from jobs import plugins
from jobs.experiments import EXPERIMENTS, Experiment, experiments
from jobs.experiments import experiment as find_experiment
from jobs.spec import SCALES
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
    """Rows of an experiment's parts (paper rows by figure name), with its models and systems in order."""
    exp = find_experiment(experiment)
    models, systems, chosen = [], [], []
    for part in exp.parts:
        models += [m for m in part.models if m not in models]
        systems += [s for s in part.systems if s not in systems]
        for r in rows:
            if r.source == "paper":
                keep = r.figure == experiment
            else:
                keep = r.part == part.part and r.model in part.models and r.system in part.systems \
                    and r.length in part.seqlens and is_current(r)
            if keep and r not in chosen:
                chosen.append(r)
    if any(r.source == "paper" for r in chosen) and "flashtensor-paper" not in systems:
        systems.append("flashtensor-paper")
    return chosen, models, systems


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
    exp, out = find_experiment(experiment), Path(out_dir or runs.figures)
    if exp.name in EXPERIMENTS:
        return importlib.import_module(f"plots.{exp.figure}").draw(chosen, models, systems, out)
    return draw_own(exp, chosen, models, systems, out)


def draw_own(exp: Experiment, rows: list[Row], models: list[str], systems: list[str], out: Path) -> list[Path]:
    """A user's experiment in the style of the paper figure it names, under its own name: one bar panel
    per case (fig12: states instead of bars where a system made no time, speedup over the best baseline),
    or the sequence-length sweep (fig13)."""
    if exp.figure == "fig13":
        from plots import fig13

        return fig13.draw(rows, models, systems, out, name=exp.name, title=f"{exp.name}: {exp.about}")
    from plots.bars import bar_figure

    lengths = sorted({r.length for r in rows})
    if len(lengths) > 1:
        # one panel per case and length: the panels of fig12 are per case
        models = [f"{m} @{n}" for m in models for n in lengths]
        rows = [r.with_(model=f"{r.model} @{r.length}") for r in rows]
    paths = []
    for part in dict.fromkeys(r.part for r in rows):
        part_rows = [r for r in rows if r.part == part]
        title = f"{exp.name} ({part}): {exp.about}; ms per call, lower is better"
        paths += bar_figure(part_rows, models, systems, title, out, f"{exp.name}-{part}")
    return paths

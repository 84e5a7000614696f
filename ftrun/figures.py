"""`ftrun plot`: pick an experiment's rows from the store and/or the paper, and draw its figure."""

from __future__ import annotations

import importlib
from pathlib import Path

from ftrun.errors import FtrunError, choose
from jobs.experiments import experiments
from jobs.spec import SCALES
from results.index import Index
from results.paper import paper_rows

SOURCES = ("measured", "paper", "both")


def measured_rows(runs_dir: Path) -> list[dict]:
    if not (Path(runs_dir) / "index.sqlite").exists() and not (Path(runs_dir) / "results").is_dir():
        return []
    from results.records import state_label

    with Index(runs_dir) as index:
        index.sync()
        rows = [dict(r) for r in index.measurements()]
    for r in rows:
        r["source"] = "measured"
        r["state"] = state_label(r["state"], r["error_class"])
        scale = SCALES.get(r["scale"])
        r["full_seqlen"] = scale.full_seqlen(r["seqlen"]) if scale else r["seqlen"]
    return rows


def select(rows: list[dict], experiment: str) -> tuple[list[dict], list[str], list[str]]:
    """Rows of an experiment's parts (paper rows by figure name), with its models and systems in order."""
    exp = experiments()[experiment]
    models, systems, chosen = [], [], []
    for part in exp.parts:
        models += [m for m in part.models if m not in models]
        systems += [s for s in part.systems if s not in systems]
        for r in rows:
            if r["source"] == "paper":
                keep = r["figure"] == experiment
            else:
                keep = (r["part"] == part.part and r["model"] in part.models and r["system"] in part.systems
                        and r["full_seqlen"] in part.seqlens)
            if keep and r not in chosen:
                chosen.append(r)
    if any(r["source"] == "paper" for r in chosen) and "flashtensor-paper" not in systems:
        systems.append("flashtensor-paper")
    return chosen, models, systems


def plot(experiment: str, runs_dir: Path, out_dir: Path | None, source: str = "measured") -> list[Path]:
    choose("experiment", experiment, experiments())
    choose("source", source, SOURCES)
    rows = []
    if source in ("measured", "both"):
        rows += measured_rows(runs_dir)
    if source in ("paper", "both"):
        rows += paper_rows()
    chosen, models, systems = select(rows, experiment)
    if not chosen:
        hint = f"run `ftrun submit {experiment}` first, or use --source paper" if source != "paper" else ""
        raise FtrunError(f"no {source} results for {experiment} in {runs_dir}; {hint}".rstrip("; "))
    module = importlib.import_module(f"plots.{experiments()[experiment].figure}")
    out = out_dir or Path(runs_dir) / "figures"
    return module.draw(chosen, models, systems, Path(out))

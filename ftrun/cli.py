"""The ftrun command line. Each command parses options, calls one library function, renders the result.

Heavy imports (torch, matplotlib, submitit) happen inside the library functions a command calls, so
`ftrun --help`, `status` and `plot` start fast on a login node. The commands that read results (status,
plot, compare, report, results, bench) live in ftrun/cli_view.py, on this same app.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from ftrun.boundary import check_environment, checked_runs, command
from ftrun.clihelp import App, show_version
from ftrun.errors import FtrunError

app = App(no_args_is_help=True, pretty_exceptions_show_locals=False,
          help="Run the FlashTensor evaluation (Fig. 12-14) on Slurm or here, and draw its figures.")
results_app = App(no_args_is_help=True, help="Export, import and rebuild the result store.")
app.add_typer(results_app, name="results")
bench_app = App(no_args_is_help=True, help="Benchmarks that print tables (no result store).")
app.add_typer(bench_app, name="bench")

RunsOption = Annotated[Path | None, typer.Option(
    "--runs-dir", metavar="DIR", help="runs folder [default: ./ftrun-runs or ftrun.toml]")]
Config = Annotated[Path | None, typer.Option(
    "--config", metavar="FILE", help="ftrun.toml [default: ./ftrun.toml, ~/.config/ftrun]")]
Json = Annotated[bool, typer.Option("--json", help="print JSON instead of tables")]


@app.callback()
@command
def _top(version: Annotated[bool, typer.Option(
        "--version", callback=show_version, is_eager=True, help="print ftrun's version and commit, and exit")] = False):
    """Run the FlashTensor evaluation (Fig. 12-14) on Slurm or here, and draw its figures."""
    check_environment()


def _settings(config: Path | None, runs_dir: Path | None):
    """The settings, with their plug-ins active in this process (imported when first needed)."""
    from ftrun.settings import load_settings
    from jobs import plugins

    settings = checked_runs(load_settings(config, runs_dir))
    plugins.activate(settings.plugins, settings.experiments)
    return settings


@app.command()
@command
def submit(
    experiment: Annotated[str, typer.Argument(help="fig12, fig13, fig14, smoke, or one of ftrun.toml / plug-ins")],
    cluster: Annotated[str | None, typer.Option("--cluster", "-c", help="a cluster of ftrun.toml, or local")] = None,
    scale: Annotated[
        str | None, typer.Option(help="full, small or tiny [default: full on a GPU, small without]")] = None,
    only: Annotated[list[str] | None, typer.Option(
        "--only", help="key=value filter (model, system, seqlen, part); repeatable")] = None,
    force: Annotated[bool, typer.Option(help="re-run cases that already have a result")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="show what would run; run nothing")] = False,
    weights: Annotated[Path | None, typer.Option(
        help="e2e: a local Hugging Face safetensors checkpoint [default: seeded random weights]")] = None,
    follow: Annotated[bool, typer.Option(
        "--follow", help="Slurm: stay until every case is final, topping up to the cap and retrying")] = False,
    poll: Annotated[float, typer.Option(help="--follow: seconds between looks at Slurm")] = 15.0,
    gpus: Annotated[str | None, typer.Option(
        help="local: only these GPUs, e.g. 0,3 [default: every visible GPU, one case per GPU at a time]")] = None,
    runs_dir: RunsOption = None,
    config: Config = None,
):
    """Run an experiment's cases that have no valid result yet.

    [bold]Examples[/]
      ftrun submit fig12 --cluster local
      ftrun submit fig12 --cluster local --scale small --only model=attn --only model=h2o
      ftrun submit fig13 --only system=torch --only system=inductor --dry-run
      ftrun submit fig12 --cluster a100 --follow
    """
    from ftrun import render
    from ftrun.submit import Request, submit_experiment

    if not poll > 0:
        raise FtrunError(f"--poll {poll:g}: give a positive number of seconds between looks at Slurm")
    settings = _settings(config, runs_dir)
    gpu_list = tuple(g.strip() for g in gpus.split(",") if g.strip()) if gpus else None
    request = Request(experiment, cluster, scale, tuple(only or ()), force, weights, gpu_list)
    render.submit_events(submit_experiment(settings, request, dry_run, sys.argv, follow, poll))




@app.command()
@command
def clusters(config: Config = None, runs_dir: RunsOption = None, as_json: Json = False):
    """Show the resolved cluster configuration."""
    from dataclasses import asdict

    from ftrun import render

    settings = _settings(config, runs_dir)
    if as_json:
        render.json_out({"config": str(settings.source) if settings.source else None,
                         "runs_dir": str(settings.runs.root), "default_cluster": settings.default_cluster,
                         "clusters": {name: asdict(c) for name, c in settings.clusters.items()}})
        return
    render.line(f"config: {settings.source or '(none: built-in defaults)'}; runs folder: {settings.runs.root}")
    blocks = {name: {k: v for k, v in asdict(c).items() if k != "name" and v not in (None, {}, ())}
              for name, c in settings.clusters.items()}
    render.settings_blocks("clusters", blocks)


@app.command()
@command
def logs(
    case: Annotated[str, typer.Argument(help="a case key (or unique prefix), or model/system[@seqlen]")],
    follow: Annotated[bool, typer.Option("--follow", "-f", help="keep printing while the case runs")] = False,
    tail: Annotated[int, typer.Option(help="print the last N lines")] = 100,
    runs_dir: RunsOption = None,
    config: Config = None,
):
    """Print a case's log: its running task's, else its latest attempt's.

    [bold]Examples[/]
      ftrun logs attn/inductor
      ftrun logs 3f2a9c --follow
    """
    from ftrun import manage, render

    settings = _settings(config, runs_dir)
    member = manage.find_case(settings.runs, case)
    path = manage.log_path(settings.runs, member)
    if path is None or not path.exists():
        raise FtrunError(f"case {member.spec.key} ({member.spec.label()}) has no log yet")
    render.note(f"{member.spec.label()} [{member.spec.key}]: {path}")
    render.follow_file(path, tail, follow, lambda: manage.in_flight(settings.runs, member.spec.key))


@app.command()
@command
def cancel(
    only: Annotated[list[str] | None, typer.Option("--only", help="key=value filter, as for submit")] = None,
    all_cases: Annotated[bool, typer.Option("--all", help="cancel every case in flight")] = False,
    runs_dir: RunsOption = None,
    config: Config = None,
):
    """Stop cases in flight on Slurm: tasks with nothing else to do are scancelled, the rest skip them.

    Cancelled cases stay cancelled for `submit --follow`; a plain `ftrun submit` (or --force) runs them again.

    [bold]Example[/]
      ftrun cancel --only system=tvm
    """
    from ftrun import manage, render

    settings = _settings(config, runs_dir)
    done = manage.cancel(settings, only or [], all_cases, sys.argv, render.waiting)
    render.line(f"cancelled {done.cases} case(s) in flight; scancelled {', '.join(done.jobs) or 'no job'}")


@app.command()
@command
def retry(
    error_class: Annotated[list[str] | None, typer.Option("--class", help="only failures of this class")] = None,
    only: Annotated[list[str] | None, typer.Option("--only", help="key=value filter, as for submit")] = None,
    cluster: Annotated[str | None, typer.Option("--cluster", "-c", help="run there instead")] = None,
    runs_dir: RunsOption = None,
    config: Config = None,
):
    """Run failed cases again, including final ones (wrong result, compile error, OOM, NS).

    [bold]Examples[/]
      ftrun retry --class timeout
      ftrun retry --class compile_error --only system=flashtensor
    """
    from ftrun import manage, render
    from ftrun.submit import run_plans

    settings = _settings(config, runs_dir)
    if cluster is not None:
        settings.cluster(cluster)
    plans = manage.retry(settings, only or [], error_class or [], cluster, settings.runs)
    if not plans:
        render.line("no failed case matches: nothing to retry")
        return
    render.submit_events(run_plans(settings, plans, sys.argv))


# the commands that read results (ftrun/cli_view.py) and those about cases and the compiler (list, compile:
# ftrun/cli_cases.py) register themselves on `app`; they import what they share from here
from ftrun import cli_cases, cli_view  # noqa: E402, F401


def main() -> None:
    app()

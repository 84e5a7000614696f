"""The ftrun command line. Each command parses options, calls one library function, renders the result.

Heavy imports (torch, matplotlib, submitit) happen inside the library functions a command calls, so
`ftrun --help`, `status` and `plot` start fast on a login node.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Annotated

import typer

from ftrun.errors import FtrunError, choose

app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode="rich",
                  pretty_exceptions_show_locals=False,
                  help="Run the FlashTensor evaluation (Fig. 12-14) on Slurm or here, and draw its figures.")
results_app = typer.Typer(no_args_is_help=True, help="Export, import and rebuild the result store.")
app.add_typer(results_app, name="results")
bench_app = typer.Typer(no_args_is_help=True, help="Benchmarks that print tables (no result store).")
app.add_typer(bench_app, name="bench")

RunsOption = Annotated[Path | None, typer.Option(
    "--runs-dir", help="runs folder [default: ./ftrun-runs or ftrun.toml]")]
Config = Annotated[Path | None, typer.Option("--config", help="ftrun.toml [default: ./ftrun.toml, ~/.config/ftrun]")]


def command(fn):
    """The error boundary: whatever the user can cause (bad input, a file system that refuses, a damaged
    store) ends as one red line and exit status 1, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        import sqlite3

        from ftrun import render
        from results.files import StoreError

        try:
            return fn(*args, **kwargs)
        except (FtrunError, StoreError) as e:
            render.error(str(e))
        except OSError as e:
            render.error(_os_error(e))
        except sqlite3.Error as e:
            render.error(f"the index database failed ({e}); `ftrun results rebuild` rebuilds it from the files")
        raise typer.Exit(1)

    return wrapper


def _os_error(e: OSError) -> str:
    import errno

    where = f" {e.filename}" if e.filename else ""
    if e.errno == errno.ENOSPC:
        return f"no space left on the device of{where}: free some space; finished results are kept"
    if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"not allowed to write or read{where} ({e.strerror}): check the permissions or choose --runs-dir"
    return f"{e.strerror or e}{':' + where if where else ''}"


def _settings(config: Path | None, runs_dir: Path | None):
    from ftrun.settings import load_settings

    return load_settings(config, runs_dir)


@app.command()
@command
def submit(
    experiment: Annotated[str, typer.Argument(help="fig12, fig13, fig14 or smoke")],
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

    settings = _settings(config, runs_dir)
    gpu_list = tuple(g.strip() for g in gpus.split(",") if g.strip()) if gpus else None
    request = Request(experiment, cluster, scale, tuple(only or ()), force, weights, gpu_list)
    render.submit_events(submit_experiment(settings, request, dry_run, sys.argv, follow, poll))


@app.command()
@command
def status(
    experiment: Annotated[str | None, typer.Argument(help="only this experiment")] = None,
    cases: Annotated[bool, typer.Option("--cases/--summary", help="also show every case's state")] = True,
    watch: Annotated[bool, typer.Option("--watch", "-w", help="refresh until Ctrl-C")] = False,
    every: Annotated[float, typer.Option(help="--watch: seconds between refreshes")] = 15.0,
    runs_dir: RunsOption = None,
    config: Config = None,
):
    """Show every submitted case's state: NEW, QUEUED, RUNNING, DONE, NS, OOM, TLE, FAIL, CANCELLED.

    State comes from result files first, then sacct, squeue and heartbeats for what is in flight.

    [bold]Examples[/]
      ftrun status fig12 --summary
      ftrun status --watch
    """
    import time

    from ftrun import render
    from ftrun.status import collect

    settings = _settings(config, runs_dir)
    parallel = {name: c.max_tasks for name, c in settings.clusters.items()}
    while True:
        report = collect(settings.runs, experiment, parallel=parallel, with_cases=cases)
        if watch:
            render.clear()
        render.status(report, cases)
        if not watch:
            return
        time.sleep(every)


@app.command()
@command
def plot(
    experiment: Annotated[str, typer.Argument(help="fig12, fig13, fig14 or smoke")],
    source: Annotated[str, typer.Option(help="measured, paper (the paper's published numbers) or both")] = "measured",
    out: Annotated[Path | None, typer.Option("--out", help="output folder [default: RUNS_DIR/figures]")] = None,
    runs_dir: RunsOption = None,
    config: Config = None,
):
    """Draw an experiment's figure as PDF and PNG, with the CSV of the plotted numbers.

    [bold]Examples[/]
      ftrun plot fig12
      ftrun plot fig12 --source paper --out figs/
    """
    from ftrun import render
    from ftrun.figures import plot as draw

    settings = _settings(config, runs_dir)
    for path in draw(experiment, settings.runs, out, source):
        render.line(str(path))


@app.command("list")
@command
def list_things():
    """List experiments, systems, models and scales."""
    from ftrun import render
    from jobs.experiments import experiments
    from jobs.spec import KERNEL_MODELS, SCALES
    from jobs.systems import systems

    render.rows_table("experiments", ["name", "about"], [[e.name, e.about] for e in experiments().values()])
    render.rows_table("scales", ["name", "about"], [[s.name, s.about] for s in SCALES.values()])
    render.line(f"systems: {', '.join(systems())}")
    render.line(f"models: {', '.join(KERNEL_MODELS)}")


@app.command()
@command
def clusters(config: Config = None, runs_dir: RunsOption = None):
    """Show the resolved cluster configuration."""
    from dataclasses import asdict

    from ftrun import render

    settings = _settings(config, runs_dir)
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
    plans = manage.retry(settings, only or [], error_class or [], cluster, settings.runs)
    if not plans:
        render.line("no failed case matches: nothing to retry")
        return
    render.submit_events(run_plans(settings, plans, sys.argv))


@bench_app.command("kernels")
@command
def bench_kernels(
    only: Annotated[list[str] | None, typer.Option("--only", help="model=... or system=... (repeatable)")] = None,
    seqlen: Annotated[list[int] | None, typer.Option("--seqlen", help="sequence length (repeatable)")] = None,
    scale: Annotated[str, typer.Option(help="full, small or tiny")] = "full",
):
    """Time the compiler's kernels and the peers (torch, inductor, cuDNN SDPA, FlexAttention) in one process.

    Each system passes the float64 check before it is timed; the compiler's time is broken down per kernel.

    [bold]Examples[/]
      ftrun bench kernels
      ftrun bench kernels --only model=h2o --seqlen 1024 --seqlen 8192
    """
    from ftrun import render
    from ftrun.campaign import parse_filters
    from jobs import bench
    from jobs.spec import KERNEL_MODELS, SCALES

    choose("scale", scale, SCALES)
    for length in seqlen or []:
        try:
            SCALES[scale].seq(length)
        except ValueError as e:
            raise FtrunError(str(e)) from None
    filters = parse_filters(only or [])
    unknown = set(filters) - {"model", "system"}
    if unknown:
        raise FtrunError(f"bench filters take model and system only; got {', '.join(sorted(unknown))}")
    models = [m for m in KERNEL_MODELS if m in filters.get("model", {m})]
    systems = [s for s in bench.PEERS if s in filters.get("system", {s})] or sorted(filters["system"])
    rows = bench.bench(models, seqlen or [4096], systems, scale)
    render.line(bench.render(rows))


@results_app.command("export")
@command
def results_export(
    csv: Annotated[Path, typer.Option("--csv", help="file to write")],
    all_attempts: Annotated[bool, typer.Option("--all-attempts", help="one row per attempt, not per case")] = False,
    runs_dir: RunsOption = None,
    config: Config = None,
):
    """Write the results as a tidy CSV, one row per measurement."""
    from ftrun import render
    from results.export import export_csv

    settings = _settings(config, runs_dir)
    n = export_csv(settings.runs, csv, all_attempts)
    render.line(f"wrote {n} rows to {csv}")


@results_app.command("import")
@command
def results_import(
    path: Annotated[Path, typer.Argument(help="another runs folder, or a folder of FlashTensor-artifact logs")],
    runs_dir: RunsOption = None,
    config: Config = None,
):
    """Merge results from another runs folder or artifact logs (idempotent)."""
    from ftrun import render
    from ftrun.exchange import import_path

    settings = _settings(config, runs_dir)
    report = import_path(settings.runs, path)
    render.line(f"imported {report.copied} file(s), {report.already} already present")
    for why in report.skipped:
        render.note(f"skipped: {why}")


@results_app.command("rebuild")
@command
def results_rebuild(runs_dir: RunsOption = None, config: Config = None):
    """Rebuild the SQLite index from the result files (a damaged index is moved aside first)."""
    from ftrun import render
    from results.index import Index

    settings = _settings(config, runs_dir)
    index, report = Index.rebuilt(settings.runs)
    index.close()
    if report.moved_aside:
        render.note(f"the old index could not be used: moved aside to {report.moved_aside}")
    render.line(f"indexed {report.new_results} results and {report.new_campaigns} campaigns")
    for name, why in report.bad_files:
        render.error(f"skipped invalid file {name}: {why}")
    for name, why in report.unreadable:
        render.error(f"could not read {name}: {why}")


def main() -> None:
    app()

"""The commands that read results: status, plot, compare, report, results (export, import, rebuild), bench.

They share the app and the common options of ftrun/cli.py, and the error boundary of ftrun/boundary.py.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from ftrun.boundary import command, output_dir, output_file
from ftrun.cli import Config, Json, RunsOption, _settings, app, bench_app, results_app
from ftrun.errors import FtrunError, choose

Threshold = Annotated[float, typer.Option(
    "--threshold", metavar="FRACTION", help="a change smaller than this is 'same' (0.05: 5 %)")]
# exit status of `ftrun compare` when B is slower than A beyond the threshold, or lost a result A had
REGRESSION_EXIT = 3


@app.command()
@command
def status(
    experiment: Annotated[str | None, typer.Argument(help="only this experiment")] = None,
    cases: Annotated[bool, typer.Option("--cases/--summary", help="also show every case's state")] = True,
    why: Annotated[bool, typer.Option("--why", help="say why each case without a time has none")] = False,
    watch: Annotated[bool, typer.Option("--watch", "-w", help="refresh until Ctrl-C")] = False,
    every: Annotated[float, typer.Option(
        metavar="SECONDS", help="--watch: seconds between refreshes (at least 1)")] = 15.0,
    as_json: Json = False,
    runs_dir: RunsOption = None,
    config: Config = None,
):
    """Show every submitted case's state: NEW, QUEUED, RUNNING, DONE, INTERP, NS, OOM, TLE, FAIL, CANCELLED.

    State comes from result files first, then sacct, squeue and heartbeats for what is in flight. INTERP: the
    compiler ran in Triton's interpreter (no GPU), its result checked, not timed. A chunk whose baseline ran
    much slower or faster at its end than at its start is flagged as drift.

    [bold]Examples[/]
      ftrun status fig12 --summary
      ftrun status --why
      ftrun status --watch
    """
    import time

    from ftrun import render
    from ftrun.status import collect

    if every < 1:
        raise FtrunError(f"--every {every:g}: give at least 1 second between refreshes")
    settings = _settings(config, runs_dir)
    if experiment is not None:
        from ftrun.campaign import find_experiment

        find_experiment(experiment)
    parallel = {name: c.max_tasks for name, c in settings.clusters.items()}
    while True:
        report = collect(settings.runs, experiment, parallel=parallel, with_cases=cases or why or as_json)
        if as_json:
            render.json_out(report.to_json())
            return
        if watch:
            render.clear()
        render.status(report, cases, why)
        if not watch:
            return
        time.sleep(every)


@app.command()
@command
def plot(
    experiment: Annotated[str, typer.Argument(help="fig12, fig13, fig14, smoke, or an experiment of ftrun.toml")],
    source: Annotated[str, typer.Option(help="measured, paper (the paper's published numbers) or both")] = "measured",
    out: Annotated[Path | None, typer.Option(
        "--out", metavar="DIR", help="output folder [default: RUNS_DIR/figures]")] = None,
    runs_dir: RunsOption = None,
    config: Config = None,
):
    """Draw an experiment's figure as PDF and PNG, with the CSV of the plotted numbers.

    Files are named after the experiment (fig12-kernel.png, smoke-kernel.png). Imported artifact logs
    (`ftrun results import`) are drawn as their own device rows.

    [bold]Examples[/]
      ftrun plot fig12
      ftrun plot fig12 --source paper --out figs/
    """
    from ftrun import render
    from ftrun.figures import plot as draw

    settings = _settings(config, runs_dir)
    for path in draw(experiment, settings.runs, output_dir(out, "--out"), source):
        render.line(str(path))


@app.command()
@command
def compare(
    a: Annotated[str, typer.Argument(metavar="A", help="the reference: a runs folder, campaign, cluster or commit")],
    b: Annotated[str, typer.Argument(metavar="B", help="the one judged against A, in the same forms")],
    threshold: Threshold = 0.05,
    out: Annotated[Path | None, typer.Option(
        "--out", metavar="DIR", help="also write compare.csv, compare.json and the figure (PNG, PDF) there")] = None,
    as_json: Json = False,
    runs_dir: RunsOption = None,
    config: Config = None,
):
    """Compare two sets of results case by case; exit 3 on a regression.

    Per case: the ratio of medians B/A with a 95% bootstrap interval from the kept samples, a verdict (slower,
    faster, same, unsure at the threshold), correctness changes (broken, fixed), and the provenance that
    differs between the sides. The exit status is 3 when B is slower beyond the threshold or lost a result A
    had, so CI can gate on it.

    A and B may be runs folders (runs:PATH), campaigns (campaign:ID or a unique prefix), clusters
    (cluster:NAME) or commits (commit:HEX) of the runs folder.

    [bold]Examples[/]
      ftrun compare ../runs-main ./ftrun-runs
      ftrun compare commit:1a2b3c4 commit:5d6e7f8 --threshold 0.1
      ftrun compare cluster:a100 cluster:h100 --out compare/
    """
    from ftrun import render
    from ftrun.compare import compare_sides, write_outputs

    if not 0 <= threshold < 10:
        raise FtrunError(f"--threshold {threshold:g}: give a fraction such as 0.05 (5 %)")
    settings = _settings(config, runs_dir)
    result = compare_sides(settings.runs, a, b, threshold)
    if as_json:
        render.json_out(result.to_json())
    else:
        render.comparison(result)
    if out is not None:
        for path in write_outputs(result, output_dir(out, "--out")):
            render.note(f"wrote {path}")
    if result.regressions:
        raise typer.Exit(REGRESSION_EXIT)


@app.command()
@command
def report(
    experiments: Annotated[list[str] | None, typer.Argument(
        metavar="[EXPERIMENT]...", help="experiments to show [default: every experiment with results]")] = None,
    out: Annotated[Path, typer.Option("--out", metavar="DIR", help="folder for index.html")] = Path("report"),
    baseline: Annotated[str | None, typer.Option(
        metavar="A", help="add a comparison against A (a runs folder, campaign, cluster or commit)")] = None,
    candidate: Annotated[str | None, typer.Option(
        metavar="B", help="what to compare with A [default: this runs folder]")] = None,
    threshold: Threshold = 0.05,
    runs_dir: RunsOption = None,
    config: Config = None,
):
    """Write one self-contained HTML page of the results: figures, every case, provenance, comparison.

    No server and no network: figures and data are inside the page. A sortable table of every case gives its
    state, median, p10-p90, NS/FAIL reason, compile time, peak memory, provenance and the paper's number
    for the same case; with --baseline the page ends with a comparison (as `ftrun compare`).

    [bold]Examples[/]
      ftrun report --out report/
      ftrun report fig12 --baseline ../runs-main --out report/
    """
    from ftrun import render
    from ftrun.report import write_report

    settings = _settings(config, runs_dir)
    path = write_report(settings.runs, output_dir(out, "--out"), experiments or [], baseline, candidate, threshold)
    render.line(str(path))


@bench_app.command("kernels")
@command
def bench_kernels(
    only: Annotated[list[str] | None, typer.Option("--only", help="model=... or system=... (repeatable)")] = None,
    seqlen: Annotated[list[int] | None, typer.Option(
        "--seqlen", help="the paper's sequence length, mapped by the scale (repeatable) [default: 4096]")] = None,
    scale: Annotated[str | None, typer.Option(
        help="full, small or tiny [default: full on a GPU, small without]")] = None,
    dim: Annotated[list[str] | None, typer.Option(
        "--dim", help="override one dimension, e.g. kv_heads=8 or q_len=1000 (repeatable)")] = None,
    dtype: Annotated[str | None, typer.Option(help="float16, bfloat16 or float32 [default: the scale's]")] = None,
    logit_scale: Annotated[float, typer.Option(
        help="also check at logits ~±5x this (20: ±100, where a softmax without max subtraction overflows); "
             "0 skips")] = 20.0,
):
    """Check, then time, the compiler's kernels and the peers (torch, inductor, cuDNN, FlexAttention) in one
    process, with compile time, extra memory and the compiler's time per kernel.

    Each system passes the float64 check (and the check at large logits) before it is timed. Without a GPU
    the compiler's kernels run in Triton's interpreter: checked, not timed.

    [bold]Examples[/]
      ftrun bench kernels
      ftrun bench kernels --only model=h2o --seqlen 1024 --seqlen 8192
      ftrun bench kernels --only model=attn --only system=flashtensor --only system=cudnn --dim kv_heads=8
    """
    from ftrun import render
    from ftrun.campaign import parse_filters
    from ftrun.devices import local_device
    from jobs import bench
    from jobs.spec import KERNEL_MODELS, SCALES

    scale = scale or ("small" if local_device() == "cpu" else "full")
    choose("scale", scale, SCALES)
    bad = [n for n in seqlen or [] if n <= 0]
    if bad:
        raise FtrunError(f"--seqlen {bad[0]}: give a positive sequence length (the paper's: 1024 to 16384)")
    for length in seqlen or []:
        try:
            SCALES[scale].seq(length)
        except ValueError as e:
            raise FtrunError(f"--seqlen {length}: {e}") from None
    if local_device() == "cpu":
        # no GPU: the compiler's kernels run in Triton's interpreter, decided before Triton is imported
        os.environ.setdefault("TRITON_INTERPRET", "1")
    if dtype is not None:
        choose("dtype", dtype, ("float16", "bfloat16", "float32"))
    filters = parse_filters(only or [])
    unknown = set(filters) - {"model", "system"}
    if unknown:
        raise FtrunError(f"bench filters take model and system only; got {', '.join(sorted(unknown))}")
    try:
        overrides = bench.parse_dims(dim or [])
    except ValueError as e:
        raise FtrunError(str(e)) from None
    models = [m for m in KERNEL_MODELS if m in filters.get("model", {m})]
    wanted = filters.get("system", set(bench.PEERS))
    # the default peers in their order, then any other system the filters name (flashtensor-hopper, ...)
    systems = [s for s in bench.PEERS if s in wanted] + sorted(set(wanted) - set(bench.PEERS))
    specs = [bench.bench_spec(m, n, s, scale, overrides, dtype) for m in models for n in seqlen or [4096]
             for s in systems]
    render.note(f"{len(specs)} runs at the {scale} scale on {local_device()}: each checked against float64, "
                "then timed")
    rows = bench.bench(specs, logit_scale, lambda row, s: render.note(
        f"  {row.model}@{row.seqlen} {row.system}: {row.note.split(' (')[0] or 'timed'} ({s:.0f} s)"))
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
    output_file(csv, "--csv")
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
    for why in report.failed:
        render.note(f"FAIL (a log without a time, as the paper shows it): {why}")
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

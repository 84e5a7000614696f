"""Everything ftrun prints with rich lives here; the rest of the package returns plain data."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from ftrun import events as ev

# invalid files listed by status (the rest are counted)
BAD_FILES_SHOWN = 5

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

STATE_STYLE = {"DONE": "green", "NS": "yellow", "OOM": "magenta", "TLE": "magenta", "FAIL": "red",
               "NEW": "dim", "QUEUED": "cyan", "RUNNING": "bold cyan", "SUSPENDED": "yellow", "STALE": "dim"}


def error(message: str) -> None:
    err.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)


def note(message: str) -> None:
    err.print(f"[dim]{escape(message)}[/]", soft_wrap=True)


def clear() -> None:
    out.clear()


def line(message: str) -> None:
    out.print(message, soft_wrap=True)


def styled_state(state: str) -> str:
    return f"[{STATE_STYLE.get(state, 'white')}]{state}[/]"


def submit_events(events) -> None:
    """Render what `ftrun submit` / `ftrun retry` yield (ftrun.events), as they come."""
    progress = None
    try:
        for event in events:
            if isinstance(event, ev.RunStarted):
                progress = _CaseProgress(event.cases)
            elif isinstance(event, (ev.CaseStarted, ev.CaseDone)) and progress:
                progress.show(event)
            elif isinstance(event, ev.RunEnded):
                if progress:
                    progress.close()
                    progress = None
                line(f"done: {event.records} case runs recorded under {event.root}; see `ftrun status`")
            else:
                _submit_event(event)
    finally:
        if progress:
            progress.close()


def _submit_event(event) -> None:
    if isinstance(event, ev.Planned):
        plan_summary(event.plan, event.chunks)
    elif isinstance(event, ev.DryRun):
        dry_run(event.chunk_list, event.options)
    elif isinstance(event, ev.Submitted):
        line(f"submission {event.submission}: {event.tasks} task(s), {event.submitted} handed to Slurm "
             f"(arrays {', '.join(event.arrays) or '-'}), {event.held} held by the cap of {event.cap}")
        if event.held:
            note("held tasks are submitted as the cap frees up by `ftrun submit ... --follow` or the next submit")
    elif isinstance(event, ev.ToppedUp):
        line(f"topped up: arrays {', '.join(event.arrays)}")
    elif isinstance(event, ev.Waiting):
        waiting(event.holder)
    elif isinstance(event, ev.Following):
        if out.is_terminal:
            clear()
        status(event.report, show_cases=False)
    elif isinstance(event, ev.Note):
        note(event.text)
    elif isinstance(event, ev.Message):
        line(event.text)


def waiting(holder) -> None:
    """Another ftrun holds the runs folder's submit lock (holder: results.leases.LockHolder or None)."""
    note(f"waiting for the runs folder's submit lock, held by {holder.describe() if holder else 'another ftrun'}")


def plan_summary(plan, n_chunks: int) -> None:
    for n in plan.notes:
        note(n)
    skipped = ", ".join(f"{v} {k}" for k, v in sorted(plan.skipped.items())) or "none"
    line(f"[bold]{plan.experiment}[/] on [bold]{plan.cluster.name}[/] ({plan.device}, {plan.scale} scale): "
         f"{len(plan.cases)} cases, {len(plan.to_run)} to run in {n_chunks} chunk(s), skipped: {skipped}")


def dry_run(chunk_list, sbatch: list[str] | None = None) -> None:
    table = Table(title="would run", show_lines=False)
    for col in ("chunk", "case", "key", "why"):
        table.add_column(col)
    for i, chunk in enumerate(chunk_list):
        for case, decision in chunk:
            table.add_row(str(i), case.label(), case.key, decision.why)
    out.print(table)
    if sbatch:
        out.print("[bold]sbatch options[/] (one array task per chunk):")
        for option in sbatch:
            out.print(f"  {escape(option)}", soft_wrap=True)
    out.print("dry run: nothing was submitted")


class _CaseProgress:
    """A progress bar with ETA and one line per finished case."""

    def __init__(self, total: int):
        self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                            TextColumn("eta"), TimeRemainingColumn(), console=out, transient=not out.is_terminal)
        self.task = self.bar.add_task("starting", total=total)
        self.bar.start()

    def show(self, event) -> None:
        if hasattr(event, "record"):
            self.bar.advance(self.task)
            self.bar.console.print(_record_line(event.spec, event.record), soft_wrap=True)
        else:
            self.bar.update(self.task, description=event.spec.label())

    def close(self) -> None:
        self.bar.stop()


def _record_line(spec, record) -> str:
    state = record.label
    if state == "DONE":
        t = record.timing
        return f"  {styled_state(state)} {spec.label()}  {t.median:.4g} ms (p10 {t.p10:.4g}, p90 {t.p90:.4g})"
    reason = (record.error or "").splitlines()[0][:160] if record.error else ""
    return f"  {styled_state(state)} {spec.label()}  {escape(reason)}"


def status(report, show_cases: bool) -> None:
    for n in report.notes:
        note(n)
    for name, why in report.bad_files[:BAD_FILES_SHOWN]:
        error(f"skipped invalid file {name}: {why}")
    if len(report.bad_files) > BAD_FILES_SHOWN:
        error(f"... and {len(report.bad_files) - BAD_FILES_SHOWN} more invalid files (skipped)")
    counts = report.counts()
    if not counts:
        line("no campaigns yet: start one with `ftrun submit fig12 --cluster local`")
        return
    from ftrun.status import ORDER

    states = [s for s in ORDER if any(c.get(s) for c in counts.values())]
    table = Table(title="cases by state")
    table.add_column("experiment")
    table.add_column("cluster")
    for s in states:
        table.add_column(styled_state(s), justify="right")
    table.add_column("total", justify="right")
    table.add_column("eta", justify="right")
    for (experiment, cluster), c in sorted(counts.items()):
        eta = report.eta_s(experiment, cluster)
        eta_text = "-" if eta is None else ("" if eta == 0 else f"{eta / 60:.0f} min" if eta > 90 else f"{eta:.0f} s")
        table.add_row(experiment, cluster, *[str(c.get(s, "")) for s in states], str(sum(c.values())), eta_text)
    out.print(table)
    if show_cases:
        _case_grid(report)
        if report.more_cases:
            note(f"... and {report.more_cases} more cases: narrow with `ftrun status EXPERIMENT` or use --summary")


def _case_grid(report) -> None:
    groups: dict[tuple, dict] = {}
    systems: dict[tuple, list] = {}
    for c in report.cases:
        g = (c.experiment, c.cluster, c.device, c.part)
        groups.setdefault(g, {}).setdefault((c.model, c.seqlen), {})[c.system] = c
        systems.setdefault(g, [])
        if c.system not in systems[g]:
            systems[g].append(c.system)
    for g, cells in groups.items():
        table = Table(title=f"{g[0]} on {g[1]} ({g[2]}, {g[3]}): median ms or state")
        table.add_column("case")
        for s in systems[g]:
            table.add_column(s, justify="right")
        for (model, seqlen), row in cells.items():
            table.add_row(f"{model}@{seqlen}", *[_cell(row.get(s)) for s in systems[g]])
        out.print(table)


def _cell(c) -> str:
    if c is None:
        return ""
    if c.state == "DONE":
        return f"{c.median_ms:.4g}"
    return styled_state(c.state)


def settings_blocks(title: str, blocks: dict[str, dict]) -> None:
    """One block of `key: value` lines per item (clusters): readable at any terminal width."""
    out.print(f"[bold]{escape(title)}[/]")
    for name, values in blocks.items():
        out.print(f"[bold]{escape(name)}[/]")
        for key, value in values.items():
            out.print(f"  {key}: {escape(str(value))}", soft_wrap=True)


def follow_file(path, tail: int, follow: bool, still_running) -> None:
    """Print the last `tail` lines; with follow, keep printing what is appended while still_running()."""
    import time

    with open(path, errors="replace") as f:
        lines = f.readlines()
        out.print("".join(lines[-tail:]), end="", markup=False, highlight=False, soft_wrap=True)
        checked = time.monotonic()
        while follow:
            chunk = f.read()
            if chunk:
                out.print(chunk, end="", markup=False, highlight=False, soft_wrap=True)
                continue
            if time.monotonic() - checked > 10:
                if not still_running():
                    return
                checked = time.monotonic()
            time.sleep(1)


def rows_table(title: str, columns: list[str], rows: list[list]) -> None:
    table = Table(title=title)
    for col in columns:
        table.add_column(col)
    for r in rows:
        table.add_row(*[str(x) for x in r])
    out.print(table)

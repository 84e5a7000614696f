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

STATE_STYLE = {"DONE": "green", "INTERP": "blue", "NS": "yellow", "OOM": "magenta", "TLE": "magenta", "FAIL": "red",
               "NEW": "dim", "QUEUED": "cyan", "RUNNING": "bold cyan", "SUSPENDED": "yellow", "STALE": "dim"}


def error(message: str) -> None:
    err.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)


def note(message: str) -> None:
    err.print(f"[dim]{escape(message)}[/]", soft_wrap=True)


def clear() -> None:
    out.clear()


def line(message: str) -> None:
    out.print(message, soft_wrap=True)


def text(block: str) -> None:
    """Plain text as it is (generated source, IR): no markup, no highlighting."""
    out.print(block, markup=False, highlight=False, soft_wrap=True)


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
    if record.interpreted:
        from results.records import INTERPRETED_TEXT

        return f"  {styled_state(state)} {spec.label()}  {INTERPRETED_TEXT}"
    reason = (record.error or "").splitlines()[0][:160] if record.error else ""
    return f"  {styled_state(state)} {spec.label()}  {escape(reason)}"


def status(report, show_cases: bool, why: bool = False) -> None:
    for n in report.notes:
        note(n)
    for name, why_bad in report.bad_files[:BAD_FILES_SHOWN]:
        error(f"skipped invalid file {name}: {why_bad}")
    if len(report.bad_files) > BAD_FILES_SHOWN:
        error(f"... and {len(report.bad_files) - BAD_FILES_SHOWN} more invalid files (skipped)")
    counts = report.counts()
    if not counts:
        line("no campaigns yet: start one with `ftrun submit fig12 --cluster local`")
        return
    from ftrun.status import ORDER

    states = [s for s in ORDER if any(c.get(s) for c in counts.values())]
    rows = []
    for (experiment, cluster), c in sorted(counts.items()):
        cells = [str(c.get(s, "")) for s in states] + [str(sum(c.values())), _eta(report.eta_s(experiment, cluster))]
        rows.append(([experiment, cluster], cells))
    fitted("cases by state", ["experiment", "cluster"], [styled_state(s) for s in states] + ["total", "eta"], rows)
    if show_cases:
        _case_grid(report)
        if report.more_cases:
            note(f"... and {report.more_cases} more cases: narrow with `ftrun status EXPERIMENT` or use --summary")
    for d in report.drifts:
        out.print(f"[bold yellow]drift:[/] {escape(d.label)} ({escape(d.experiment)} on {escape(d.cluster)}) took "
                  f"{d.first_ms:.4g} ms first and {d.last_ms:.4g} ms last in its chunk ({d.change:+.0%}): "
                  "the times of that chunk are suspect")
    unexplained = [c for c in report.cases if c.reason]
    if why:
        _reasons(unexplained)
    elif unexplained:
        note(f"{len(unexplained)} case(s) without a time: `ftrun status --why` says why")


def _eta(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    if seconds == 0:
        return ""
    return f"{seconds / 60:.0f} min" if seconds > 90 else f"{seconds:.0f} s"


def fitted(title: str, keys: list[str], columns: list[str], rows: list[tuple[list[str], list[str]]]) -> None:
    """Tables that fit the terminal's width: the value columns are wrapped into as many tables as needed,
    each repeating the key columns; a cell is never cut short ("…")."""
    start = 0
    while start < len(columns):
        end = start + 1
        while end < len(columns) and _width(_table(keys, columns, rows, start, end + 1)) <= out.width:
            end += 1
        out.print(f"[bold]{escape(title)}[/]" + (" (continued)" if start else ""), soft_wrap=True)
        out.print(_table(keys, columns, rows, start, end))
        start = end


def _width(table: Table) -> int:
    """The width the table needs to show every cell whole (measured without the terminal's limit)."""
    return out.measure(table, options=out.options.update_width(10_000)).maximum


def _table(keys: list[str], columns: list[str], rows, start: int, end: int) -> Table:
    table = Table()
    for key in keys:
        table.add_column(key, overflow="fold")
    for col in columns[start:end]:
        table.add_column(col, justify="right", overflow="fold", no_wrap=True)
    for key_cells, cells in rows:
        table.add_row(*key_cells, *cells[start:end])
    return table


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
        rows = [([f"{model}@{seqlen}"], [_cell(row.get(s)) for s in systems[g]])
                for (model, seqlen), row in cells.items()]
        fitted(f"{g[0]} on {g[1]} ({g[2]}, {g[3]}): median ms or state", ["case"], systems[g], rows)


def _cell(c) -> str:
    if c is None:
        return ""
    if c.state == "DONE":
        return f"{c.median_ms:.4g}"
    return styled_state(c.state)


def _reasons(cases) -> None:
    """One line per (state, system, reason), naming its cases."""
    groups: dict[tuple[str, str, str], list] = {}
    for c in cases:
        groups.setdefault((c.state, c.system, c.reason), []).append(c)
    if groups:
        out.print("[bold]why cases have no time[/]")
    for (state, system, reason), members in sorted(groups.items()):
        labels = sorted({f"{c.part}/{c.label()}" for c in members})
        shown = ", ".join(labels[:6]) + (f" and {len(labels) - 6} more" if len(labels) > 6 else "")
        out.print(f"  {styled_state(state)} {escape(system)} ({escape(shown)}): {escape(reason)}")


VERDICT_STYLE = {"slower": "bold red", "broken": "bold red", "faster": "green", "fixed": "green", "same": "dim",
                 "unsure": "yellow", "changed": "yellow", "interp": "blue"}


def comparison(result, shown: int = 200) -> None:
    """The compare table (worst first), the provenance that differs, and the verdict counts."""
    for side, info in (("A", result.a), ("B", result.b)):
        line(f"[bold]{side}[/]: {escape(info['kind'])} {escape(info['name'])} ({info['cases']} cases, "
             f"{info['timed']} timed)")
    for fact, (va, vb) in result.provenance.items():
        shown_a, shown_b = ([v[:12] if fact == "commit" else v for v in vs] for vs in (va, vb))
        out.print(f"[yellow]differs:[/] {fact}: A {escape(', '.join(shown_a) or '-')} | "
                  f"B {escape(', '.join(shown_b) or '-')}", soft_wrap=True)
    # cases without a time on either side, in the same state (NS and NS): counted, not listed
    listed = [p for p in result.pairs if not (p.verdict in ("same", "interp") and p.ratio is None)]
    rows = []
    for p in listed[:shown]:
        ms_a = f"{p.a.median_ms:.4g}" if p.a and p.a.done else (p.a.state if p.a else "")
        ms_b = f"{p.b.median_ms:.4g}" if p.b and p.b.done else (p.b.state if p.b else "")
        ratio = "" if p.ratio is None else f"{p.ratio:.3g}" + (f" [{p.ci[0]:.3g}-{p.ci[1]:.3g}]" if p.ci else "")
        style = VERDICT_STYLE.get(p.verdict, "white")
        rows.append(([p.case], [ms_a, ms_b, ratio, f"[{style}]{p.verdict}[/]"]))
    fitted(f"B / A, ratio of medians [95% interval], threshold ±{result.threshold:.0%}", ["case"],
           ["A ms", "B ms", "B/A [95% CI]", "verdict"], rows)
    hidden = len(result.pairs) - len(listed)
    if len(listed) > shown or hidden:
        more = f"{len(listed) - shown} more and " if len(listed) > shown else ""
        note(f"not listed: {more}{hidden} without a time on both sides (all: --json or --out)")
    for p in listed[:shown]:
        if p.note and p.verdict not in ("same", "interp"):
            out.print(f"  {escape(p.case)}: {escape(p.note)}", soft_wrap=True)
    counts = ", ".join(f"{n} {v}" for v, n in result.counts().items()) or "no cases"
    if result.regressions:
        out.print(f"[bold red]regression:[/] {counts}")
    else:
        out.print(f"no regression beyond ±{result.threshold:.0%}: {counts}")


def json_out(data) -> None:
    """Machine-readable output: plain JSON on stdout, nothing else."""
    import json
    import sys

    sys.stdout.write(json.dumps(data, indent=1, sort_keys=True, default=str) + "\n")


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

"""The commands about cases and the compiler: `ftrun list` and `ftrun compile` (registered on ftrun.cli.app)."""

from __future__ import annotations

from typing import Annotated

import typer

from ftrun.cli import Config, Json, _settings, app, command


@app.command("list")
@command
def list_things(config: Config = None, as_json: Json = False):
    """List experiments, cases, systems (and whether each can run on this machine) and scales.

    Plug-ins of ftrun.toml ([plugins]) and of installed packages (entry points) are listed with their origin.
    """
    from ftrun import inventory, render

    _settings(config, None)
    tables = inventory.tables()
    if as_json:
        # by name (each table's first column), the other columns as fields
        render.json_out({title: {row[0]: dict(zip(columns[1:], row[1:])) for row in rows}
                         for title, columns, rows in tables})
        return
    for title, columns, rows in tables:
        render.rows_table(title, columns, rows)


@app.command("compile")
@command
def compile_case(
    target: Annotated[str, typer.Argument(help="a case name, or FILE.py:NAME (a Case, a case of CASES, or a module)")],
    scale: Annotated[str | None, typer.Option(help="full, small or tiny [default: full on a GPU, small without]")] \
        = None,
    explain: Annotated[bool, typer.Option("--explain", help="kernels, what stays in torch and why, sources")] = False,
    dump_after: Annotated[str | None, typer.Option(
        "--dump-after", help="print the product of one compiler step (capture ... launch)")] = None,
    source: Annotated[bool, typer.Option("--source", help="print the generated Triton source")] = False,
    config: Config = None,
):
    """Compile one case with the embedded compiler and check it against float64 (no GPU: Triton's interpreter).

    [bold]Examples[/]
      ftrun compile h2o
      ftrun compile my_variants.py:WindowedH2O --dump-after plan
      ftrun compile windowed_h2o --explain
    """
    from ftrun import render
    from ftrun.compiling import CompileRequest, compile_case

    _settings(config, None)
    for block in compile_case(CompileRequest(target, scale, explain, dump_after, source)):
        render.text(block)

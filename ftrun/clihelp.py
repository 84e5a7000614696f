"""How the command line presents itself: help that keeps its defaults, flags shown without a type, and
`--version`.

Typer renders help through rich markup, which takes any `[default: ...]` written in a help string for a
style tag and drops it; and it shows `<bool>` beside every flag. Every command and group of ftrun is built
with the classes below, so no help string has to remember either.
"""

from __future__ import annotations

import sys

import typer
from typer.core import TyperCommand, TyperGroup

# click's base of usage errors: typer vendors click in newer releases and re-exports only some of it
ClickException = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")


def _tidy(params, help_option) -> None:
    for p in [*params, help_option]:
        if p is None:
            continue
        if getattr(p, "is_flag", False) and p.metavar is None:
            p.metavar = ""
        if p.help and "[default:" in p.help and "\\[default:" not in p.help:
            p.help = p.help.replace("[default:", "\\[default:")


class Command(TyperCommand):
    def get_help_option(self, ctx):
        option = super().get_help_option(ctx)
        _tidy(self.params, option)
        return option


class Group(TyperGroup):
    def get_help_option(self, ctx):
        option = super().get_help_option(ctx)
        _tidy(self.params, option)
        return option

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        """As click's, but a usage error (an unknown command or option, a value of the wrong type, a missing
        argument) is one line and exit status 1, like every other error the user can cause."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except ClickException as e:
            if type(e).__name__ == "NoArgsIsHelpError":
                # a bare `ftrun` or `ftrun results`: its help was printed, which is what was asked for
                sys.exit(0)
            from ftrun import render

            where = e.ctx.command_path if getattr(e, "ctx", None) else (prog_name or "ftrun")
            render.error(f"{where}: {e.format_message()} (see `{where} --help`)")
            sys.exit(1)
        except typer.Abort:
            from ftrun import render

            render.error("interrupted")
            sys.exit(130)
        sys.exit(code if isinstance(code, int) else 0)


class App(typer.Typer):
    """A Typer whose commands are built by `Command`."""

    def __init__(self, **kwargs):
        kwargs.setdefault("cls", Group)
        kwargs.setdefault("rich_markup_mode", "rich")
        super().__init__(**kwargs)

    def command(self, *args, **kwargs):
        kwargs.setdefault("cls", Command)
        return super().command(*args, **kwargs)


def version_text() -> str:
    """'ftrun 0.1.0 (commit 1a2b3c4d5e6f)': the installed version and, in a git checkout, its commit."""
    import subprocess
    from importlib import metadata
    from pathlib import Path

    try:
        version = metadata.version("ftrun")
    except metadata.PackageNotFoundError:
        version = "(not installed)"
    try:
        commit = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True,
                                timeout=5, cwd=Path(__file__).resolve().parent).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        commit = ""
    return f"ftrun {version}" + (f" (commit {commit})" if commit else "")


def show_version(value: bool) -> None:
    if value:
        typer.echo(version_text())
        raise typer.Exit()

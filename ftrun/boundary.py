"""The error boundary of the CLI: whatever the user can cause (bad input, a file system that refuses, a
damaged store, a name that cannot become a path) ends as one red line and exit status 1, never a traceback.
"""

from __future__ import annotations

import errno
import functools
from pathlib import Path

import typer

from ftrun.errors import FtrunError


def command(fn):
    """Wrap a command: its expected failures become one line (what was expected, what was found, what to do)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        import sqlite3

        from ftrun import render
        from jobs.case import CaseError
        from jobs.plugins import PluginError
        from results.case import SpecError
        from results.files import FileFormatError, StoreError

        try:
            return fn(*args, **kwargs)
        except (FtrunError, StoreError, SpecError, FileFormatError, PluginError, CaseError) as e:
            render.error(str(e))
        except OSError as e:
            render.error(os_error(e))
        except sqlite3.Error as e:
            render.error(f"the index database failed ({e}); `ftrun results rebuild` rebuilds it from the files")
        raise typer.Exit(1)

    return wrapper


def check_environment() -> None:
    """The environment variables ftrun reads (jobs/environment.py), checked before any command runs."""
    from jobs.environment import BadEnvironment, environment

    try:
        environment()
    except BadEnvironment as e:
        raise FtrunError(str(e)) from None


def os_error(e: OSError) -> str:
    from results.files import no_space

    if e.errno == errno.ENOSPC:
        return no_space(e.filename)
    where = f" {e.filename}" if e.filename else ""
    if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"not allowed to write or read{where} ({e.strerror}): check the permissions or choose --runs-dir"
    return f"{e.strerror or e}{':' + where if where else ''}"


def checked_runs(settings):
    """The settings, once their runs folder is known not to be a file."""
    root = settings.runs.root
    if root.exists() and not root.is_dir():
        raise FtrunError(f"runs folder {root} is a file, not a folder: give a folder with --runs-dir "
                         "(or runs_dir in ftrun.toml)")
    return settings


def output_file(path: Path, what: str) -> Path:
    """A file the command will write: not a folder, and its folder can be made."""
    if path.is_dir():
        raise FtrunError(f"{what} {path} is a folder: give a file name, e.g. {path / 'results.csv'}")
    if path.parent.exists() and not path.parent.is_dir():
        raise FtrunError(f"{what} {path}: {path.parent} is a file, not a folder")
    return path


def output_dir(path: Path | None, what: str) -> Path | None:
    """A folder the command will write into, if given: not a file."""
    if path is not None and path.exists() and not path.is_dir():
        raise FtrunError(f"{what} {path} is a file: give a folder")
    return path

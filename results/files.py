"""Writing and reading the JSON files of a runs folder.

Writes are atomic (a temporary file in the same folder, fsync, rename): a reader never sees half a file,
and a crash mid-write leaves only a hidden temporary file behind. New files and folders follow the umask
(group-readable under the usual 022 or 002), so a runs folder can be shared by two clusters' users.
Reads are bounded: a file larger than any record ftrun writes is refused before it is parsed.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

# the largest file ftrun reads as JSON (records keep every timing sample: a few MiB at most)
MAX_JSON_BYTES = 64 << 20


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


FILE_MODE = 0o666 & ~_umask()


class FileFormatError(ValueError):
    """A file is not what its place says it is; the message starts with its path."""


def write_json_atomic(path: Path, data: dict) -> None:
    """Write `data` as JSON at `path`, all or nothing."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=1, sort_keys=True, allow_nan=False)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_json(path: Path) -> object:
    """Parse one JSON file. FileFormatError for a file that is not JSON (or too large to be ours);
    OSError passes through: an unreadable file may be readable later (permissions, a network FS)."""
    path = Path(path)
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size > MAX_JSON_BYTES:
            raise FileFormatError(f"{path}: {size} bytes, larger than any file ftrun writes")
        raw = f.read()
    return parse_json(raw, str(path))


def parse_json(raw: bytes, where: str) -> object:
    """JSON as ftrun writes it: finite numbers only. FileFormatError naming `where` otherwise."""
    try:
        return json.loads(raw, parse_constant=_no_constant, parse_float=_finite)
    except (ValueError, RecursionError) as e:
        raise FileFormatError(f"{where}: not valid JSON ({e})") from None


def _no_constant(name: str):
    raise ValueError(f"{name} is not a number ftrun writes")


def _finite(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"{text} overflows a float")
    return value


def no_space(where: str | None, detail: str | None = None) -> str:
    """What a full disk is, said the same wherever it is found (an OSError, SQLite's journal)."""
    place = f"on the device of {where}" if where else "on the device"
    said = place + (f" ({detail})" if detail else "")
    return f"no space left {said}: free some space; finished results are kept"


class StoreError(Exception):
    """The store cannot be used as it is (a damaged or newer index, a folder that cannot be written);
    the message says what to do. Shown as one line by the CLI."""

"""Result records: one immutable JSON file per attempt, written atomically. The files are the truth.

Layout under a runs folder:
    results/<case key>--<attempt id>.json    one finished attempt (a measurement or a failure outcome)
    campaigns/<id>.json                      what a submit planned: experiment, cluster, case specs
"""

from __future__ import annotations

import json
import os
import tempfile
import uuid
from datetime import datetime, timezone
from pathlib import Path

FORMAT = "ftrun.result/1"

# Failure classes. Deterministic ones are final until `ftrun retry` / `--force`;
# transient ones are retried with a budget; a timeout gets one retry with a longer limit.
DETERMINISTIC = ("compile_error", "unsupported", "wrong_result", "oom")
TRANSIENT = ("crash", "preempted", "node_fail", "lost", "cuda_init", "killed")
TIMEOUT = "timeout"
# stopped by `ftrun cancel`: not a failure of the case, and runs again at the next submit
CANCELLED = "cancelled"
ERROR_CLASSES = DETERMINISTIC + TRANSIENT + (TIMEOUT, CANCELLED)

# How a final state is drawn and listed.
LABELS = {"unsupported": "NS", "oom": "OOM", "timeout": "TLE", "cancelled": "CANCELLED"}


def new_attempt_id() -> str:
    return uuid.uuid4().hex[:12]


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def state_label(state: str, error_class: str | None) -> str:
    """DONE, NS, OOM, TLE or FAIL(class) for a finished attempt."""
    if state == "done":
        return "DONE"
    return LABELS.get(error_class or "", f"FAIL({error_class})")


def write_json_atomic(path: Path, data: dict) -> None:
    """Write to a temporary file in the same folder, fsync, then rename: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def record_path(runs_dir: Path, key: str, attempt: str) -> Path:
    return Path(runs_dir) / "results" / f"{key}--{attempt}.json"


def write_record(runs_dir: Path, record: dict) -> Path:
    path = record_path(runs_dir, record["key"], record["attempt"])
    write_json_atomic(path, record)
    return path


def failure_record(case: dict, attempt: str, error_class: str, error: str, run: dict | None = None,
                   started: str | None = None) -> dict:
    """An outcome with no timing, e.g. written by the runner when a case's process timed out or died."""
    assert error_class in ERROR_CLASSES, error_class
    return {"format": FORMAT, "key": case["key"], "attempt": attempt, "case": case, "state": "failed",
            "error_class": error_class, "error": error, "timing": None, "run": run or {},
            "started": started or now(), "finished": now()}


def read_record(path: Path) -> dict:
    """Load and validate one record; raises ValueError on a corrupt or foreign file."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: not a readable JSON record ({e})") from None
    found = data.get("format") if isinstance(data, dict) else type(data).__name__
    if found != FORMAT:
        raise ValueError(f"{path}: not an ftrun result (format {found!r}, expected {FORMAT!r})")
    for field in ("key", "attempt", "case", "state"):
        if field not in data:
            raise ValueError(f"{path}: missing field {field!r}")
    if data["state"] == "done" and not (data.get("timing") or {}).get("median"):
        raise ValueError(f"{path}: a done record without a timing")
    return data

"""What a submit says while it works: plain data, rendered by the CLI (ftrun.render.submit_events)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Planned:
    """The plan of this submit (ftrun.campaign.Plan) and how many chunks it makes."""

    plan: object
    chunks: int


@dataclass(frozen=True)
class DryRun:
    chunk_list: list
    # what would be asked of the scheduler (sbatch options), if it has a scheduler
    options: list[str]


@dataclass(frozen=True)
class Note:
    """A side remark (shown dim, on stderr)."""

    text: str


@dataclass(frozen=True)
class Message:
    """A result line."""

    text: str


@dataclass(frozen=True)
class Waiting:
    """The runs folder's submit lock is held by another ftrun; `holder` says which (None: unknown)."""

    holder: object | None


@dataclass(frozen=True)
class RunStarted:
    """Cases start running here; `workers` are the GPUs of the pool ([None]: one CPU worker)."""

    cases: int
    workers: list


@dataclass(frozen=True)
class CaseStarted:
    spec: object


@dataclass(frozen=True)
class CaseDone:
    spec: object
    record: object


@dataclass(frozen=True)
class RunEnded:
    records: int
    root: Path


@dataclass(frozen=True)
class Submitted:
    """A submission handed to a scheduler: tasks written, how many reached it, how many the cap holds."""

    submission: str | None
    tasks: int
    submitted: int
    held: int
    arrays: list[str]
    cap: int


@dataclass(frozen=True)
class ToppedUp:
    arrays: list[str]


@dataclass(frozen=True)
class Following:
    """One look of `submit --follow`: the status report (ftrun.status.StatusReport) of the experiment."""

    report: object

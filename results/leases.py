"""Who may act now: the submit lock of a runs folder, and the claim of a task by one copy of it.

    .submit.lock                            LockHolder: the ftrun process that submits or runs cases here
    tasks/<submission>/<index>.claim.json   TaskClaim: the copy of a task that may run its cases
    tasks/<submission>/<index>.lock         held (flock) by the copy that runs the task's cases

A scheduler task can have two live copies: a requeued one, and the old one whose process outlived the
signal meant to stop it (Slurm without cgroups, a long KillWait). Each copy claims the task when it
starts (an atomic write: the last claim wins), then waits for the task's lock, which the old copy holds
until it stops; before each case a copy checks that the claim is still its own, so a superseded copy
stops at its next case and never two copies run cases of one task at once.
"""

from __future__ import annotations

import fcntl
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path

from results.files import parse_json
from results.records import RecordError


def _parse(cls, d: object, where: str):
    try:
        if not isinstance(d, dict):
            raise RecordError(f"expected a JSON object, found {type(d).__name__}")
        return cls(**{f.name: d[f.name] for f in fields(cls)})._checked()
    except (KeyError, TypeError, ValueError) as e:
        raise RecordError(f"{where}: missing or malformed field {e}") from None


@dataclass(frozen=True)
class LockHolder:
    """The process that holds a runs folder's submit lock, so a second one can say whom it waits for."""

    pid: int
    host: str
    command: str
    since: str

    @classmethod
    def from_json(cls, d: object, where: str = "lock holder") -> LockHolder:
        return _parse(cls, d, where)

    def _checked(self) -> LockHolder:
        if type(self.pid) is not int or not all(isinstance(x, str) for x in (self.host, self.command, self.since)):
            raise RecordError("pid must be an integer and host, command, since strings")
        return self

    def to_json(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host} since {self.since} ({self.command})"


@dataclass(frozen=True)
class TaskClaim:
    """One copy of a scheduler task: its job id, the scheduler's restart count, where it runs, a token."""

    job_id: str
    attempt: int
    host: str
    pid: int
    token: str
    claimed: str

    @classmethod
    def from_json(cls, d: object, where: str = "task claim") -> TaskClaim:
        return _parse(cls, d, where)

    def _checked(self) -> TaskClaim:
        if type(self.attempt) is not int or type(self.pid) is not int:
            raise RecordError("attempt and pid must be integers")
        if not all(isinstance(x, str) for x in (self.job_id, self.host, self.token, self.claimed)):
            raise RecordError("job_id, host, token and claimed must be strings")
        return self

    def to_json(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def describe(self) -> str:
        return f"job {self.job_id} attempt {self.attempt} (pid {self.pid} on {self.host})"


class FileLock:
    """An exclusive flock on one file; its holder may write a line about itself into the file.

    The kernel drops the lock when the holding process dies (even by SIGKILL), so a lock is never stale.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self._file = None

    def try_acquire(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        f = open(self.path, "a+")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.close()
            return False
        self._file = f
        return True

    def acquire(self, poll_s: float = 1.0, give_up: Callable[[], bool] | None = None) -> bool:
        """Wait for the lock; False if `give_up()` said so first (asked between tries)."""
        while not self.try_acquire():
            if give_up is not None and give_up():
                return False
            time.sleep(poll_s)
        return True

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None

    def write_holder(self, holder: LockHolder) -> None:
        """Say who holds the lock (only while holding it)."""
        self._file.seek(0)
        self._file.truncate()
        self._file.write(json.dumps(holder.to_json()))
        self._file.flush()

    def holder(self) -> object | None:
        """What the holder wrote, parsed as JSON; None if nothing readable is there."""
        try:
            return parse_json(self.path.read_bytes(), str(self.path))
        except (OSError, ValueError):
            return None

    def __enter__(self) -> FileLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


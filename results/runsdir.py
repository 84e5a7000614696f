"""The runs folder: every path under it is spelled here, and its files are read and written through here.

    results/<key>--<attempt>.json          Record (results.records)   one finished attempt; the truth
    campaigns/<id>.json                    Campaign                   what a submit planned
    submissions/<id>[.arrays|.pending-N].json                         Slurm submissions (results.campaigns)
    tasks/<submission>/<index>.json        TaskStart                  a task's process began
    tasks/<submission>/<index>.claim.json  TaskClaim (results.leases) the copy of a task that may run it
    tasks/<submission>/<index>.lock        flock held by the copy running the task's cases
    heartbeats/<submission>--<index>       text: the case in flight   touched while a task runs
    cancel/<submission>/<key>              empty                      `ftrun cancel` marked the case
    logs/<submission>/task-<index>.log     a Slurm task's log (its cases' workers write into it)
    logs/<campaign>/chunk-<n>.log          a local chunk's log
    slurm/<submission>/                    submitit's folder (pickles, sbatch scripts, Slurm's output)
    index.sqlite                           the index (results.index): derived, rebuilt at will
    figures/                               `ftrun plot`'s default output
    .submit.lock                           serialises submitters (local and Slurm); names its holder

Every name that becomes a path component is checked ([A-Za-z0-9_.-]+), so no name from a file or a
setting can point outside the folder.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from results.campaigns import Campaign, PendingArray, Submission, TaskStart, arrays_from_json
from results.case import check_name
from results.files import read_json, write_json_atomic
from results.leases import FileLock, LockHolder, TaskClaim
from results.records import Record, RunInfo

INDEX_NAME = "index.sqlite"


@dataclass(frozen=True)
class RunsDir:
    root: Path

    def __post_init__(self):
        object.__setattr__(self, "root", Path(self.root).expanduser())

    # ---- paths -----------------------------------------------------------------------------------

    @property
    def index(self) -> Path:
        return self.root / INDEX_NAME

    @property
    def results(self) -> Path:
        return self.root / "results"

    @property
    def campaigns(self) -> Path:
        return self.root / "campaigns"

    @property
    def submissions(self) -> Path:
        return self.root / "submissions"

    @property
    def figures(self) -> Path:
        return self.root / "figures"

    @property
    def lock(self) -> Path:
        return self.root / ".submit.lock"

    def record_path(self, key: str, attempt: str) -> Path:
        return self.results / f"{check_name('case key', key)}--{check_name('attempt', attempt)}.json"

    def campaign_path(self, campaign: str) -> Path:
        return self.campaigns / f"{check_name('campaign', campaign)}.json"

    def submission_path(self, sub: str) -> Path:
        return self.submissions / f"{check_name('submission', sub)}.json"

    def arrays_path(self, sub: str) -> Path:
        return self.submissions / f"{check_name('submission', sub)}.arrays.json"

    def pending_path(self, sub: str, number: int) -> Path:
        return self.submissions / f"{check_name('submission', sub)}.pending-{int(number)}.json"

    def pending_paths(self, sub: str) -> list[Path]:
        return sorted(self.submissions.glob(f"{check_name('submission', sub)}.pending-*.json"))

    def task_start(self, sub: str, index: int) -> Path:
        return self.root / "tasks" / check_name("submission", sub) / f"{int(index)}.json"

    def task_claim(self, sub: str, index: int) -> Path:
        return self.root / "tasks" / check_name("submission", sub) / f"{int(index)}.claim.json"

    def task_lock(self, sub: str, index: int) -> FileLock:
        return FileLock(self.root / "tasks" / check_name("submission", sub) / f"{int(index)}.lock")

    def submit_lock(self) -> FileLock:
        return FileLock(self.lock)

    def heartbeat(self, sub: str, index: int) -> Path:
        return self.root / "heartbeats" / f"{check_name('submission', sub)}--{int(index)}"

    def cancel_dir(self, sub: str) -> Path:
        return self.root / "cancel" / check_name("submission", sub)

    def cancel_mark(self, sub: str, key: str) -> Path:
        return self.cancel_dir(sub) / check_name("case key", key)

    def task_log(self, sub: str, index: int) -> Path:
        return self.root / "logs" / check_name("submission", sub) / f"task-{int(index):04d}.log"

    def chunk_log(self, campaign: str, chunk: int) -> Path:
        return self.root / "logs" / check_name("campaign", campaign) / f"chunk-{int(chunk):04d}.log"

    def slurm_dir(self, sub: str) -> Path:
        return self.root / "slurm" / check_name("submission", sub)

    def log_of(self, run: RunInfo) -> Path | None:
        """The log an attempt wrote into, found from where it ran. A path written in a file is used only
        when it lies inside this folder's logs/ (records of older ftruns name their log so)."""
        if run.submission is not None and run.task is not None:
            return self.task_log(run.submission, run.task)
        if run.campaign is not None and run.chunk is not None:
            return self.chunk_log(run.campaign, run.chunk)
        if run.log:
            logs = (self.root / "logs").resolve()
            path = Path(run.log).resolve()
            if path.is_relative_to(logs):
                return path
        return None

    # ---- files -----------------------------------------------------------------------------------

    def write_record(self, record: Record) -> Path:
        path = self.record_path(record.key, record.attempt)
        write_json_atomic(path, record.to_json())
        return path

    def read_record(self, path: Path) -> Record:
        """RecordError (a ValueError) for an invalid file; OSError for one that cannot be read now."""
        return Record.from_json(read_json(path), str(path))

    def records_of(self, key: str) -> Iterator[Record]:
        """Every valid record of one case (invalid ones are the index's to report)."""
        for path in sorted(self.results.glob(f"{check_name('case key', key)}--*.json")):
            try:
                yield self.read_record(path)
            except (OSError, ValueError):
                continue

    def write_campaign(self, campaign: Campaign) -> Path:
        path = self.campaign_path(campaign.id)
        write_json_atomic(path, campaign.to_json())
        return path

    def read_campaign(self, path: Path) -> Campaign:
        return Campaign.from_json(read_json(path), str(path))

    def write_submission(self, sub: Submission) -> Path:
        path = self.submission_path(sub.id)
        write_json_atomic(path, sub.to_json())
        return path

    def read_submission(self, path: Path) -> Submission:
        """A submission with its arrays; RecordError if either file is damaged."""
        sub = Submission.from_json(read_json(path), str(path))
        arrays = self.arrays_path(sub.id)
        return sub.with_arrays(arrays_from_json(read_json(arrays), str(arrays)) if arrays.exists() else None)

    def submission_files(self) -> list[Path]:
        """submissions/<id>.json (not the arrays and pending files beside them)."""
        if not self.submissions.is_dir():
            return []
        return sorted(p for p in self.submissions.glob("*.json") if p.name.count(".") == 1)

    def write_arrays(self, sub: str, arrays) -> None:
        write_json_atomic(self.arrays_path(sub), {"arrays": [a.to_json() for a in arrays]})

    def write_pending(self, sub: str, number: int, pending: PendingArray) -> Path:
        path = self.pending_path(sub, number)
        write_json_atomic(path, pending.to_json())
        return path

    def read_pending(self, path: Path) -> PendingArray:
        return PendingArray.from_json(read_json(path), str(path))

    def write_task_start(self, sub: str, index: int, start: TaskStart) -> None:
        write_json_atomic(self.task_start(sub, index), start.to_json())

    def write_claim(self, sub: str, index: int, claim: TaskClaim) -> None:
        write_json_atomic(self.task_claim(sub, index), claim.to_json())

    def read_claim(self, sub: str, index: int) -> TaskClaim | None:
        """The task's current claim; None if there is none (or it cannot be read)."""
        path = self.task_claim(sub, index)
        try:
            return TaskClaim.from_json(read_json(path), str(path))
        except (OSError, ValueError):
            return None

    def lock_holder(self, lock: FileLock) -> LockHolder | None:
        """Who holds the submit lock, as its holder wrote it; None if that cannot be read."""
        found = lock.holder()
        try:
            return LockHolder.from_json(found, str(lock.path)) if found is not None else None
        except ValueError:
            return None

    def touch(self, path: Path, text: str | None = None) -> None:
        """Create or touch a small marker file (heartbeat, cancel mark), its folder included."""
        path.parent.mkdir(parents=True, exist_ok=True)
        if text is None:
            path.touch()
        else:
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            tmp.write_text(text)
            tmp.replace(path)

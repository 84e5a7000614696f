"""`ftrun results import`: merge another runs folder, or a folder of FlashTensor-artifact logs.

Nothing from the other folder is trusted: symbolic links are never followed, every file is validated as a
record or campaign before it is copied (a file that is not one is skipped with the reason), a record's
place in this folder follows from its content (not its file name), and paths written inside records are
never used. Both kinds of import are idempotent: a result file is copied only if this runs folder does
not have it yet (names are unique per attempt), and artifact logs become records with attempt ids derived
from the log's name and content, so importing twice adds nothing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ftrun import artifact
from ftrun.errors import FtrunError
from results.campaigns import Campaign
from results.files import FILE_MODE, MAX_JSON_BYTES, parse_json
from results.index import Index
from results.records import Record
from results.runsdir import RunsDir


@dataclass
class ImportReport:
    copied: int = 0
    already: int = 0
    skipped: list[str] = field(default_factory=list)
    # artifact logs without a time, imported as the FAIL the paper shows
    failed: list[str] = field(default_factory=list)


def import_path(runs: RunsDir, source: Path) -> ImportReport:
    source = Path(source)
    if not source.is_dir():
        raise FtrunError(f"{source} is not a folder: give a runs folder or a folder of artifact logs")
    if _plain_dir(source / "results") or _plain_dir(source / "campaigns"):
        report = _import_runs(runs, source)
    elif logs := artifact.log_folders(source):
        report = _import_artifact(runs, logs)
    else:
        raise FtrunError(f"{source} holds neither a runs folder (results/, campaigns/) nor FlashTensor artifact "
                         "logs ({kernel|e2e}.{device}.{model}.{sys}.log for Fig. 12, {device}.{sys}.{seqlen}.log "
                         "for Fig. 13, {device}.{model}.{sys}.log for Fig. 14, or a backup_logs folder of them)")
    with Index(runs) as index:
        index.sync()
    return report


def _plain_dir(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink()


def _import_runs(runs: RunsDir, source: Path) -> ImportReport:
    if source.resolve() == runs.root.resolve():
        raise FtrunError(f"{source} is this runs folder already")
    report = ImportReport()
    for sub in ("campaigns", "results"):
        folder = source / sub
        if not _plain_dir(folder):
            continue
        for entry in sorted(os.scandir(folder), key=lambda e: e.name):
            if not entry.name.endswith(".json") or entry.name.startswith("."):
                continue
            where = f"{sub}/{entry.name}"
            if entry.is_symlink() or not entry.is_file(follow_symlinks=False):
                report.skipped.append(f"{where}: not a plain file (links are not followed)")
                continue
            _import_file(runs, Path(entry.path), sub, where, report)
    return report


def _import_file(runs: RunsDir, path: Path, sub: str, where: str, report: ImportReport) -> None:
    try:
        raw = _read_nofollow(path)
        if sub == "results":
            record = Record.from_json(parse_json(raw, where), where)
            target = runs.record_path(record.key, record.attempt)
        else:
            campaign = Campaign.from_json(parse_json(raw, where), where)
            target = runs.campaign_path(campaign.id)
    except (OSError, ValueError) as e:
        report.skipped.append(f"{where}: {e}")
        return
    if target.exists():
        if target.read_bytes() == raw:
            report.already += 1
        else:
            report.skipped.append(f"{where}: {target.name} exists here with other content (kept ours)")
        return
    _write_bytes(target, raw)
    report.copied += 1


def _read_nofollow(path: Path) -> bytes:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as f:
        raw = f.read(MAX_JSON_BYTES + 1)
    if len(raw) > MAX_JSON_BYTES:
        raise ValueError("larger than any file ftrun writes")
    return raw


def _write_bytes(target: Path, raw: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.import")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    with os.fdopen(fd, "wb") as f:
        f.write(raw)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(target)


def _import_artifact(runs: RunsDir, folders: list[Path]) -> ImportReport:
    report = ImportReport()
    for folder in folders:
        for entry in sorted(os.scandir(folder), key=lambda e: e.name):
            name = artifact.parse_name(entry.name)
            if name is None:
                continue
            where = entry.name if len(folders) == 1 else f"{folder.parent.name}/{entry.name}"
            if entry.is_symlink() or not entry.is_file(follow_symlinks=False):
                report.skipped.append(f"{where}: not a plain file (links are not followed)")
                continue
            try:
                text = _read_nofollow(Path(entry.path)).decode(errors="replace")
                record = artifact.read_log(name, entry.name, text)
            except (OSError, ValueError) as e:
                report.skipped.append(f"{where}: {e}")
                continue
            if runs.record_path(record.key, record.attempt).exists():
                report.already += 1
                continue
            runs.write_record(record)
            report.copied += 1
            if record.state == "failed":
                report.failed.append(f"{where}: {record.error}")
    return report

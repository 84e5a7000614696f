"""`ftrun results import`: merge another runs folder, or a folder of FlashTensor-artifact logs.

Both are idempotent: a result file is copied only if this runs folder does not have it yet (file
names are unique per attempt), and artifact logs become records with attempt ids derived from the
log's name and content, so importing twice adds nothing.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from ftrun.errors import FtrunError
from jobs.spec import SCALES, CaseSpec, e2e_dims, kernel_dims
from results.index import Index
from results.paper import SYSTEM_NAMES
from results.records import FORMAT, now, read_record, write_record

ARTIFACT_NAME = re.compile(r"^(?P<exp>[^.]+)\.(?P<device>[^.]+)\.(?P<model>[^.]+)\.(?P<sys>[^.]+)\.log$")
ARTIFACT_AVG = re.compile(r"\[(?P<label>[\w-]+)\][^\n]*?avg[:\s]+(?P<ms>[0-9.]+)")
# artifact timings (wall clock, 10 runs) are another protocol: never a valid result for our cases
ARTIFACT_PROTOCOL = 0


@dataclass
class ImportReport:
    copied: int = 0
    already: int = 0
    skipped: list[str] = field(default_factory=list)


def import_path(runs_dir: Path, source: Path) -> ImportReport:
    source = Path(source)
    if not source.is_dir():
        raise FtrunError(f"{source} is not a folder: give a runs folder or a folder of artifact logs")
    if (source / "results").is_dir() or (source / "campaigns").is_dir():
        report = _import_runs(runs_dir, source)
    elif any(ARTIFACT_NAME.match(p.name) for p in source.iterdir()):
        report = _import_artifact(runs_dir, source)
    else:
        raise FtrunError(f"{source} holds neither a runs folder (results/, campaigns/) nor artifact logs "
                         "named {exp}.{device}.{model}.{sys}.log")
    with Index(runs_dir) as index:
        index.sync()
    return report


def _import_runs(runs_dir: Path, source: Path) -> ImportReport:
    if source.resolve() == Path(runs_dir).resolve():
        raise FtrunError(f"{source} is this runs folder already")
    report = ImportReport()
    for sub in ("results", "campaigns"):
        for path in sorted((source / sub).glob("*.json")):
            target = Path(runs_dir) / sub / path.name
            if target.exists():
                report.already += 1
                continue
            if sub == "results":
                try:
                    read_record(path)
                except ValueError as e:
                    report.skipped.append(str(e))
                    continue
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.import")
            shutil.copyfile(path, tmp)
            tmp.replace(target)
            report.copied += 1
    return report


def _import_artifact(runs_dir: Path, source: Path) -> ImportReport:
    report = ImportReport()
    for path in sorted(source.iterdir()):
        m = ARTIFACT_NAME.match(path.name)
        if not m:
            continue
        text = path.read_text(errors="replace")
        found = ARTIFACT_AVG.findall(text)
        if not found:
            report.skipped.append(f"{path.name}: no '[sys] avg X ms' line")
            continue
        ms = float(found[-1][1])
        spec = _artifact_case(m["exp"], m["device"], m["model"], SYSTEM_NAMES.get(m["sys"], m["sys"]))
        attempt = "ae" + hashlib.sha256(f"{path.name}\n{text}".encode()).hexdigest()[:10]
        target = Path(runs_dir) / "results" / f"{spec.key}--{attempt}.json"
        if target.exists():
            report.already += 1
            continue
        record = {"format": FORMAT, "key": spec.key, "attempt": attempt, "case": spec.to_dict(), "state": "done",
                  "error_class": None, "error": None, "compile_s": None, "memory": None,
                  "timing": {"unit": "ms", "median": ms, "mean": ms, "n": None, "samples": [],
                             "method": "artifact wall-clock average"},
                  "run": {"cluster": f"artifact-{m['device']}", "log": str(path)},
                  "started": now(), "finished": now(), "source": "flashtensor-artifact"}
        write_record(runs_dir, record)
        report.copied += 1
    return report


def _artifact_case(exp: str, device: str, model: str, system: str) -> CaseSpec:
    digits = re.findall(r"\d{3,5}", exp)
    seqlen = int(digits[-1]) if digits else 4096
    part = "e2e" if "e2e" in exp else "kernel"
    dims = (e2e_dims if part == "e2e" else kernel_dims)(SCALES["full"], seqlen)
    return CaseSpec(part, model, system, dims, "float16", device, "full", ARTIFACT_PROTOCOL)


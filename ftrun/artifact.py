"""The FlashTensor artifact's logs (its `backup_logs` folders) read as result records.

The artifact names a log after what it ran, one naming per figure:

    fig12   {kernel|e2e}.{device}.{model}.{system}.log
    fig13   {device}.{system}.{seqlen}.log            (the H2O kernel)
    fig14   {device}.{model}.{system}.log

A run's time is its `[system] avg X ms, min Y ms, max Z ms, ... (N runs, ...)` line; a log without that line
is a run that failed, recorded as FAIL with the log's last error line, as the paper shows it. The systems
get our names (dynamo -> inductor, flashattn -> flashattn2; the paper's own compiler, `our`, becomes
`flashtensor-paper`), and each case carries the figure it belongs to (a case option), so the same
kernel in Fig. 12 and Fig. 13 keeps both of its numbers.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from jobs.spec import SCALES, e2e_dims, kernel_dims
from results.case import CaseSpec, check_name
from results.paper import SYSTEM_NAMES
from results.records import Memory, Record, RunInfo, Timing, now

# artifact timings (wall clock, 10 to 50 runs) are another protocol: never a valid result for our cases
ARTIFACT_PROTOCOL = 0
SOURCE = "flashtensor-artifact"
_PART = r"[A-Za-z0-9_-]+"
NAMINGS = (
    ("fig12", re.compile(rf"^(?P<part>kernel|e2e)\.(?P<device>{_PART})\.(?P<model>{_PART})\.(?P<sys>{_PART})\.log$")),
    ("fig13", re.compile(rf"^(?P<device>{_PART})\.(?P<sys>{_PART})\.(?P<seqlen>\d+)\.log$")),
    ("fig14", re.compile(rf"^(?P<device>{_PART})\.(?P<model>{_PART})\.(?P<sys>{_PART})\.log$")),
)
FIG13_MODEL = "h2o"
_RESULT = re.compile(r"^\[(?P<label>[\w-]+)\] avg:? (?P<avg>[0-9.]+) ms(?:, min (?P<min>[0-9.]+) ms)?"
                     r"(?:[^\n]*?\((?P<runs>\d+) runs)?", re.M)
_SEQLEN = re.compile(r"\bseqlen=(\d+)\b")
_PEAK_MIB = re.compile(r"^mib=([0-9.]+)\s*$", re.M)
_ERROR = re.compile(r"^(?:[\w.]+(?:Error|Exception)|error)\b.*$", re.M)
# the paper's default length (every Fig. 12 and Fig. 14 case)
DEFAULT_SEQLEN = 4096


@dataclass(frozen=True)
class LogName:
    figure: str
    part: str
    device: str
    model: str
    system: str
    seqlen: int | None


def parse_name(name: str) -> LogName | None:
    """What an artifact log's file name says it ran, or None for a file of another kind."""
    for figure, pattern in NAMINGS:
        m = pattern.match(name)
        if m:
            g = m.groupdict()
            return LogName(figure, g.get("part") or "kernel", g["device"].lower(), g.get("model") or FIG13_MODEL,
                           SYSTEM_NAMES.get(g["sys"], g["sys"]), int(g["seqlen"]) if g.get("seqlen") else None)
    return None


def log_folders(source: Path) -> list[Path]:
    """The folders of artifact logs at `source`: itself, its backup_logs/, or each fig*/backup_logs/ (the
    artifact's own layout). Links inside `source` are never followed."""
    inner = [source / "backup_logs"]
    inner += sorted(Path(e.path) / "backup_logs" for e in os.scandir(source)
                    if e.name.startswith("fig") and e.is_dir(follow_symlinks=False))
    return [folder for folder in [source] + [f for f in inner if _plain_dir(f)]
            if any(parse_name(e.name) for e in os.scandir(folder))]


def read_log(name: LogName, file_name: str, text: str) -> Record:
    """The record an artifact log stands for: its time, or the FAIL of a run that printed none."""
    seqlen = name.seqlen or _first_int(_SEQLEN, text) or DEFAULT_SEQLEN
    spec = _case(name, seqlen)
    attempt = "ae" + hashlib.sha256(f"{file_name}\n{text}".encode()).hexdigest()[:10]
    stamp = now()
    run = RunInfo(cluster=check_name("cluster", f"artifact-{name.device}"))
    found = [m for m in _RESULT.finditer(text) if SYSTEM_NAMES.get(m["label"], m["label"]) == name.system]
    if not found:
        errors = _ERROR.findall(text)
        why = errors[-1].strip()[:500] if errors else "the log has no '[system] avg X ms' line: the run failed"
        return Record(spec.key, attempt, spec, "failed", stamp, stamp, "crash", f"artifact log {file_name}: {why}",
                      run=run, source=SOURCE)
    m = found[-1]
    runs = int(m["runs"]) if m["runs"] else None
    timing = Timing.from_json({"median": float(m["avg"]), "mean": float(m["avg"]),
                               "min": float(m["min"]) if m["min"] else None, "n": runs,
                               "method": "flashtensor artifact: mean of its runs (its median is not logged)"})
    peak = _first_float(_PEAK_MIB, text)
    return Record(spec.key, attempt, spec, "done", stamp, stamp, timing=timing,
                  memory=Memory(peak_mib=peak) if peak is not None else None, run=run, source=SOURCE)


def _case(name: LogName, seqlen: int) -> CaseSpec:
    dims = (e2e_dims if name.part == "e2e" else kernel_dims)(SCALES["full"], seqlen)
    spec = CaseSpec(name.part, name.model, name.system, dims, "float16", name.device, "full", ARTIFACT_PROTOCOL,
                    options=(("figure", name.figure),))
    # validated as any file's case is: names usable in paths
    return CaseSpec.from_json(spec.to_json())


def _first_int(pattern: re.Pattern, text: str) -> int | None:
    m = pattern.search(text)
    return int(m.group(1)) if m else None


def _first_float(pattern: re.Pattern, text: str) -> float | None:
    m = pattern.search(text)
    return float(m.group(1)) if m else None


def _plain_dir(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink()

"""Result records: one immutable JSON file per attempt. The files are the truth; this module is their format.

A record is read only through `Record.from_json`, which validates every field it relies on: a foreign,
truncated or tampered file (a NaN or negative median, a case without dims, a time in the future) is
refused with its path and the reason, and never reaches the index, a figure or a decision.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timedelta, timezone

from results.case import CaseSpec, SpecError, check_name
from results.files import FileFormatError

FORMAT = "ftrun.result/1"
STATES = ("done", "failed")

# Failure classes. Deterministic ones are final until `ftrun retry` / `--force`;
# transient ones are retried with a budget; a timeout gets one retry with a longer limit.
DETERMINISTIC = ("compile_error", "unsupported", "wrong_result", "oom")
TRANSIENT = ("crash", "preempted", "node_fail", "lost", "cuda_init", "killed")
TIMEOUT = "timeout"
# stopped by `ftrun cancel`: not a failure of the case, and runs again at the next submit
CANCELLED = "cancelled"
ERROR_CLASSES = DETERMINISTIC + TRANSIENT + (TIMEOUT, CANCELLED)

# the short labels of final states, as status lists them and figures draw them
LABELS = {"unsupported": "NS", "oom": "OOM", "timeout": "TLE", "cancelled": "CANCELLED"}
# a clock may run ahead of another by this much; a record finished later than now + this is refused
CLOCK_SLACK = timedelta(days=1)


class RecordError(FileFormatError):
    """A file that is not a valid record; the message starts with where it came from."""


def new_attempt_id() -> str:
    return uuid.uuid4().hex[:12]


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


# a done attempt whose program ran in Triton's interpreter (no GPU): its result was checked, it has no time
INTERPRETED = "INTERP"
INTERPRETED_TEXT = "interpreter: correct, not timed"


def state_label(state: str | None, error_class: str | None, interpreted: bool = False) -> str:
    """DONE, INTERP, NS, OOM, TLE, CANCELLED or FAIL for a finished attempt; NEW for none."""
    if state is None:
        return "NEW"
    if state == "done":
        return INTERPRETED if interpreted else "DONE"
    return LABELS.get(error_class or "", "FAIL")


def state_text(state: str | None, error_class: str | None, interpreted: bool = False) -> str:
    """The label with the failure class where the label alone hides it: FAIL(wrong_result)."""
    label = state_label(state, error_class, interpreted)
    return f"FAIL({error_class})" if label == "FAIL" else label


def evidence_rank(state: str, error_class: str | None) -> int:
    """How much an attempt says about its case. A case's state is its attempt of highest rank, the latest
    among equals: a result (or a deterministic failure) is never hidden by a later crash, kill or cancel
    of the same case (a task's closing baseline repetition, say); a time-out says more than a crash."""
    if state == "done" or error_class in DETERMINISTIC:
        return 2
    return 1 if error_class == TIMEOUT else 0


@dataclass(frozen=True)
class Timing:
    """Per-call times in ms: median with spread, every sample kept, and how they were taken."""

    median: float
    p10: float | None = None
    p90: float | None = None
    min: float | None = None
    mean: float | None = None
    n: int | None = None
    samples: tuple[float, ...] = ()
    method: str = ""
    l2_flush_mib: int | None = None
    unit: str = "ms"

    @classmethod
    def from_json(cls, d: object) -> Timing:
        _require(isinstance(d, dict), f"timing must be an object, found {type(d).__name__}")
        _require(d.get("unit", "ms") == "ms", f"timing unit must be ms, found {d.get('unit')!r}")
        median = d.get("median")
        _require(_number(median) and median > 0, f"timing median must be a positive number, found {median!r}")
        for name in ("p10", "p90", "min", "mean"):
            value = d.get(name)
            _require(value is None or (_number(value) and value >= 0),
                     f"timing {name} must be a non-negative number, found {value!r}")
        n = d.get("n")
        _require(n is None or (type(n) is int and n > 0), f"timing n must be a positive integer, found {n!r}")
        samples = d.get("samples") or []
        _require(isinstance(samples, list) and all(_number(x) and x >= 0 for x in samples),
                 "timing samples must be a list of non-negative numbers")
        flush = d.get("l2_flush_mib")
        _require(flush is None or type(flush) is int, f"timing l2_flush_mib must be an integer, found {flush!r}")
        return cls(median, d.get("p10"), d.get("p90"), d.get("min"), d.get("mean"), n, tuple(samples),
                   str(d.get("method") or ""), flush)

    def to_json(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["samples"] = list(self.samples)
        return d


@dataclass(frozen=True)
class Memory:
    """Peak allocated MiB during one call (inputs included) and the part above the inputs."""

    peak_mib: float | None = None
    extra_mib: float | None = None

    @classmethod
    def from_json(cls, d: object) -> Memory:
        _require(isinstance(d, dict), f"memory must be an object, found {type(d).__name__}")
        for name in ("peak_mib", "extra_mib"):
            _require(d.get(name) is None or _number(d[name]), f"memory {name} must be a number")
        return cls(d.get("peak_mib"), d.get("extra_mib"))

    def to_json(self) -> dict:
        return {"peak_mib": self.peak_mib, "extra_mib": self.extra_mib}


@dataclass(frozen=True)
class RunInfo:
    """Where an attempt ran: cluster, Slurm job, node; for a Slurm task its (submission, task, position),
    for a local run its (campaign, chunk, position). Logs are found from these, never from a path."""

    cluster: str | None = None
    job_id: str | None = None
    node: str | None = None
    submission: str | None = None
    task: int | None = None
    position: int | None = None
    campaign: str | None = None
    chunk: int | None = None
    gpu: str | None = None
    # where the attempt's log was, as its writer saw it: only ever used inside this runs folder's logs/
    log: str | None = None

    @classmethod
    def from_json(cls, d: object) -> RunInfo:
        _require(isinstance(d, dict), f"run must be an object, found {type(d).__name__}")
        for name in ("cluster", "submission", "campaign"):
            if d.get(name) is not None:
                _name(f"run {name}", d[name])
        for name in ("task", "position", "chunk"):
            value = d.get(name)
            _require(value is None or (type(value) is int and value >= 0),
                     f"run {name} must be a non-negative integer, found {value!r}")
        for name in ("job_id", "node", "gpu", "log"):
            _require(d.get(name) is None or isinstance(d[name], str), f"run {name} must be a string")
        return cls(**{f.name: d.get(f.name) for f in fields(cls)})

    def to_json(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}


@dataclass(frozen=True)
class Record:
    """One finished attempt at a case: a measurement (state done, with a timing) or a failure outcome.

    `interpreted`: the program ran in Triton's interpreter (a CPU run of the compiler). Such an attempt is
    done once its check passed and has no timing: the interpreter's speed says nothing about the kernels.
    """

    key: str
    attempt: str
    case: CaseSpec
    state: str
    started: str
    finished: str
    error_class: str | None = None
    error: str | None = None
    timing: Timing | None = None
    memory: Memory | None = None
    compile_s: float | None = None
    run: RunInfo = field(default_factory=RunInfo)
    source: str = "ftrun"
    # free-form details for people: the correctness check's errors, what exactly ran, the machine
    check: dict | None = None
    system: dict | None = None
    provenance: dict | None = None
    interpreted: bool = False

    @property
    def label(self) -> str:
        return state_label(self.state, self.error_class, self.interpreted)

    @classmethod
    def failure(cls, case: CaseSpec, attempt: str, error_class: str, error: str, run: RunInfo | None = None,
                started: str | None = None) -> Record:
        """An outcome with no timing, e.g. written by the runner when a case's process timed out or died."""
        if error_class not in ERROR_CLASSES:
            raise ValueError(f"unknown failure class {error_class!r}")
        return cls(case.key, attempt, case, "failed", started or now(), now(), error_class, error,
                   run=run or RunInfo())

    def with_run(self, **changes) -> Record:
        return replace(self, run=replace(self.run, **changes))

    @classmethod
    def from_json(cls, d: object, where: str = "record") -> Record:
        try:
            return cls._parse(d)
        except (SpecError, RecordError) as e:
            raise RecordError(f"{where}: {e}") from None

    @classmethod
    def _parse(cls, d: object) -> Record:
        found = d.get("format") if isinstance(d, dict) else type(d).__name__
        _require(found == FORMAT, f"not an ftrun result (format {found!r}, expected {FORMAT!r})")
        for name in ("key", "attempt", "case", "state", "finished"):
            _require(name in d, f"missing field {name!r}")
        case = CaseSpec.from_json(d["case"])
        _require(d["key"] == case.key, f"key {d['key']!r} is not its case's key {case.key}")
        _name("attempt", d["attempt"])
        state, cls_ = d["state"], d.get("error_class")
        _require(state in STATES, f"state must be one of {', '.join(STATES)}, found {state!r}")
        timing = Timing.from_json(d["timing"]) if d.get("timing") is not None else None
        interpreted = d.get("interpreted")
        _require(interpreted is None or type(interpreted) is bool, f"interpreted must be true or false, found "
                 f"{interpreted!r}")
        if interpreted is None:
            interpreted = _interpreted_before_the_flag(case, timing)
        if state == "done":
            _require(timing is not None or interpreted, "a done record without a timing")
            _require(cls_ is None, f"a done record with a failure class {cls_!r}")
        else:
            _require(cls_ in ERROR_CLASSES, f"unknown failure class {cls_!r}")
        finished = _timestamp("finished", d["finished"])
        started = _timestamp("started", d.get("started") or d["finished"])
        error = d.get("error")
        _require(error is None or isinstance(error, str), "error must be a string")
        compile_s = d.get("compile_s")
        _require(compile_s is None or (_number(compile_s) and compile_s >= 0), "compile_s must be a number >= 0")
        for name in ("check", "system", "provenance"):
            _require(d.get(name) is None or isinstance(d[name], dict), f"{name} must be an object")
        source = d.get("source") or "ftrun"
        _name("source", source)
        memory = Memory.from_json(d["memory"]) if d.get("memory") is not None else None
        return cls(d["key"], d["attempt"], case, state, started, finished, cls_, error, timing, memory, compile_s,
                   RunInfo.from_json(d.get("run") or {}), source, d.get("check"), d.get("system"),
                   d.get("provenance"), interpreted)

    def to_json(self) -> dict:
        return {"format": FORMAT, "key": self.key, "attempt": self.attempt, "case": self.case.to_json(),
                "state": self.state, "error_class": self.error_class, "error": self.error,
                "timing": self.timing.to_json() if self.timing else None,
                "memory": self.memory.to_json() if self.memory else None, "compile_s": self.compile_s,
                "run": self.run.to_json(), "started": self.started, "finished": self.finished,
                "source": self.source, "check": self.check, "system": self.system, "provenance": self.provenance,
                "interpreted": self.interpreted}


def _interpreted_before_the_flag(case: CaseSpec, timing: Timing | None) -> bool:
    """Records written before `interpreted` existed: the compiler timed with the CPU's clock can only
    have run in Triton's interpreter (without a GPU it runs nowhere else), so its time is no time."""
    ours = case.system.startswith("flashtensor") and case.system != "flashtensor-paper"
    return ours and timing is not None and timing.method == "perf_counter"


def _require(ok: bool, why: str) -> None:
    if not ok:
        raise RecordError(why)


def _number(x: object) -> bool:
    return type(x) in (int, float) and math.isfinite(x)


def _name(kind: str, value: object) -> None:
    try:
        check_name(kind, value)
    except SpecError as e:
        raise RecordError(str(e)) from None


def _timestamp(name: str, value: object) -> str:
    """An ISO time with a zone, not later than now (give or take a clock's drift)."""
    _require(isinstance(value, str), f"{name} must be an ISO time, found {value!r}")
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise RecordError(f"{name} {value!r} is not an ISO time") from None
    _require(when.tzinfo is not None, f"{name} {value!r} has no time zone")
    _require(when <= datetime.now(timezone.utc) + CLOCK_SLACK, f"{name} {value!r} is in the future")
    return value

"""What was planned and handed to a scheduler: campaigns, submissions, their tasks and arrays.

    campaigns/<id>.json                   Campaign: what a submit wanted (experiment, cluster, case specs)
    submissions/<id>.json                 Submission: the tasks (cases, per-case limits) of one Slurm submit
    submissions/<id>.arrays.json          ArrayRecord list: the job ids of the tasks handed to Slurm so far
    submissions/<id>.pending-<n>.json     PendingArray: an sbatch about to happen (found again by its name)
    tasks/<id>/<index>.json               TaskStart: a task's process began (job id, node, pid)

Each type validates on read (`from_json`), so a damaged file is reported with its path, never half-used.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timezone

from results.case import CaseSpec, SpecError, check_name
from results.records import RecordError


def _require(ok: bool, why: str) -> None:
    if not ok:
        raise RecordError(why)


def _cases(items: object) -> tuple[CaseSpec, ...]:
    _require(isinstance(items, list), "cases must be a list")
    try:
        return tuple(CaseSpec.from_json(c) for c in items)
    except SpecError as e:
        raise RecordError(str(e)) from None


def _id(kind: str, value: object) -> str:
    try:
        return check_name(kind, value)
    except SpecError as e:
        raise RecordError(str(e)) from None


def _parse(cls, d: object, where: str):
    try:
        _require(isinstance(d, dict), f"expected a JSON object, found {type(d).__name__}")
        return cls._parse(d)
    except (KeyError, TypeError) as e:
        raise RecordError(f"{where}: missing or malformed field {e}") from None
    except RecordError as e:
        raise RecordError(f"{where}: {e}") from None


@dataclass(frozen=True)
class Campaign:
    id: str
    experiment: str
    cluster: str
    scale: str
    device: str
    created: str
    cases: tuple[CaseSpec, ...]
    host: str = ""
    pid: int = 0
    argv: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, d: object, where: str = "campaign") -> Campaign:
        return _parse(cls, d, where)

    @classmethod
    def _parse(cls, d: dict) -> Campaign:
        _require(isinstance(d.get("created"), str), "created must be a time")
        return cls(_id("campaign id", d["id"]), _id("experiment", d["experiment"]), _id("cluster", d["cluster"]),
                   str(d.get("scale") or ""), str(d.get("device") or ""), d["created"], _cases(d["cases"]),
                   str(d.get("host") or ""), int(d.get("pid") or 0), tuple(map(str, d.get("argv") or ())))

    def to_json(self) -> dict:
        return {"id": self.id, "experiment": self.experiment, "cluster": self.cluster, "scale": self.scale,
                "device": self.device, "created": self.created, "host": self.host, "pid": self.pid,
                "argv": list(self.argv), "cases": [c.to_json() for c in self.cases]}


@dataclass(frozen=True)
class TaskPlan:
    """One array task: its cases in order, each case's limit in seconds, nodes to stay away from."""

    cases: tuple[CaseSpec, ...]
    limits: dict[str, float]
    exclude: tuple[str, ...] = ()

    @classmethod
    def _parse(cls, d: dict) -> TaskPlan:
        cases = _cases(d["cases"])
        limits = d["limits"]
        _require(isinstance(limits, dict) and all(
            type(v) in (int, float) and math.isfinite(v) and v > 0 for v in limits.values()),
            "task limits must map case keys to positive seconds")
        _require({c.key for c in cases} <= set(limits), "a task case has no limit")
        return cls(cases, {k: float(v) for k, v in limits.items()}, tuple(map(str, d.get("exclude") or ())))

    def to_json(self) -> dict:
        return {"cases": [c.to_json() for c in self.cases], "limits": dict(self.limits), "exclude": list(self.exclude)}


@dataclass(frozen=True)
class ArrayRecord:
    """One sbatch: `tasks[i]` is the Slurm job id of the task that runs task index `indices[i]`."""

    job_id: str
    tasks: tuple[str, ...]
    indices: tuple[int, ...]
    throttle: int
    submitted: float

    @classmethod
    def _parse(cls, d: dict) -> ArrayRecord:
        tasks, indices = tuple(map(str, d["tasks"])), tuple(d["indices"])
        _require(len(tasks) == len(indices) and all(type(i) is int and i >= 0 for i in indices),
                 "an array's tasks and indices must pair up")
        return cls(str(d["job_id"]), tasks, indices, int(d["throttle"]), float(d["submitted"]))

    def to_json(self) -> dict:
        return {"job_id": self.job_id, "tasks": list(self.tasks), "indices": list(self.indices),
                "throttle": self.throttle, "submitted": self.submitted}


@dataclass(frozen=True)
class Submission:
    """What one Slurm submit handed over, with the arrays submitted for it so far (`arrays`, read from
    its own file; None before the first)."""

    id: str
    campaign: str
    cluster: str
    partition: str | None
    created: str
    job_name: str
    tasks: tuple[TaskPlan, ...]
    timing: dict = field(default_factory=dict)
    arrays: tuple[ArrayRecord, ...] | None = None
    # the plug-ins its tasks load (jobs.plugins.PluginSpec.to_json): module names, paths, search folders
    plugins: dict = field(default_factory=dict)

    @classmethod
    def new(cls, sub_id: str, campaign: str, cluster: str, partition: str | None, tasks: list[TaskPlan],
            timing: dict | None = None, plugins: dict | None = None) -> Submission:
        """A submission made now; its jobs are named `ftrun-<id>`, so they are found again after a crash."""
        return cls(sub_id, campaign, cluster, partition, datetime.now(timezone.utc).isoformat(timespec="seconds"),
                   f"ftrun-{sub_id}", tuple(tasks), timing or {}, plugins=plugins or {})

    @classmethod
    def from_json(cls, d: object, where: str = "submission") -> Submission:
        return _parse(cls, d, where)

    @classmethod
    def _parse(cls, d: dict) -> Submission:
        tasks = d["tasks"]
        _require(isinstance(tasks, list), "tasks must be a list")
        timing = d.get("timing") or {}
        _require(isinstance(timing, dict), "timing must be an object")
        plugins = d.get("plugins") or {}
        _require(isinstance(plugins, dict) and all(
            k == "where" and isinstance(v, str) or isinstance(v, list) and all(isinstance(x, str) for x in v)
            for k, v in plugins.items()), "plugins must map modules, paths and search to lists of strings")
        return cls(_id("submission id", d["id"]), str(d["campaign"]), _id("cluster", d["cluster"]),
                   d.get("partition"), str(d["created"]), _id("job name", d["job_name"]),
                   tuple(TaskPlan._parse(t) for t in tasks), timing, plugins=plugins)

    def to_json(self) -> dict:
        return {"id": self.id, "campaign": self.campaign, "cluster": self.cluster, "partition": self.partition,
                "created": self.created, "job_name": self.job_name, "tasks": [t.to_json() for t in self.tasks],
                "timing": dict(self.timing), "plugins": dict(self.plugins)}

    def with_arrays(self, arrays: tuple[ArrayRecord, ...] | None) -> Submission:
        return replace(self, arrays=arrays)

    def task_job_ids(self) -> dict[int, str]:
        """task index -> Slurm job id, for the tasks already handed to the scheduler."""
        out: dict[int, str] = {}
        for array in self.arrays or ():
            out.update(zip(array.indices, array.tasks))
        return out


def arrays_from_json(d: object, where: str) -> tuple[ArrayRecord, ...]:
    try:
        _require(isinstance(d, dict) and isinstance(d.get("arrays"), list), "expected {\"arrays\": [...]}")
        return tuple(ArrayRecord._parse(a) for a in d["arrays"])
    except (KeyError, TypeError, ValueError) as e:
        raise RecordError(f"{where}: {e}") from None


@dataclass(frozen=True)
class PendingArray:
    """An sbatch about to be made: if ftrun dies before writing its job id, the next one finds the array
    by its job name and records it."""

    job_name: str
    indices: tuple[int, ...]
    throttle: int

    @classmethod
    def from_json(cls, d: object, where: str = "pending array") -> PendingArray:
        return _parse(cls, d, where)

    @classmethod
    def _parse(cls, d: dict) -> PendingArray:
        return cls(_id("job name", d["job_name"]), tuple(int(i) for i in d["indices"]), int(d["throttle"]))

    def to_json(self) -> dict:
        return {"job_name": self.job_name, "indices": list(self.indices), "throttle": self.throttle}


@dataclass(frozen=True)
class TaskStart:
    """A task's process started (written first thing on the job side)."""

    job_id: str
    node: str
    started: str
    pid: int

    @classmethod
    def from_json(cls, d: object, where: str = "task start") -> TaskStart:
        return _parse(cls, d, where)

    @classmethod
    def _parse(cls, d: dict) -> TaskStart:
        return cls(str(d["job_id"]), str(d["node"]), str(d["started"]), int(d["pid"]))

    def to_json(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}

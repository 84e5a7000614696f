"""ftrun.toml: clusters and where runs go.

Looked up as --config FILE, else ./ftrun.toml, else ~/.config/ftrun/ftrun.toml; without any file the
built-in `local` cluster (this machine, no Slurm) is all there is. Unknown keys are rejected with the
list of valid ones, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field, fields
from pathlib import Path

from ftrun.errors import FtrunError
from results.runsdir import RunsDir

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DEFAULT_RUNS_DIR = "ftrun-runs"


@dataclass(frozen=True)
class Cluster:
    """One place to run: `local` (this machine) or a Slurm partition."""

    name: str
    kind: str = "local"
    partition: str | None = None
    device: str | None = None
    gres: str | None = None
    cpus: int = 8
    memory: str | None = None
    account: str | None = None
    qos: str | None = None
    sbatch: dict = field(default_factory=dict)
    setup: tuple[str, ...] = ()
    max_tasks: int = 1
    cases_per_task: int = 16
    case_timeout_min: float = 30.0
    time_limits: dict = field(default_factory=dict)
    task_time_min: float | None = None
    retries: int = 3
    backoff_s: float = 30.0
    scale: str | None = None

    def case_limit_s(self, system: str) -> float:
        return 60.0 * float(self.time_limits.get(system, self.case_timeout_min))


_CLUSTER_KEYS = tuple(f.name for f in fields(Cluster) if f.name != "name")
_TOP_KEYS = ("runs_dir", "default_cluster", "clusters")
# this machine: one worker per visible GPU (max_tasks caps the pool), or one on the CPU
LOCAL = Cluster("local", kind="local", max_tasks=64)


@dataclass(frozen=True)
class Settings:
    clusters: dict[str, Cluster]
    runs: RunsDir
    default_cluster: str
    source: Path | None

    def cluster(self, name: str | None) -> Cluster:
        name = name or self.default_cluster
        if name not in self.clusters:
            where = f" in {self.source}" if self.source else " (no ftrun.toml found)"
            raise FtrunError(f"unknown cluster {name!r}{where}; valid: {', '.join(self.clusters)}")
        return self.clusters[name]


def find_config(explicit: Path | None) -> Path | None:
    if explicit is not None:
        if not explicit.is_file():
            raise FtrunError(f"config file {explicit} does not exist")
        return explicit
    for candidate in (Path("ftrun.toml"), Path.home() / ".config" / "ftrun" / "ftrun.toml"):
        if candidate.is_file():
            return candidate
    return None


def load_settings(config: Path | None = None, runs_dir: Path | None = None) -> Settings:
    path = find_config(config)
    data = {}
    if path is not None:
        try:
            data = tomllib.loads(path.read_text())
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise FtrunError(f"{path} is not valid TOML: {e}") from None
    _reject_unknown(data, _TOP_KEYS, str(path))
    clusters = {"local": LOCAL}
    for name, table in (data.get("clusters") or {}).items():
        clusters[name] = _parse_cluster(name, table, path)
    if runs_dir is None:
        configured = data.get("runs_dir")
        runs_dir = (path.parent / configured) if (configured and path) else Path(DEFAULT_RUNS_DIR)
    default = data.get("default_cluster", "local")
    if default not in clusters:
        raise FtrunError(f"{path}: default_cluster {default!r} is not defined; defined: {', '.join(clusters)}")
    return Settings(clusters, RunsDir(Path(runs_dir)), default, path)


def _reject_unknown(table: dict, valid: tuple[str, ...], where: str) -> None:
    unknown = sorted(set(table) - set(valid))
    if unknown:
        raise FtrunError(f"{where}: unknown key(s) {', '.join(unknown)}; valid keys: {', '.join(valid)}")


def _parse_cluster(name: str, table: dict, path: Path | None) -> Cluster:
    where = f"{path} [clusters.{name}]"
    if not isinstance(table, dict):
        raise FtrunError(f"{where}: expected a table of settings, found {type(table).__name__}")
    _reject_unknown(table, _CLUSTER_KEYS, where)
    kind = table.get("kind", "local")
    if kind not in ("local", "slurm"):
        raise FtrunError(f"{where}: kind must be \"slurm\" or \"local\", found {kind!r}")
    if kind == "slurm" and not table.get("partition"):
        raise FtrunError(f"{where}: a slurm cluster needs a partition")
    for key in ("max_tasks", "cases_per_task", "case_timeout_min", "task_time_min", "cpus", "backoff_s"):
        if key in table and not (isinstance(table[key], (int, float)) and table[key] > 0):
            raise FtrunError(f"{where}: {key} must be a positive number, found {table[key]!r}")
    for system, minutes in (table.get("time_limits") or {}).items():
        if not (isinstance(minutes, (int, float)) and minutes > 0):
            raise FtrunError(f"{where}: time_limits.{system} must be a positive number of minutes, found {minutes!r}")
    if "retries" in table and not (isinstance(table["retries"], int) and table["retries"] >= 0):
        raise FtrunError(f"{where}: retries must be a non-negative integer, found {table['retries']!r}")
    values = dict(table)
    values["setup"] = tuple(values.get("setup", ()))
    return Cluster(name=name, **values)

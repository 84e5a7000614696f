"""ftrun.toml: clusters, where runs go, plug-ins and the user's own experiments.

Looked up as --config FILE, else ./ftrun.toml, else ~/.config/ftrun/ftrun.toml; without any file the
built-in `local` cluster (this machine, no Slurm) is all there is. The whole file is checked against one
schema (ftrun/schema.py; the tables are below) before anything is used: a wrong type, a value out of
range, an unknown key or an unknown system name is one error line, so a typo never silently falls back
to a default.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from ftrun.config_schema import FILE, check_system_names, experiments_of
from ftrun.errors import FtrunError
from jobs.plugins import PluginSpec
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


# this machine: one worker per visible GPU (max_tasks caps the pool), or one on the CPU
LOCAL = Cluster("local", kind="local", max_tasks=64)


@dataclass(frozen=True)
class Settings:
    clusters: dict[str, Cluster]
    runs: RunsDir
    default_cluster: str
    source: Path | None
    plugins: PluginSpec = field(default_factory=PluginSpec)
    # [experiments.NAME] of ftrun.toml, as jobs.experiments.Experiment
    experiments: dict = field(default_factory=dict)

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
    data = FILE(data, f"{path or 'ftrun.toml'}:")
    plugins = _plugins(data.get("plugins") or {}, path)
    clusters = {"local": LOCAL}
    for name, table in (data.get("clusters") or {}).items():
        where = f"{path}: clusters.{name}"
        if table.get("kind", "local") == "slurm" and not table.get("partition"):
            raise FtrunError(f"{where}: a slurm cluster needs a partition; add partition = \"NAME\"")
        check_system_names(table.get("time_limits") or {}, f"{where}.time_limits", plugins)
        clusters[name] = Cluster(name=name, **table)
    if runs_dir is None:
        configured = data.get("runs_dir")
        runs_dir = (path.parent / configured) if (configured and path) else Path(DEFAULT_RUNS_DIR)
    default = data.get("default_cluster", "local")
    if default not in clusters:
        raise FtrunError(f"{path}: default_cluster {default!r} is not defined; defined: {', '.join(clusters)}")
    return Settings(clusters, RunsDir(Path(runs_dir)), default, path, plugins,
                    experiments_of(data.get("experiments") or {}, f"{path}:"))


def _plugins(table: dict, path: Path | None) -> PluginSpec:
    """[plugins]: module names (searched for beside the file) and paths (relative to the file)."""
    if not table:
        return PluginSpec()
    base = path.parent.resolve() if path else Path.cwd()
    paths = tuple(str((base / p).resolve()) for p in table.get("paths", ()))
    return PluginSpec(tuple(table.get("modules", ())), paths, (str(base),), str(path or ""))


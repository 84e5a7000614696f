"""The schema of ftrun.toml, table by table (the checks are ftrun/schema.py's).

    runs_dir, default_cluster
    [clusters.NAME]       where and how cases run (ftrun.settings.Cluster)
    [plugins]             modules = [...], paths = [...]: the user's cases, systems, experiments
    [experiments.NAME]    models, systems, seqlens, dims, dtype, figure, scale, part, about
"""

from __future__ import annotations

from ftrun.errors import FtrunError
from ftrun.schema import Names, choice, list_of, mapping, number, string, table
from jobs.plugins import PluginSpec
from jobs.spec import SCALES
from results.case import SpecError, check_name


def _name(kind: str):
    def check(value, where):
        try:
            return check_name(kind, value)
        except SpecError as e:
            raise FtrunError(f"{where}: {e}") from None

    return check


def _sbatch_value(value, where):
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise FtrunError(f"{where}: expected a string or an integer (an sbatch option's value), found {value!r}")
    return value


POSITIVE, POSITIVE_INT = number(0.0), number(0.0, integer=True)
CLUSTER = table({
    "kind": choice(("local", "slurm")),
    "partition": string,
    "device": _name("device"),
    "gres": string,
    "cpus": POSITIVE_INT,
    "memory": string,
    "account": string,
    "qos": string,
    "sbatch": mapping(string, _sbatch_value, "sbatch options"),
    "setup": list_of(string, "shell lines"),
    "max_tasks": POSITIVE_INT,
    "cases_per_task": POSITIVE_INT,
    "case_timeout_min": POSITIVE,
    # system names are checked once the plug-ins are known (check_system_names)
    "time_limits": mapping(_name("system"), POSITIVE, "minutes per system"),
    "task_time_min": POSITIVE,
    "retries": number(0, strict=False, integer=True),
    "backoff_s": number(0, strict=False),
    "scale": choice(tuple(SCALES)),
})
PLUGINS = table({"modules": list_of(string, "module names"), "paths": list_of(string, "file or folder paths")})
DIMS = table(dict.fromkeys(("batch", "heads", "kv_heads", "head_dim"), POSITIVE_INT))
EXPERIMENT = table({
    "about": string,
    "models": list_of(_name("case"), "case names", non_empty=True),
    "systems": list_of(_name("system"), "system names", non_empty=True),
    "seqlens": list_of(POSITIVE_INT, "sequence lengths", non_empty=True),
    "dims": DIMS,
    "dtype": choice(("float16", "bfloat16", "float32")),
    "figure": choice(("fig12", "fig13")),
    "scale": choice(tuple(SCALES)),
    "part": choice(("kernel", "e2e")),
}, required=("models", "systems"))
FILE = table({
    "runs_dir": string,
    "default_cluster": string,
    "clusters": mapping(_name("cluster"), CLUSTER, "clusters"),
    "plugins": PLUGINS,
    "experiments": mapping(_name("experiment"), EXPERIMENT, "experiments"),
})


def check_system_names(limits: dict, where: str, plugins: PluginSpec) -> None:
    """time_limits names systems: the built-ins and those of installed entry points are known without
    importing anything; with [plugins] modules or paths, a name may be theirs and is checked at submit."""
    import importlib.metadata

    from jobs.systems import REGISTRY

    known = (*REGISTRY, *(ep.name for ep in importlib.metadata.entry_points(group="ftrun.systems")))
    unknown = [s for s in limits if s not in known]
    if unknown and not (plugins.modules or plugins.paths):
        Names("system", lambda: known, "fix the name in time_limits")(unknown[0], where)


def experiments_of(tables: dict, where: str) -> dict:
    """[experiments.NAME] tables as jobs.experiments.Experiment (models and systems are checked at submit,
    when the plug-ins that may define them are loaded)."""
    from jobs.experiments import EXPERIMENTS, Experiment, Part

    out = {}
    for name, t in tables.items():
        if name in EXPERIMENTS:
            raise FtrunError(f"{where} experiments.{name}: {name} is a built-in experiment; choose another name")
        dims = t.get("dims", {})
        if "kv_heads" in dims and dims.get("heads", dims["kv_heads"]) % dims["kv_heads"]:
            raise FtrunError(f"{where} experiments.{name}.dims: heads ({dims.get('heads')}) must be a multiple "
                             f"of kv_heads ({dims['kv_heads']})")
        if t.get("figure") == "fig13" and len(t["models"]) > 1:
            raise FtrunError(f"{where} experiments.{name}: a fig13 sweep draws one case, found "
                             f"{len(t['models'])}; make one experiment per case")
        part = Part(t.get("part", "kernel"), t["models"], t["systems"], t.get("seqlens", (4096,)))
        about = t.get("about") or f"{', '.join(part.models)} × {', '.join(part.systems)}"
        out[name] = Experiment(name, about, (part,), t.get("scale"),
                               t.get("figure", "fig12"), dims=dims, dtype=t.get("dtype"))
    return out

"""Plug-ins: a user's own cases, systems and experiments, loaded the same way on every side.

They come from two places, never from environment variables:

  ftrun.toml       [plugins] modules = ["my_variants"]      importable modules (the file's folder is searched)
                             paths = ["variants/", "x.py"]   files or package folders, relative to the file
  entry points     groups ftrun.cases, ftrun.systems, ftrun.experiments of installed packages

A plug-in module defines any of CASES (ftrun.Case objects), SYSTEMS ({name: System class or factory})
and EXPERIMENTS (jobs.experiments.Experiment objects). The planning side activates the settings' spec;
a submission carries the spec (`PluginSpec.to_json`) to Slurm tasks and local workers, which activate it
before their first case, so both sides resolve the same names to the same code. A bad plug-in is one
PluginError line naming the file and what to do.

The active spec is process state, set only at process boundaries (the CLI after reading its settings,
a worker or task at start) or by `using` (tests).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.metadata
import sys
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from jobs.spec import KERNEL_MODELS

GROUPS = ("ftrun.cases", "ftrun.systems", "ftrun.experiments")


class PluginError(ValueError):
    """A plug-in that cannot be used; one line: which file, what is wrong, what to do."""


@dataclass(frozen=True)
class PluginSpec:
    """Where plug-ins come from: module names, file or package paths (absolute), folders to search."""

    modules: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()
    search: tuple[str, ...] = ()
    where: str = ""

    def to_json(self) -> dict:
        return {"modules": list(self.modules), "paths": list(self.paths), "search": list(self.search),
                "where": self.where}

    @classmethod
    def from_json(cls, d: dict | None) -> PluginSpec:
        d = d or {}
        return cls(tuple(d.get("modules") or ()), tuple(d.get("paths") or ()), tuple(d.get("search") or ()),
                   str(d.get("where") or ""))


@dataclass
class Plugins:
    """What the plug-ins define, by name, and where each name comes from."""

    cases: dict = field(default_factory=dict)
    systems: dict = field(default_factory=dict)
    experiments: dict = field(default_factory=dict)
    origins: dict[tuple[str, str], str] = field(default_factory=dict)


_active: dict = {"spec": PluginSpec(), "experiments": {}, "loaded": None}


def activate(spec: PluginSpec, experiments: dict | None = None) -> None:
    """Use these plug-ins (and these experiments from ftrun.toml) in this process; loaded on first use."""
    _active.update(spec=spec, experiments=dict(experiments or {}), loaded=None)


@contextlib.contextmanager
def using(spec: PluginSpec, experiments: dict | None = None) -> Iterator[Plugins]:
    """Activate plug-ins for a block (tests), then restore what was active."""
    saved = dict(_active)
    activate(spec, experiments)
    try:
        yield loaded()
    finally:
        _active.clear()
        _active.update(saved)


def active_spec() -> PluginSpec:
    return _active["spec"]


def loaded() -> Plugins:
    if _active["loaded"] is None:
        _active["loaded"] = load(_active["spec"], _active["experiments"])
    return _active["loaded"]


def toml_experiment(name: str):
    """An experiment of ftrun.toml by name (no plug-in is imported to find it), or None."""
    return _active["experiments"].get(name)


def load(spec: PluginSpec, toml_experiments: dict | None = None) -> Plugins:
    """Import every plug-in of the spec and of the installed entry points; PluginError on the first bad one."""
    found = Plugins()
    for folder in spec.search:
        if folder not in sys.path:
            sys.path.insert(0, folder)
    for name in spec.modules:
        module = _import(name, f"module {name!r} of [plugins] in {spec.where or 'ftrun.toml'}")
        _take_module(found, module, _file_of(module))
    for path in spec.paths:
        module = import_file(Path(path), spec.where or "ftrun.toml")
        _take_module(found, module, path)
    _take_entry_points(found)
    for name, experiment in (toml_experiments or {}).items():
        _add(found, "experiment", name, experiment, spec.where or "ftrun.toml")
    return found


def _import(name: str, what: str):
    try:
        return importlib.import_module(name)
    except Exception as e:  # noqa: BLE001 - any error of a user's module is reported in one line
        raise PluginError(f"plug-in {what}: importing it failed ({_last(e)}); fix the module or remove it "
                          "from [plugins]") from None


def import_file(path: Path, where: str = ""):
    """Import a plug-in file or package folder (its folder joins sys.path); PluginError if it cannot be."""
    if not path.exists():
        source = f" (from [plugins] paths in {where})" if where else ""
        raise PluginError(f"plug-in {path}{source} does not exist; fix the path (relative to the ftrun.toml) "
                          "or remove it")
    package = path.is_dir()
    if package and not (path / "__init__.py").is_file():
        raise PluginError(f"plug-in folder {path} has no __init__.py; give a package or its .py files")
    if not package and path.suffix != ".py":
        raise PluginError(f"plug-in {path} is not a .py file or a package folder")
    name = path.name if package else path.stem
    existing = sys.modules.get(name)
    if existing is not None and Path(_file_of(existing)).resolve() not in (path.resolve(), (path / "__init__.py")
                                                                            .resolve()):
        raise PluginError(f"plug-in {path}: its module name {name!r} is already taken by {_file_of(existing)}; "
                          "rename the file")
    folder = str(path.resolve().parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    return _import(name, str(path))


def _take_module(found: Plugins, module, where: str) -> None:
    names = [n for n in ("CASES", "SYSTEMS", "EXPERIMENTS") if hasattr(module, n)]
    if not names:
        raise PluginError(f"plug-in {where} defines none of CASES, SYSTEMS, EXPERIMENTS; add e.g. "
                          "CASES = [ftrun.Case(\"name\", Program)]")
    for case in _items(getattr(module, "CASES", ()), "CASES", where):
        _add(found, "case", getattr(case, "name", None), case, where)
    systems = getattr(module, "SYSTEMS", {})
    if not isinstance(systems, dict):
        systems = {getattr(s, "name", None): s for s in _items(systems, "SYSTEMS", where)}
    for name, factory in systems.items():
        _add(found, "system", name, factory, where)
    for experiment in _items(getattr(module, "EXPERIMENTS", ()), "EXPERIMENTS", where):
        _add(found, "experiment", getattr(experiment, "name", None), experiment, where)


def _items(value, attribute: str, where: str) -> list:
    if isinstance(value, dict):
        return list(value.values())
    try:
        return list(value)
    except TypeError:
        raise PluginError(f"plug-in {where}: {attribute} must be a list, found {type(value).__name__}") from None


def _take_entry_points(found: Plugins) -> None:
    for group in GROUPS:
        for ep in importlib.metadata.entry_points(group=group):
            where = f"entry point {ep.name} = {ep.value} (group {group}, package {_dist(ep)})"
            try:
                value = ep.load()
            except Exception as e:  # noqa: BLE001 - reported in one line
                raise PluginError(f"plug-in {where}: loading it failed ({_last(e)}); fix or uninstall the "
                                  "package") from None
            if group == "ftrun.systems":
                _add(found, "system", ep.name, value, where)
                continue
            kind = "case" if group == "ftrun.cases" else "experiment"
            for item in (value if isinstance(value, (list, tuple)) else [value]):
                _add(found, kind, getattr(item, "name", None), item, where)


def _add(found: Plugins, kind: str, name, value, where: str) -> None:
    from jobs.case import Case
    from jobs.experiments import EXPERIMENTS, Experiment
    from jobs.systems import REGISTRY
    from results.case import SpecError, check_name

    expected = {"case": (Case, "an ftrun.Case"), "experiment": (Experiment, "a jobs.experiments.Experiment")}
    if kind in expected and not isinstance(value, expected[kind][0]):
        raise PluginError(f"plug-in {where}: a {kind} must be {expected[kind][1]}, found {type(value).__name__}")
    if kind == "system" and not callable(value):
        raise PluginError(f"plug-in {where}: system {name!r} must be a System class or a function returning "
                          f"one, found {type(value).__name__}")
    try:
        check_name(kind, name)
    except SpecError as e:
        raise PluginError(f"plug-in {where}: {e}") from None
    builtins = {"case": KERNEL_MODELS, "system": REGISTRY, "experiment": EXPERIMENTS}[kind]
    if name in builtins:
        raise PluginError(f"plug-in {where}: {kind} {name!r} has the name of a built-in {kind}; rename it "
                          f"(e.g. 'my_{name}')")
    table = {"case": found.cases, "system": found.systems, "experiment": found.experiments}[kind]
    if name in table and table[name] is not value:
        raise PluginError(f"plug-in {where}: {kind} {name!r} is also defined by {found.origins[(kind, name)]}; "
                          "rename one of them")
    table[name] = value
    found.origins[(kind, name)] = where


def _file_of(module) -> str:
    return str(getattr(module, "__file__", None) or module.__name__)


def _dist(ep) -> str:
    dist = getattr(ep, "dist", None)
    return getattr(dist, "name", None) or "?"


def _last(e: BaseException) -> str:
    """The error and the user's line it came from, in one line."""
    frames = traceback.extract_tb(e.__traceback__)
    user = [f for f in frames if "importlib" not in f.filename]
    at = f" at {user[-1].filename}:{user[-1].lineno}" if user else ""
    text = str(e).splitlines()[0] if str(e) else ""
    return f"{type(e).__name__}: {text}{at}"


# ---- lookups the rest of ftrun uses -------------------------------------------------------------------


def case(name: str):
    """The Case of this name: a built-in (jobs/cases/NAME.py) or a plug-in's. KeyError if none."""
    if name in KERNEL_MODELS:
        return importlib.import_module(f"jobs.cases.{name}").CASE
    cases = loaded().cases
    if name not in cases:
        raise KeyError(f"unknown case {name!r}; valid: {', '.join(case_names())}")
    return cases[name]


def case_names() -> list[str]:
    return [*KERNEL_MODELS, *loaded().cases]


def is_plugin_case(name: str) -> bool:
    return name not in KERNEL_MODELS


def case_options(name: str) -> tuple[tuple[str, str], ...]:
    """What joins a case's identity beyond its shape: a plug-in's source hash (built-ins: nothing, their
    keys stay as they were; they change with ftrun's protocol version)."""
    return () if not is_plugin_case(name) else (("source", case(name).source_hash()),)


def origin(kind: str, name: str) -> str:
    return loaded().origins.get((kind, name), "built-in")

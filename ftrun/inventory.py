"""`ftrun list`: experiments, cases, systems and scales, with where each comes from and whether each
system can run on this machine (and why not)."""

from __future__ import annotations

from jobs import plugins
from jobs.experiments import EXPERIMENTS, experiments
from jobs.spec import SCALES
from jobs.systems import REGISTRY, get_system, systems


def _short(where: str) -> str:
    """A plug-in's origin, relative to the working folder where it lies below it."""
    import os

    head, sep, tail = where.partition(" ")
    try:
        rel = os.path.relpath(head)
    except ValueError:
        return where
    return (rel if not rel.startswith("..") else head) + sep + tail


def tables() -> list[tuple[str, list[str], list[list[str]]]]:
    return [experiment_table(), case_table(), system_table(), scale_table()]


def experiment_table():
    rows = []
    for e in experiments().values():
        where = "built-in" if e.name in EXPERIMENTS else _short(plugins.origin("experiment", e.name))
        rows.append([e.name, e.about, ", ".join(e.models()), where])
    return "experiments", ["name", "about", "cases", "from"], rows


def case_table():
    rows = []
    for name in plugins.case_names():
        case = plugins.case(name)
        where = "built-in" if not plugins.is_plugin_case(name) else _short(plugins.origin("case", name))
        rows.append([name, case.about, ", ".join(o.name for o in case.outputs), where])
    return "cases", ["name", "about", "outputs", "from"], rows


def system_table():
    rows = []
    for name in systems():
        where = "built-in" if name in REGISTRY else _short(plugins.origin("system", name))
        ok, why = runs_here(name)
        rows.append([name, "yes" if ok else "no", why, where])
    return "systems", ["name", "runs here", "why / how", "from"], rows


def scale_table():
    return "scales", ["name", "about"], [[s.name, s.about] for s in SCALES.values()]


def runs_here(name: str) -> tuple[bool, str]:
    """Whether a case could run with this system on this machine, as a local worker here would see it."""
    from jobs.systems.base import module_missing

    try:
        system = get_system(name)
    except Exception as e:  # noqa: BLE001 - a plug-in system that cannot even be built says why
        return False, f"cannot be created: {type(e).__name__}: {e}"
    if name == "flashtensor" and not _has_gpu() and not module_missing("triton"):
        # a worker without a GPU runs the compiler's kernels in Triton's interpreter (jobs/entry.py:main)
        return True, "kernels in Triton's interpreter (no GPU): a correctness check; its times are not GPU times"
    reason = system.unavailable()
    return (False, reason) if reason else (True, "")


def _has_gpu() -> bool:
    import torch

    return torch.cuda.is_available()

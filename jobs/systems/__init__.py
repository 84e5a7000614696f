"""The systems registry: name -> where its adapter lives. Importing this module does not import torch.

A system joins by adding one line here and one module beside this file.
"""

from __future__ import annotations

import importlib

from jobs.systems.base import NotSupported, System

# name -> "module:factory"; the factory takes no arguments and returns a System
REGISTRY: dict[str, str] = {
    "torch": "jobs.systems.eager:Eager",
    "inductor": "jobs.systems.inductor:Inductor",
    "korch": "jobs.systems.unavailable:korch",
    "einnet": "jobs.systems.unavailable:einnet",
}

# the baseline every speedup is measured against, run first and last in each task
BASELINE = "torch"


def get_system(name: str) -> System:
    if name not in REGISTRY:
        raise KeyError(f"unknown system {name!r}; valid: {', '.join(REGISTRY)}")
    module, factory = REGISTRY[name].split(":")
    return getattr(importlib.import_module(module), factory)()


__all__ = ["REGISTRY", "BASELINE", "NotSupported", "System", "get_system"]

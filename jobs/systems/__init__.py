"""The systems registry: name -> where its adapter lives. Importing this module does not import torch.

A system joins by adding one line here and one module beside this file. Systems that live outside
ftrun (a lab's own compiler) join without editing it: FTRUN_SYSTEMS="name=module:factory;..." adds them
for the process and the workers it starts.
"""

from __future__ import annotations

import importlib
import os

from jobs.systems.base import NotSupported, System

# name -> "module:factory"; the factory takes no arguments and returns a System
REGISTRY: dict[str, str] = {
    "torch": "jobs.systems.eager:Eager",
    "inductor": "jobs.systems.inductor:Inductor",
    "flashtensor": "jobs.systems.flashtensor:FlashTensor",
    "flashtensor-hopper": "jobs.systems.flashtensor:FlashTensorHopper",
    "korch": "jobs.systems.unavailable:korch",
    "einnet": "jobs.systems.unavailable:einnet",
    "tvm": "jobs.systems.tvm_relax:TVM",
    "tensorrt": "jobs.systems.trt:TensorRT",
    "flashattn2": "jobs.systems.sdpa:FlashAttn2",
    "cudnn": "jobs.systems.sdpa:CuDNN",
    "flashinfer": "jobs.systems.flashinfer_prefill:FlashInfer",
    "flex": "jobs.systems.flex:Flex",
    "xla": "jobs.systems.xla:XLA",
}

# the baseline every speedup is measured against, run first and last in each task
BASELINE = "torch"


def systems() -> dict[str, str]:
    """The built-in registry plus the plug-ins named in FTRUN_SYSTEMS."""
    extra = {}
    for item in filter(None, os.environ.get("FTRUN_SYSTEMS", "").split(";")):
        name, sep, target = item.partition("=")
        if not sep or ":" not in target:
            raise ValueError(f"FTRUN_SYSTEMS entry {item!r} is not name=module:factory")
        extra[name.strip()] = target.strip()
    return {**REGISTRY, **extra}


def get_system(name: str) -> System:
    known = systems()
    if name not in known:
        raise KeyError(f"unknown system {name!r}; valid: {', '.join(known)}")
    module, factory = known[name].split(":")
    return getattr(importlib.import_module(module), factory)()


__all__ = ["REGISTRY", "BASELINE", "NotSupported", "System", "get_system", "systems"]

"""The systems registry: name -> where its adapter lives. Importing this module does not import torch.

A system joins by adding one line here and one module beside this file. Systems that live outside
ftrun (a lab's own compiler) join as plug-ins (jobs.plugins: a module's SYSTEMS, or the entry point group
ftrun.systems), on the planning side and in every worker alike.
"""

from __future__ import annotations

import importlib

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


def systems() -> dict:
    """name -> "module:factory" for the built-ins, the factory itself for the active plug-ins' systems."""
    from jobs import plugins

    return {**REGISTRY, **plugins.loaded().systems}


def get_system(name: str) -> System:
    known = REGISTRY if name in REGISTRY else systems()
    if name not in known:
        raise KeyError(f"unknown system {name!r}; valid: {', '.join(known)}")
    factory = known[name]
    if isinstance(factory, str):
        module, attribute = factory.split(":")
        factory = getattr(importlib.import_module(module), attribute)
    system = factory()
    if not system.name:
        system.name = name
    return system


__all__ = ["REGISTRY", "BASELINE", "NotSupported", "System", "get_system", "systems"]

"""xla: the case rewritten with jax.numpy (jobs/systems/xla_programs.py) and compiled by jax.jit.

Inputs and outputs cross between PyTorch and JAX through DLPack, zero-copy, bool included; the callable
blocks until JAX's results are ready, so CUDA-event timing on PyTorch's stream covers the whole run. JAX
reserves 75% of GPU memory at its first import unless told otherwise, which would starve the PyTorch
side: the adapter turns preallocation off before importing jax. Memory that JAX allocates is not seen by
PyTorch's peak-memory counter.
"""

from __future__ import annotations

import os

from jobs.systems.base import NotSupported, System, module_missing


class XLA(System):
    name = "xla"

    def unavailable(self):
        return module_missing("jax")

    def unsupported(self, spec):
        from jobs.spec import KERNEL_MODELS

        if spec.model not in KERNEL_MODELS:
            return (f"XLA compiles jax.numpy programs and has no PyTorch frontend: the seven paper cases are "
                    f"rewritten for it (jobs/systems/xla_programs.py), {spec.model} is not")
        return None

    def compile(self, program, inputs, spec):
        os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
        import jax
        import jax.numpy as jnp
        import torch

        from jobs.systems.xla_programs import program as jax_program

        device_type = inputs[0].device.type
        platform = {"cuda": "gpu", "cpu": "cpu"}[device_type]
        try:
            jax.devices(platform)
        except RuntimeError as e:
            raise NotSupported(f"jax {jax.__version__} has no {platform} backend here ({e})") from None
        jitted = jax.jit(jax_program(spec.model, dict(spec.dims)))

        def run(*args):
            outs = jitted(*(jnp.from_dlpack(a) for a in args))
            outs = jax.block_until_ready(outs)
            if isinstance(outs, tuple):
                return tuple(torch.from_dlpack(o) for o in outs)
            return torch.from_dlpack(outs)

        # tracing and XLA compilation happen at the first call
        run(*inputs)
        return run

    def details(self):
        import jax

        return {"library": "jax", "version": jax.__version__, "backend": jax.default_backend(),
                "entry": "jax.jit", "preallocate": os.environ.get("XLA_PYTHON_CLIENT_PREALLOCATE")}

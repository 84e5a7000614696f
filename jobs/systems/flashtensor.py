"""flashtensor: the embedded compiler (compiler/), the paper's "our" system."""

from __future__ import annotations

import os
import time
from pathlib import Path

from jobs.environment import environment
from jobs.systems.base import NotSupported, System, module_missing


class FlashTensor(System):
    name = "flashtensor"
    options: dict = {}  # CompileOptions fields this variant sets

    def __init__(self, cache_dir: Path | None = None):
        env = environment()  # the compiler itself reads no environment variable
        self.cache_dir = Path(cache_dir or env.autotune_cache)
        self.autotune_space = env.autotune_space
        self._details: dict = {}

    def unavailable(self) -> str | None:
        missing = module_missing("triton")
        if missing:
            return missing
        import torch

        if torch.cuda.is_available() or os.environ.get("TRITON_INTERPRET") == "1":
            return None
        return "needs a CUDA GPU, or TRITON_INTERPRET=1 to run its kernels through Triton's interpreter"

    def interpreted(self, device) -> bool:
        # Triton kernels given CPU tensors can only run in Triton's interpreter
        return device.type != "cuda"

    def warm_up(self):
        import compiler

        compiler.warm_up()  # torch.export's start-up (dynamo, sympy): seconds, once per process

    def compile(self, program, inputs, spec):
        import compiler

        t0 = time.perf_counter()
        try:
            fn = compiler.compile(program, inputs, name=spec.model, cache_dir=self.cache_dir,
                                  autotune_space=self.autotune_space, **self.options)
        except compiler.CompileError as e:
            raise NotSupported(f"flashtensor: {e}") from None
        capture_s = time.perf_counter() - t0
        # Triton JIT-compiles and autotunes at the first call: compile time too, as for inductor
        t0 = time.perf_counter()
        fn(*inputs)
        if inputs and inputs[0].is_cuda:
            import torch

            torch.cuda.synchronize()
        self._details = {"capture_s": round(capture_s, 3), "first_call_s": round(time.perf_counter() - t0, 3),
                         "tune_s": round(fn.launcher.stats.tune_s, 3), "configs": dict(fn.launcher.stats.configs),
                         "kernels": len(fn.plan.generated),
                         # "interpret": Triton's interpreter ran the kernels; a check, never a time to show
                         "target": fn.compilation.options.target}
        if self.options:
            self._details["options"] = dict(self.options)
            self._details["hopper_kernels"] = [s.name for s in fn.sources if s.tune_role]
        return fn

    def details(self):
        return dict(self._details)


class FlashTensorHopper(FlashTensor):
    """The compiler with its Hopper target on (CompileOptions.hopper_kernels): warp-specialized Gluon
    kernels for the passes that target expresses, Triton for the rest. Not part of any campaign until
    timed on the H200 (BENCHMARKS.md)."""

    name = "flashtensor-hopper"
    options = {"hopper_kernels": True}

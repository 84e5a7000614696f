"""flashtensor: the embedded compiler (compiler/), the paper's "our" system."""

from __future__ import annotations

import os
from pathlib import Path

from jobs.systems.base import NotSupported, System, module_missing


class FlashTensor(System):
    name = "flashtensor"

    def __init__(self, cache_dir: Path | None = None):
        default = Path.home() / ".cache" / "ftrun" / "autotune"
        self.cache_dir = Path(cache_dir or os.environ.get("FTRUN_AUTOTUNE_CACHE") or default)

    def unavailable(self) -> str | None:
        missing = module_missing("triton")
        if missing:
            return missing
        import torch

        if torch.cuda.is_available() or os.environ.get("TRITON_INTERPRET") == "1":
            return None
        return "needs a CUDA GPU, or TRITON_INTERPRET=1 to run its kernels through Triton's interpreter"

    def compile(self, program, inputs, spec):
        import compiler

        try:
            # capture to callable; Triton JIT-compiles and autotunes at the first call
            return compiler.compile(program, inputs, name=spec.model, cache_dir=self.cache_dir)
        except compiler.CompileError as e:
            raise NotSupported(f"flashtensor: {e}") from None

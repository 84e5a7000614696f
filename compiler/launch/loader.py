"""Load generated kernel modules: Triton's jit needs the source in a real file to read it back."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
from pathlib import Path


def interpreting() -> bool:
    """Whether Triton defines kernels for its interpreter in this process (TRITON_INTERPRET, set by the
    process that starts us, and read by Triton when a kernel is defined)."""
    from triton import knobs

    return bool(knobs.runtime.interpret)


def load_module(name: str, source: str, directory: Path):
    mode = "interpret" if interpreting() else "jit"
    digest = hashlib.sha256(source.encode()).hexdigest()[:16]
    # the module name carries the mode: Triton decides interpreter-or-not when the kernel is defined
    module_name = f"ftrun_kernels.{name}_{digest}_{mode}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}_{digest}.py"
    if not path.exists() or path.read_text() != source:
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(source)
        os.replace(tmp, path)
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module

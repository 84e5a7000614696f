"""Where and with what a measurement was made: GPU, driver, clocks, versions, code commit, host."""

from __future__ import annotations

import functools
import os
import platform
import socket
import subprocess
import sys
from pathlib import Path

from jobs.environment import environment

_NVSMI_FIELDS = "name,driver_version,clocks.sm,clocks.mem,clocks.max.sm,power.limit,temperature.gpu"


def _run(cmd: list[str], cwd: str | None = None) -> str | None:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10, cwd=cwd)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


@functools.lru_cache(maxsize=1)
def code_version() -> dict:
    """The code's git commit. FTRUN_CODE_COMMIT, when set, says it instead: for code that travelled as a
    copy of a work tree, whose .git (if any came along) need not match the files."""
    said = environment().code_commit
    if said:
        return {"commit": said, "dirty": None}
    root = str(Path(__file__).resolve().parent.parent)
    commit = _run(["git", "rev-parse", "HEAD"], cwd=root)
    if commit is None:
        return {"commit": None, "dirty": None}
    dirty = _run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root)
    return {"commit": commit, "dirty": bool(dirty) if dirty is not None else None}


def gpu_state(index: int = 0) -> dict | None:
    """nvidia-smi's view of one GPU now (clocks change with load, so this is read per result)."""
    out = _run(["nvidia-smi", f"--id={index}", f"--query-gpu={_NVSMI_FIELDS}", "--format=csv,noheader,nounits"])
    if not out:
        return None
    values = [v.strip() for v in out.splitlines()[0].split(",")]
    return dict(zip(_NVSMI_FIELDS.split(","), values))


@functools.lru_cache(maxsize=1)
def software() -> dict:
    import torch

    try:
        import triton

        triton_version = triton.__version__
    except ImportError:
        triton_version = None
    return {"python": platform.python_version(), "torch": torch.__version__, "triton": triton_version,
            "cuda": torch.version.cuda, "executable": sys.executable}


def provenance(device) -> dict:
    import torch

    gpu = None
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        visible = os.environ.get("CUDA_VISIBLE_DEVICES", "")
        index = int(visible.split(",")[0]) if visible[:1].isdigit() else (device.index or 0)
        gpu = {"name": props.name, "sms": props.multi_processor_count,
               "memory_gib": round(props.total_memory / 2**30, 1), "smi": gpu_state(index)}
    return {"host": socket.gethostname(), "gpu": gpu, "cpu": platform.processor() or platform.machine(),
            **software(), "code": code_version()}

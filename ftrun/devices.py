"""Which device class this machine is (h200, a100, ..., or cpu), read from nvidia-smi without torch."""

from __future__ import annotations

import functools
import re
import subprocess

KNOWN = ("h200", "h100", "a100", "l40s", "a10", "v100")


def device_class(gpu_name: str) -> str:
    """'NVIDIA H200' -> 'h200'; unknown names become a lowercase slug."""
    lower = gpu_name.lower()
    for known in KNOWN:
        if known in lower.replace(" ", ""):
            return known
    return re.sub(r"[^a-z0-9]+", "-", lower.replace("nvidia", "")).strip("-") or "gpu"


@functools.lru_cache(maxsize=1)
def local_gpus() -> tuple[str, ...]:
    """Names of the GPUs nvidia-smi sees here (empty without a GPU or without nvidia-smi)."""
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return ()
    if out.returncode != 0:
        return ()
    return tuple(line.strip() for line in out.stdout.splitlines() if line.strip())


def local_device() -> str:
    gpus = local_gpus()
    return device_class(gpus[0]) if gpus else "cpu"

"""The persistent autotune cache: one JSON file, keyed by kernel source, shapes, dtypes, GPU and Triton."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

from compiler.autotune.space import Config


def cache_key(source: str, shapes, dtypes, device_name: str, triton_version: str) -> str:
    blob = json.dumps([hashlib.sha256(source.encode()).hexdigest(), [list(s) for s in shapes],
                       list(dtypes), device_name, triton_version])
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


class TuneCache:
    def __init__(self, directory: Path):
        self.path = Path(directory) / "configs.json"

    def _read(self) -> dict:
        try:
            return json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}

    def get(self, key: str) -> Config | None:
        entry = self._read().get(key)
        return Config(*entry["config"]) if entry else None

    def put(self, key: str, config: Config, timings: dict[str, float], kernel: str = "") -> None:
        data = self._read()
        data[key] = {"config": [config.block_m, config.block_n, config.num_warps, config.num_stages],
                     "timings_ms": timings, "kernel": kernel}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # write then rename, so a reader never sees half a file
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=1, sort_keys=True)
        os.replace(tmp, self.path)

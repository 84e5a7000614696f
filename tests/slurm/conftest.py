"""The dev Slurm cluster (scripts/slurm-dev.sh) for the tests of this folder.

Started once per test session; stopped at the end when this session started it, so `make test` leaves no
daemon behind holding its ports (a cluster someone started by hand stays up).
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "slurm-dev.sh"
# the tests of this folder share tests/slurm/harness.py
sys.path.insert(0, str(Path(__file__).resolve().parent))


def _dev(*args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="session")
def cluster():
    was_up = _dev("status", timeout=60).returncode == 0
    out = _dev("start")
    assert out.returncode == 0, out.stderr[-3000:]
    conf = out.stdout.strip().split("=", 1)[1]
    os.environ["SLURM_CONF"] = conf
    yield conf
    if not was_up:
        stopped = _dev("stop", "--kill-jobs", timeout=300)
        assert stopped.returncode == 0, stopped.stderr[-3000:]

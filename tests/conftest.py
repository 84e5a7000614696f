"""Shared test setup. CPU tests run Triton kernels in Triton's interpreter; GPU tests are marked `gpu`
and run on the device machine (`pytest -m gpu`); CI runs `pytest -m "not gpu"`."""

import os
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
# Triton reads this when a kernel is defined, so it must be set before any generated kernel exists.
if os.environ.get("FTRUN_TEST_GPU") != "1":
    os.environ.setdefault("TRITON_INTERPRET", "1")
# fake systems for failure-path tests, importable here and in the workers the runner starts
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(TESTS), os.environ.get("PYTHONPATH", "")) if p)
sys.path.insert(0, str(TESTS))
os.environ["FTRUN_SYSTEMS"] = ";".join(
    f"{name}=fakes:{factory}" for name, factory in (
        ("fake-wrong", "Wrong"), ("fake-raises", "Raises"), ("fake-hangs", "Hangs"), ("fake-dies", "Dies"),
        ("fake-unwritten", "Unwritten"), ("fake-mutates", "Mutates"), ("fake-oom", "OutOfMemory"),
        ("fake-slow", "Slow"), ("fake-probe", "Probe"),
    )
)
os.environ["FTRUN_EXPERIMENTS"] = "fault_experiments:FAULTS"


@pytest.fixture(autouse=True)
def _seeded_torch():
    """Every test draws the same random tensors on every run, so a tolerance is judged once, not by luck."""
    import torch

    torch.manual_seed(0)


@pytest.fixture
def runs_dir(tmp_path: Path) -> Path:
    return tmp_path / "runs"

"""Shared test setup. CPU tests run Triton kernels in Triton's interpreter; GPU tests are marked `gpu`
and run on the device machine (`pytest -m gpu`); CI runs `pytest -m "not gpu"`.

The fake systems (tests/fakes.py) and the fault campaigns (tests/fault_experiments.py) are plug-ins, as a
user's would be: active in every test through the `test_plugins` fixture, carried to the workers and
Slurm tasks a test starts by the same mechanism as a user's, and named in an ftrun.toml (`plugin_toml`)
for tests that drive the CLI.
"""

import os
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
# the tests' helper modules (stores.py: record builders, browser.py: headless chromium) import by name
sys.path.insert(0, str(TESTS))
# Triton reads this when a kernel is defined, so it must be set before any generated kernel exists.
if os.environ.get("FTRUN_TEST_GPU") != "1":
    os.environ.setdefault("TRITON_INTERPRET", "1")
PLUGIN_FILES = (TESTS / "fakes.py", TESTS / "fault_experiments.py")
PLUGINS_TOML = "[plugins]\npaths = [{}]\n".format(", ".join(f'"{p}"' for p in PLUGIN_FILES))


@pytest.fixture(autouse=True)
def _seeded_torch():
    """Every test draws the same random tensors on every run, so a tolerance is judged once, not by luck."""
    import torch

    torch.manual_seed(0)


@pytest.fixture(autouse=True)
def test_plugins():
    """The fake systems and fault campaigns, active in this process (the spec travels to workers)."""
    from jobs.plugins import PluginSpec, using

    spec = PluginSpec(paths=tuple(map(str, PLUGIN_FILES)), where="tests/conftest.py")
    with using(spec):
        yield spec


@pytest.fixture
def plugins_table() -> str:
    """The [plugins] table that names the test plug-ins, to put in a test's own ftrun.toml."""
    return PLUGINS_TOML


@pytest.fixture
def plugin_toml(tmp_path, monkeypatch) -> Path:
    """A working folder whose ftrun.toml names the test plug-ins, for tests that run the CLI."""
    (tmp_path / "ftrun.toml").write_text(PLUGINS_TOML)
    monkeypatch.chdir(tmp_path)
    return tmp_path / "ftrun.toml"


@pytest.fixture
def runs_dir(tmp_path: Path) -> Path:
    return tmp_path / "runs"

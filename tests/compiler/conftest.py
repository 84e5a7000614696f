"""Compiler tests: on a machine without a GPU the generated kernels run through Triton's interpreter.

Triton decides interpreter-or-not when a kernel is defined, so TRITON_INTERPRET is set here, before any
test compiles a program. Kernels and the autotune cache go to a temporary directory.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")
# triton.language defines its own jit helpers when first imported: in interpreter mode only if the variable
# is set by then, so it is imported now (a test that unsets the variable later cannot change that)
import triton  # noqa: E402, F401

# the helper modules beside this file (pytest runs with --import-mode=importlib)
sys.path.insert(0, str(Path(__file__).resolve().parent))

from compiler.options import CompileOptions  # noqa: E402

DEVICE = "cuda" if torch.cuda.is_available() and os.environ.get("TRITON_INTERPRET") != "1" else "cpu"


def pytest_configure(config):
    # the interpreter evaluates padding lanes too (log2 of a padded 0, -inf + inf); those lanes are
    # masked out before any reduction, but numpy warns about them
    config.addinivalue_line("filterwarnings", "ignore::RuntimeWarning:triton.runtime.interpreter")


@pytest.fixture(scope="session")
def options(tmp_path_factory) -> CompileOptions:
    return CompileOptions(cache_dir=tmp_path_factory.mktemp("ftrun") / "autotune")


@pytest.fixture(scope="session")
def device() -> str:
    return DEVICE

#!/usr/bin/env bash
# Install ftrun (editable) with what its tests need. Keeps an existing torch (a GPU machine's own);
# otherwise takes the CPU build of torch 2.13.0: an unpinned torch would pull GBs of CUDA wheels.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if ! "$PY" -c "import torch" 2>/dev/null; then
  echo "installing torch 2.13.0 (CPU build)" >&2
  "$PY" -m pip install -q torch==2.13.0
fi
"$PY" -m pip install -q -e ".[dev,baselines]"
# Triton 3.6 alone, the GPU machine's version, beside the project's newer one: the tests compile the Hopper
# target's Gluon sources with its API too (tests/compiler/test_hopper_compile.py)
if [ ! -x .venv-triton36/bin/python ]; then
  echo "installing triton 3.6 into .venv-triton36 (for the Gluon API check)" >&2
  "$PY" -m venv .venv-triton36
  .venv-triton36/bin/python -m pip install -q 'triton==3.6.*'
fi

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
# `ftrun report`'s test opens the page in a real browser: Debian's chromium, installed once (CI runs as root,
# where apt works); nothing to do when it is there already.
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing chromium (Debian's) for the report's browser test" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "chromium is missing and this user cannot apt-get it: the report's browser test will fail" >&2
  fi
fi
# Triton 3.6 alone, the GPU machine's version, beside the project's newer one: the tests compile the Hopper
# target's Gluon sources with its API too (tests/compiler/test_hopper_compile.py)
if [ ! -x .venv-triton36/bin/python ]; then
  echo "installing triton 3.6 into .venv-triton36 (for the Gluon API check)" >&2
  "$PY" -m venv .venv-triton36
  .venv-triton36/bin/python -m pip install -q 'triton==3.6.*'
fi

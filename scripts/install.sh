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

#!/usr/bin/env bash
# The CPU test suite, as CI runs it: lint and the line budget first (seconds), then the tests. GPU tests
# (marker `gpu`) run on the device machine instead:
#   FTRUN_TEST_GPU=1 python3 -m pytest -m gpu
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
"$PY" -m ruff check .
"$PY" scripts/line_budget.py 400
# TVM's MetaSchedule test (marker `tuning`, ~10 minutes) is opt-in: pytest -m tuning
exec "$PY" -m pytest -m "not gpu and not tuning" "$@"

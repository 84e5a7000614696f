"""A child process that runs cases one at a time for jobs.runner (`python -m jobs.worker RUNS_DIR`).

Protocol: one JSON request per stdin line ({"spec", "attempt", "run", "timing", "plugins"}); the plug-ins
are activated before the case runs, as the planning side had them. One JSON reply per case on the
original stdout. Everything else the process prints goes to stderr (the task's log), so compilers that
print cannot corrupt the protocol. After a crash-class failure the worker exits: a CUDA error can leave
the context unusable, and the runner starts a fresh worker for the next case.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def main(runs_dir: str) -> int:
    replies = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    import torch

    if "TRITON_INTERPRET" not in os.environ and not torch.cuda.is_available():
        # no GPU here: Triton-generated kernels (the compiler's) run in Triton's interpreter
        os.environ["TRITON_INTERPRET"] = "1"
    from jobs import plugins
    from jobs.entry import run_case
    from jobs.timing import TimingSpec
    from results.case import CaseSpec
    from results.records import RunInfo
    from results.runsdir import RunsDir

    for line in sys.stdin:
        request = json.loads(line)
        spec = CaseSpec.from_json(request["spec"])
        wanted = plugins.PluginSpec.from_json(request.get("plugins"))
        if wanted != plugins.active_spec():
            plugins.activate(wanted)
        timing = TimingSpec(**request.get("timing", {}))
        print(f"[ftrun] case {spec.key} {spec.label()} attempt {request['attempt']}", flush=True)
        run = RunInfo.from_json(request.get("run") or {})
        record = run_case(spec, RunsDir(Path(runs_dir)), attempt=request["attempt"], run=run, timing=timing)
        print(f"[ftrun] {spec.key} -> {record.state} {record.error_class or ''}", flush=True)
        replies.write(json.dumps({"key": spec.key, "attempt": request["attempt"]}) + "\n")
        if record.error_class in ("crash", "cuda_init"):
            return 3
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))

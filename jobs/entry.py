"""The job-side entry: the worker, a child process that runs cases one at a time for jobs.runner
(`python -m jobs.entry RUNS_DIR PARENT_PID`), each with `run_case`, which writes the case's record:

    a request line -> CaseSpec -> measure (jobs.measure: inputs, compile, float64 check, memory, timing)
    -> provenance -> one JSON record, written atomically -> a reply line

A wrong result is recorded as FAIL(wrong_result) with no timing. `run_case` is an ordinary function:
call it from a debugger to reproduce what a Slurm task does.

Protocol: one JSON request per stdin line ({"spec", "attempt", "run", "timing", "limit_s", "plugins"}); the
plug-ins are activated before the case runs, as the planning side had them. One JSON reply per case on the
original stdout. Everything else the process prints goes to stderr (the task's log), so compilers that
print cannot corrupt the protocol. After a crash-class failure the worker exits: a CUDA error can leave
the context unusable, and the runner starts a fresh worker for the next case.

The worker never outlives its case or its parent: the kernel kills it when the parent dies (even by
SIGKILL), a watchdog kills its process group once a case has run `limit_s` (seconds spent stopped, as in
a suspended job, not counted), and the signals a scheduler sends to every process of a job (SIGTERM,
SIGUSR2) are left to the parent, which records the case in flight before it kills the worker.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from results.case import CaseSpec
from results.records import Memory, Record, RunInfo, Timing, new_attempt_id, now
from results.runsdir import RunsDir

if TYPE_CHECKING:
    from jobs.timing import TimingSpec

PR_SET_PDEATHSIG = 1


def die_with_parent(parent: int) -> None:
    """Linux: ask the kernel to SIGKILL this process when its parent dies; exit if it is gone already."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:
        os._exit(1)


class Watchdog(threading.Thread):
    """Kills this worker's process group once the case in flight has run its limit, after telling the
    parent so on the reply channel (the parent then records a timeout, not a death)."""

    TICK_S = 1.0

    def __init__(self, reply_fd: int):
        super().__init__(daemon=True, name="watchdog")
        self.reply_fd = reply_fd
        self.limit: float | None = None
        self.used = 0.0

    def arm(self, limit_s: float | None) -> None:
        self.used, self.limit = 0.0, limit_s

    def run(self) -> None:
        last = time.monotonic()
        while True:
            time.sleep(self.TICK_S)
            now = time.monotonic()
            # a longer gap than a tick or two is time this process spent stopped
            self.used += min(now - last, 3 * self.TICK_S)
            last = now
            if self.limit is not None and self.used > self.limit:
                os.write(2, f"[ftrun] the case ran over {self.limit:.0f} s: the worker stops itself\n".encode())
                os.write(self.reply_fd, b'{"over_limit": true}\n')
                os.killpg(os.getpgrp(), signal.SIGKILL)


def main(runs_dir: str, parent: int | None = None) -> int:
    if parent is not None:
        die_with_parent(parent)
    for sig in (signal.SIGTERM, signal.SIGUSR2):
        signal.signal(sig, signal.SIG_IGN)
    replies = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    import torch

    if "TRITON_INTERPRET" not in os.environ and not torch.cuda.is_available():
        # no GPU here: Triton-generated kernels (the compiler's) run in Triton's interpreter
        os.environ["TRITON_INTERPRET"] = "1"
    from jobs import plugins
    from jobs.timing import TimingSpec

    watchdog = Watchdog(replies.fileno())
    watchdog.start()
    for line in sys.stdin:
        request = json.loads(line)
        spec = CaseSpec.from_json(request["spec"])
        wanted = plugins.PluginSpec.from_json(request.get("plugins"))
        if wanted != plugins.active_spec():
            plugins.activate(wanted)
        timing = TimingSpec(**request.get("timing", {}))
        print(f"[ftrun] case {spec.key} {spec.label()} attempt {request['attempt']}", flush=True)
        run = RunInfo.from_json(request.get("run") or {})
        watchdog.arm(request.get("limit_s"))
        try:
            record = run_case(spec, RunsDir(Path(runs_dir)), attempt=request["attempt"], run=run, timing=timing)
        except OSError as e:
            # a read-only or full runs folder: the parent finds no record and stops the chunk
            print(f"[ftrun] cannot write the record into the runs folder ({e.strerror or e}): stopping", flush=True)
            return 4
        watchdog.arm(None)
        print(f"[ftrun] {spec.key} -> {record.state} {record.error_class or ''}", flush=True)
        replies.write(json.dumps({"key": spec.key, "attempt": request["attempt"]}) + "\n")
        if record.error_class in ("crash", "cuda_init"):
            return 3
    return 0


def run_case(spec: CaseSpec, runs: RunsDir, *, attempt: str | None = None, run: RunInfo | None = None,
             timing: TimingSpec | None = None) -> Record:
    """Run one case here and write its record under the runs folder; returns the record (timed by
    `timing`, or by TimingSpec's defaults)."""
    # imported here, not above: the worker decides TRITON_INTERPRET before any kernel module loads
    from jobs.measure import CaseFailure, measure, target_device
    from jobs.provenance import provenance
    from jobs.timing import TimingSpec

    attempt = attempt or new_attempt_id()
    started = now()
    device = target_device()
    try:
        m = measure(spec, device, timing or TimingSpec())
        record = Record(spec.key, attempt, spec, "done", started, "",
                        timing=Timing.from_json(m["timing"]) if m["timing"] else None,
                        memory=Memory.from_json(m["memory"]) if m["memory"] else None, compile_s=m["compile_s"],
                        check=m["check"], system=m["system"], interpreted=m["interpreted"])
    except CaseFailure as e:
        record = Record(spec.key, attempt, spec, "failed", started, "", error_class=e.error_class, error=str(e))
    record = replace(record, run=run or RunInfo(), provenance=provenance(device), finished=now())
    runs.write_record(record)
    return record


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else None))

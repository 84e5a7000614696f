"""What one case measures, for its record (jobs.entry.run_case):

    seeded inputs -> compile (timed) -> check against the float64 reference (outputs NaN-poisoned)
    -> peak memory -> timing.

A failure raises CaseFailure with its class; a wrong result has no timing, and neither has a program that
runs in an interpreter here (checked, never timed).
"""

from __future__ import annotations

import functools
import hashlib
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from jobs.cases import kernel_case
from jobs.check import WrongResult, check_outputs, nan_filled_allocations
from jobs.plugins import PluginError
from jobs.spec import KERNEL_MODELS
from jobs.systems import NotSupported, get_system
from jobs.timing import TimingSpec, peak_memory, time_callable
from results.case import CaseSpec


class CaseFailure(Exception):
    """A case ended without a timing; `error_class` is one of results.records.ERROR_CLASSES."""

    def __init__(self, error_class: str, message: str):
        super().__init__(message)
        self.error_class = error_class


def input_seed(spec: CaseSpec) -> int:
    """Same inputs for every system of one program and shape, different ones across shapes."""
    ident = f"{spec.part}/{spec.model}/{sorted(spec.dims)}/{spec.dtype}"
    return int(hashlib.sha256(ident.encode()).hexdigest()[:8], 16)


def target_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@functools.lru_cache(maxsize=1)
def _reference(model: str, dims: tuple, dtype: str, seed: int, device: str, options: tuple) -> dict:
    case = kernel_case(model)
    inputs = case.inputs(dict(dims), dtype, device, seed)
    return case.reference(inputs)


def planned_case(spec: CaseSpec):
    """The case a spec names, as planned: a plug-in must be loaded here and its source unchanged since."""
    try:
        case = kernel_case(spec.model)
    except KeyError:
        raise CaseFailure("compile_error", f"case {spec.model!r} is not known here: its plug-in was not loaded "
                          "(is the plug-in file reachable from this node?)") from None
    except PluginError as e:
        # the same plug-ins fail the same way on every retry: final, with the loader's one line
        raise CaseFailure("compile_error", f"the plug-ins could not be loaded here: {e}") from None
    planned = spec.option("source")
    if planned is not None and case.source_hash() != planned:
        raise CaseFailure("compile_error", f"the source of case {spec.model} ({case.origin()}) changed after "
                          f"this case was planned (source {planned}, now {case.source_hash()}); submit again "
                          "to run the new version")
    return case


@dataclass
class Workload:
    """A compiled case ready to check and time: `fn(*inputs)` is what gets timed.

    `check(outputs)` raises WrongResult (or returns error statistics for the record).
    """

    fn: Callable
    inputs: tuple
    check: Callable[[object], dict]
    compile_s: float
    system: dict = field(default_factory=dict)
    # the program runs in an interpreter here (jobs.systems.base.System.interpreted): checked, never timed
    interpreted: bool = False


def kernel_workload(spec: CaseSpec, system, device: torch.device) -> Workload:
    """A kernel case: the program compiled by the system, checked against float64."""
    case = planned_case(spec)
    dims = dict(spec.dims)
    seed = input_seed(spec)
    inputs = tuple(case.inputs(dims, spec.dtype, device, seed).values())
    program = case.build(dims).to(device)
    guard("crash", system.warm_up)
    t0 = time.perf_counter()
    fn = guard("compile_error", lambda: system.compile(program, inputs, spec))
    compile_s = time.perf_counter() - t0
    # a program that fails in float64 fails the same way each time: final, not a transient crash
    ref = guard("compile_error", lambda: _reference(spec.model, spec.dims, spec.dtype, seed, str(device), spec.options))
    return Workload(fn, inputs, lambda outputs: check_outputs(outputs, case.outputs, ref, spec.dtype), compile_s,
                    system.details())


def _workload(spec: CaseSpec, device: torch.device) -> Workload:
    system = get_system(spec.system)
    reason = system.unavailable() or system.unsupported(spec)
    if reason:
        raise CaseFailure("unsupported", reason)
    if spec.part == "kernel":
        work = kernel_workload(spec, system, device)
    elif spec.part == "e2e":
        from jobs.e2e.workload import e2e_workload

        if spec.model not in KERNEL_MODELS:
            raise CaseFailure("unsupported", f"the e2e model selects KV entries for the seven paper variants "
                              f"only; {spec.model} runs as a kernel case")
        work = e2e_workload(spec, system, device)
    else:
        raise CaseFailure("unsupported", f"unknown part {spec.part!r}")
    work.interpreted = system.interpreted(device)
    return work


def verify(work: Workload) -> dict:
    """The correctness gate before any timing: one call into NaN-filled allocations, checked against the
    float64 reference, inputs unchanged. Returns the check's statistics; raises CaseFailure."""
    originals = [x.clone() if isinstance(x, torch.Tensor) else x for x in work.inputs]
    with nan_filled_allocations():
        outputs = guard("compile_error", lambda: work.fn(*work.inputs))
    try:
        check = work.check(outputs)
    except WrongResult as e:
        raise CaseFailure("wrong_result", str(e)) from None
    if any(isinstance(a, torch.Tensor) and not torch.equal(a, b) for a, b in zip(work.inputs, originals)):
        raise CaseFailure("wrong_result", "the system modified its inputs")
    return check


def measure(spec: CaseSpec, device: torch.device, timing: TimingSpec) -> dict:
    work = guard("crash", lambda: _workload(spec, device))
    check = verify(work)
    result = {"timing": None, "compile_s": round(work.compile_s, 4), "memory": None, "check": check,
              "system": work.system, "interpreted": work.interpreted}
    if work.interpreted:
        # checked is all an interpreter can say: its speed is not the program's
        return result
    call = lambda: work.fn(*work.inputs)  # noqa: E731
    result["memory"] = guard("crash", lambda: peak_memory(call, device))
    result["timing"] = guard("crash", lambda: time_callable(call, device, timing))
    return result


def guard(error_class: str, step):
    """Run one step; map its exception to a failure class (OOM and CUDA init errors by their kind)."""
    try:
        return step()
    except CaseFailure:
        raise
    except NotSupported as e:
        raise CaseFailure("unsupported", str(e)) from None
    except torch.cuda.OutOfMemoryError as e:
        raise CaseFailure("oom", _first_line(e)) from None
    except Exception as e:  # noqa: BLE001 - every other error is this step's failure
        text = f"{type(e).__name__}: {e}"
        if "out of memory" in text.lower():
            raise CaseFailure("oom", _first_line(e)) from None
        if "CUDA driver initialization" in text or "no CUDA-capable device" in text:
            raise CaseFailure("cuda_init", _first_line(e)) from None
        tb = "".join(traceback.format_exception(type(e), e, e.__traceback__)[-6:])
        raise CaseFailure(error_class, f"{text[:2000]}\n{tb[-3000:]}") from None


def _first_line(e: BaseException) -> str:
    return f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"

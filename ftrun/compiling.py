"""`ftrun compile`: one case through the embedded compiler, with what it made of it.

The target is a case name (built-in or plug-in) or FILE:NAME, where NAME is a Case object of the file, a
case name in its CASES, or an nn.Module class (compiled as a case with q, k, v only). Without a GPU the
kernels run in Triton's interpreter, at the small scale by default: the check against float64 is real,
times are not shown.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from ftrun.errors import FtrunError, choose
from jobs import plugins
from jobs.case import Case, CaseError
from jobs.spec import SCALES, kernel_dims


@dataclass(frozen=True)
class CompileRequest:
    target: str
    scale: str | None = None
    explain: bool = False
    dump_after: str | None = None
    source: bool = False


def resolve(target: str) -> Case:
    """The case a `ftrun compile` target names; FtrunError with the valid choices otherwise."""
    file, sep, name = target.rpartition(":")
    if not sep:
        try:
            return plugins.case(target)
        except KeyError:
            raise FtrunError(f"unknown case {target!r}; valid: {', '.join(plugins.case_names())} "
                             "(or FILE.py:NAME)") from None
    path = Path(file)
    module = plugins.import_file(path)
    found = getattr(module, name, None)
    if found is None:
        found = next((c for c in getattr(module, "CASES", ()) if getattr(c, "name", None) == name), None)
    if found is None:
        raise FtrunError(f"{path} has no {name}: give a Case object, a case name of its CASES or an nn.Module "
                         "class defined there")
    if isinstance(found, Case):
        return found
    try:
        return Case(name.lower(), found)
    except CaseError as e:
        raise FtrunError(f"{path}:{name}: {e}") from None


def device_and_scale(scale: str | None) -> tuple[str, str]:
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    scale = scale or ("full" if device == "cuda" else "small")
    choose("scale", scale, SCALES)
    return device, scale


def compile_case(req: CompileRequest) -> list[str]:
    """Text blocks to print: what was compiled, and what was asked for (explain, a dump, sources)."""
    import torch

    if not torch.cuda.is_available():
        # no GPU: the generated kernels run in Triton's interpreter (set before Triton defines any kernel)
        os.environ.setdefault("TRITON_INTERPRET", "1")
    import compiler

    if req.dump_after is not None:
        choose("step", req.dump_after, compiler.PIPELINE_STEPS)
    case = resolve(req.target)
    device, scale = device_and_scale(req.scale)
    dims = dict(kernel_dims(SCALES[scale], 4096))
    named = _inputs(case, dims, SCALES[scale].dtype, device)
    inputs = tuple(named.values())
    program = case.build(dims).to(device)
    head = f"{case.name} ({case.origin()}) at the {scale} scale on {device}: " + \
        ", ".join(f"{k}={v}" for k, v in dims.items())
    try:
        if req.dump_after is not None:
            return [head, compiler.dump(program, inputs, after=req.dump_after, name=case.name)]
        if req.source:
            return [head, compiler.dump(program, inputs, after="codegen", name=case.name)]
        if req.explain:
            return [head, compiler.explain(program, inputs, name=case.name).render()]
        return [head, _checked(case, program, named, device)]
    except compiler.CompileError as e:
        raise FtrunError(f"the compiler cannot compile {case.name}: {e}") from None


def _inputs(case: Case, dims: dict, dtype: str, device: str) -> dict:
    try:
        return case.inputs(dims, dtype, device, 0)
    except Exception as e:  # noqa: BLE001 - the user's input builder, reported in one line
        raise FtrunError(f"the inputs of case {case.name} could not be built ({type(e).__name__}: {e}); "
                         f"check its extra_inputs ({case.origin()})") from None


def _checked(case: Case, program, named: dict, device: str) -> str:
    """Compile, call once, check against the float64 reference: a summary (times only on a GPU)."""
    import compiler
    from jobs.check import WrongResult, check_outputs

    inputs = tuple(named.values())
    t0 = time.perf_counter()
    fn = compiler.compile(program, inputs, name=case.name)
    first = time.perf_counter()
    outputs = fn(*inputs)
    called = time.perf_counter()
    report = fn.explain()
    reference = case.reference(named)
    try:
        stats = check_outputs(outputs, case.outputs, reference, _dtype(inputs[0]))
        verdict = "matches the float64 reference: " + ", ".join(
            f"{name} {_stat(s)}" for name, s in stats["outputs"].items())
    except WrongResult as e:
        verdict = f"WRONG against the float64 reference: {e}"
    lines = [f"{len(report.kernels)} kernel(s): {', '.join(k.name for k in report.kernels) or 'none'}; "
             f"{len(report.fallbacks)} op(s) left to torch"]
    lines += [f"  torch: {f.text}  ({f.reason})" for f in report.fallbacks]
    lines.append(verdict)
    if device == "cuda":
        lines.append(f"compile {first - t0:.2f} s, first call (JIT, autotune) {called - first:.2f} s")
    else:
        lines.append("kernels ran in Triton's interpreter: checked, not timed (use a GPU for times)")
    lines.append("more: --explain (plan and sources), --dump-after STEP, --source")
    return "\n".join(lines)


def _dtype(t) -> str:
    return str(t.dtype).removeprefix("torch.")


def _stat(s: dict) -> str:
    if "mismatches" in s:
        return f"{s['mismatches']} flipped within the margin"
    return f"max abs err {s['max_abs_err']:.2e}"

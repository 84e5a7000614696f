"""The target step: which kernels of a plan become warp-specialized Gluon kernels for Hopper (sm_90).

Off unless CompileOptions.hopper_kernels is on. Then every row and column pass is tried: writing its
Gluon source is the test of whether the target can express it. A kernel it cannot express (a Decline:
a loop that streams a score-sized input, a while loop, a store of score tiles, an operand TMA cannot copy,
...) keeps its Triton source, and the reason is recorded as a rejected candidate of the plan, so `explain`
shows it; so does a kernel the writer fails on for another reason (WRITER_FAILED): the target step never
sends a program to torch. Map kernels (the prologue) are not score passes and always stay on the Triton
path.
"""

from __future__ import annotations

from dataclasses import dataclass

from compiler.codegen.gluon.module import write_hopper
from compiler.codegen.gluon.operands import Decline, find_operands
from compiler.codegen.gluon.version import GluonApi, gluon_api
from compiler.codegen.kernel import KernelSource
from compiler.codegen.program import materialized
from compiler.fusion.plan import Plan, Rejected
from compiler.options import CompileOptions

# the start of the reason given for a kernel the Gluon writer raised on (a gap in it, not a known decline)
WRITER_FAILED = "the Gluon writer failed on it"


@dataclass(frozen=True, eq=False)
class Targets:
    """Per kernel of the plan: its Hopper source, or why it has none (`off`: the switch is off)."""

    hopper: tuple[KernelSource, ...]
    declined: tuple[Rejected, ...]
    off: str | None = None

    def render(self) -> str:
        if self.off:
            return f"every kernel on the Triton path: {self.off}\n"
        lines = [f"kernel {s.name}: warp-specialized Gluon for sm_90 (producer warp with TMA into an mbarrier ring, "
                 "two consumer warpgroups in ping-pong with async wgmma)" for s in self.hopper]
        lines += [f"{r.candidate}: declined: {r.reason}" for r in self.declined]
        return "\n".join(lines) + "\n"


def _candidate(name: str) -> str:
    return f"emit {name} as a warp-specialized Gluon kernel for Hopper"


def choose_targets(plan: Plan, options: CompileOptions, example_inputs=(), api: GluonApi | str | None = None
                   ) -> Targets:
    if not options.hopper_kernels:
        return Targets((), (), off="CompileOptions.hopper_kernels is off")
    api = api if api is not None else gluon_api()
    if (options.target or "cuda") != "cuda":
        api = "Gluon kernels do not run in Triton's interpreter (target interpret)"
    elif (arch := _cuda_arch(example_inputs)) not in (None, (9, 0)):
        api = f"the inputs are on an sm_{arch[0]}{arch[1]} GPU; the warpgroup matmuls need sm_90"
    names, tensors = plan.names(), materialized(plan)
    hopper, declined = [], []
    for k in plan.generated:
        if k not in plan.kernels:
            declined.append(Rejected(_candidate(k.name), "a map kernel, not a score pass"))
            continue
        if isinstance(api, str):
            declined.append(Rejected(_candidate(k.name), api))
            continue
        try:
            hopper.append(write_hopper(k, plan.axes, names, tensors, find_operands(k, plan.axes), api))
        except (Decline, NotImplementedError) as e:
            declined.append(Rejected(_candidate(k.name), str(e)))
        except Exception as e:  # noqa: BLE001 - a kernel the writer fails on keeps its Triton source
            declined.append(Rejected(_candidate(k.name), f"{WRITER_FAILED}: {type(e).__name__}: {e}"))
    return Targets(tuple(hopper), tuple(declined))


def _cuda_arch(example_inputs) -> tuple[int, int] | None:
    """The compute capability of the GPU the inputs are on; None for CPU inputs (an ahead-of-time
    compile for sm_90, as the CPU checks do)."""
    for x in example_inputs:
        if getattr(x, "is_cuda", False):
            import torch

            return tuple(torch.cuda.get_device_capability(x.device))
    return None

"""Code generation for a whole plan: which nodes exist as tensors, and each kernel's source."""

from __future__ import annotations

from compiler.codegen.kernel import KernelSource, write_kernel
from compiler.codegen.maps import write_map
from compiler.fusion.plan import MapKernel, Plan
from compiler.ir.ops import Op
from compiler.options import CompileOptions


def materialized(plan: Plan) -> set[int]:
    """ids of the nodes that exist as tensors while the program runs."""
    out = {id(n) for n in plan.graph.nodes if n.op is Op.INPUT}
    out |= {id(t.node) for t in plan.torch_steps}
    out |= {id(n) for r in plan.regions for n in r.outputs}
    for k in plan.generated:
        out |= {id(n) for n in k.stores}
    return out


class KernelError(Exception):
    """A kernel the code generator could not write (`kernel`: its plan); the pipeline sends its score
    space back to the planner, which leaves it to torch."""

    def __init__(self, kernel, why: str):
        super().__init__(f"{kernel.name}: {why}")
        self.kernel, self.why = kernel, why


def generate(plan: Plan, options: CompileOptions, chosen: tuple[KernelSource, ...] = ()) -> tuple[KernelSource, ...]:
    """Each kernel's source: the one `chosen` by another target (codegen/gluon), else Triton's."""
    names = plan.names()
    tensors = materialized(plan)
    target = options.target or "cuda"
    other = {s.name: s for s in chosen}
    return tuple(other[k.name] if k.name in other else
                 _guarded(k, lambda k=k: write_map(k, names, target) if isinstance(k, MapKernel) else
                          write_kernel(k, plan.axes, names, tensors, target, options.name_all_stages))
                 for k in plan.generated)


def _guarded(kernel, write):
    try:
        return write()
    except Exception as e:  # noqa: BLE001 - any failure to write one kernel is reported with that kernel
        raise KernelError(kernel, f"{type(e).__name__}: {e}") from e

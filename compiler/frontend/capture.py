"""torch.export the program, then translate its functional ATen graph node by node (frontend/aten.py).

The result keeps what the launcher needs to call the graph like the program: which graph inputs are the
user's arguments and which are captured parameters or constants, and the output structure.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import torch

from compiler.errors import CompileError
from compiler.frontend.aten import Translator
from compiler.ir.node import Graph


@dataclass(frozen=True, eq=False)
class Captured:
    graph: Graph
    # per graph input: None for a user argument, else the captured tensor (parameter, buffer, constant)
    constants: tuple[torch.Tensor | None, ...]
    out_spec: Any  # torch.utils._pytree.TreeSpec of the program's outputs


class _Function(torch.nn.Module):
    """torch.export takes modules; a plain function is wrapped in one."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, *args):
        return self.fn(*args)


def export(program, example_inputs) -> torch.export.ExportedProgram:
    module = program if isinstance(program, torch.nn.Module) else _Function(program)
    args = tuple(example_inputs)
    if not all(isinstance(a, torch.Tensor) for a in args):
        raise CompileError("every program argument must be a tensor")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ep = torch.export.export(module, args, strict=False)
            # an empty decomposition table only functionalizes: in-place ops become out-of-place and
            # composite ops such as softmax and matmul stay whole
            return ep.run_decompositions({})
    except Exception as e:  # noqa: BLE001 - any capture failure is a CompileError with its reason
        raise CompileError(f"torch.export could not capture the program: {type(e).__name__}: {e}") from e


def capture(program, example_inputs) -> Captured:
    ep = export(program, example_inputs)
    sig = ep.graph_signature
    if sig.buffers_to_mutate or getattr(sig, "user_inputs_to_mutate", None):
        raise CompileError("the program mutates its inputs or buffers; only pure programs are supported")
    constants = []
    for spec in sig.input_specs:
        if spec.kind.name == "USER_INPUT":
            constants.append(None)
        elif spec.target in ep.state_dict:
            constants.append(ep.state_dict[spec.target])
        elif spec.target in ep.constants:
            constants.append(ep.constants[spec.target])
        else:
            raise CompileError(f"cannot find the value of captured input {spec.target!r}")
    try:
        graph = Translator().run(ep.graph_module.graph)
    except CompileError:
        raise
    except Exception as e:  # noqa: BLE001 - an op we cannot translate is a CompileError with the reason
        raise CompileError(f"cannot translate the captured graph: {type(e).__name__}: {e}") from e
    return Captured(graph, tuple(constants), ep.call_spec.out_spec)


def warm_up() -> float:
    """Capture a one-op program once, so the per-process start-up of torch.export (it imports dynamo
    and sympy: seconds) is not charged to the first real compile. Returns the seconds it took."""
    import time

    t0 = time.perf_counter()
    export(lambda x: x + 1, (torch.zeros(2),))
    return time.perf_counter() - t0

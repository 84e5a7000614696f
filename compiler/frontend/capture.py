"""torch.export the program, then translate its functional ATen graph node by node (frontend/aten.py).

The result keeps what the launcher needs to call the graph like the program: which graph inputs are the
user's arguments and which are captured parameters or constants, and the output structure.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils._pytree import tree_flatten

from compiler.errors import CompileError
from compiler.frontend.aten import Translator
from compiler.ir.dtypes import from_torch
from compiler.ir.evaluate import Slot
from compiler.ir.node import Graph, TensorType, const, node
from compiler.ir.ops import Op
from compiler.passes.rewrite import Memo, P, rewrite_node


@dataclass(frozen=True, eq=False)
class Captured:
    graph: Graph
    # per graph input: None for a user argument, else the captured tensor (parameter, buffer, constant)
    constants: tuple[torch.Tensor | None, ...]
    out_spec: Any  # torch.utils._pytree.TreeSpec of the program's outputs
    # (position, value) of each program argument that is a number: specialized, checked at every call
    scalars: tuple[tuple[int, Any], ...] = ()
    # why the graph is the exported program as one torch op (its ATen graph could not be translated)
    fallback: str | None = None


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
    if not all(isinstance(a, (torch.Tensor, bool, int, float)) for a in args):
        raise CompileError("every program argument must be a tensor or a number")
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
    scalars = tuple((k, a) for k, a in enumerate(example_inputs) if not isinstance(a, torch.Tensor))
    if sig.buffers_to_mutate or getattr(sig, "user_inputs_to_mutate", None):
        return _whole(ep, example_inputs, scalars, "the program mutates its inputs or buffers")
    try:
        return _translated(ep, scalars)
    except Exception as e:  # noqa: BLE001 - a captured program is never refused: torch runs it as it is
        why = f"cannot translate the captured graph: {type(e).__name__}: {e}"
        return _whole(ep, example_inputs, scalars, why)


def _translated(ep, scalars) -> Captured:
    sig = ep.graph_signature
    constants, lifted = [], set()
    placeholders = [n for n in ep.graph_module.graph.nodes if n.op == "placeholder"]
    for spec, fx in zip(sig.input_specs, placeholders):
        if not isinstance(fx.meta.get("val"), torch.Tensor):
            continue  # a number argument
        if spec.kind.name == "USER_INPUT":
            constants.append(None)
        elif spec.target in ep.state_dict:
            constants.append(ep.state_dict[spec.target])
        elif spec.target in ep.constants:
            constants.append(ep.constants[spec.target])
            if spec.kind.name == "CONSTANT_TENSOR" and constants[-1].numel() == 1:
                lifted.add(len(constants) - 1)
        else:
            raise CompileError(f"cannot find the value of captured input {spec.target!r}")
    graph = _known_scalars(Translator().run(ep.graph_module.graph), {k: constants[k] for k in lifted})
    return Captured(graph, tuple(constants), ep.call_spec.out_spec, scalars)


def _known_scalars(graph: Graph, values: dict[int, torch.Tensor]) -> Graph:
    """A one-element tensor the program makes itself (torch.tensor(w) in forward, which export lifts as a
    constant) is that number in the graph, as a Python int would be: a window of it bounds the loops.
    Its INPUT stays among the graph's inputs (the launcher still passes it), no longer read. Parameters
    and buffers stay inputs: they may change between calls."""
    if not values:
        return graph
    numbers = {id(graph.inputs[k]): v.reshape(()).item() for k, v in values.items()}
    rule = (P(Op.INPUT, name="n", where=lambda n: id(n) in numbers),
            lambda n: const(numbers[id(n)], n.shape, n.dtype))
    memo = Memo()
    return Graph(graph.inputs, tuple(rewrite_node(o, [rule], memo) for o in graph.outputs))


class _Exported:
    """The exported program as one torch op whose results are its flat outputs."""

    def __init__(self, module):
        self.module = module

    def __call__(self, *args):
        return tree_flatten(self.module(*args))[0]

    def __str__(self) -> str:
        return "exported_program"


def _whole(ep, example_inputs, scalars, why: str) -> Captured:
    """A graph of one torch op, the exported program, with one TORCH node per output; the output types
    are those of one eager run on the example inputs (they may depend on the data)."""
    run = _Exported(ep.module())
    with torch.no_grad():
        results = run(*example_inputs)
    if not all(isinstance(r, torch.Tensor) for r in results):
        raise CompileError("every program output must be a tensor")
    tensors = [x for x in example_inputs if isinstance(x, torch.Tensor)]
    inputs = tuple(node(Op.INPUT, (), _type(x), index=i, name=f"arg{i}") for i, x in enumerate(tensors))
    slots, count = [], 0
    for x in example_inputs:
        slots.append(Slot(count) if isinstance(x, torch.Tensor) else x)
        count += isinstance(x, torch.Tensor)
    outputs = tuple(node(Op.TORCH, inputs, _type(r), target=run, args=tuple(slots), kwargs=(), item=k)
                    for k, r in enumerate(results))
    return Captured(Graph(inputs, outputs), (None,) * len(inputs), ep.call_spec.out_spec, scalars, why)


def _type(x: torch.Tensor) -> TensorType:
    return TensorType(tuple(x.shape), from_torch(x.dtype))


def warm_up() -> float:
    """Capture a one-op program once, so the per-process start-up of torch.export (it imports dynamo
    and sympy: seconds) is not charged to the first real compile. Returns the seconds it took."""
    import time

    t0 = time.perf_counter()
    export(lambda x: x + 1, (torch.zeros(2),))
    return time.perf_counter() - t0

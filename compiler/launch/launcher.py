"""Run a plan: check the arguments, allocate what each step writes, launch kernels, run torch steps.

Buffers a kernel stores straight into a program output are views of that output's buffer (so the
output comes back with the program's own layout, no copy); everything else is allocated with its node's
logical shape. No score-sized buffer is ever allocated here: the plan has none to store.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch
from torch.utils._pytree import tree_unflatten

from compiler.autotune.tune import choose
from compiler.codegen.kernel import KernelSource
from compiler.fusion.demand import direct_strides
from compiler.fusion.plan import KernelPlan, MapKernel, Plan, TorchRegion, TorchStep
from compiler.ir.dtypes import to_torch
from compiler.ir.evaluate import Evaluator
from compiler.ir.node import Node
from compiler.launch.chunked import run_region
from compiler.launch.direct import Direct
from compiler.options import CompileOptions


@dataclass
class LaunchStats:
    configs: dict[str, str] = field(default_factory=dict)  # kernel -> chosen config
    tune_s: float = 0.0
    direct: int = 0  # launches that went straight to the compiled kernel (launch/direct.py)


class Launcher:
    def __init__(self, plan: Plan, sources: tuple[KernelSource, ...], modules: tuple, options: CompileOptions,
                 constants: tuple, out_spec, signature: tuple, scalars: tuple = ()):
        self.plan, self.options = plan, options
        self.kernels = {s.name: (s, m) for s, m in zip(sources, modules)}
        self.constants, self.out_spec, self.signature = constants, out_spec, signature
        self.scalars = dict(scalars)  # argument position -> the number the program was compiled for
        self.direct = {id(n): i for i, n in plan.direct_outputs}
        self.launch_args: dict[str, dict] = {}
        self.shape_args: dict[str, dict] = {}  # what module.arguments needs of the config
        self.direct_launch: dict[str, Direct | None] = {}
        self.stats = LaunchStats()
        # what every call allocates, worked out once (the host time of a call shows at short sequences)
        self.allocations = {id(n): self._allocation(n) for k in plan.generated for n in k.stores}

    def __call__(self, *args):
        user = self._numbers_checked(args)
        self._check(user)
        graph = self.plan.graph
        values = [c if c is not None else user.pop(0) for c in self.constants]
        env: dict[int, object] = {id(n): v for n, v in zip(graph.inputs, values)}
        device = values[0].device if values else torch.device("cpu")
        ev = Evaluator(device)
        outputs: dict[int, torch.Tensor] = {}
        for step in self.plan.steps:
            if isinstance(step, TorchStep):
                env[id(step.node)] = self._torch(step.node, env, ev)
            elif isinstance(step, TorchRegion):
                run_region(step, env, ev)
            else:
                self._kernel(step, env, outputs, device)
        flat = [outputs[i] if i in outputs else self._value(o, env, ev)
                for i, o in enumerate(graph.outputs)]
        return tree_unflatten(flat, self.out_spec)

    def _numbers_checked(self, args) -> list:
        """The tensor arguments, once every number argument is the one the program was compiled for."""
        if not self.scalars:
            return list(args)
        if len(args) != len(self.signature) + len(self.scalars):
            raise TypeError(f"expected {len(self.signature) + len(self.scalars)} arguments, got {len(args)}")
        for k, value in self.scalars.items():
            if args[k] != value:
                raise TypeError(f"argument {k}: compiled for {value!r}, got {args[k]!r}; compile again for it")
        return [a for k, a in enumerate(args) if k not in self.scalars]

    def _check(self, user: list) -> None:
        if len(user) != len(self.signature):
            raise TypeError(f"expected {len(self.signature)} tensor arguments, got {len(user)}")
        for k, (x, (shape, dtype)) in enumerate(zip(user, self.signature)):
            if not isinstance(x, torch.Tensor) or tuple(x.shape) != shape or x.dtype != dtype:
                got = f"{tuple(x.shape)} {x.dtype}" if isinstance(x, torch.Tensor) else type(x).__name__
                raise TypeError(f"argument {k}: compiled for {shape} {dtype}, got {got}; compile again "
                                "for new shapes")

    def _value(self, n: Node, env: dict, ev: Evaluator):
        """A node's tensor: materialized already, or computed here from materialized ones (torch)."""
        if id(n) in env:
            return env[id(n)]
        value = self._torch(n, env, ev)
        env[id(n)] = value
        return value

    def _torch(self, n: Node, env: dict, ev: Evaluator):
        args = [self._value(i, env, ev) for i in n.inputs]
        return ev(n, args)

    def _kernel(self, k: KernelPlan | MapKernel, env: dict, outputs: dict, device) -> None:
        source, module = self.kernels[k.name]
        for n in k.stores:
            env[id(n)] = self._allocate(n, outputs, device)
        tensors = [env[id(t)] for t in source.tensors]
        launch_args = self.launch_args.get(k.name)
        if launch_args is None:
            t0 = time.perf_counter()
            target = "cuda" if device.type == "cuda" else "interpret"
            role = source.tune_role or ("stream" if source.streams else k.role)
            config = choose(k.name, role, source.source, module.launch, tensors, self.options, target)
            self.launch_args[k.name] = launch_args = config.launch_args()
            self.shape_args[k.name] = {a: launch_args[a] for a in ("BLOCK_M", "BLOCK_N", "num_stages")}
            self.stats.configs[k.name] = str(config)
            self.stats.tune_s += time.perf_counter() - t0
        grid, args = module.arguments(*tensors, **self.shape_args[k.name])
        direct = self.direct_launch.get(k.name)
        if direct is not None and direct(grid, args):
            self.stats.direct += 1
            return
        compiled = module.launch(*tensors, **launch_args)
        if device.type == "cuda":
            self.direct_launch[k.name] = Direct.after(compiled, tensors, args)

    def _allocation(self, n: Node) -> tuple:
        """(output index or None, shape, dtype, stride map into the output's buffer or None)."""
        index = self.direct.get(id(n))
        if index is None:
            return None, n.shape, to_torch(n.dtype), None
        out = self.plan.graph.outputs[index]
        return index, out.shape, to_torch(out.dtype), None if out is n else direct_strides(out, n)

    def _allocate(self, n: Node, outputs: dict, device) -> torch.Tensor:
        index, shape, dtype, where = self.allocations[id(n)]
        buffer = torch.empty(shape, dtype=dtype, device=device)
        if index is None:
            return buffer
        outputs[index] = buffer
        if where is None:
            return buffer
        strides = [buffer.stride(w) if w is not None else 0 for w in where]
        return buffer.as_strided(n.shape, strides, buffer.storage_offset())


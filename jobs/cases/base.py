"""A case as data: the program to compile, how to build its inputs, and its float64 reference."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from jobs.cases.common import Output, make_qkv

TORCH_DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}


@dataclass(frozen=True)
class KernelCase:
    """One of the seven kernels.

    `program(heads, kv_heads, head_dim)` builds the nn.Module under test; `extra_inputs(dims, device, gen)`
    adds inputs beyond q, k, v; `reference(inputs)` returns float64 outputs by name (for "bool" outputs a
    float64 margin whose sign is the answer).
    """

    name: str
    program: Callable[..., torch.nn.Module]
    outputs: tuple[Output, ...]
    reference: Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]]
    extra_inputs: Callable[..., dict[str, torch.Tensor]] = field(default=lambda dims, device, gen: {})
    about: str = ""

    def build(self, dims: dict) -> torch.nn.Module:
        return self.program(heads=dims["heads"], kv_heads=dims["kv_heads"], head_dim=dims["head_dim"])

    def inputs(self, dims: dict, dtype: str, device, seed: int, logit_scale: float = 1.0) -> dict:
        """Seeded inputs in the order of the program's forward arguments."""
        gen = torch.Generator(device=device).manual_seed(seed)
        q, k, v = make_qkv(dims, TORCH_DTYPES[dtype], device, gen, logit_scale)
        return {"q": q, "k": k, "v": v, **self.extra_inputs(dims, device, gen)}

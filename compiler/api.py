"""The public entry points: compile, explain, dump."""

from __future__ import annotations

import dataclasses
import time

import torch

from compiler.explain import Report, report
from compiler.launch.loader import interpreting
from compiler.options import CompileOptions
from compiler.pipeline import Compilation, render_product, run_pipeline


class CompiledProgram:
    """The compiled callable: same arguments and outputs as the program.

    `.plan`, `.sources` and `.explain()` show what was generated; `.compile_seconds` is capture to callable
    (kernels are JIT-compiled and autotuned by Triton at the first call, not here); `.step_seconds` per
    pipeline step; `.launcher.stats` has the chosen configs and the tuning time after the first call.
    """

    def __init__(self, compilation: Compilation, seconds: float):
        self.compilation = compilation
        self.launcher = compilation.launcher
        self.plan = compilation.plan
        self.sources = compilation.sources
        self.compile_seconds = seconds
        self.step_seconds = dict(compilation.seconds)

    def __call__(self, *args):
        return self.launcher(*args)

    def explain(self) -> Report:
        return report(self.compilation)


def make_options(options: CompileOptions | None, kwargs: dict, example_inputs) -> CompileOptions:
    valid = {f.name for f in dataclasses.fields(CompileOptions)}
    unknown = set(kwargs) - valid
    if unknown:
        raise TypeError(f"unknown compile options {sorted(unknown)}; valid: {', '.join(sorted(valid))}")
    opts = dataclasses.replace(options or CompileOptions(), **kwargs)
    if opts.target is None:
        opts = dataclasses.replace(opts, target=_target(example_inputs))
    return opts


def _target(example_inputs) -> str:
    """The default target, from the inputs' device: CUDA tensors run compiled kernels (unless Triton's
    interpreter is on in this process), CPU tensors Triton's interpreter."""
    tensors = [x for x in example_inputs if isinstance(x, torch.Tensor)]
    return "cuda" if any(x.is_cuda for x in tensors) and not interpreting() else "interpret"


def _name(program, name: str | None) -> str:
    if name:
        return name
    base = type(program).__name__ if isinstance(program, torch.nn.Module) else getattr(program, "__name__", "")
    ident = "".join(c for c in base.lower() if c.isalnum() or c == "_").strip("_")
    return ident or "program"


def _start(program, example_inputs, options, kwargs, name) -> Compilation:
    example_inputs = tuple(example_inputs)
    opts = make_options(options, kwargs, example_inputs)
    return Compilation(program, example_inputs, opts, _name(program, name))


def compile(program, example_inputs, *, options: CompileOptions | None = None, name: str | None = None,
            **kwargs) -> CompiledProgram:
    """Compile an nn.Module or function for these example inputs (shapes and dtypes are specialized)."""
    t0 = time.perf_counter()
    c = run_pipeline(_start(program, example_inputs, options, kwargs, name))
    return CompiledProgram(c, time.perf_counter() - t0)


def explain(program, example_inputs, *, options: CompileOptions | None = None, name: str | None = None,
            **kwargs) -> Report:
    """What compile would generate: kernels and sources, ops left to torch, rejected fusions."""
    c = run_pipeline(_start(program, example_inputs, options, kwargs, name), until="codegen")
    return report(c)


def dump(program, example_inputs, after: str, *, options: CompileOptions | None = None,
         name: str | None = None, **kwargs) -> str:
    """The product of pipeline step `after` as text (IR, properties, plan, or sources)."""
    c = run_pipeline(_start(program, example_inputs, options, kwargs, name), until=after)
    return render_product(c, after)

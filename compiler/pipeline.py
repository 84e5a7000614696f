"""The compiler pipeline: one ordered list of named steps. Read this file to learn the compiler.

Each step takes the compilation so far and returns it with one more product; the product of a step is
pure data (a graph, an info, a plan, sources) and prints as text, so `dump(..., after=name)` can show it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from compiler.analysis.properties import PropertyInfo, analyze
from compiler.codegen.gluon.choose import Targets, choose_targets
from compiler.codegen.kernel import KernelSource
from compiler.codegen.program import KernelError, generate
from compiler.errors import CompileError
from compiler.frontend.capture import Captured, capture
from compiler.fusion.draft import space_key
from compiler.fusion.plan import MapKernel, Plan, Rejected
from compiler.fusion.planner import plan_fusion
from compiler.ir.node import Graph
from compiler.ir.printer import render_graph
from compiler.launch.launcher import Launcher
from compiler.launch.loader import interpreting, load_module
from compiler.options import CompileOptions
from compiler.passes.decompose import decompose
from compiler.passes.fold import fold
from compiler.passes.restrict import restrict
from compiler.passes.simplify import simplify


@dataclass(frozen=True, eq=False)
class Compilation:
    program: object
    example_inputs: tuple
    options: CompileOptions
    name: str
    captured: Captured | None = None
    graph: Graph | None = None
    props: PropertyInfo | None = None
    plan: Plan | None = None
    targets: Targets | None = None
    sources: tuple[KernelSource, ...] | None = None
    launcher: Launcher | None = None
    seconds: tuple[tuple[str, float], ...] = field(default=())
    # what the code generator could not write, sent back to the planner: {space key or "maps": why}
    demoted: tuple[tuple[object, str], ...] = ()
    # why the whole program runs in torch (a step failed: "step: error"), or None
    failed: str | None = None


@dataclass(frozen=True)
class Step:
    name: str
    run: Callable[[Compilation], Compilation]
    product: str  # the Compilation field this step fills, rendered by dump()


def _capture(c: Compilation) -> Compilation:
    captured = capture(c.program, c.example_inputs)
    return replace(c, captured=captured, graph=captured.graph)


def _plan(c: Compilation) -> Compilation:
    return replace(c, plan=plan_fusion(c.props, c.options, c.name, dict(c.demoted)))


def _target(c: Compilation) -> Compilation:
    targets = choose_targets(c.plan, c.options, c.example_inputs)
    return replace(c, targets=targets, plan=replace(c.plan, rejected=c.plan.rejected + targets.declined))


def _codegen(c: Compilation) -> Compilation:
    """Triton source per kernel (or the Gluon source the target step chose); a kernel the generator cannot
    write sends its score space back to the planner (it runs in torch, chunked, and explain says why), and
    the new plan's targets are chosen again, until every kernel is written."""
    while True:
        try:
            return replace(c, sources=generate(c.plan, c.options, c.targets.hopper if c.targets else ()))
        except KernelError as e:
            key = "maps" if isinstance(e.kernel, MapKernel) else space_key(e.kernel.space)
            if key in dict(c.demoted):
                raise
            c = _plan(replace(c, demoted=c.demoted + ((key, f"the code generator failed on it: {e}"),)))
            c = _target(c) if c.targets is not None else c


def _launch(c: Compilation) -> Compilation:
    directory = c.options.kernel_dir or c.options.cache_dir.parent / "kernels"
    if c.sources and (c.options.target == "interpret") != interpreting():
        raise CompileError("CPU tensors run through Triton's interpreter: set TRITON_INTERPRET=1 before the "
                           "process starts (or pass CUDA tensors)" if c.options.target == "interpret" else
                           "Triton's interpreter is on (TRITON_INTERPRET=1): kernels for the GPU target cannot run")
    modules = tuple(load_module(s.name, s.source, directory) for s in c.sources)
    user = [x for x, const in zip(c.captured.graph.inputs, c.captured.constants) if const is None]
    signature = tuple((x.shape, _torch_dtype(x.dtype)) for x in user)
    launcher = Launcher(c.plan, c.sources, modules, c.options, c.captured.constants, c.captured.out_spec,
                        signature, c.captured.scalars)
    return replace(c, launcher=launcher)


def _torch_dtype(dtype: str):
    from compiler.ir.dtypes import to_torch

    return to_torch(dtype)


PIPELINE: tuple[Step, ...] = (
    # torch.export at the ATen level: every program reaches us as the same small set of ops, functional
    # (in-place ops rewritten), with masks still symbolic (triu of a constant, not a materialized tensor)
    Step("capture", _capture, "graph"),
    # one strided view per input (layout ops folded), no-op casts and views gone, constants folded
    Step("simplify", lambda c: replace(c, graph=simplify(c.graph)), "graph"),
    # softmax into base-2 row statistics that keep the max (x2, m, l, lse, p = exp2(x2 - lse)); triu/tril
    # into index functions; exp/log into exp2/log2, so the analyses see a handful of primitive ops
    Step("decompose", lambda c: replace(c, graph=decompose(c.graph)), "graph"),
    # precision policy (f32 from the matmul on) and scalar algebra: the softmax scale and log2(e) merge
    # into one multiply, masks absorb positive scales, comparisons with exp2 move to the log domain
    Step("fold", lambda c: replace(c, graph=fold(c.graph)), "graph"),
    # a slice or selection of the rows or columns of a score-sized value moves down to the matmul's
    # operands: the restricted scores form a score space of their own, streamed over the part only
    Step("restrict", lambda c: replace(c, graph=restrict(c.graph)), "graph"),
    # tensor properties: score spaces and score-sized tensors, mask atoms on j - i, reduction classes
    # (independent / online / needs finished statistics) and their stages
    Step("analyze", lambda c: replace(c, props=analyze(c.graph)), "props"),
    # fusion plan: group reductions into row and column passes, fold masks per tile region, pick what is
    # stored; every rejected fusion is recorded with its reason
    Step("plan", _plan, "plan"),
    # the code generation target per kernel: Triton, or (CompileOptions.hopper_kernels) a warp-specialized
    # Gluon kernel for sm_90 where that target can express the pass; its declines join the plan's rejections
    Step("target", _target, "targets"),
    # Triton source per kernel (plus its launch wrapper), or the Gluon source the target step chose
    Step("codegen", _codegen, "sources"),
    # load the kernels and build the callable: check arguments, allocate, launch, run torch steps
    Step("launch", _launch, "launcher"),
)

PIPELINE_STEPS: tuple[str, ...] = tuple(s.name for s in PIPELINE)


def run_pipeline(c: Compilation, until: str | None = None) -> Compilation:
    if until is not None and until not in PIPELINE_STEPS:
        raise ValueError(f"unknown step {until!r}; steps: {', '.join(PIPELINE_STEPS)}")
    for step in PIPELINE:
        t0 = time.perf_counter()
        try:
            c = step.run(c)
        except CompileError:
            raise  # the program cannot be captured: nothing to fall back to
        except Exception as e:  # noqa: BLE001 - after capture, a failing step leaves the program to torch
            return _in_torch(c, f"{step.name}: {type(e).__name__}: {e}", until)
        c = replace(c, seconds=c.seconds + ((step.name, time.perf_counter() - t0),))
        if step.name == until:
            break
    return c


def _in_torch(c: Compilation, why: str, until: str | None) -> Compilation:
    """The captured graph run by torch as it is: what compile returns when a step fails on a program it
    captured (it never raises then); `failed` says which step and why."""
    graph = c.captured.graph
    rejected = (Rejected("compile the program", f"{why}; the whole program runs in torch"),)
    c = replace(c, graph=graph, props=None, plan=Plan(graph, None, (), (), rejected), sources=(), failed=why)
    if until is None or until == "launch":
        c = _launch(c)
    return c


def render_product(c: Compilation, step_name: str) -> str:
    product = next(s.product for s in PIPELINE if s.name == step_name)
    value = getattr(c, product)
    if value is None:
        return f"(no {product}: the program runs in torch; {c.failed})\n"
    if product == "graph":
        return render_graph(value)
    if product == "sources":
        return "\n".join(f"# ---- {s.name} ----\n{s.source}" for s in value)
    if product == "launcher":
        return value.plan.render()
    return value.render()

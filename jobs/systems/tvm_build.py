"""TVM's compiler side for the tvm system: torch.export -> Relax -> schedules -> an executable.

Needs the full `apache-tvm` package (libtvm_compiler); jobs/systems/tvm_relax.py only loads and runs.

Gaps of the 0.27 torch frontend, worked around here, never in the cases:
* matmul/bmm are imported with float32 outputs, so fp16 scores (and `out`) would silently become fp32:
  they are imported as a float32-accumulating matmul rounded to the dtype PyTorch gives the result;
* `aten.full(..., dtype=...)` imports as R.full, whose legalization fails (topi.full gets a dtype object,
  not a string): it is imported as a broadcast scalar instead;
* bool outputs (corm) cross DLPack as uint8: the exported program casts them, tvm_relax views them back.

No FoldConstant in the pipelines: it would evaluate the causal mask (full + arange + where) at compile time
into a [Lq, Lk] constant inside the module (32 MiB at 4096), where the fused kernel computes it for free.

GPU schedules: DLight's default rules (Matmul, GEMV, Reduction, GeneralReduction, Fallback), as TVM's own
CUDA pipeline. Optionally MetaSchedule tunes first (`trials` per task, 4 candidates per round as the paper
ran it); DLight then schedules whatever was not tuned.
"""

from __future__ import annotations

import importlib.util
import os
import tempfile

import torch
import tvm
from tvm import relax

TRIALS_PER_ROUND = 4
BUILD_TIMEOUT_S = 300.0


class BoolsAsBytes(torch.nn.Module):
    """The program with bool outputs cast to uint8 (1-bit bool does not cross DLPack everywhere)."""

    def __init__(self, program: torch.nn.Module):
        super().__init__()
        self.program = program

    def forward(self, *args):
        outs = self.program(*args)
        outs = outs if isinstance(outs, tuple) else (outs,)
        return tuple(o.to(torch.uint8) if o.dtype == torch.bool else o for o in outs)


def _dtype(node) -> str:
    return str(node.meta["val"].dtype).removeprefix("torch.")


def _matmul_rounded(node, importer):
    a, b = importer.retrieve_args(node)[:2]
    out = importer.block_builder.emit(relax.op.matmul(a, b, out_dtype="float32"))
    if _dtype(node) == "float32":
        return out
    return importer.block_builder.emit(relax.op.astype(out, _dtype(node)))


def _full_as_broadcast(node, importer):
    scalar = relax.const(node.args[1], _dtype(node))
    shape = relax.ShapeExpr([int(s) for s in node.meta["val"].shape])
    return importer.block_builder.emit(relax.op.broadcast_to(scalar, shape))


CONVERTERS = {"matmul.default": _matmul_rounded, "bmm.default": _matmul_rounded, "full.default": _full_as_broadcast}


def import_program(program: torch.nn.Module, inputs: tuple) -> tvm.IRModule:
    """The program as a Relax module whose `main` takes the inputs and returns a tuple of outputs."""
    from tvm.relax.frontend.torch import from_exported_program

    exported = torch.export.export(BoolsAsBytes(program).eval(), inputs)
    try:
        return from_exported_program(exported, custom_convert_map=CONVERTERS)
    except AssertionError as e:
        if "Unsupported function types" in str(e):
            # the frontend does not take the program (an op it has no converter for): NS, with the ops
            from jobs.systems.base import NotSupported

            raise NotSupported(f"tvm: its PyTorch frontend does not take this program ({e})") from None
        raise


def make_target(name: str) -> tvm.target.Target:
    """"llvm" or "cuda -arch=sm_XY" (the cache's spelling) as a TVM target."""
    if name == "llvm":
        return tvm.target.Target({"kind": "llvm", "num-cores": os.cpu_count() or 1})
    arch = name.split("-arch=")[1]
    cuda = {"kind": "cuda", "arch": arch, "max_num_threads": 1024, "max_threads_per_block": 1024,
            "max_shared_memory_per_block": 49152, "thread_warp_size": 32, "registers_per_block": 65536}
    return tvm.target.Target(cuda, host="llvm")


def _fuse_passes() -> list:
    t = relax.transform
    return [t.LegalizeOps(), t.AnnotateTIROpPattern(), t.FuseOps(), t.FuseTIR()]


def _dlight() -> tvm.transform.Pass:
    from tvm.s_tir import dlight as dl

    return dl.ApplyDefaultSchedule(dl.gpu.Matmul(), dl.gpu.GEMV(), dl.gpu.Reduction(), dl.gpu.GeneralReduction(),
                                   dl.gpu.Fallback())


def _lower_passes(target) -> list:
    from tvm.relax.backend.cuda import pipeline as cuda_pipeline

    return cuda_pipeline.dataflow_lower_passes(target) + cuda_pipeline.finalize_passes(target)


def schedule(mod: tvm.IRModule, target: tvm.target.Target, trials: int = 0, work_dir: str | None = None):
    """Fused, scheduled module: MetaSchedule with `trials` per task (if > 0), then DLight on GPUs."""
    gpu = "gpu" in target.keys
    with target:
        mod = tvm.transform.Sequential(_fuse_passes())(mod)
        if trials > 0:
            mod = _tune(mod, target, trials, work_dir)
        if gpu:
            mod = _dlight()(mod)
    return mod


def _tune(mod, target, trials: int, work_dir: str | None):
    from tvm.s_tir import meta_schedule as ms

    work_dir = work_dir or tempfile.mkdtemp(prefix="ftrun-tvm-tune-")
    tasks = ms.relax_integration.extract_tasks(mod, target)
    cost_model = "xgb" if importlib.util.find_spec("xgboost") else "random"
    # a builder worker imports TVM before its first build, which takes longer than the 30 s default allows
    # on a small machine
    builder = ms.builder.LocalBuilder(timeout_sec=BUILD_TIMEOUT_S)
    database = ms.relax_integration.tune_relax(
        mod, params={}, target=target, work_dir=work_dir, max_trials_global=trials * max(1, len(tasks)),
        max_trials_per_task=trials, num_trials_per_iter=min(TRIALS_PER_ROUND, trials), cost_model=cost_model,
        builder=builder)
    with database:
        return relax.transform.MetaScheduleApplyDatabase(enable_warning=False)(mod)


def use_cuda_compiler() -> None:
    """Register TVM's CUDA compile callback; nvcc when NVRTC's Python bindings (cuda-bindings) are missing.

    The callback turns kernels into device code while building (a fatbin inside the exported library). TVM
    calls it from its CUDA runtime library; where that library is not loaded, the module keeps CUDA source
    and compiles it when loaded, which a machine without nvcc/NVRTC cannot do (see tvm_prebuild).
    """
    import tvm.support.nvcc  # noqa: F401

    if importlib.util.find_spec("cuda") is None or importlib.util.find_spec("cuda.bindings") is None:
        os.environ.setdefault("TVM_CUDA_COMPILE_MODE", "nvcc")


def build(program: torch.nn.Module, inputs: tuple, target_name: str, trials: int = 0, work_dir: str | None = None):
    """torch program -> tvm Executable for the target ("llvm" or "cuda -arch=sm_XY")."""
    target = make_target(target_name)
    if target.kind.name == "cuda":
        use_cuda_compiler()
    mod = schedule(import_program(program, inputs), target, trials, work_dir)
    lower = tvm.transform.Sequential(_lower_passes(target))
    # the CUDA compile callback reads the architecture from the current target
    with target:
        return tvm.compile(mod, target=target, relax_pipeline=lower)

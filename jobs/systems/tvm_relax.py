"""tvm: Apache TVM (0.27, Relax): the case exported with torch.export, imported, scheduled and built.

Compile-side details (frontend workarounds, DLight, MetaSchedule) are in tvm_build.py. This module picks
the target, finds a prebuilt module or builds one, and runs it in TVM's Relax VM with inputs and outputs
crossing through DLPack (zero-copy; bool outputs travel as uint8 and are viewed back as bool).

Prebuilt modules: a machine without TVM's compiler (a runtime-only copy, as carried to the H200 by
tvm_prebuild.py) runs modules built elsewhere. `FTRUN_TVM_CACHE` (default: <repo>/.carry/tvm/modules)
holds `<model>-<key>.so` with a `.json` beside it; the key covers model, dims, dtype, target and tuning.
A module found there is loaded instead of built, and `details()` reports the build time measured where
it was built (compile_s of the record is then the load time only).

Tuning: MetaSchedule with N trials per task when the case option `tvm_trials` or else the environment
variable FTRUN_TVM_TRIALS is N > 0 (default 0: DLight's default schedules only). The paper's runs used
128 per task and took hours per case: set it per campaign and raise the runner's time limit for tvm.

On CUDA the VM runs on the default stream, which is PyTorch's current stream unless a job changes it.
"""

from __future__ import annotations

import ctypes
import hashlib
import importlib.util
import json
import os
from pathlib import Path

from jobs.environment import environment
from jobs.systems.attention_library import kernel_view
from jobs.systems.base import NotSupported, System, module_missing
from results.case import CaseSpec

# bump when a change here or in tvm_build.py changes what a module computes
ADAPTER_REVISION = 1
DEFAULT_CACHE = Path(__file__).resolve().parents[2] / ".carry" / "tvm" / "modules"


def cache_dir() -> Path:
    return environment().tvm_cache or DEFAULT_CACHE


def tuning_trials(spec: CaseSpec) -> int:
    return int(spec.option("tvm_trials") or environment().tvm_trials)


def target_name(device_type: str, capability: tuple[int, int] | None = None) -> str:
    """The target a case's device needs: "llvm" or "cuda -arch=sm_XY"."""
    if device_type == "cpu":
        return "llvm"
    major, minor = capability
    return f"cuda -arch=sm_{major}{minor}"


def local_target() -> str:
    import torch

    if torch.cuda.is_available():
        return target_name("cuda", torch.cuda.get_device_capability())
    return target_name("cpu")


def module_key(spec: CaseSpec, target: str, trials: int) -> str:
    ident = {"model": spec.model, "dims": dict(spec.dims), "dtype": spec.dtype, "target": target,
             "trials": trials, "revision": ADAPTER_REVISION}
    if spec.option("source"):
        # a plug-in's module is built from its source of that day: an edit needs a new module
        ident["source"] = spec.option("source")
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:16]


def prebuilt_path(spec: CaseSpec, target: str, trials: int, cache: Path | None = None) -> Path:
    return (cache or cache_dir()) / f"{spec.model}-{module_key(spec, target, trials)}.so"


def has_compiler() -> bool:
    """Whether the installed tvm can compile (a runtime-only copy lacks lib/libtvm_compiler.so)."""
    found = importlib.util.find_spec("tvm")
    return bool(found) and any((Path(p) / "lib" / "libtvm_compiler.so").exists()
                               for p in found.submodule_search_locations or ())


class TVM(System):
    name = "tvm"

    def __init__(self):
        self._details: dict = {}

    def unavailable(self):
        return module_missing("tvm")

    def unsupported(self, spec):
        if has_compiler():
            return None
        target, trials = local_target(), tuning_trials(spec)
        # an e2e case compiles its layer's attention, which is a kernel case
        path = prebuilt_path(kernel_view(spec), target, trials)
        if not path.exists():
            return (f"only TVM's runtime is installed here and no prebuilt module matches this case "
                    f"({target}, {trials} tuning trials): expected {path}; build it with "
                    f"python -m jobs.systems.tvm_prebuild")
        return None

    def compile(self, program, inputs, spec):
        device = inputs[0].device
        capability = None
        if device.type == "cuda":
            import torch

            capability = torch.cuda.get_device_capability(device)
        target, trials = target_name(device.type, capability), tuning_trials(spec)
        path = prebuilt_path(spec, target, trials)
        tvm = _import_tvm(cuda=device.type == "cuda")
        if path.exists():
            module = tvm.runtime.load_module(str(path))
            meta = json.loads(path.with_suffix(".json").read_text()) if path.with_suffix(".json").exists() else {}
            self._details = {"prebuilt": str(path), **meta}
        elif has_compiler():
            from jobs.systems.tvm_build import build

            module = build(program, inputs, target, trials)
            self._details = {"prebuilt": None, "target": target, "trials": trials}
        else:
            raise NotSupported(f"no prebuilt TVM module at {path} and no TVM compiler here")
        self._details["tvm"] = tvm.__version__
        run = RelaxRunner(tvm, module, device, _bool_outputs(spec.model))
        # the first call loads the device code and fills the VM's memory pool
        run(*inputs)
        return run

    def details(self):
        return self._details


def _bool_outputs(model: str) -> list[bool]:
    from jobs.cases import kernel_case

    return [o.is_bool for o in kernel_case(model).outputs]


def _import_tvm(cuda: bool):
    """import tvm; a runtime-only copy does not load its CUDA runtime by itself, so load it here."""
    # where torch.Tensor lacks __dlpack_c_exchange_api__, tvm_ffi's first import would JIT-build a PyTorch
    # extension (minutes, a C++ toolchain) only to speed up DLPack; the plain protocol does the same job
    os.environ.setdefault("TVM_FFI_DISABLE_TORCH_C_DLPACK", "1")
    import tvm
    from tvm.base import _LOADED_LIBS

    if cuda and "tvm_runtime_cuda" not in _LOADED_LIBS:
        lib_dir = Path(_LOADED_LIBS["tvm_runtime"]._name).resolve().parent
        _LOADED_LIBS["tvm_runtime_cuda"] = ctypes.CDLL(str(lib_dir / "libtvm_runtime_cuda.so"))
    return tvm


class RelaxRunner:
    """Calls `main` of a Relax VM on torch tensors; returns torch tensors (a tuple if more than one)."""

    def __init__(self, tvm, module, device, bool_outputs: list[bool]):
        import torch
        from tvm.runtime.vm import VirtualMachine

        self._torch = torch
        self._from_dlpack = tvm.runtime.from_dlpack
        dev = tvm.cuda(device.index or 0) if device.type == "cuda" else tvm.cpu()
        self._main = VirtualMachine(module, dev)["main"]
        self._bools = bool_outputs

    def __call__(self, *args):
        outs = self._main(*(self._from_dlpack(a) for a in args))
        torch = self._torch
        outs = [torch.from_dlpack(o) for o in outs]
        outs = tuple(o.view(torch.bool) if is_bool else o for o, is_bool in zip(outs, self._bools))
        return outs[0] if len(outs) == 1 else outs

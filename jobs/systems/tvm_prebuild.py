"""Build TVM modules here and a runtime-only TVM to run them on a machine without TVM (the H200).

    python -m jobs.systems.tvm_prebuild                      # fig12's tvm cases, full scale, sm_90
    python -m jobs.systems.tvm_prebuild --scale small --target llvm --out /tmp/carry

Writes into OUT (default .carry/tvm, which git ignores):
    modules/<model>-<key>.so, .json   one exported Relax VM module per case, with its build time here
    python/tvm, python/tvm_ffi        TVM's Python package without its compiler library, headers and
                                      sources (about 25 MiB), tvm_ffi with its extension for every
                                      Python of --python (fetched with pip download), libcudart beside
                                      TVM's CUDA runtime in case the target has none on its path
The tvm system finds the modules through FTRUN_TVM_CACHE=OUT/modules and TVM through
PYTHONPATH=OUT/python; see the printed command.

Building for CUDA needs no GPU, only nvcc (or NVRTC's cuda-bindings); without a driver, a stub
libcuda.so.1 lets TVM's CUDA runtime library load so that kernels are compiled here (see
load_cuda_driver). TVM parses its tensor-core intrinsics once per process (about 90 s here) before the
first CUDA build; that time is recorded as `setup_s`, apart from each case's `build_s`.
"""

from __future__ import annotations

import argparse
import ctypes
import datetime
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from jobs.spec import SCALES
from jobs.systems.tvm_relax import module_key, prebuilt_path
from results.case import CaseSpec

DEFAULT_OUT = Path(".carry/tvm")
# what the runtime does not need from the installed packages
SKIP_TVM = ("3rdparty", "include", "src", "libtvm_compiler.so", "__pycache__")
SKIP_FFI = ("3rdparty", "include", "src", "__pycache__")
CUDART = ("/usr/local/cuda/lib64/libcudart.so.13", "/usr/local/cuda/lib/libcudart.so.13")
# the CUDA driver functions that TVM 0.27's libtvm_runtime_cuda.so links against
DRIVER_FUNCTIONS = ("cuDeviceGetName", "cuFuncSetAttribute", "cuGetErrorName", "cuGetErrorString", "cuLaunchKernelEx",
                    "cuModuleGetFunction", "cuModuleLoadData", "cuModuleUnload", "cuTensorMapEncodeTiled")


def tvm_specs(experiment: str, scale: str) -> list[CaseSpec]:
    """The experiment's tvm kernel cases at one scale, as the planner makes them (ftrun.submit.expand)."""
    from jobs import plugins
    from jobs.experiments import experiment as find_experiment
    from jobs.experiments import shape

    chosen, specs = find_experiment(experiment), {}
    for part in (p for p in chosen.parts if p.part == "kernel" and "tvm" in p.systems):
        for model in part.models:
            for seqlen in part.seqlens:
                dims, dtype = shape(chosen, SCALES[scale], "kernel", seqlen)
                spec = CaseSpec("kernel", model, "tvm", dims, dtype, "any", scale, options=plugins.case_options(model))
                specs.setdefault(spec.key, spec)
    return list(specs.values())


def meta_inputs(spec: CaseSpec) -> tuple:
    """The case's inputs as meta tensors: shapes and dtypes without memory (kf's noise is 2 GiB at 4096)."""
    import torch
    from torch._subclasses.fake_tensor import FakeTensorMode

    from jobs.cases import kernel_case

    with FakeTensorMode():
        fake = kernel_case(spec.model).inputs(dict(spec.dims), spec.dtype, "cpu", 0)
    return tuple(torch.empty(t.shape, dtype=t.dtype, device="meta") for t in fake.values())


def load_cuda_driver(workdir: Path) -> str:
    """Load libcuda.so.1 globally: the driver if installed ("driver"), else a stub ("stub"). Before tvm.

    TVM's codegen hands CUDA kernels to its CUDA runtime library to be compiled; that library links the
    driver, and where it cannot load TVM silently stores CUDA source instead, to be compiled at load time
    by nvcc/NVRTC, which the H200 image lacks. Every stub function fails, and building calls none of them.
    """
    try:
        ctypes.CDLL("libcuda.so.1", mode=ctypes.RTLD_GLOBAL)
        return "driver"
    except OSError:
        pass
    source, stub = workdir / "libcuda_stub.c", workdir / "libcuda.so.1"
    # 999 is CUDA_ERROR_UNKNOWN
    source.write_text("".join(f"int {name}(void) {{ return 999; }}\n" for name in DRIVER_FUNCTIONS))
    subprocess.run(["cc", "-shared", "-fPIC", "-Wl,-soname,libcuda.so.1", "-o", str(stub), str(source)], check=True)
    ctypes.CDLL(str(stub), mode=ctypes.RTLD_GLOBAL)
    return "stub"


def tvm_setup_s(target: str) -> float:
    """Import tvm and, for CUDA, check its runtime loaded and parse the tensor intrinsics; returns seconds."""
    t0 = time.perf_counter()
    import tvm
    import tvm_ffi

    if target.startswith("cuda"):
        if tvm_ffi.get_global_func("ffi.Module.create.cuda", allow_missing=True) is None:
            raise SystemExit("TVM's CUDA runtime library did not load: modules would carry CUDA source, not binaries")
        import tvm.s_tir.tensor_intrin.cuda  # noqa: F401
    del tvm
    return time.perf_counter() - t0


def build_modules(specs: list[CaseSpec], target: str, trials: int, modules: Path, setup_s: float = 0.0) -> list[dict]:
    """Build and export one module per case into `modules`; returns their metadata."""
    import tvm

    from jobs.cases import kernel_case
    from jobs.systems.tvm_build import build

    modules.mkdir(parents=True, exist_ok=True)
    built = []
    for spec in specs:
        dims = dict(spec.dims)
        program = kernel_case(spec.model).build(dims).to("meta")
        t0 = time.perf_counter()
        executable = build(program, meta_inputs(spec), target, trials)
        build_s = time.perf_counter() - t0
        path = prebuilt_path(spec, target, trials, modules)
        executable.export_library(str(path))
        meta = {"key": module_key(spec, target, trials), "model": spec.model, "dims": dims, "dtype": spec.dtype,
                "target": target, "trials": trials, "build_s": round(build_s, 2), "setup_s": round(setup_s, 2),
                "built_on": socket.gethostname(),
                "built": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                "built_with_tvm": tvm.__version__}
        path.with_suffix(".json").write_text(json.dumps(meta, indent=1, sort_keys=True))
        print(f"{spec.model:7s} {target}: {build_s:6.1f} s -> {path} ({path.stat().st_size >> 10} KiB)", flush=True)
        built.append(meta)
    return built


def copy_runtime(python_dir: Path, pythons: list[str]) -> None:
    """TVM and tvm_ffi without the compiler, plus tvm_ffi's extension for each Python version."""
    import tvm
    import tvm_ffi

    shutil.rmtree(python_dir, ignore_errors=True)
    python_dir.mkdir(parents=True)
    shutil.copytree(Path(tvm.__file__).parent, python_dir / "tvm", ignore=shutil.ignore_patterns(*SKIP_TVM))
    ffi = python_dir / "tvm_ffi"
    shutil.copytree(Path(tvm_ffi.__file__).parent, ffi, ignore=shutil.ignore_patterns(*SKIP_FFI))
    for cudart in map(Path, CUDART):
        if cudart.exists():
            shutil.copy(cudart, python_dir / "tvm" / "lib" / cudart.name)
            break
    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    for version in sorted(set(pythons) - {here}):
        _add_ffi_extension(ffi, version, tvm_ffi.__version__)


def _add_ffi_extension(ffi: Path, python: str, version: str) -> None:
    """tvm_ffi's pure-Python part is the same in every wheel; only core.cpython-3XX-*.so differs."""
    import zipfile

    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                        "--python-version", python, "--platform", "manylinux_2_28_x86_64", "-d", tmp,
                        f"apache-tvm-ffi=={version}"], check=True)
        (wheel,) = Path(tmp).glob("*.whl")
        with zipfile.ZipFile(wheel) as z:
            for name in z.namelist():
                if name.startswith("tvm_ffi/core.") and name.endswith(".so"):
                    (ffi / Path(name).name).write_bytes(z.read(name))


def size_mib(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20


def device_command(out: Path) -> str:
    root = out if out.is_absolute() else f"$PWD/{out}"
    return (f"PYTHONPATH={root}/python:$PWD FTRUN_TVM_CACHE={root}/modules "
            f"python -m ftrun submit fig12 --cluster local --only system=tvm")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m jobs.systems.tvm_prebuild", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--experiment", default="fig12")
    parser.add_argument("--scale", default="full", choices=list(SCALES))
    parser.add_argument("--target", default="cuda -arch=sm_90", help='"cuda -arch=sm_XY" or "llvm"')
    parser.add_argument("--trials", type=int, default=0, help="MetaSchedule trials per task (needs the GPU here)")
    parser.add_argument("--models", nargs="*", help="only these cases")
    parser.add_argument("--python", nargs="*", default=["3.10", "3.11", "3.12", "3.13"],
                        help="Python versions the runtime must import under")
    parser.add_argument("--no-runtime", action="store_true", help="build modules only")
    args = parser.parse_args(argv)

    specs = [s for s in tvm_specs(args.experiment, args.scale) if not args.models or s.model in args.models]
    with tempfile.TemporaryDirectory() as tmp:
        if args.target.startswith("cuda"):
            print(f"libcuda.so.1: {load_cuda_driver(Path(tmp))}")
        setup_s = tvm_setup_s(args.target)
        print(f"tvm setup: {setup_s:.1f} s", flush=True)
        build_modules(specs, args.target, args.trials, args.out / "modules", setup_s)
    if not args.no_runtime:
        copy_runtime(args.out / "python", args.python)
    print(f"{args.out}: {size_mib(args.out):.1f} MiB; on the device machine, from the repository root:")
    print(f"  {device_command(args.out)}")


if __name__ == "__main__":
    main()

"""Compile generated Hopper (Gluon) kernel modules for sm_90 ahead of time, without a GPU, and count
what the design promises in the compiled code. Run as a script in a fresh process (Triton's interpreter
patches triton.language in the process that uses it; the Triton under test may be another install):

    python hopper_compile.py jobs.json    # [{"path", "kernel", "signature", "constexprs", "aligned", "options"}]

`signature` holds the pointer and integer arguments; each tensor descriptor argument's type is built here
from the module's `blocks(BLOCK_M, BLOCK_N)`, with this Triton's own layout spelling. Prints one JSON line
per kernel: shared memory, registers and local (spill) bytes per thread, counts in the TTGIR (warp
specialization, partitions), the PTX (wgmma, TMA copies, mbarrier waits, setmaxnreg, ex2) and the SASS
(HGMMA, UTMALDG, USETMAXREG, SYNCS, MUFU.EX2) read with the cuobjdump that Triton's wheel ships.
"""

import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.pop("TRITON_INTERPRET", None)
os.environ.setdefault("TRITON_DEFAULT_FP_FUSION", "1")

import triton  # noqa: E402
from triton.backends.compiler import GPUTarget  # noqa: E402
from triton.experimental.gluon import language as gl  # noqa: E402
from triton.experimental.gluon._runtime import GluonASTSource  # noqa: E402

PTX = {"wgmma": "wgmma.mma_async", "tma_loads": "cp.async.bulk.tensor", "mbarrier_waits": "mbarrier.try_wait",
       "setmaxnreg": "setmaxnreg", "ex2": "ex2.approx", "tanh": "tanh.approx"}
SASS = {"HGMMA": r"\bHGMMA\.", "UTMALDG": r"\bUTMALDG\b", "USETMAXREG": r"\bUSETMAXREG\b", "SYNCS": r"\bSYNCS\.",
        "MUFU_EX2": r"\bMUFU\.EX2\b", "MUFU_TANH": r"\bMUFU\.TANH\b"}


def _descriptor_type(dtype: str, block: list[int]) -> str:
    layout = gl.NVMMASharedLayout.get_default_for(block, gl.float16 if dtype == "fp16" else gl.bfloat16)
    return f"tensordesc<{dtype}[{', '.join(map(str, block))}],{layout!r}>"


def _tool(name: str) -> str:
    return str(Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / name)


def _sass(cubin: bytes) -> tuple[str, str]:
    with tempfile.NamedTemporaryFile(suffix=".cubin") as f:
        f.write(cubin)
        f.flush()
        sass = subprocess.run([_tool("cuobjdump"), "-sass", f.name], capture_output=True, text=True, check=True)
        usage = subprocess.run([_tool("cuobjdump"), "-res-usage", f.name], capture_output=True, text=True,
                               check=True)
    return sass.stdout, usage.stdout


def compile_one(job: dict) -> dict:
    spec = importlib.util.spec_from_file_location(job["kernel"], job["path"])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    fn = getattr(module, f"{job['kernel']}_kernel")
    consts = job["constexprs"]
    descriptors = {name: _descriptor_type(dtype, block)
                   for name, (dtype, block) in module.blocks(consts["BLOCK_M"], consts["BLOCK_N"]).items()}
    signature = {**descriptors, **job["signature"]}
    signature = {a: signature[a] for a in fn.arg_names}
    attrs = {(signature_index,): [["tt.divisibility", 16]] for signature_index in
             [list(signature).index(a) for a in job["aligned"]]}
    compiled = triton.compile(GluonASTSource(fn, signature, consts, attrs), target=GPUTarget("cuda", 90, 32),
                              options=job["options"])
    ttgir, ptx = compiled.asm["ttgir"], compiled.asm["ptx"]
    sass, usage = _sass(compiled.asm["cubin"])
    regs = re.search(r"REG:(\d+)", usage)
    local = re.search(r"LOCAL:(\d+)", usage)
    return {"kernel": job["kernel"], "triton": triton.__version__, "shared": compiled.metadata.shared,
            "registers": int(regs.group(1)) if regs else None, "local": int(local.group(1)) if local else None,
            "threads": int(re.search(r"\.reqntid (\d+)", ptx).group(1)),
            "warp_specialize": ttgir.count("ttg.warp_specialize("),
            "partitions": len(re.findall(r"^\s*partition\d+\(", ttgir, re.M)),
            "requested_registers": re.findall(r"requestedRegisters = array<i32: ([\d, ]+)>", ttgir),
            **{k: ptx.count(v) for k, v in PTX.items()},
            "sass": {k: len(re.findall(v, sass)) for k, v in SASS.items()}}


if __name__ == "__main__":
    for job in json.loads(open(sys.argv[1]).read()):
        print(json.dumps(compile_one(job)), flush=True)

"""Compile generated kernel modules for sm_90 ahead of time, without a GPU. Run as a script in a fresh
process (Triton's interpreter patches triton.language in the process that uses it):

    python sm90_compile.py jobs.json    # [{"path", "kernel", "signature", "constexprs", "aligned", "options"}]

`aligned`: the indices of the arguments Triton's JIT would specialize as divisible by 16.

Prints one JSON line per kernel: {"kernel", "shared", "async_copies", "tanh_approx", "sync_f32_tiles",
"lg2_approx", "libdevice_log2"}: the async copies (pipelined loads) in the final TTGIR, its 2-D fp32 global
loads left synchronous, and which instructions or libdevice functions its PTX uses.
"""

import importlib.util
import json
import os
import re
import sys

os.environ.pop("TRITON_INTERPRET", None)

import triton  # noqa: E402
from triton.backends.compiler import GPUTarget  # noqa: E402
from triton.compiler import ASTSource  # noqa: E402


def compile_one(job: dict) -> dict:
    spec = importlib.util.spec_from_file_location(job["kernel"], job["path"])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    fn = getattr(module, f"{job['kernel']}_kernel")
    attrs = {(k,): [["tt.divisibility", 16]] for k in job.get("aligned", [])}
    source = ASTSource(fn, job["signature"], job["constexprs"], attrs)
    compiled = triton.compile(source, target=GPUTarget("cuda", 90, 32), options=job["options"])
    sync = re.findall(r"= tt\.load .*: tensor<\d+x\d+x!tt\.ptr<f32>", compiled.asm["ttgir"])
    return {"kernel": job["kernel"], "shared": compiled.metadata.shared,
            "async_copies": compiled.asm["ttgir"].count("ttg.async_copy_global_to_local"),
            "tanh_approx": "tanh.approx.f32" in compiled.asm["ptx"], "sync_f32_tiles": len(sync),
            "lg2_approx": "lg2.approx.f32" in compiled.asm["ptx"],
            "libdevice_log2": "__nv_log2f" in compiled.asm["ptx"]}


if __name__ == "__main__":
    for job in json.loads(open(sys.argv[1]).read()):
        print(json.dumps(compile_one(job)), flush=True)

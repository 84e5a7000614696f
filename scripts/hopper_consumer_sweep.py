"""Try schedules of the Hopper consumer before building one into the emitter (issue 21): compile a case at full
size with the Hopper target, rewrite its generated Gluon consumer in a few ways, and check each rewrite
against the Triton path's output before timing it at each ring config (triton.testing.do_bench, median ms
of the whole call). Needs an sm_90 GPU.

    python scripts/hopper_consumer_sweep.py attn

Rewrites: `as_is`; `no_turn` (no ping-pong turn between the consumer warpgroups); `defer_pv` (P·V is not
waited for in its own tile but together with the next tile's score matmul, so it runs under that tile's
waits; its ring stage is released one tile later); `defer_pv_no_turn`. A rewrite is measured, never
adopted here: what wins moves into compiler/codegen/gluon.
"""

from __future__ import annotations

import argparse
import re
import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CONFIGS = ((128, 128, 2), (128, 128, 3), (128, 64, 3))  # BLOCK_M, BLOCK_N, stages (4 warps per warpgroup)
FULL = {"batch": 1, "heads": 32, "kv_heads": 32, "q_len": 4096, "kv_len": 4096, "head_dim": 128}


def no_turn(src: str) -> str:
    src = re.sub(r"\n\s*mbarrier\.wait\(turn\.index\(WG\), w_turn\)", "", src)
    src = re.sub(r"\n\s*w_turn \^= 1", "", src)
    return re.sub(r"\n\s*mbarrier\.arrive\(turn\.index\(1 - WG\)\)", "", src)


def defer_pv(src: str) -> str | None:
    src = src.replace("warpgroup_mma, warpgroup_mma_wait", "warpgroup_mma, warpgroup_mma_init, warpgroup_mma_wait")
    head, _, rest = src.partition("_compute(")
    accs = sorted(set(re.findall(r"(a\d+) = warpgroup_mma\(w_p, w_v, a\d+", rest)))
    if not accs:
        return None  # a column pass: no P·V
    acc = accs[0]
    rest = rest.replace(
        "w_s = warpgroup_mma_wait(0, deps=(w_s, w_a, w_b))[0]",
        f"w_d = warpgroup_mma_wait(0, deps=(w_s, {acc}, w_a, w_b))\n        w_s = w_d[0]\n        {acc} = w_d[1]\n"
        "        if w_it > 0:\n            mbarrier.arrive(b_empty.index((w_it + STAGES - 1) % STAGES))")
    rest = re.sub(rf"\n\s*{acc} = warpgroup_mma_wait\(0, deps=\({acc}, w_v\)\)\[0\]", "", rest)
    rest = re.sub(r"\n\s*mbarrier\.arrive\(b_empty\.index\(w_stage\)\)", "", rest)
    body, sep, tail = rest.partition("\n\n\n@gluon.jit")
    lines = body.split("\n")
    # the accumulator is an asynchronous one across the loops; the last P·V is drained after them
    first = min(i for i, ln in enumerate(lines) if ln.startswith("    for r0 in "))
    lines.insert(first, f"    {acc} = warpgroup_mma_init({acc})")
    last = max(i for i, ln in enumerate(lines) if ln.strip() == "w_it += 1")
    lines.insert(last + 1, f"    {acc} = warpgroup_mma_wait(0, deps=[{acc}])  # one dep: the tensor itself")
    return head + "_compute(" + "\n".join(lines) + sep + tail


REWRITES = {"as_is": lambda s: s, "no_turn": no_turn, "defer_pv": defer_pv,
            "defer_pv_no_turn": lambda s: defer_pv(no_turn(s))}


def _outputs(out) -> tuple:
    return out if isinstance(out, (tuple, list)) else (out,)


def sweep(name: str) -> None:
    import torch
    import triton

    import compiler
    import compiler.launch.launcher as launcher
    from compiler.autotune.space import Config
    from compiler.launch.loader import load_module
    from jobs.cases import kernel_case

    case = kernel_case(name)
    args = tuple(case.inputs(FULL, "float16", "cuda", 0).values())
    want = _outputs(compiler.compile(case.build(FULL).cuda(), args, name=name)(*args))
    fn = compiler.compile(case.build(FULL).cuda(), args, options=compiler.CompileOptions(hopper_kernels=True),
                          name=name)
    fn(*args)
    run = fn.launcher
    for kernel, (source, module) in list(run.kernels.items()):
        if not source.tune_role:
            continue
        print(f"== {name} {kernel} ({source.tune_role}); autotuned {run.stats.configs.get(kernel)}", flush=True)
        for rewrite, change in REWRITES.items():
            text = change(source.source)
            if text is None:
                print(f"{rewrite}: not applicable")
                continue
            run.kernels[kernel] = (source, load_module(f"{kernel}_{rewrite}", text, Path("/tmp/ftrun-sweep")))
            for bm, bn, stages in CONFIGS:
                for cache in (run.launch_args, run.direct_launch, run.shape_args):
                    cache.pop(kernel, None)
                launcher.choose = lambda *a, _c=Config(bm, bn, 4, stages), **k: _c
                got = _outputs(fn(*args))
                err = max((g.float() - w.float()).abs().max().item() for g, w in zip(got, want))
                label = f"{rewrite:18s} BM{bm}/BN{bn}/s{stages}:"
                if err >= 2e-2 or not all(bool(torch.isfinite(g.float()).all()) for g in got):
                    print(f"{label} wrong (max err {err:.2e} against the Triton path): not timed", flush=True)
                    continue
                ms = triton.testing.do_bench(lambda: fn(*args), warmup=25, rep=200, return_mode="median")
                print(f"{label} {ms:.4f} ms  max err {err:.2e}", flush=True)
        run.kernels[kernel] = (source, module)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("case", help="a built-in case: attn, h2o, ...")
    warnings.simplefilter("ignore")
    sweep(parser.parse_args().case)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

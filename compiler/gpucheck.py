"""The GPU check: the seven cases at full shape on CUDA, against float64, timed next to torch.

    python -m compiler.gpucheck                      # all cases, B=1 H=32 D=128 L=4096 fp16
    python -m compiler.gpucheck --cases attn h2o --seq 2048 --no-inductor

Per case: compile time (capture to callable), first-call time (Triton JIT + autotuning), correctness
against the float64 reference with NaN-prefilled outputs at normal and ±100 logits, peak extra memory
of one call (outputs included), and do_bench medians of ours, torch eager and torch.compile.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

import torch


def _bench(fn, device: str) -> float:
    if device != "cuda":
        samples = []
        for _ in range(3):
            t0 = time.perf_counter()
            fn()
            samples.append((time.perf_counter() - t0) * 1e3)
        return sorted(samples)[1]
    import triton.testing

    return float(triton.testing.do_bench(fn, warmup=25, rep=100, return_mode="median"))


def _check(case, fn, dims, dtype: str, scale: float, device: str) -> str:
    from jobs.check import WrongResult, check_outputs, nan_filled_allocations

    inputs = case.inputs(dims, dtype, device, 0, logit_scale=scale)
    ref = case.reference(inputs)
    with nan_filled_allocations():
        out = fn(*inputs.values())
    _sync(device)
    try:
        stats = check_outputs(out, case.outputs, ref, dtype)
    except WrongResult as e:
        return f"FAIL {e}"
    errs = [v.get("max_abs_err", v.get("mismatches", 0)) for v in stats["outputs"].values()]
    return "ok (max err " + ", ".join(f"{e:.2g}" for e in errs) + ")"


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def _peak_extra_mib(fn, args, device: str) -> float:
    if device != "cuda":
        return float("nan")
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    fn(*args)
    torch.cuda.synchronize()
    return (torch.cuda.max_memory_allocated() - base) / 2**20


def run_case(name: str, dims: dict, dtype: str, inductor: bool, device: str = "cuda", **options) -> dict:
    import compiler
    from jobs.cases import kernel_case

    case = kernel_case(name)
    program = case.build(dims).to(device)
    args = tuple(case.inputs(dims, dtype, device, 0).values())
    t0 = time.perf_counter()
    fn = compiler.compile(program, args, name=name, **options)
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    fn(*args)
    _sync(device)
    first_s = time.perf_counter() - t0
    row = {"case": name, "kernels": len(fn.plan.generated), "compile_s": compile_s, "first_call_s": first_s,
           "check": _check(case, fn, dims, dtype, 1.0, device),
           "check_100": _check(case, fn, dims, dtype, 20.0, device),
           "extra_mib": _peak_extra_mib(fn, args, device), "ours_ms": _bench(lambda: fn(*args), device),
           "eager_ms": _bench(lambda: program(*args), device), "configs": fn.launcher.stats.configs}
    if inductor:
        torch._dynamo.reset()
        compiled = torch.compile(program, dynamic=False)
        compiled(*args)
        row["inductor_ms"] = _bench(lambda: compiled(*args), device)
    return row


def _table(rows: list[dict]) -> str:
    head = ["case", "k", "compile s", "1st call s", "extra MiB", "ours ms", "eager ms", "inductor ms", "vs best"]
    lines = ["  ".join(f"{h:>11}" for h in head)]
    for r in rows:
        best = min(r["eager_ms"], r.get("inductor_ms", float("inf")))
        cells = [r["case"], r["kernels"], f"{r['compile_s']:.2f}", f"{r['first_call_s']:.1f}",
                 f"{r['extra_mib']:.0f}", f"{r['ours_ms']:.3f}", f"{r['eager_ms']:.3f}",
                 f"{r['inductor_ms']:.3f}" if "inductor_ms" in r else "-", f"{best / r['ours_ms']:.2f}x"]
        lines.append("  ".join(f"{c:>11}" for c in cells))
    lines.append("")
    for r in rows:
        lines.append(f"{r['case']}: logits ~N(0,1): {r['check']}; logits ±100: {r['check_100']}; "
                     f"configs {r['configs']}")
    return "\n".join(lines)


def main(argv=None) -> int:
    from jobs.spec import KERNEL_MODELS

    p = argparse.ArgumentParser(prog="python -m compiler.gpucheck", description=__doc__.splitlines()[0])
    p.add_argument("--cases", nargs="*", default=list(KERNEL_MODELS))
    p.add_argument("--seq", type=int, default=4096)
    p.add_argument("--heads", type=int, default=32)
    p.add_argument("--kv-heads", type=int, default=None)
    p.add_argument("--head-dim", type=int, default=128)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--dtype", default="float16", choices=["float16", "bfloat16"])
    p.add_argument("--no-inductor", action="store_true", help="skip torch.compile (saves ~1 min)")
    p.add_argument("--device", default="cuda", help="cpu runs the kernels in Triton's interpreter (tests)")
    p.add_argument("--cache-dir", default=None, help="autotune cache (default ~/.cache/ftrun/autotune)")
    args = p.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        print("compiler.gpucheck needs a CUDA GPU", file=sys.stderr)
        return 2
    if args.device == "cpu":
        # Triton decides interpreter-or-GPU when a kernel is defined, i.e. at compile time below
        os.environ["TRITON_INTERPRET"] = "1"
        warnings.filterwarnings("ignore")
    dims = {"batch": args.batch, "heads": args.heads, "kv_heads": args.kv_heads or args.heads,
            "head_dim": args.head_dim, "q_len": args.seq, "kv_len": args.seq}
    gpu = torch.cuda.get_device_name() if args.device == "cuda" else "cpu (interpreter)"
    print(f"{gpu}  torch {torch.__version__}  dims {dims} {args.dtype}", flush=True)
    import compiler

    print(f"torch.export start-up, once per process (not in compile s): {compiler.warm_up():.2f} s", flush=True)
    rows = []
    for name in args.cases:
        options = {"cache_dir": Path(args.cache_dir)} if args.cache_dir else {}
        rows.append(run_case(name, dims, args.dtype, not args.no_inductor, args.device, **options))
        print(f"done {name}", flush=True)
    print(_table(rows))
    return 0 if all(r["check"].startswith("ok") and r["check_100"].startswith("ok") for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())

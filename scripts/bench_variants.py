"""Time the 2024-2026 attention variants of tests/compiler/variants.py (issue 19) on a GPU: the compiler,
inductor and eager torch, each checked against float64 first (a wrong result is printed as "wrong", never
as a time), with the campaigns' timing harness (jobs/timing.py: L2 flushed, medians).

    python scripts/bench_variants.py                      # every variant, 32 heads, 4096, head_dim 128
    python scripts/bench_variants.py --only docs --only tova --length 8192 --out variants.json
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "compiler")]

from case_runner import assert_close  # noqa: E402
from variants import VARIANTS, Shape, reference  # noqa: E402

import compiler  # noqa: E402
from jobs.timing import time_callable  # noqa: E402

SYSTEMS = ("flashtensor", "inductor", "torch")


def _callable(system: str, module: torch.nn.Module, args: tuple, name: str):
    if system == "flashtensor":
        return compiler.compile(module, args, name=name)
    if system == "inductor":
        return torch.compile(module, dynamic=False)
    return module


def _measure(system: str, module, args, want) -> dict:
    try:
        fn = _callable(system, module, args, module.__class__.__name__)
        out = fn(*args)
        torch.cuda.synchronize()
        out = out if isinstance(out, tuple) else (out,)
        for got, ref in zip(out, want, strict=True):
            assert_close(got, ref, "float16")
    except AssertionError as e:
        return {"state": "wrong", "why": str(e).splitlines()[0][:200]}
    except Exception as e:  # a system that cannot run the variant: its reason, not a time
        traceback.print_exc()
        return {"state": "failed", "why": f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}"}
    timing = time_callable(lambda: fn(*args), torch.device("cuda"))
    return {"state": "done", "median_ms": timing["median"], "p10": timing["p10"], "p90": timing["p90"],
            "n": timing["n"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", default=[], help="a variant's name (repeatable)")
    parser.add_argument("--length", type=int, default=4096)
    parser.add_argument("--heads", type=int, default=32)
    parser.add_argument("--head-dim", type=int, default=128)
    parser.add_argument("--out", type=Path, help="also write the rows as JSON here")
    a = parser.parse_args()
    if not torch.cuda.is_available():
        print("error: bench_variants needs a CUDA GPU (times from Triton's interpreter are not times)")
        return 1
    names = [v.name for v in VARIANTS]
    unknown = [n for n in a.only if n not in names]
    if unknown:
        print(f"error: unknown variant {unknown[0]!r}; known: {', '.join(names)}")
        return 1
    shape = Shape(batch=1, heads=a.heads, length=a.length, head_dim=a.head_dim)
    rows = []
    print(f"{'variant':22} {'ours ms':>9} {'inductor':>9} {'torch':>9} {'vs inductor':>12}", flush=True)
    for v in VARIANTS:
        if a.only and v.name not in a.only:
            continue
        g = torch.Generator().manual_seed(0)
        args = tuple(t.cuda() for t in v.inputs(g, torch.float16, shape))
        module = v.build()
        want = tuple(w for w in reference(module, args))
        row = {"variant": v.name, **{s: _measure(s, module, args, want) for s in SYSTEMS}}
        del want
        torch.cuda.empty_cache()
        rows.append(row)

        def cell(s, row=row):
            r = row[s]
            return f"{r['median_ms']:9.3f}" if r["state"] == "done" else f"{r['state']:>9}"
        ours, ind = row["flashtensor"], row["inductor"]
        ratio = (f"{ind['median_ms'] / ours['median_ms']:11.2f}x" if ours["state"] == ind["state"] == "done"
                 else f"{'-':>12}")
        print(f"{v.name:22} {cell('flashtensor')} {cell('inductor')} {cell('torch')} {ratio}", flush=True)
    if a.out:
        a.out.write_text(json.dumps({"gpu": torch.cuda.get_device_name(), "torch": torch.__version__,
                                     "shape": vars(shape), "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

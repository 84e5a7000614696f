"""Pick a kernel's launch config: pinned, cached, or timed now on the real arguments.

A config that fails (out of shared memory, a compile error) times as infinity with its reason; it never
stops the search. Kernels write their outputs whole (no accumulation into them), so timing repeated
launches on the real buffers is safe.
"""

from __future__ import annotations

import math

import torch

from compiler.autotune.cache import TuneCache, cache_key
from compiler.autotune.space import Config, candidates, fits


def _bench(launch, tensors, config: Config) -> float:
    import triton.testing

    try:
        launch(*tensors, **config.launch_args())
        torch.cuda.synchronize()
        return float(triton.testing.do_bench(lambda: launch(*tensors, **config.launch_args()),
                                             warmup=5, rep=20, return_mode="median"))
    except Exception:  # noqa: BLE001 - a config that cannot run is just not chosen
        return math.inf


def choose(name: str, role: str, source: str, launch, tensors, options, target: str) -> Config:
    if options.config is not None and fits(role, Config(*options.config)):
        return Config(*options.config)
    space = candidates(role, target, options.autotune_space)
    if target != "cuda" or not options.autotune or len(space) == 1:
        return space[0]
    import triton

    key = cache_key(source, [t.shape for t in tensors], [str(t.dtype) for t in tensors],
                    torch.cuda.get_device_name(tensors[0].device), triton.__version__)
    cache = TuneCache(options.cache_dir)
    hit = cache.get(key)
    if hit is not None:
        return hit
    timings = {str(c): _bench(launch, tensors, c) for c in space}
    best = min(space, key=lambda c: timings[str(c)])
    if math.isinf(timings[str(best)]):
        raise RuntimeError(f"{name}: no launch config runs: {timings}")
    cache.put(key, best, timings, name)
    return best

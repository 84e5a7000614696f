"""Compile options: one frozen value passed to every step (no step reads environment variables)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class CompileOptions:
    # "cuda" emits GPU-only instructions (tanh.approx.f32); "interpret" keeps to what Triton's
    # interpreter runs. `compile` picks it from the inputs' device when left as None.
    target: str | None = None
    # time the candidate configs of each kernel at its first call and remember the fastest
    autotune: bool = True
    cache_dir: Path = field(default_factory=lambda: Path.home() / ".cache" / "ftrun" / "autotune")
    # the candidate configs: "default" (short lists per kernel role) or "wide" (every sensible config, for
    # finding better defaults: minutes of JIT per case on a cold cache); compiler/autotune/space.py
    autotune_space: str = "default"
    # where the generated kernel modules are written (Triton reads their source back); None: beside cache_dir
    kernel_dir: Path | None = None
    # pin one config for every kernel: (BLOCK_M, BLOCK_N, num_warps, num_stages); skips autotuning
    config: tuple[int, int, int, int] | None = None
    # give a row pass that streams a score-sized input the attention pass does not read (Keyformer's
    # noise) a kernel of its own. Off: one pass does both; with the noise stream pipelined it is faster
    # on the H200 (0.776 ms against 0.335 + 0.568, BENCHMARKS.md); unpipelined it was slower
    split_side_streams: bool = False
    # hoist input-only score-sized subexpressions broadcast over heads that compute on a score-sized input
    # (log2 of CORM's threshold) into one torch prologue instead of recomputing them per head; masks and
    # biases of row- and column-indexed vectors are always computed per tile (never an [Lq, Lk] tensor)
    hoist_broadcast_inputs: bool = True
    # where a mask leaves a tile region whose contribution to an idempotent reduction (any, max, min) reads
    # only inputs the same for every head (CORM's threshold above the diagonal), reduce it once in torch
    # and let every per-head program skip those tiles (fusion/hoist.py)
    hoist_head_independent_tiles: bool = True
    # compute the prologue's input-only torch steps over one domain (CORM's log2 of its threshold and its
    # reduction above the diagonal) in one generated kernel that reads each input once (fusion/maps.py)
    prologue_kernels: bool = True
    # end a pass's loop early where every accumulator is an any and all of a program's lanes are already
    # true (CORM's column pass: a key is kept once one query gives it enough probability). Exact for any
    # data. On the H200 (BENCHMARKS.md) CORM takes 0.439 ms with it against 0.764 ms without; where no key
    # ever saturates it pays a check and a restart of its pipelined loads per loop segment: 0.805 ms
    stop_saturated_any: bool = True
    # every loop names its stages (tl.range(..., num_stages=...)), so Triton pipelines all its loads, not
    # only those feeding a matmul: a column pass's per-tile lse vector, CORM's threshold tile. Off: timed on
    # the H200 it gains nothing beyond noise on H2O, RoCo and SnapKV (0.004 ms) and costs attention
    # 0.326 -> 0.335 ms and CORM's column pass 0.400 -> 0.603 ms (BENCHMARKS.md)
    name_all_stages: bool = False
    # skip tiles proven dead by the mask analysis (off only to test that skipping changes nothing)
    skip_dead_tiles: bool = True
    # a score-sized value only torch can compute (fusion/regions.py) is computed a block of heads or of
    # query rows at a time, so that no intermediate of it holds more elements than this (64 MiB in f32)
    chunk_elements: int = 1 << 24
    # emit row and column passes as warp-specialized Gluon kernels for Hopper (codegen/gluon: a producer
    # warp with TMA loads into an mbarrier ring, two consumer warpgroups in ping-pong with async wgmma);
    # kernels the target cannot express keep their Triton source, with the reason in `explain`. Off: on an
    # H100 it wins 1-11 % per kernel call at 4096 but loses at 1024 (host time) and 0.7-1.1 % in the e2e
    # prefill (BENCHMARKS.md, "Hopper kernels")
    hopper_kernels: bool = False

"""Candidate launch configs per kernel role, as data (kernel-anchors §5: what was fastest on the H200)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Config:
    block_m: int
    block_n: int
    num_warps: int
    num_stages: int

    def launch_args(self) -> dict:
        return {"BLOCK_M": self.block_m, "BLOCK_N": self.block_n, "num_warps": self.num_warps,
                "num_stages": self.num_stages}

    def __str__(self) -> str:
        return f"BM{self.block_m}/BN{self.block_n}/w{self.num_warps}/s{self.num_stages}"


# Every candidate costs one Triton JIT compile (1-2 s) on a cold cache, so the lists are short: the
# configs that won on the H200 in a wide search (FTRUN_AUTOTUNE_SPACE=wide, 25 configs; BENCHMARKS.md).
# Row kernels (FA order): 64x64/4 warps/3 stages won for every FA pass, 128x128/8/3 within 4 %
ROW = (Config(64, 64, 4, 3), Config(128, 128, 8, 3))
# column-statistics kernels (key-block major): 128x64/4/3 for plain column sums; 64x128/4/2 where the
# pass also reads a score-sized input every head shares (CORM's threshold, from L2)
COLUMN = (Config(128, 64, 4, 3), Config(64, 128, 4, 2), Config(64, 64, 4, 3))
# kernels whose loop pipelines a per-head score-sized input (Keyformer's noise): in the wide search
# 128x64/8/3 won the row pass that also does attention (0.776 ms; 64x32/4/3 next, 0.813), 64x64/4/2
# and /4/3 the column pass (0.556, 0.570; the noise-only row pass of split_side_streams: 0.544 at
# 64x64/4/3); a short list keeps a cold compile + tune of such a case under 20 s
STREAM = (Config(128, 64, 8, 3), Config(64, 64, 4, 3), Config(64, 64, 4, 2))
# map kernels (the prologue, memory-bound): narrow program tiles, so that a [4096, 4096] domain still
# gives every SM a program or two, and deep tiles along the loop
MAP = (Config(32, 128, 4, 3), Config(16, 256, 4, 3), Config(64, 64, 4, 3))
# warp-specialized Gluon kernels for Hopper (codegen/gluon): BLOCK_M is the program's 128 rows (two consumer
# warpgroups of 64), num_stages the depth of the producer's ring, num_warps the default partition's 4.
# Not timed yet: at head_dim 128 a row pass holds 32 KB of Q and 32 KB (BLOCK_N 64) or 64 KB (128) of K and
# V per stage, so 3 stages of 64 or 2 of 128 fit beside it
HOPPER_ROW = (Config(128, 128, 4, 2), Config(128, 64, 4, 3))
HOPPER_COLUMN = (Config(128, 64, 4, 3), Config(128, 128, 4, 2))
# Triton's interpreter runs every program in Python: one small config, with BM != BN so both tile
# sizes are exercised, and small enough that short test sequences span several tiles
INTERPRET = Config(32, 16, 4, 1)


# the "wide" space (CompileOptions.autotune_space): every sensible config (BM, BN in {64, 128}, 4 or 8
# warps, 2-4 stages), for finding better defaults: minutes of JIT per case on a cold cache
WIDE = tuple(Config(m, n, w, s) for m in (64, 128) for n in (32, 64, 128) for w in (4, 8) for s in (2, 3, 4)
             if not (w == 8 and m * n < 128 * 64) and not (m == 128 and n == 128 and s == 4))


def candidates(role: str, target: str, space: str = "default") -> tuple[Config, ...]:
    if target == "interpret":
        return (INTERPRET,)
    if role.startswith("hopper-"):
        return HOPPER_ROW if role == "hopper-row" else HOPPER_COLUMN
    if space == "wide":
        return WIDE
    if space != "default":
        raise ValueError(f"unknown autotune space {space!r}: default or wide")
    return {"row": ROW, "column": COLUMN, "stream": STREAM, "map": MAP}[role]


def fits(role: str, config: Config) -> bool:
    """Whether a pinned config can launch a kernel of this role: a Hopper kernel's program is two
    consumer warpgroups of 64 rows under a 4-warp default partition."""
    return not role.startswith("hopper-") or (config.block_m == 128 and config.num_warps == 4)

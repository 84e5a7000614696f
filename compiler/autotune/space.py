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


# row kernels (FA order): 128x128 with 8 warps and 3 stages was best for d=128; 64x64 close behind
ROW = (Config(128, 128, 8, 3), Config(128, 64, 8, 3), Config(64, 64, 4, 3), Config(128, 64, 4, 3),
       Config(64, 128, 4, 2), Config(128, 128, 8, 2))
# column-statistics kernels (key-block major): 128x64 with 4 warps and 3 stages was best
COLUMN = (Config(128, 64, 4, 3), Config(64, 64, 4, 2), Config(128, 128, 8, 3), Config(64, 64, 4, 3),
          Config(128, 32, 4, 3))
# Triton's interpreter runs every program in Python: one small config, with BM != BN so both tile
# sizes are exercised, and small enough that short test sequences span several tiles
INTERPRET = Config(32, 16, 4, 1)


def candidates(role: str, target: str) -> tuple[Config, ...]:
    if target == "interpret":
        return (INTERPRET,)
    return ROW if role == "row" else COLUMN

"""Small result stores for tests: records with samples and provenance, two runs folders that differ in every
way a comparison can tell."""

import errno
import random
from pathlib import Path

from results.campaigns import Campaign
from results.case import CaseSpec
from results.records import Record, RunInfo, Timing
from results.runsdir import RunsDir

STAMP = "2026-01-01T00:00:{:02d}+00:00"


def case(system, model="attn") -> CaseSpec:
    dims = (("batch", 1), ("head_dim", 32), ("heads", 2), ("kv_heads", 2), ("kv_len", 64), ("q_len", 64))
    return CaseSpec("kernel", model, system, dims, "float16", "cpu", "tiny")


def samples(center: float, spread: float, n: int = 60, seed: int = 0) -> list[float]:
    rng = random.Random(seed)
    return [center * (1 + rng.uniform(-spread, spread)) for _ in range(n)]


def record(c, attempt, times=None, second=0, campaign="c-a", gpu="NVIDIA H100", commit="aaaa1111", cluster="local",
           error_class=None, interpreted=False) -> Record:
    timing = None
    if times is not None:
        s = sorted(times)
        timing = Timing(s[len(s) // 2], s[len(s) // 10], s[len(s) * 9 // 10], s[0], sum(s) / len(s), len(s),
                        tuple(times), "cuda_events")
    prov = {"gpu": {"name": gpu}, "torch": "2.13.0", "code": {"commit": commit, "dirty": False}}
    state = "failed" if error_class else "done"
    return Record(c.key, attempt, c, state, STAMP.format(second), STAMP.format(second), error_class,
                  "out: 3 of 4096 values differ" if error_class else None, timing,
                  run=RunInfo(cluster=cluster, campaign=campaign, chunk=0), provenance=prov, interpreted=interpreted)


def write(runs: RunsDir, campaign: str, records: list[Record]) -> None:
    for r in records:
        runs.write_record(r)
    runs.write_campaign(Campaign(campaign, "fig12", "local", "tiny", "cpu", STAMP.format(0),
                                 tuple({r.case.key: r.case for r in records}.values())))


def two_runs(tmp_path):
    """A and B as runs folders: one case of each kind of change."""
    a, b = RunsDir(tmp_path / "a"), RunsDir(tmp_path / "b")
    write(a, "c-a", [record(case("torch"), "a1", samples(1.0, 0.02)),
                     record(case("inductor"), "a2", samples(1.0, 0.02, seed=1)),
                     record(case("flex"), "a3", samples(2.0, 0.02, seed=2)),
                     record(case("xla"), "a4", samples(1.0, 0.6, n=8, seed=3)),
                     record(case("tvm"), "a5", samples(3.0, 0.02)),
                     record(case("cudnn"), "a6", error_class="unsupported"),
                     record(case("flashtensor"), "a7", interpreted=True),
                     record(case("torch", "h2o"), "a8", samples(1.0, 0.02))])
    write(b, "c-b", [record(case("torch"), "b1", samples(1.0, 0.02, seed=4), gpu="NVIDIA A100", commit="bbbb2222"),
                     record(case("inductor"), "b2", samples(1.5, 0.02, seed=5), gpu="NVIDIA A100", commit="bbbb2222"),
                     record(case("flex"), "b3", samples(1.0, 0.02, seed=6), commit="bbbb2222"),
                     record(case("xla"), "b4", samples(1.1, 0.6, n=8, seed=7), commit="bbbb2222"),
                     record(case("tvm"), "b5", error_class="wrong_result", commit="bbbb2222"),
                     record(case("cudnn"), "b6", samples(0.5, 0.02), commit="bbbb2222"),
                     record(case("flashtensor"), "b7", interpreted=True, commit="bbbb2222")])
    return a, b


def fill_up(folder: Path) -> None:
    """Write a file `filler` into folder until its file system is full (ENOSPC)."""
    with open(folder / "filler", "wb") as f:
        try:
            while True:
                f.write(b"\0" * (1 << 16))
                f.flush()
        except OSError as e:
            assert e.errno == errno.ENOSPC, e

"""Scale benchmark of the runner (issue: a 500-case campaign submits in <= 10 s; status over a store of
100 000 results answers in <= 1 s). Not a test: run it by hand and record the numbers in BENCHMARKS.md.

    python scripts/bench_runner.py status --results 100000
    eval "$(scripts/slurm-dev.sh start)"; python scripts/bench_runner.py submit --cases 500
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from jobs.spec import SCALES, kernel_dims
from results.campaigns import Campaign
from results.case import CaseSpec
from results.records import Record, Timing
from results.runsdir import RunsDir


def synthetic_store(root: Path, n: int) -> None:
    """n done records of distinct cases, plus one campaign that planned them all."""
    runs = RunsDir(root)
    cases = []
    for i in range(n):
        spec = CaseSpec("kernel", "attn", f"sys{i % 100}", kernel_dims(SCALES["tiny"], 4096), "float16",
                        f"dev{i // 100}", "tiny")
        cases.append(spec)
        timing = Timing(1.0, 0.9, 1.1, 0.9, 1.0, 10, method="synthetic")
        runs.write_record(Record(spec.key, f"a{i}", spec, "done", "2026-01-01T00:00:00+00:00",
                                 "2026-01-01T00:00:01+00:00", timing=timing))
    runs.write_campaign(Campaign("bench", "bench", "local", "tiny", "dev", "2026-01-01T00:00:00+00:00", tuple(cases)))


def timed(cmd: list[str], env=None) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, env=env)
    return time.perf_counter() - t


def bench_status(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        runs = Path(tmp) / "runs"
        t = time.perf_counter()
        synthetic_store(runs, n)
        print(f"wrote {n} records in {time.perf_counter() - t:.1f} s")
        cmd = [sys.executable, "-m", "ftrun", "status", "--summary", "--runs-dir", str(runs)]
        print(f"first status (indexes {n} files): {timed(cmd):.2f} s")
        warm = sorted(timed(cmd) for _ in range(5))
        print(f"status over {n} results: median {warm[2]:.2f} s (min {warm[0]:.2f}, max {warm[-1]:.2f})")


def bench_submit(n_cases: int) -> None:
    """A campaign of n_cases on the dev cluster's a100 partition: time `ftrun submit` (then cancel it)."""
    models = ("attn", "h2o", "roco", "kf", "snapkv", "corm", "gemma2")
    seqlens = tuple(range(1024, 1024 + 1024 * (n_cases // (len(models) * 10) + 1), 1024))
    with tempfile.TemporaryDirectory() as tmp:
        module = Path(tmp) / "bench_experiments.py"
        module.write_text(
            "from jobs.experiments import Experiment, Part\nfrom jobs.systems.eager import Eager\n"
            f"EXPERIMENTS = [Experiment('bench', 'scale', (Part('kernel', {models!r}, "
            f"('torch', 'inductor', 'korch', 'einnet', 'fake-a', 'fake-b', 'fake-c', 'fake-d', 'fake-e', 'fake-f'), "
            f"{seqlens!r}),), default_scale='tiny')]\n"
            "SYSTEMS = {f'fake-{c}': Eager for c in 'abcdef'}\n")
        (Path(tmp) / "ftrun.toml").write_text('[plugins]\npaths = ["bench_experiments.py"]\n'
                                              '[clusters.a100]\nkind = "slurm"\npartition = "a100"\nmax_tasks = 7\n')
        env = dict(os.environ)
        cmd = [sys.executable, "-m", "ftrun", "submit", "bench", "--cluster", "a100", "--config",
               str(Path(tmp) / "ftrun.toml"), "--runs-dir", str(Path(tmp) / "runs")]
        seconds = timed(cmd, env)
        subs = list((Path(tmp) / "runs" / "submissions").glob("*.json"))
        sub = json.loads(next(p for p in subs if p.name.count(".") == 1).read_text())
        n = sum(len(t["cases"]) for t in sub["tasks"])
        print(f"submitted {len(sub['tasks'])} tasks ({n} case runs) in {seconds:.2f} s")
        subprocess.run([sys.executable, "-m", "ftrun", "cancel", "--all", "--runs-dir", str(Path(tmp) / "runs")],
                       env=env, check=True, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=("status", "submit"))
    parser.add_argument("--results", type=int, default=100_000)
    parser.add_argument("--cases", type=int, default=500)
    args = parser.parse_args()
    bench_status(args.results) if args.what == "status" else bench_submit(args.cases)


if __name__ == "__main__":
    main()

"""Scale benchmark of the runner (issues: a 500-case campaign submits in <= 10 s; status over a store of
100 000 results answers in <= 1 s, whatever the number of submissions). Not a test: run it by hand and
record the numbers in BENCHMARKS.md.

    python scripts/bench_runner.py status --results 100000 --submissions 100 200 500
    eval "$(scripts/slurm-dev.sh start)"; python scripts/bench_runner.py submit --cases 490

The status benchmark writes a store as real campaigns leave it: every record names its submission, task
and position; a tenth of the cases failed first (a crash, a preemption) and were retried in a later
submission, a twentieth were cancelled and submitted again; one submission is still open (tasks held
by the cap), so status reconciles it every time.
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
from results.campaigns import Campaign, Submission, TaskPlan
from results.case import CaseSpec
from results.records import Record, RunInfo, Timing
from results.runsdir import RunsDir

CASES_PER_TASK = 5
STAMP = "2026-01-01T00:00:00+00:00"


def _case(i: int) -> CaseSpec:
    return CaseSpec("kernel", "attn", f"sys{i % 100}", kernel_dims(SCALES["tiny"], 4096), "float16",
                    f"dev{i // 100}", "tiny")


def _write(runs: RunsDir, record: Record) -> None:
    # no fsync per file (write_record's): a benchmark store of 100 000 files, written in seconds
    runs.record_path(record.key, record.attempt).write_text(json.dumps(record.to_json()))


def _outcome(i: int, first: bool) -> tuple[str, str | None]:
    """done, or for some cases a first attempt that failed (retried later) or was cancelled."""
    if first and i % 10 == 3:
        return "failed", ("crash", "preempted")[i % 2]
    if first and i % 20 == 7:
        return "failed", "cancelled"
    return "done", None


def synthetic_store(root: Path, n_results: int, n_subs: int) -> int:
    """About n_results records over n_subs closed submissions (+1 open), as campaigns leave them.
    Returns how many records it wrote."""
    runs = RunsDir(root)
    runs.results.mkdir(parents=True, exist_ok=True)
    # a tenth of the cases fail first and a twentieth are cancelled first: 1.15 records per case
    n_cases = round(n_results / 1.15)
    cases = [_case(i) for i in range(n_cases)]
    # first attempts of every case, then the retries of the failed/cancelled ones, spread over submissions
    attempts = [(i, True) for i in range(n_cases)] + [(i, False) for i in range(n_cases) if _outcome(i, True)[1]]
    per_sub = -(-len(attempts) // n_subs)
    timing = Timing(1.0, 0.9, 1.1, 0.9, 1.0, 10, method="synthetic")
    for s in range(n_subs):
        mine = attempts[s * per_sub:(s + 1) * per_sub]
        tasks = [tuple(mine[t:t + CASES_PER_TASK]) for t in range(0, len(mine), CASES_PER_TASK)]
        sub_id = f"bench-{s:05d}"
        plans = [TaskPlan(tuple(cases[i] for i, _ in task), {cases[i].key: 60.0 for i, _ in task}) for task in tasks]
        runs.write_submission(Submission(sub_id, "bench", "a100", "a100", STAMP, f"ftrun-{sub_id}", tuple(plans)))
        for t, task in enumerate(tasks):
            for p, (i, first) in enumerate(task):
                state, cls = _outcome(i, first)
                run = RunInfo(cluster="a100", job_id=f"{1000 + s}_{t}", node="n1", submission=sub_id, task=t,
                              position=p)
                _write(runs, Record(cases[i].key, f"a{s}x{t}x{p}", cases[i], state, STAMP, STAMP, cls,
                                    None if state == "done" else f"synthetic {cls}",
                                    timing if state == "done" else None, run=run))
    held = _case(n_cases + 1)
    runs.write_submission(Submission("bench-open", "bench", "a100", "a100", STAMP, "ftrun-bench-open",
                                     (TaskPlan((held,), {held.key: 60.0}),)))
    runs.write_campaign(Campaign("bench", "bench", "a100", "tiny", "dev", STAMP, tuple(cases) + (held,)))
    return len(attempts)


def timed(cmd: list[str], env=None) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, env=env)
    return time.perf_counter() - t


def bench_status(n: int, n_subs: list[int], rounds: int = 5) -> None:
    """Stores of n results over each number of submissions; their warm status timed in turns (one round
    times each store once), so a busy machine slows every store alike."""
    with tempfile.TemporaryDirectory() as tmp:
        stores = {}
        for subs in n_subs:
            runs = stores[subs] = Path(tmp) / f"runs-{subs}"
            t = time.perf_counter()
            written = synthetic_store(runs, n, subs)
            print(f"wrote {written} records over {subs} submissions in {time.perf_counter() - t:.1f} s")
            first = timed([sys.executable, "-m", "ftrun", "status", "--summary", "--runs-dir", str(runs)])
            print(f"  first status (indexes {n} files, reads every submission once): {first:.2f} s")
        times: dict[tuple[int, str], list[float]] = {}
        for _ in range(rounds):
            for subs, runs in stores.items():
                for view in ("--summary", "--cases"):
                    cmd = [sys.executable, "-m", "ftrun", "status", view, "--runs-dir", str(runs)]
                    times.setdefault((subs, view), []).append(timed(cmd))
        for (subs, view), got in sorted(times.items()):
            got.sort()
            print(f"warm status {view} over {subs} submissions: median {got[len(got) // 2]:.2f} s "
                  f"(min {got[0]:.2f}, max {got[-1]:.2f})")


def bench_submit(n_cases: int) -> None:
    """A campaign of n_cases distinct cases on the dev cluster's a100 partition: time `ftrun submit`
    (then cancel it). 7 models x the tiny scale's 5 lengths x as many (fake) systems as it takes."""
    models = ("attn", "h2o", "roco", "kf", "snapkv", "corm", "gemma2")
    seqlens = tuple(SCALES["tiny"].seqlens)
    fakes = [f"fake-{i}" for i in range(max(0, -(-n_cases // (len(models) * len(seqlens))) - 4))]
    systems = ("torch", "inductor", "korch", "einnet", *fakes)
    with tempfile.TemporaryDirectory() as tmp:
        module = Path(tmp) / "bench_experiments.py"
        module.write_text(
            "from jobs.experiments import Experiment, Part\nfrom jobs.systems.eager import Eager\n"
            f"EXPERIMENTS = [Experiment('bench', 'scale', (Part('kernel', {models!r}, {systems!r}, "
            f"{seqlens!r}),), default_scale='tiny')]\n"
            f"SYSTEMS = {{name: Eager for name in {fakes!r}}}\n")
        (Path(tmp) / "ftrun.toml").write_text('[plugins]\npaths = ["bench_experiments.py"]\n'
                                              '[clusters.a100]\nkind = "slurm"\npartition = "a100"\nmax_tasks = 7\n')
        env = dict(os.environ)
        cmd = [sys.executable, "-m", "ftrun", "submit", "bench", "--cluster", "a100", "--config",
               str(Path(tmp) / "ftrun.toml"), "--runs-dir", str(Path(tmp) / "runs")]
        seconds = timed(cmd, env)
        runs = RunsDir(Path(tmp) / "runs")
        (sub,) = [runs.read_submission(p) for p in runs.submission_files()]
        planned = {c.key for t in sub.tasks for c in t.cases}
        runs_n = sum(len(t.cases) for t in sub.tasks)
        print(f"submitted {len(planned)} cases in {len(sub.tasks)} tasks ({runs_n} case runs) in {seconds:.2f} s")
        subprocess.run([sys.executable, "-m", "ftrun", "cancel", "--all", "--runs-dir", str(runs.root)],
                       env=env, check=True, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=("status", "submit"))
    parser.add_argument("--results", type=int, default=100_000)
    parser.add_argument("--submissions", type=int, nargs="+", default=[500])
    parser.add_argument("--cases", type=int, default=490)
    args = parser.parse_args()
    bench_status(args.results, args.submissions) if args.what == "status" else bench_submit(args.cases)


if __name__ == "__main__":
    main()

"""The embedded default: run every chunk here, one case at a time, through the same runner Slurm uses."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from ftrun.campaign import Plan
from jobs.runner import ChunkRun, run_chunk


def run(plan: Plan, chunk_list: list, runs_dir: Path, campaign_id: str, on_start=None, on_done=None) -> list[dict]:
    """Run the chunks in order; returns every record written."""
    host = socket.gethostname()
    records = []
    for number, chunk in enumerate(chunk_list):
        scales = {case.key: decision.limit_scale for case, decision in chunk}
        cfg = ChunkRun(
            runs_dir=Path(runs_dir),
            limit_s=lambda spec, s=scales: plan.cluster.case_limit_s(spec.system) * s.get(spec.key, 1.0),
            log_path=Path(runs_dir) / "logs" / campaign_id / f"chunk-{number:04d}.log",
            run={"cluster": plan.cluster.name, "node": host, "job_id": f"local-{os.getpid()}",
                 "campaign": campaign_id},
        )
        records += run_chunk([case for case, _ in chunk], cfg, on_start, on_done)
    return records

"""A user's own variants (examples/own_variants) on the dev Slurm cluster: the submission carries the
plug-ins, each array task loads them as the submitting side did, and the experiment's figure is drawn."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slurm

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "own_variants"


def ftrun(*args, timeout=600):
    out = subprocess.run([sys.executable, "-m", "ftrun", *map(str, args)], capture_output=True, text=True,
                         timeout=timeout, env=dict(os.environ))
    assert out.returncode == 0, f"ftrun {' '.join(map(str, args))}\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    return out.stdout


def test_example_variants_run_as_array_tasks_and_plot(cluster, tmp_path, monkeypatch):
    work = tmp_path / "own_variants"
    shutil.copytree(EXAMPLE, work, ignore=shutil.ignore_patterns("ftrun-runs", "__pycache__"))
    monkeypatch.chdir(work)
    only = ["--only", "model=alibi", "--only", "model=recent_h2o", "--only", "system=torch", "--only",
            "system=inductor"]
    ftrun("submit", "variants", "--cluster", "a100", "--scale", "tiny", *only, "--follow", "--poll", "2")
    runs = work / "ftrun-runs"
    records = [json.loads(p.read_text()) for p in (runs / "results").glob("*.json")]
    done = {(r["case"]["model"], r["case"]["system"]) for r in records if r["state"] == "done"}
    assert done == {(m, s) for m in ("alibi", "recent_h2o") for s in ("torch", "inductor")}, records
    # every record ran in a Slurm task, under the identity that holds its variant's source hash
    assert all(r["run"]["submission"] and r["case"]["options"]["source"] for r in records)
    submission = json.loads(next(p for p in (runs / "submissions").glob("*.json") if p.name.count(".") == 1)
                            .read_text())
    assert submission["plugins"]["modules"] == ["my_variants"] and submission["plugins"]["search"] == [str(work)]
    ftrun("plot", "variants", "--out", work / "figures")
    assert (work / "figures" / "variants-kernel.png").exists()
    rows = (work / "figures" / "variants-kernel.csv").read_text()
    assert "recent_h2o" in rows and "alibi" in rows

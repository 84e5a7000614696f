"""The tvm system on a machine with TVM's runtime only: modules built elsewhere, loaded from a cache folder.

This is the H200 path (tvm_prebuild.py builds the carry), tested with llvm modules: a fresh Python process
imports tvm from the carried copy, which lacks the compiler library, and runs jobs' run_case.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from systems_testlib import make_spec

pytest.importorskip("tvm")

ROOT = Path(__file__).resolve().parents[2]

RUN = """
import json, sys
from pathlib import Path
from jobs.entry import run_case
from results.runsdir import RunsDir
from results.case import CaseSpec
from jobs.timing import TimingSpec
import tvm.base
out = {"tvm": tvm.base.__file__, "runtime_only": tvm.base._RUNTIME_ONLY}
for spec in json.loads(sys.argv[1]):
    record = run_case(CaseSpec.from_json(spec), RunsDir(Path(sys.argv[2])), timing=TimingSpec(1.0, 1, 2.0, 2, 5))
    out[spec["model"]] = [record.state, record.error_class, record.error]
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def carry(tmp_path_factory) -> Path:
    from jobs.systems.tvm_prebuild import build_modules, copy_runtime

    out = tmp_path_factory.mktemp("carry")
    build_modules([make_spec("attn", "tvm"), make_spec("corm", "tvm")], "llvm", 0, out / "modules")
    copy_runtime(out / "python", pythons=[])
    return out


def test_carried_runtime_has_no_compiler(carry):
    lib = carry / "python" / "tvm" / "lib"
    assert (lib / "libtvm_runtime.so").exists() and not (lib / "libtvm_compiler.so").exists()
    meta = json.loads(next((carry / "modules").glob("attn-*.json")).read_text())
    assert meta["target"] == "llvm" and meta["build_s"] > 0


@pytest.mark.slow
def test_runtime_only_tvm_runs_prebuilt_modules_and_ns_without_one(carry, tmp_path):
    specs = [make_spec(m, "tvm").to_json() for m in ("attn", "corm", "h2o")]
    env = {**os.environ, "PYTHONPATH": f"{carry / 'python'}{os.pathsep}{ROOT}",
           "FTRUN_TVM_CACHE": str(carry / "modules")}
    env.pop("FTRUN_TVM_TRIALS", None)
    proc = subprocess.run([sys.executable, "-c", RUN, json.dumps(specs), str(tmp_path)], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["tvm"].startswith(str(carry)) and out["runtime_only"] is True
    assert out["attn"][:2] == ["done", None] and out["corm"][:2] == ["done", None]
    assert out["h2o"][:2] == ["failed", "unsupported"]
    assert "only TVM's runtime is installed here and no prebuilt module matches" in out["h2o"][2]

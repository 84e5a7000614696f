"""The full-scale e2e (Llama-2-7B shapes, 32 layers, L = 4096) on a GPU: every variant's check passes.

Run on the device machine: FTRUN_TEST_GPU=1 PYTHONPATH=. python -m pytest -m gpu tests/e2e -q
This checks the tolerances of jobs/e2e/check.py where they matter most (the stats are printed with -s).
"""

import json

import pytest
import torch

from jobs.entry import run_case
from jobs.spec import KERNEL_MODELS, SCALES, e2e_dims
from jobs.timing import TimingSpec
from results.case import CaseSpec
from results.runsdir import RunsDir

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]

QUICK = TimingSpec(warmup_ms=0, min_warmup=1, rep_ms=0, min_reps=2)


@pytest.mark.parametrize("model", KERNEL_MODELS)
def test_full_scale_inductor_prefill_passes_the_check(runs_dir, model):
    spec = CaseSpec("e2e", model, "inductor", e2e_dims(SCALES["full"], 4096), "float16", "cuda", "full")
    record = run_case(spec, RunsDir(runs_dir), timing=QUICK)
    print(model, json.dumps(record.check), record.compile_s if record.state == "done" else "")
    assert record.state == "done", record.error
    assert record.memory["peak_mib"] > 12.3 * 1024  # the fp16 weights alone are 12.3 GiB

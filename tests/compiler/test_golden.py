"""Golden files: the IR after capture and after fold, the fusion plan, and the generated Triton (GPU
target) of the seven cases at a tiny shape. A change to any of them must be intended.

Regenerate after an intended change, then review the diff:

    FTRUN_UPDATE_GOLDEN=1 python -m pytest tests/compiler/test_golden.py
"""

import os
import warnings
from pathlib import Path

import pytest

from compiler.options import CompileOptions
from compiler.pipeline import PIPELINE, PIPELINE_STEPS, Compilation, render_product
from jobs.cases import kernel_case
from jobs.spec import KERNEL_MODELS

GOLDEN = Path(__file__).resolve().parent / "golden"
DIMS = {"batch": 1, "heads": 2, "kv_heads": 1, "head_dim": 16, "q_len": 12, "kv_len": 20}
STEPS = {"capture": "capture.txt", "fold": "fold.txt", "plan": "plan.txt", "codegen": "triton.txt"}


def _check(path: Path, text: str) -> None:
    if os.environ.get("FTRUN_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return
    assert path.exists(), f"{path.name} missing: run with FTRUN_UPDATE_GOLDEN=1 to create it"
    assert text == path.read_text(), f"{path.name} changed; if intended, regenerate (see module doc)"


@pytest.mark.parametrize("name", KERNEL_MODELS)
def test_golden(name, tmp_path):
    case = kernel_case(name)
    inputs = tuple(case.inputs(DIMS, "float16", "cpu", 0).values())
    # the GPU target: the sources are what the H200 runs (inline tanh.approx included)
    c = Compilation(case.build(DIMS), inputs, CompileOptions(target="cuda", cache_dir=tmp_path / "t"), name)
    texts = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for step in PIPELINE[:PIPELINE_STEPS.index("codegen") + 1]:
            c = step.run(c)
            if step.name in STEPS:
                texts[step.name] = render_product(c, step.name)
    for step, suffix in STEPS.items():
        _check(GOLDEN / f"{name}.{suffix}", texts[step])

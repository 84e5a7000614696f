"""Golden files: the IR after capture and after fold, the fusion plan, and the generated Triton (GPU
target) of the seven cases at a tiny shape. A change to any of them must be intended.

Regenerate after an intended change, then review the diff:

    FTRUN_UPDATE_GOLDEN=1 python -m pytest tests/compiler/test_golden.py
"""

import os
import warnings
from pathlib import Path

import pytest
import torch
from variants import VARIANTS, TopKVotes, qkv

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


def _texts(program, inputs, name, tmp_path, steps) -> dict:
    # the GPU target: the sources are what the H200 runs (inline tanh.approx included)
    c = Compilation(program, inputs, CompileOptions(target="cuda", cache_dir=tmp_path / "t"), name)
    texts = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for step in PIPELINE[:PIPELINE_STEPS.index("codegen") + 1]:
            c = step.run(c)
            if step.name in steps:
                texts[step.name] = render_product(c, step.name)
    return texts


@pytest.mark.parametrize("name", KERNEL_MODELS)
def test_golden(name, tmp_path):
    case = kernel_case(name)
    inputs = tuple(case.inputs(DIMS, "float16", "cpu", 0).values())
    texts = _texts(case.build(DIMS), inputs, name, tmp_path, STEPS)
    for step, suffix in STEPS.items():
        _check(GOLDEN / f"{name}.{suffix}", texts[step])


# the classes of issue 19, each by a variant that has it: row-indexed and column-indexed masks, a window of
# queries, one selected row, two score spaces (one matmul pair each, and two softmaxes of one pair), row
# statistics by name, and a torch op on the scores (partial fusion: a chunked torch region)
GENERAL = ("docs", "snapkv_window", "tova", "cascade", "diff", "partial_stats")


@pytest.mark.parametrize("name", GENERAL + ("topk_votes",))
def test_golden_general(name, tmp_path):
    program = next((v.build() for v in VARIANTS if v.name == name), None) or TopKVotes()
    inputs = next((v.inputs for v in VARIANTS if v.name == name), qkv)(torch.Generator().manual_seed(0),
                                                                       torch.float16)
    texts = _texts(program, inputs, name, tmp_path, ("restrict", "plan", "codegen"))
    for step, suffix in (("restrict", "restrict.txt"), ("plan", "plan.txt"), ("codegen", "triton.txt")):
        _check(GOLDEN / "general" / f"{name}.{suffix}", texts[step])

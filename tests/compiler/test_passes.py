"""Every graph step keeps the program's meaning: evaluated in float64, the IR after each step matches
the case's float64 reference (no kernels involved, so this is fast and exact)."""

import warnings

import pytest
import torch

from compiler.frontend.capture import capture
from compiler.ir.evaluate import evaluate
from compiler.ir.ops import Op
from compiler.passes.decompose import decompose
from compiler.passes.fold import fold
from compiler.passes.simplify import simplify
from jobs.cases import kernel_case
from jobs.spec import KERNEL_MODELS

DIMS = {"batch": 2, "heads": 4, "kv_heads": 2, "head_dim": 16, "q_len": 11, "kv_len": 19}


def _graphs(name: str, scale: float = 1.0):
    case = kernel_case(name)
    inputs = case.inputs(DIMS, "float16", "cpu", 0, logit_scale=scale)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g = capture(case.build(DIMS), tuple(inputs.values())).graph
    steps = [("capture", g)]
    for step in (simplify, decompose, fold):
        g = step(g)
        steps.append((step.__name__, g))
    return case, inputs, steps


@pytest.mark.parametrize("name", KERNEL_MODELS)
def test_every_step_matches_the_float64_reference(name):
    case, inputs, steps = _graphs(name, scale=20.0)
    ref = case.reference(inputs)
    for step, g in steps:
        outs = evaluate(g, list(inputs.values()), float64=True)
        for out, spec in zip(outs, case.outputs):
            want = ref[spec.name]
            if spec.is_bool:
                wrong = (out != (want >= 0)) & (want.abs() > 1e-9)
                assert not bool(wrong.any()), f"{step}: {spec.name}"
            else:
                finite = torch.isfinite(want)
                err = (out.double() - want).abs()[finite].max()
                assert err < 1e-6 * max(1.0, float(want.abs()[finite].max())), f"{step}: {spec.name} {err}"


def test_simplify_leaves_one_view_per_input():
    _, _, steps = _graphs("attn")
    g = dict(steps)["simplify"]
    views = [n for n in g.nodes if n.op is Op.VIEW]
    assert all(v.src.op is Op.INPUT for v in views[:-1])  # the last view is the output layout
    assert len([v for v in views if v.src.op is Op.INPUT]) == 3


def test_fold_puts_the_softmax_scale_in_one_multiply():
    _, _, steps = _graphs("attn")
    g = dict(steps)["fold"]
    dots = [n for n in g.nodes if n.op is Op.DOT]
    scaled = [n for n in g.nodes if n.op is Op.MUL and n.inputs[0] is dots[0]]
    assert len(scaled) == 1  # s * (log2(e)/sqrt(d)), nothing else multiplies the scores
    assert abs(scaled[0].inputs[1].attr("value") - 1.4426950408889634 / 4.0) < 1e-12
    assert dots[0].dtype == "f32"  # f32 accumulation from the matmul on


def test_gemma2_folds_the_cap_into_the_tanh_arguments():
    _, _, steps = _graphs("gemma2")
    g = dict(steps)["fold"]
    tanh = next(n for n in g.nodes if n.op is Op.TANH)
    assert tanh.src.op is Op.MUL and tanh.src.src.op is Op.DOT  # tanh(s * 1/(sqrt(d)*cap))
    after = next(n for n in g.nodes if n.op is Op.MUL and n.src is tanh)
    assert abs(after.inputs[1].attr("value") - 50 * 1.4426950408889634) < 1e-9  # cap * log2(e)


def test_corm_compares_in_the_log_domain():
    _, _, steps = _graphs("corm")
    g = dict(steps)["fold"]
    ge = next(n for n in g.nodes if n.op is Op.GE and n.dtype == "bool" and len(n.shape) == 4)
    assert ge.inputs[1].op is Op.LOG2  # log2(max(thr, 0)): no exp2 left in the comparison
    assert ge.inputs[0].op is Op.SUB


def test_the_mask_stays_symbolic():
    _, _, steps = _graphs("attn")
    g = dict(steps)["capture"]
    assert any(n.op is Op.TRIU for n in g.nodes)
    g = dict(steps)["fold"]
    assert any(n.op is Op.IOTA for n in g.nodes)
    assert not any(n.op is Op.CONST and n.type.numel > 1 and n.attr("value") != float("-inf") for n in g.nodes)

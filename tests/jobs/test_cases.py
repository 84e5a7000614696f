"""Every case's PyTorch program against its float64 reference, and the correctness gate itself."""

import pytest
import torch

from jobs.cases import kernel_case
from jobs.check import WrongResult, check_outputs, nan_filled_allocations
from jobs.spec import KERNEL_MODELS

SMALL = {"batch": 1, "heads": 4, "kv_heads": 4, "head_dim": 64, "q_len": 96, "kv_len": 96}


def run(name, dims, dtype="float16", logit_scale=1.0, seed=0):
    case = kernel_case(name)
    inputs = case.inputs(dims, dtype, "cpu", seed, logit_scale)
    return case, case.build(dims)(*inputs.values()), case.reference(inputs)


@pytest.mark.parametrize("name", KERNEL_MODELS)
def test_program_matches_float64_reference(name):
    case, outputs, ref = run(name, SMALL)
    stats = check_outputs(outputs, case.outputs, ref, "float16")
    assert set(stats["outputs"]) == {o.name for o in case.outputs}


@pytest.mark.parametrize("name", ["attn", "h2o", "corm", "kf"])
def test_offset_causal_grouped_heads_and_batch(name):
    dims = {"batch": 2, "heads": 4, "kv_heads": 2, "head_dim": 32, "q_len": 40, "kv_len": 71}
    case, outputs, ref = run(name, dims)
    check_outputs(outputs, case.outputs, ref, "float16")
    assert outputs[0].shape == (2, 40, 4, 32) if isinstance(outputs, tuple) else outputs.shape == (2, 40, 4, 32)


def test_causal_mask_uses_the_kv_offset():
    # query i sees keys j <= i + (kv_len - q_len): the last query sees every key, the first sees 32
    dims = {"batch": 1, "heads": 1, "kv_heads": 1, "head_dim": 16, "q_len": 8, "kv_len": 40}
    case, (out, h2o), ref = run("h2o", dims)
    assert torch.all(h2o[0, 0, 33:] > 0) and torch.all(h2o[0, 0, 33:] <= 8)
    assert ref["h2o_score"][0, 0, 39] == pytest.approx(float(h2o[0, 0, 39]), rel=1e-2)


def test_reference_survives_logits_of_100():
    case, outputs, ref = run("attn", SMALL, logit_scale=20.0)
    assert torch.isfinite(ref["out"]).all()
    q = case.inputs(SMALL, "float16", "cpu", 0, 20.0)["q"].double()
    k = case.inputs(SMALL, "float16", "cpu", 0, 20.0)["k"].double()
    logits = torch.einsum("bqhd,bkhd->bhqk", q, k) / 8
    assert logits.abs().max() > 90


def test_bf16_inputs():
    case, outputs, ref = run("attn", SMALL, dtype="bfloat16")
    assert outputs.dtype == torch.bfloat16
    check_outputs(outputs, case.outputs, ref, "bfloat16")


def test_gate_rejects_a_shifted_output():
    case, outputs, ref = run("h2o", SMALL)
    with pytest.raises(WrongResult, match="out: .* outside atol"):
        check_outputs((outputs[0] + 0.05, outputs[1]), case.outputs, ref, "float16")


def test_gate_rejects_nan_wrong_dtype_and_missing_outputs():
    case, (out, score), ref = run("h2o", SMALL)
    poisoned = out.clone()
    poisoned[0, 5, 1, 3] = float("nan")
    with pytest.raises(WrongResult, match="NaN"):
        check_outputs((poisoned, score), case.outputs, ref, "float16")
    with pytest.raises(WrongResult, match="expected float32"):
        check_outputs((out, score.double()), case.outputs, ref, "float16")
    with pytest.raises(WrongResult, match="expected 2 outputs"):
        check_outputs(out, case.outputs, ref, "float16")


def test_bool_output_may_differ_only_within_the_rounding_margin():
    case, (out, score), ref = run("corm", SMALL)
    flipped = score.clone()
    margin = ref["corm_score"]
    # flip the key farthest from its threshold: a real error
    far = torch.nonzero(margin.abs() == margin.abs().max())[0]
    flipped[tuple(far)] = ~flipped[tuple(far)]
    with pytest.raises(WrongResult, match="corm_score: 1 of"):
        check_outputs((out, flipped), case.outputs, ref, "float16")


def test_nan_filled_allocations_poison_float_buffers_only_and_restore():
    original = torch.empty
    with nan_filled_allocations():
        a = torch.empty(4, 4)
        b = torch.empty_like(a, dtype=torch.int32)
    assert torch.isnan(a).all()
    assert b.dtype == torch.int32
    assert torch.empty is original

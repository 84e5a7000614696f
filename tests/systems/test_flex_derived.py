"""FlexAttention for plug-in programs: score_mod and block mask derived from the exported graph, or NS with
the reason; a derived program passes the float64 gate."""

import math

import pytest
import torch

import ftrun
from jobs.check import check_outputs
from jobs.systems.base import NotSupported
from jobs.systems.flex_program import derive
from results.case import CaseSpec

DIMS = {"batch": 1, "heads": 4, "kv_heads": 2, "head_dim": 16, "q_len": 40, "kv_len": 48}


class Attention(torch.nn.Module):
    """softmax(f(QK^T / sqrt(D))) V over [B, L, H, D]; subclasses give f (and extra inputs)."""

    def __init__(self, heads: int, kv_heads: int):
        super().__init__()
        self.group = heads // kv_heads

    def scores(self, q, k):
        k = k.repeat_interleave(self.group, dim=2)
        return q.transpose(1, 2) @ k.transpose(1, 2).transpose(-2, -1) / math.sqrt(q.shape[-1])

    def attend(self, s, q, v):
        v = v.repeat_interleave(self.group, dim=2)
        return (torch.softmax(s.float(), dim=-1).to(q.dtype) @ v.transpose(1, 2)).transpose(1, 2).contiguous()

    @staticmethod
    def positions(q, k):
        i = torch.arange(q.shape[1], device=q.device)[:, None] + (k.shape[1] - q.shape[1])
        return i, torch.arange(k.shape[1], device=q.device)[None, :]


class Window(Attention):
    def forward(self, q, k, v):
        i, j = self.positions(q, k)
        return self.attend(self.scores(q, k).masked_fill((j > i) | (j <= i - 16), float("-inf")), q, v)


class HeadBias(Attention):
    """A per-head distance penalty (ALiBi-like) and a soft cap: depends on h, q_idx and kv_idx."""

    def forward(self, q, k, v):
        i, j = self.positions(q, k)
        slopes = torch.exp2(-torch.arange(1, q.shape[2] + 1, device=q.device, dtype=torch.float32))
        s = 20 * torch.tanh(self.scores(q, k) / 20) - (slopes[:, None, None] * (i - j).abs()).to(q.dtype)
        return self.attend(s.masked_fill(j > i, float("-inf")), q, v)


class InputBias(Attention):
    """An extra input [B, H, Lq, Lk] added to the logits: read at call time, never precomputed."""

    def forward(self, q, k, v, bias):
        return self.attend(self.scores(q, k) + bias.to(q.dtype), q, v)


def bias_input(dims, device, gen):
    shape = (dims["batch"], dims["heads"], dims["q_len"], dims["kv_len"])
    return {"bias": torch.randn(shape, generator=gen, device=device)}


class TwoOutputs(Attention):
    def forward(self, q, k, v):
        s = self.scores(q, k)
        return self.attend(s, q, v), torch.softmax(s.float(), -1).sum(dim=2)


class RowCumsum(Attention):
    def forward(self, q, k, v):
        return self.attend(self.scores(q, k).cumsum(dim=-1), q, v)


class Tiled(Attention):
    """KV heads repeated as tiles (query head h reads KV head h % Hkv): not FlexAttention's GQA."""

    def forward(self, q, k, v):
        k, v = k.repeat(1, 1, self.group, 1), v.repeat(1, 1, self.group, 1)
        s = q.transpose(1, 2) @ k.transpose(1, 2).transpose(-2, -1)
        return (torch.softmax(s.float(), -1).to(q.dtype) @ v.transpose(1, 2)).transpose(1, 2)


def case_inputs(program, extra=None):
    case = ftrun.Case(program.__name__.lower(), program, extra_inputs=extra)
    return case, case.inputs(DIMS, "float16", "cpu", 0)


def test_masks_become_a_block_mask_of_the_dead_positions():
    case, inputs = case_inputs(Window)
    form = derive(case.build(DIMS), tuple(inputs.values()))
    i = torch.arange(40)[:, None] + 8
    j = torch.arange(48)[None, :]
    assert torch.equal(form.dead[0, 0], (j > i) | (j <= i - 16)) and form.dead.shape == (1, 1, 40, 48)


def test_score_mod_replays_the_elementwise_steps_per_head_and_position():
    case, inputs = case_inputs(HeadBias)
    form = derive(case.build(DIMS), tuple(inputs.values()))
    score = torch.tensor(3.0)
    got = form.score_mod(score, torch.tensor(0), torch.tensor(2), torch.tensor(30), torch.tensor(5))
    want = 20 * math.tanh(3.0 / 4 / 20) - 2.0 ** -3 * 33  # scale 1/sqrt(16) is in the replayed steps
    assert float(got) == pytest.approx(want, rel=2e-3)


@pytest.mark.parametrize("program, reason", [
    (TwoOutputs, "returns attention's output only; the program returns 2 outputs"),
    (RowCumsum, "the scores pass through cumsum before the softmax"),
    (Tiled, "the output is not softmax\\(S\\) over the keys times the third input"),
])
def test_other_programs_are_not_supported_with_the_reason(program, reason):
    case, inputs = case_inputs(program)
    with pytest.raises(NotSupported, match=reason):
        derive(case.build(DIMS), tuple(inputs.values()))


@pytest.mark.slow
def test_a_derived_program_passes_the_float64_gate():
    from jobs.systems import get_system

    case, inputs = case_inputs(InputBias, bias_input)
    flex = get_system("flex")
    if flex.unavailable():
        pytest.skip(flex.unavailable())
    spec = CaseSpec("kernel", "inputbias", "flex", tuple(sorted(DIMS.items())), "float16", "cpu",
                    options=(("source", case.source_hash()),))
    fn = flex.compile(case.build(DIMS), tuple(inputs.values()), spec)
    check_outputs(fn(*inputs.values()), case.outputs, case.reference(inputs), "float16")
    # the bias is read where it lies at each call: a changed input changes the output
    inputs["bias"].mul_(3)
    check_outputs(fn(*inputs.values()), case.outputs, case.reference(inputs), "float16")

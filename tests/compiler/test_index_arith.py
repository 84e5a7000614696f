"""Index arithmetic inside the kernels: masks and biases computed from (i, j) and small vectors with the
integer and float ops model code uses for them (float arange and linspace slopes, exp2 and log of
positions, abs of index differences, float casts, integer division and remainder of positions for block
and strided patterns), each with the dtype torch gives it. Every form is fused into one pass with no
score-sized tensor in torch, and agrees with float64 at odd sizes, where index differences are negative
and divisors of either sign (Python's // and % round toward -inf, Triton's integer ops toward zero)."""

import math
import warnings

import pytest
import torch
from case_runner import assert_close, score_tensors_from_vectors

import compiler
from jobs.check import nan_filled_allocations


def _bias(form: str, diff: torch.Tensor, heads: int, divisor: torch.Tensor) -> torch.Tensor:
    """A [.., Lq, Lk] bias of the index difference i - j (negative above the diagonal)."""
    if form == "floordiv":
        return diff // 3 + diff // -4
    if form == "remainder":
        return diff % 5 - diff % -3
    if form == "truncdiv":
        return torch.div(diff, 3, rounding_mode="trunc") + torch.div(diff, -7, rounding_mode="floor")
    if form == "fmod":
        return torch.fmod(diff, 4) + torch.fmod(diff, -3)
    if form == "tensor_divisor":  # a divisor per batch entry, negative for one of them
        d = divisor[:, None, None, None]
        return diff // d + diff % d
    if form == "float_arange":  # ALiBi slopes built in the program: exp2 of a float arange, |i - j|
        slopes = torch.exp2(-torch.arange(1, heads + 1, dtype=torch.float32, device=diff.device))
        return -slopes[:, None, None] * diff.abs()
    if form == "log_positions":  # a log-distance decay of float positions
        return -torch.log2(1 + diff.abs().to(torch.float32)) * torch.linspace(0.5, 2.0, heads)[:, None, None]
    if form == "float_positions":  # float index tensors: arange(dtype=float32) on both axes
        i = torch.arange(diff.shape[-2], dtype=torch.float32)[:, None]
        j = torch.arange(diff.shape[-1], dtype=torch.float32)[None, :]
        return torch.sqrt(1 + (i - j) ** 2) / 4
    raise ValueError(form)


FORMS = ("floordiv", "remainder", "truncdiv", "fmod", "tensor_divisor", "float_arange", "log_positions",
         "float_positions")


class IndexBiased(torch.nn.Module):
    def __init__(self, form: str):
        super().__init__()
        self.form = form

    def forward(self, q, k, v, divisor):
        lq, lk = q.shape[-2], k.shape[-2]
        diff = torch.arange(lq)[:, None] + (lk - lq) - torch.arange(lk)[None, :]
        bias = _bias(self.form, diff, q.shape[1], divisor).to(torch.float32)
        s = (q @ k.transpose(-1, -2)).float() / math.sqrt(q.shape[-1]) + 0.25 * bias
        return torch.softmax(s, dim=-1).to(q.dtype) @ v


class Patterned(torch.nn.Module):
    """Sparse attention patterns from integer division and remainder of positions: block-causal local
    attention (a query sees its own key block and the one before), strided (Sparse Transformer: every
    stride-th key back, plus the last stride keys)."""

    def __init__(self, pattern: str, size: int = 6):
        super().__init__()
        self.pattern, self.size = pattern, size

    def forward(self, q, k, v, divisor):
        lq, lk = q.shape[-2], k.shape[-2]
        i = torch.arange(lq)[:, None] + (lk - lq)
        j = torch.arange(lk)[None, :]
        if self.pattern == "blocks":
            dead = (j // self.size > i // self.size) | (i // self.size - j // self.size >= 2)
        else:
            dead = (j > i) | (((i - j) % self.size != 0) & (i - j >= self.size))
        s = (q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])).masked_fill(dead, float("-inf"))
        return torch.softmax(s.float(), dim=-1).to(q.dtype) @ v


def _inputs():
    g = torch.Generator().manual_seed(4)
    q = torch.randn(2, 3, 29, 16, generator=g).half()
    k, v = (torch.randn(2, 3, 37, 16, generator=g).half() for _ in range(2))
    return q, k, v, torch.tensor([5, -3])


def _check(program, options):
    args = _inputs()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fn = compiler.compile(program, args, options=options, name="index")
    with nan_filled_allocations():
        got = fn(*args)
    want = program(*(a.double() if a.is_floating_point() else a for a in args))
    assert_close(got, want, "float16")
    report = fn.explain()
    assert [k.role for k in report.kernels] == ["row"] and not report.regions, report.plan
    assert all(math.prod(f.shape) <= 3 for f in report.fallbacks), report.plan  # linspace's 3 slopes at most
    assert not score_tensors_from_vectors(fn.plan) and not report.prologues, report.plan
    return fn


@pytest.mark.parametrize("form", FORMS)
def test_index_bias_is_computed_in_the_kernel_with_torch_semantics(form, options):
    _check(IndexBiased(form), options)


@pytest.mark.parametrize("pattern", ["blocks", "strided"])
def test_block_and_strided_patterns_are_computed_in_the_kernel(pattern, options):
    fn = _check(Patterned(pattern), options)
    if pattern == "strided":  # the causal part of the pattern is an atom on j - i: its tiles are still skipped
        assert any(r.dead for r in fn.plan.kernels[0].regions), fn.plan.render()

"""Tiles whose contribution is the same for every head (fusion/hoist.py): an idempotent column reduction
over a masked region that reads only head-independent inputs is reduced once by a torch step, and the
per-head kernel skips those tiles. Checked against float64 torch where the hoisted part decides the
answer, and refused (with its reason in the plan) for a sum and for a per-head input."""

import math
import warnings

import pytest
import torch
from case_runner import assert_close, compile_case, dims

import compiler
from compiler.ir.ops import Op
from jobs.check import nan_filled_allocations

WINDOW = 7


class MaskedStat(torch.nn.Module):
    """Attention with a causal or sliding-window mask, plus a statistic of p + bias over the queries
    (dim 2: a column pass) or the keys (dim 3: a row pass); bias is [Lq, Lk], the same for every head,
    or [H, Lq, Lk]."""

    def __init__(self, mask: str, stat: str, dim: int = 2):
        super().__init__()
        self.mask, self.stat, self.dim = mask, stat, dim

    def forward(self, q, k, v, bias):
        qh, kh, vh = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
        s = qh @ kh.transpose(-1, -2) / math.sqrt(q.shape[-1])
        lq, lk = s.shape[-2], s.shape[-1]
        i = torch.arange(lq, device=s.device)[:, None] + (lk - lq)
        j = torch.arange(lk, device=s.device)[None, :]
        masked = (j > i) | (j <= i - WINDOW) if self.mask == "window" else j > i
        p = torch.softmax(s.masked_fill(masked, float("-inf")).float(), dim=-1)
        out = (p.to(q.dtype) @ vh).transpose(1, 2)
        reduce = {"max": torch.amax, "min": torch.amin, "sum": torch.sum}[self.stat]
        return out, reduce(p + bias, dim=self.dim)


def _inputs(per_head: bool = False, q_len: int = 23, kv_len: int = 37):
    g = torch.Generator().manual_seed(3)
    q, k, v = (torch.randn(2, n, 2, 16, generator=g).half() for n in (q_len, kv_len, kv_len))
    bias = torch.randn(*((2,) if per_head else ()), q_len, kv_len, generator=g)
    return q, k, v, bias


def _plan(program, args, options) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return compiler.dump(program, args, after="plan", options=options, name="prog")


def _run(program, args, options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fn = compiler.compile(program, args, options=options, name="prog")
    with nan_filled_allocations():
        got = fn(*args)
    want = program(*(a.double() for a in args))
    for g, w in zip(got, want):
        assert_close(g, w, "float16")
    return fn


def test_corm_threshold_zero_above_the_diagonal_decides_some_keys(options, device):
    d = dims()
    case, inputs, fn = compile_case("corm", d, "float16", options, device)
    margins = case.reference(inputs)["corm_score"]  # with the positive thresholds
    shift = d["kv_len"] - d["q_len"]  # query i cannot see key j when j - i > shift
    # key -> (a query that cannot see it, its threshold): deep in the dead tiles, just above the diagonal
    # (an edge tile), and a negative threshold (log2(max(thr, 0)) = -inf: 0 >= thr is true)
    forced = {d["kv_len"] - 1: (0, 0.0), shift + 2: (1, 0.0), 40: (40 - shift - 1, 0.0), 30: (2, -1.0)}
    thr = inputs["corm_mask"].clone()
    for j, (i, value) in forced.items():
        assert j - i > shift
        thr[i, j] = value
        margins[..., j] = 1.0
    assert bool((case.reference(inputs)["corm_score"][..., list(forced)] < 0).any())  # it does flip keys
    args = (inputs["q"], inputs["k"], inputs["v"], thr)
    with nan_filled_allocations():
        got = fn(*args)[1]
    assert_close(got, margins, "float16")
    # the same answer with the tiles left in every per-head program
    plain = options.__class__(cache_dir=options.cache_dir, hoist_head_independent_tiles=False)
    _, _, fn_plain = compile_case("corm", d, "float16", plain, device)
    assert torch.equal(fn_plain(*args)[1], got)


def test_window_max_of_a_shared_bias_is_reduced_once_on_both_sides(options):
    fn = _run(MaskedStat("window", "max"), _inputs(), options)
    row, col = fn.plan.kernels
    assert [r.dead for r in row.regions] == [True, False, True]
    (init,) = [a.init for a in col.accumulators]
    # both masked sides leave max over I of bias: one reduction of the two sides' elements (a map kernel,
    # fusion/maps.py), and every head skips them
    assert [r.hoisted for r in col.regions] == [(init,), (), (init,)]
    (m,) = fn.plan.maps
    assert m.stores == (init,) and init.op is Op.MAX and not fn.plan.torch_steps
    assert "[-inf, 7]: dead for the kernel" in fn.plan.render() and not fn.plan.rejected[1:]


def test_a_row_min_of_a_shared_bias_starts_each_row_from_its_masked_part(options):
    fn = _run(MaskedStat("causal", "min", dim=3), _inputs(), options)
    row = fn.plan.kernels[1]
    assert row.role == "row" and row.reverse  # the live band grows with the row tile, as in attention
    (init,) = [a.init for a in row.accumulators]
    assert init.shape == (23, 1) and [r.hoisted for r in row.regions] == [(), (init,)]


def test_a_sum_keeps_its_masked_tiles(options):
    fn = _run(MaskedStat("causal", "sum"), _inputs(), options)
    col = fn.plan.kernels[1]
    assert not any(r.dead for r in col.regions) and all(a.init is None for a in col.accumulators)
    text = fn.plan.render()
    assert "tiles with j - i in [15, inf]: masks folded" in text
    (reason,) = [line for line in text.splitlines() if "once for all heads" in line]
    assert "compute prog_k1's tiles with j - i in [15, inf]" in reason and "is a sum: not idempotent" in reason


@pytest.mark.parametrize("stat", ["max", "sum"])
def test_a_per_head_bias_is_not_hoisted(stat, options):
    text = _plan(MaskedStat("causal", stat), _inputs(per_head=True), options)
    assert "dead for the kernel" not in text
    reason = "which differs per batch/head" if stat == "max" else "not idempotent"
    assert reason in text.split("rejected:")[1]

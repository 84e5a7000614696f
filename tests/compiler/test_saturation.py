"""Loops that stop once an any is saturated (CompileOptions.stop_saturated_any): a pass whose
accumulators are all any runs each loop segment's first tile, then the rest only while some lane of the
program is still false. The answer must not depend on where a program stops: checked bit for bit against
the same program without the option and against float64, where every key saturates at once, where some
keys saturate late or never, and where none does."""

import math
import warnings

import pytest
import torch
from case_runner import assert_close, compile_case, dims

import compiler
from jobs.check import nan_filled_allocations


def _stopping(options):
    return options.__class__(cache_dir=options.cache_dir, stop_saturated_any=True)


def _plain(options):
    return options.__class__(cache_dir=options.cache_dir, stop_saturated_any=False)


@pytest.mark.parametrize("scale", [1e-9, 1.0, 1e9])  # thresholds 1/(i+1) times this: all, most, no keys
def test_corm_stopping_early_gives_the_same_keys(scale, options, device):
    d = dims()
    case, inputs, plain = compile_case("corm", d, "float16", _plain(options), device)
    _, _, stopping = compile_case("corm", d, "float16", _stopping(options), device)
    inputs["corm_mask"] = inputs["corm_mask"] * scale
    args = tuple(inputs.values())
    with nan_filled_allocations():
        want, got = plain(*args), stopping(*args)
    assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])
    ref = case.reference(inputs)
    assert_close(got[1], ref["corm_score"], "float16")
    kept = float(got[1].float().mean())
    assert {1e-9: kept == 1.0, 1.0: 0.5 < kept < 1.0, 1e9: kept == 0.0}[scale], kept


def test_only_passes_of_anys_stop(options):
    plan = compile_case("corm", dims(), "float16", _stopping(options))[2].plan
    row, column = plan.kernels
    assert not row.stops_saturated and column.stops_saturated
    assert "stops once every lane" in plan.render()
    h2o = compile_case("h2o", dims(), "float16", _stopping(options))[2].plan
    assert not any(k.stops_saturated for k in h2o.kernels)
    assert not compile_case("corm", dims(), "float16", _plain(options))[2].plan.kernels[1].stops_saturated
    assert options.stop_saturated_any  # on by default


class RowFlags(torch.nn.Module):
    """Outside the seven: per query, whether any key gets probability above a per-head threshold (a row
    pass of one any, after the pass of the row statistics it needs)."""

    def forward(self, q, k, thr):
        s = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
        lq, lk = s.shape[-2:]
        causal = torch.ones(lq, lk, dtype=torch.bool, device=s.device).triu(1)
        p = torch.softmax(s.masked_fill(causal, float("-inf")).float(), dim=-1)
        return (p > thr[:, None, None]).any(dim=-1)


def test_a_row_pass_of_an_any_stops_too(options):
    g = torch.Generator().manual_seed(2)
    q, k = (torch.randn(2, 3, 45, 16, generator=g).half() for _ in range(2))
    thr = torch.tensor([0.02, 0.3, 2.0])  # per head: every row saturates, some do, none does
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fn = compiler.compile(RowFlags(), (q, k, thr), options=_stopping(options), name="rowflags")
    last = fn.plan.kernels[-1]
    assert last.role == "row" and last.stops_saturated
    with nan_filled_allocations():
        got = fn(q, k, thr)
    want = RowFlags()(q.double(), k.double(), thr.double())
    assert torch.equal(got, want)
    per_head = got.float().mean(dim=(0, 2))
    assert per_head[0] == 1.0 and 0.0 < per_head[1] < 1.0 and per_head[2] == 0.0

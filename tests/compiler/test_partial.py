"""Partial fusion and no refusal: an output the kernels cannot compute costs only itself and is computed by
torch a chunk at a time; a failure anywhere after capture leaves its part (or the program) to torch, with
the reason in explain; compile raises only for a program torch.export cannot capture."""

import math
import warnings

import pytest
import torch
from case_runner import assert_close

import compiler
import compiler.codegen.program
import compiler.fusion.planner
import compiler.pipeline
from compiler.ir.evaluate import Evaluator
from jobs.check import nan_filled_allocations

B, H, L, D = 2, 3, 24, 16


def _qkv():
    g = torch.Generator().manual_seed(4)
    return tuple(torch.randn(B, H, L, D, generator=g) for _ in range(3))


def _probs(q, k):
    s = (q @ k.transpose(-1, -2)) / math.sqrt(q.shape[-1])
    i, j = torch.arange(L)[:, None], torch.arange(L)[None, :]
    return torch.softmax(s.masked_fill(j > i, float("-inf")), dim=-1)


def attention_and_topk(q, k, v):
    p = _probs(q, k)
    return p @ v, p.topk(3, dim=-1).values.sum(-1), p.sum(-2)


def _compile(program, options, **changes):
    args = _qkv()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fn = compiler.compile(program, args, options=options, **changes)
    with nan_filled_allocations():
        out = fn(*args)
    for got, want in zip(out, program(*(a.double() for a in args))):
        assert_close(got, want, "float32")
    return fn


def test_one_unsupported_output_costs_only_itself(options):
    fn = _compile(attention_and_topk, options)
    report = fn.explain()
    assert [k.role for k in report.kernels] == ["row", "column"]  # attention and the column sums: fused
    assert [o.fused for o in report.outputs] == ["fused", "torch", "fused"]
    (region,) = report.regions
    assert region.chunk == "heads" and "aten.topk" in region.reason
    assert "output 1: torch: torch region" in report.render()


def test_a_region_is_computed_a_chunk_at_a_time(options, monkeypatch):
    """With room for one head's scores per intermediate, no torch value ever holds more."""
    largest = []
    call = Evaluator.__call__

    def spy(self, n, args):
        out = call(self, n, args)
        largest.append(out.numel() if isinstance(out, torch.Tensor) else 1)
        return out

    monkeypatch.setattr(Evaluator, "__call__", spy)
    fn = _compile(attention_and_topk, options, chunk_elements=L * L)
    (region,) = fn.plan.regions
    assert (region.chunk, region.step, region.size) == ("heads", 1, H)
    # one head of each batch entry's scores at a time, never all of them (q, k and v views are smaller)
    assert B * L * L in largest and max(largest) < B * H * L * L


def test_torch_ops_on_the_scores_chunk_along_a_dim_they_keep(options):
    def programs(q, k, v):
        p = _probs(q, k)
        return p @ v, p.mean(dim=1).sum(-2), p.cumsum(-1).mean(-1), torch.nan_to_num(p.log(), neginf=0.0).sum(-1)

    fn = _compile(programs, options, chunk_elements=1)
    assert {r.chunk for r in fn.plan.regions} == {"batch entries"}  # heads are averaged: batch is kept


def test_a_region_that_no_dim_slices_runs_whole_and_says_why(options):
    def flat(q, k, v):
        p = _probs(q, k)
        return p @ v, p.flatten().topk(5).values

    fn = _compile(flat, options)
    (region,) = fn.plan.regions
    assert not region.chunk and "not chunked" in region.why
    assert [k.role for k in fn.plan.kernels] == ["row"]


def test_log_softmax_beside_softmax_is_fused(options):
    def kl(q, k, v):
        s = (q @ k.transpose(-1, -2)) / 4
        p = torch.softmax(s, -1)
        return p @ v, (p * (torch.log_softmax(s, -1) - torch.log_softmax(s * 0.5, -1))).sum(-1)

    fn = _compile(kl, options)
    assert not fn.plan.regions and not fn.explain().fallbacks


def test_a_kernel_the_generator_cannot_write_leaves_its_space_to_torch(options, monkeypatch):
    write = compiler.codegen.program.write_kernel

    def refuse_columns(kernel, *args):
        if kernel.role == "column":
            raise NotImplementedError("no column kernels today")
        return write(kernel, *args)

    monkeypatch.setattr(compiler.codegen.program, "write_kernel", refuse_columns)
    fn = _compile(attention_and_topk, options)
    assert not fn.plan.kernels and len(fn.plan.regions) == 1
    assert any("code generator failed" in r.reason and "no column kernels" in r.reason for r in fn.plan.rejected)


def test_the_planner_failing_on_a_space_leaves_it_to_torch(options, monkeypatch):
    def broken(*args, **kwargs):
        raise KeyError("no axis classes for a new TORCH node")

    monkeypatch.setattr(compiler.fusion.planner, "group_sinks", broken)
    calls = []
    real = compiler.fusion.planner._space

    def once(d, ri, materialized, first, whole):  # the retry, with the whole space in torch, succeeds
        calls.append(whole)
        if whole:
            monkeypatch.setattr(compiler.fusion.planner, "group_sinks", lambda *a: ([], []))
        return real(d, ri, materialized, first, whole)

    monkeypatch.setattr(compiler.fusion.planner, "_space", once)
    fn = _compile(attention_and_topk, options)
    assert calls[0] is None and "the planner failed on it: KeyError" in calls[1]
    assert not fn.plan.kernels and fn.plan.regions[0].chunk == "heads"


@pytest.mark.parametrize("step", ["simplify", "analyze", "plan"])
def test_a_failing_step_leaves_the_whole_program_to_torch(step, options, monkeypatch):
    index = compiler.pipeline.PIPELINE_STEPS.index(step)
    broken = compiler.pipeline.Step(step, lambda c: 1 / 0, "graph")
    steps = compiler.pipeline.PIPELINE[:index] + (broken,) + compiler.pipeline.PIPELINE[index + 1:]
    monkeypatch.setattr(compiler.pipeline, "PIPELINE", steps)
    fn = _compile(attention_and_topk, options)
    assert fn.explain().failed.startswith(f"{step}: ZeroDivisionError")
    assert "the whole program runs in torch" in fn.explain().render()

"""The fusion plan of the seven cases: kernels and their roles, what is stored, what torch runs, and the
rejected fusions with their reasons. No score-sized tensor is ever stored or computed by torch."""

import math
import warnings

import pytest

import compiler
from compiler.ir.ops import Op
from compiler.pipeline import Compilation, run_pipeline
from jobs.cases import kernel_case
from jobs.spec import KERNEL_MODELS

DIMS = {"batch": 2, "heads": 4, "kv_heads": 2, "head_dim": 16, "q_len": 12, "kv_len": 20}

# per case: the roles of its kernels, in order
ROLES = {"attn": ["row"], "gemma2": ["row"], "h2o": ["row", "column"], "roco": ["row", "column"],
         "snapkv": ["row", "column"], "corm": ["row", "column"], "kf": ["row", "column"]}
# per case: its map kernels (the prologue of inputs alone, fusion/maps.py)
MAPS = {"corm": 1}


def _compile(name, options, until="plan"):
    case = kernel_case(name)
    inputs = tuple(case.inputs(DIMS, "float16", "cpu", 0).values())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return run_pipeline(Compilation(case.build(DIMS), inputs, options, name), until=until)


def _score_sized(n, dims=DIMS) -> bool:
    return math.prod(n.shape) >= dims["batch"] * dims["heads"] * dims["q_len"] * dims["kv_len"]


@pytest.mark.parametrize("name", KERNEL_MODELS)
def test_kernels_and_roles(name, options):
    plan = _compile(name, options).plan
    assert [k.role for k in plan.kernels] == ROLES[name]
    assert len(plan.maps) == MAPS.get(name, 0)


@pytest.mark.parametrize("name", KERNEL_MODELS)
def test_nothing_score_sized_is_stored_or_left_to_torch(name, options):
    plan = _compile(name, options).plan
    for k in plan.kernels:
        assert not any(_score_sized(n) for n in k.stores), k.name
    for t in plan.torch_steps:
        assert not _score_sized(t.node), t.node


@pytest.mark.parametrize("name", KERNEL_MODELS)
def test_explain_shows_no_score_sized_fallback(name, options):
    case = kernel_case(name)
    inputs = tuple(case.inputs(DIMS, "float16", "cpu", 0).values())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = compiler.explain(case.build(DIMS), inputs, options=options, name=name)
    assert [k.role for k in report.kernels] == ROLES[name] + ["map"] * MAPS.get(name, 0)
    assert all("@triton.jit" in k.source for k in report.kernels)
    for f in report.fallbacks:
        assert math.prod(f.shape) < DIMS["batch"] * DIMS["heads"] * DIMS["q_len"] * DIMS["kv_len"], f
    text = report.render()
    assert all(k.name in text for k in report.kernels)


def test_snapkv_leaves_only_the_small_avg_pool_to_torch(options):
    case = kernel_case("snapkv")
    report = compiler.explain(case.build(DIMS), tuple(case.inputs(DIMS, "float16", "cpu", 0).values()),
                              options=options)
    assert [f.op for f in report.fallbacks] == ["aten.avg_pool1d.default"]
    assert report.fallbacks[0].shape == (2, 4, 20)


def test_row_pass_stores_the_base2_lse_only_when_a_later_pass_reads_it(options):
    attn = _compile("attn", options).plan.kernels[0]
    h2o = _compile("h2o", options).plan.kernels[0]
    assert [n.shape for n in attn.stores] == [(2, 4, 12, 16)]
    assert sorted(n.shape for n in h2o.stores) == [(2, 4, 12, 1), (2, 4, 12, 16)]


def test_causal_row_pass_skips_dead_tiles_and_runs_longest_first(options):
    k = _compile("attn", options).plan.kernels[0]
    assert [r.dead for r in k.regions] == [False, True]
    assert k.reverse and any("longest first" in n for n in k.notes)


def test_column_pass_of_corm_reduces_the_threshold_above_the_diagonal_once(options):
    plan = _compile("corm", options).plan
    col = plan.kernels[1]
    above = col.regions[-1]
    # p = 0 there, but 0 >= thr depends on thr (only on thr): one torch step reduces it for all heads
    assert above.dead and above.hoisted == (col.accumulators[0].init,)
    (hoisted,) = [n for m in plan.maps for n in m.stores if n is above.hoisted[0]]
    assert hoisted.shape == (1, 20) and not any(n.op is Op.DOT for n in _walk(hoisted))
    assert col.batch_fastest and any("L2" in n for n in col.notes)  # the edge tiles still read thr
    # log2(max(thr, 0)) and the reduction above the diagonal, each once for all heads, in one map kernel
    # that reads thr once, before the column pass that reads both
    (m,) = plan.maps
    assert len(m.stores) == 2 and m.loop_axis == 0 and not plan.torch_steps
    assert plan.steps.index(m) < plan.steps.index(col)
    assert "tiles with j - i in [9, inf]: dead for the kernel" in plan.render()
    torch_ops = _compile("corm", options.__class__(cache_dir=options.cache_dir, prologue_kernels=False)).plan
    assert not torch_ops.maps and [t.kind for t in torch_ops.torch_steps] == ["prologue", "prologue"]
    kept = _compile("corm", options.__class__(cache_dir=options.cache_dir, hoist_head_independent_tiles=False))
    assert not kept.plan.kernels[1].regions[-1].dead


def test_keyformer_noise_shares_the_attention_pass_unless_split(options):
    plan = _compile("kf", options).plan
    assert any("finished values" in r.reason for r in plan.rejected)
    assert not any("split_side_streams" in r.reason for r in plan.rejected)
    split = _compile("kf", options.__class__(cache_dir=options.cache_dir, split_side_streams=True)).plan
    assert [k.role for k in split.kernels] == ["row", "row", "column"]
    assert any("split_side_streams" in r.reason for r in split.rejected)


def test_every_step_can_be_dumped(options):
    case = kernel_case("h2o")
    inputs = tuple(case.inputs(DIMS, "float16", "cpu", 0).values())
    for step in compiler.PIPELINE_STEPS:
        text = compiler.dump(case.build(DIMS), inputs, after=step, options=options)
        assert text.strip(), step
    with pytest.raises(ValueError, match="steps: capture"):
        compiler.dump(case.build(DIMS), inputs, after="nope", options=options)


def _walk(n):
    seen, stack = [], [n]
    while stack:
        x = stack.pop()
        if x is not None and all(x is not s for s in seen):
            seen.append(x)
            stack.extend(x.inputs)
    return seen

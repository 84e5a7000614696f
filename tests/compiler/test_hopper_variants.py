"""The Hopper target on what the planner makes beyond the seven cases: the 2024-2026 variants
(tests/compiler/variants.py) and the grammar's classes of issue 19 (torch regions, stores, restricted
score spaces, two score spaces). With CompileOptions.hopper_kernels on every such program compiles to the
plan it has with the switch off; the target takes the passes it can express and declines the others with
a reason; what it takes compiles for sm_90 with the design's structure."""

import warnings
from unittest import mock

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from kernel_programs import COL_STATS, FORMS, MASKS, PART_STATS, ROW_STATS, TORCH_STATS, Program, Spec, make_inputs
from test_grammar import specs
from test_hopper_compile import check_design, hopper_jobs, run_compile
from test_hopper_general import check_targets, codegen, declines
from variants import VARIANTS

from compiler.codegen.emit import Scope
from compiler.codegen.gluon.choose import WRITER_FAILED
from compiler.codegen.gluon.consumer import HopperContext
from compiler.codegen.gluon.operands import Decline, find_operands
from compiler.codegen.program import materialized
from compiler.ir import build

# per variant: the passes the target takes, and a phrase of the reason it gives for each other one
ACCEPTED = {"diff": set(), "docs": {"prog_k0"}, "snapkv_window": {"prog_k0"}, "snapkv_observation": {"prog_k0"},
            "tova": {"prog_k0"}, "cascade": set(), "partial_stats": {"prog_k0", "prog_k1"},
            "alibi_positions": {"prog_k0"}, "padded_lengths": {"prog_k0", "prog_k1"}, "sink_mass": {"prog_k0"},
            "sigmoid": {"prog_k0"}, "learned_sinks": {"prog_k0", "prog_k1", "prog_k2"}, "learned_biases": {"prog_k0"}}
SLICE = "is a slice of its source dim"  # a restricted score space: its operand is a slice of q or k
WHY = {"diff": "from 2 matmuls",  # two softmaxes over q1·k1ᵀ and q2·k2ᵀ: two score matmuls per tile
       "snapkv_window": SLICE, "snapkv_observation": SLICE, "sink_mass": SLICE,
       "tova": "(a store)",  # the last query's row of probabilities is written (a store of a restricted space)
       "cascade": "computed in the program"}  # V is cast to f32 before P·V: no TMA copy of an input


def _variant(variant, tmp_path, hopper=True):
    args = variant.inputs(torch.Generator().manual_seed(0), torch.float16)
    return codegen(variant.build(), args, tmp_path, hopper=hopper)


@pytest.mark.parametrize("variant", VARIANTS, ids=[v.name for v in VARIANTS])
def test_variants_compile_and_each_pass_is_taken_or_declined(variant, tmp_path):
    c = _variant(variant, tmp_path)
    assert check_targets(c, _variant(variant, tmp_path, hopper=False)) == ACCEPTED[variant.name]
    for kernel, reason in declines(c).items():
        assert WHY[variant.name] in reason, (kernel, reason)


# the grammar's classes, one program each: (spec, the passes the target takes, why it declines the others)
CLASSES = {
    "store": (Spec(stats=("probs",)), {"prog_k0"}, "(a store)"),  # the probabilities written tile by tile
    "window_cols": (Spec(stats=("window_cols",)), {"prog_k0"}, SLICE),  # restricted: the last queries
    "last_row": (Spec(stats=("last_row",)), {"prog_k0"}, "(a store)"),  # the last query's row, written
    "sink_mass": (Spec(stats=("sink_mass",)), {"prog_k0"}, SLICE),  # restricted: the first keys
    "split": (Spec(form="split"), set(), "from 2 matmuls"),  # q and k split along the head dim
    "diff": (Spec(form="diff", stats=("col_sum",)), set(), None),  # two score spaces
    "topk": (Spec(stats=("topk",)), {"prog_k0"}, None),  # torch regions beside the fused pass
    "cum_mass": (Spec(stats=("cum_mass",)), {"prog_k0"}, None),
    "head_mean": (Spec(stats=("head_mean",), mask="padding"), {"prog_k0"}, None),
    "named_stats": (Spec(stats=("lse", "max_values"), mask="lengths"), {"prog_k0"}, None),
    # the segment mask (ids == ids) computed per tile from a row and a column load, in both passes
    "segments": (Spec(mask="segments", stats=("col_sum",)), {"prog_k0", "prog_k1"}, None),
}


@pytest.mark.parametrize("name", CLASSES)
def test_grammar_classes(name, tmp_path):
    spec, accepted, why = CLASSES[name]
    program, args = Program(spec), make_inputs(spec)
    c = codegen(program, args, tmp_path)
    assert check_targets(c, codegen(program, args, tmp_path, hopper=False)) == accepted
    if why:
        assert all(why in reason for reason in declines(c).values()), declines(c)
    if spec.stats and spec.stats[0] in TORCH_STATS:
        assert c.plan.regions  # the region stays torch's; the pass beside it is the target's


def test_a_writer_failure_is_a_decline(tmp_path):
    """A kernel the Gluon writer raises on (a gap in it, not a known decline) keeps its Triton source with
    the error as the reason: the program still compiles to its kernels."""
    spec = Spec()
    with mock.patch("compiler.codegen.gluon.choose.write_hopper", side_effect=KeyError("gap")):
        c = codegen(Program(spec), make_inputs(spec), tmp_path)
    assert c.failed is None and not any(s.tune_role for s in c.sources) and len(c.sources) == 1
    assert declines(c) == {"prog_k0": f"{WRITER_FAILED}: KeyError: 'gap'"}


def test_a_matmul_besides_the_score_matmul_is_declined(tmp_path):
    """The shared emitter writes a matmul in triton.language's form (tl.dot), which Gluon has not: a pass
    that would compute one in its body is declined (the planner leaves such matmuls to torch today)."""
    spec = Spec()
    plan = codegen(Program(spec), make_inputs(spec), tmp_path).plan
    kernel = plan.kernels[0]
    operands = find_operands(kernel, plan.axes)
    ctx = HopperContext(kernel, plan.axes, plan.names(), materialized(plan), operands)
    score = next(n for n in plan.graph.nodes if operands.is_score(n))
    q, kt = score.inputs
    assert ctx.special(score, Scope("loop"), ("P", "R")) == "w_s"
    with pytest.raises(Decline, match="a matmul besides"):
        ctx.special(build.dot(q, build.dot(kt, q)), Scope("loop"), ("P", "R"))


@pytest.mark.slow
@settings(max_examples=30, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(spec=specs(FORMS, MASKS, ROW_STATS + COL_STATS + PART_STATS + TORCH_STATS))
def test_every_grammar_program_compiles_with_the_switch_on(spec, tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("hopper")
    program, args = Program(spec), make_inputs(spec)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_targets(codegen(program, args, tmp_path), codegen(program, args, tmp_path, hopper=False))


@pytest.mark.slow
def test_accepted_variant_sources_compile_for_sm90(tmp_path):
    """Passes beside a torch region, passes that read another pass's finished statistics (learned sinks,
    partial statistics), the full pass of a program with a restricted space, a mask computed per tile
    from row- and column-indexed loads (document ids) and row and column vectors from matmuls of their
    own (learned biases): sm_90 code with the design's structure."""
    by_name = {v.name: v for v in VARIANTS}
    programs = [(n, by_name[n].build(), by_name[n].inputs(torch.Generator().manual_seed(0), torch.float16))
                for n in ("learned_sinks", "partial_stats", "tova", "docs", "learned_biases")]
    programs.append(("topk", Program(Spec(stats=("topk",))), make_inputs(Spec(stats=("topk",)))))
    compiled = 0
    for name, program, args in programs:
        where = tmp_path / name
        where.mkdir()
        results = run_compile(hopper_jobs(codegen(program, args, where), where), where)
        assert set(results) == (ACCEPTED[name] if name in ACCEPTED else {"prog_k0"})
        for r in results.values():
            check_design(r)
            compiled += 1
    assert compiled == 9

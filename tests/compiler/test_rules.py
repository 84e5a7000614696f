"""Rewrite rules, each alone, and the engine that applies them."""

import math

import torch

from compiler.analysis.values import DEAD_RULES, is_identity, specialize
from compiler.ir.build import cast, dot, ew, iota, view
from compiler.ir.evaluate import evaluate
from compiler.ir.layout import Layout
from compiler.ir.node import Graph, TensorType, const, node
from compiler.ir.ops import Op
from compiler.passes import decompose, fold, simplify
from compiler.passes.rewrite import P, apply_rules, graph_rewrite, rewrite_node


def _x(shape=(4, 6), dtype="f32", name="x", index=0):
    return node(Op.INPUT, (), TensorType(shape, dtype), index=index, name=name)


def test_engine_rewrites_to_a_fixpoint_bottom_up():
    x = _x()
    rules = [(P(Op.NEG, P(Op.NEG, P(name="y"))), lambda y: y)]
    out = rewrite_node(ew(Op.NEG, ew(Op.NEG, ew(Op.NEG, ew(Op.NEG, x)))), rules)
    assert out is x


def test_engine_refuses_a_replacement_of_another_type():
    x = _x()
    rules = [(P(Op.CAST, P(name="y")), lambda y: y)]
    c = cast(x, "f16")
    assert apply_rules(c, rules) is None


def test_simplify_folds_view_chains_and_drops_identities():
    x = _x((2, 3, 4))
    v = view(view(x, Layout.identity((2, 3, 4)).transpose(1, 2)), Layout.identity((2, 4, 3)).transpose(1, 2))
    g = simplify.simplify(Graph((x,), (ew(Op.ADD, v, 0.0),)))
    assert g.outputs[0] is x


def test_simplify_folds_constants_in_the_node_dtype():
    n = ew(Op.MUL, const(2.0, (), "f32"), const(3.0, (), "f32"), dtype="f32")
    out = apply_rules(n, simplify.RULES)
    assert out.op is Op.CONST and out.attr("value") == 6.0


def test_a_view_of_an_iota_is_an_iota():
    x = iota(0, (5,))
    v = view(x, Layout.identity((5,)).unsqueeze(0))
    out = apply_rules(v, simplify.RULES)
    assert out.op is Op.IOTA and out.attr("axis") == 1 and out.shape == (1, 5)


def test_softmax_decomposes_into_base2_statistics_with_the_max():
    x = _x()
    g = Graph((x,), (node(Op.SOFTMAX, (x,), x.type, axis=1),))
    d = decompose.decompose(g)
    ops = {n.op for n in d.nodes}
    assert {Op.MAX, Op.SUM, Op.EXP2, Op.LOG2} <= ops and Op.SOFTMAX not in ops
    t = torch.randn(4, 6) * 100  # a max-less softmax overflows here
    (p,) = evaluate(d, [t])
    # base 2 rounds (x - max) * log2(e) in f32: |x - max| reaches ~400 here, so ~1e-5 relative, not 1e-6
    assert torch.allclose(p.double(), torch.softmax(t.double(), 1), rtol=1e-4, atol=1e-7)


def test_triu_of_a_constant_becomes_an_index_function():
    c = const(-math.inf, (3, 5), "f32")
    t = node(Op.TRIU, (c,), c.type, diagonal=2)
    out = decompose.decompose(Graph((), (t,)))
    assert not any(n.op is Op.TRIU for n in out.nodes) and any(n.op is Op.IOTA for n in out.nodes)
    (m,) = evaluate(out, [])
    assert torch.equal(m, torch.full((3, 5), -math.inf).triu(2))


def test_fold_widens_casts_down_to_the_matmul():
    q, k = _x((4, 8), "f16", "q"), _x((8, 6), "f16", "k", 1)
    s = cast(ew(Op.MUL, dot(q, k, "f16"), 0.125, dtype="f16"), "f32")
    out = graph_rewrite(Graph((q, k), (s,)), fold.RULES + simplify.RULES).outputs[0]
    assert out.op is Op.MUL and out.inputs[0].op is Op.DOT and out.inputs[0].dtype == "f32"


def test_fold_merges_scales_through_a_mask():
    s = _x()
    mask = ew(Op.WHERE, ew(Op.GE, iota(1, (1, 6)), 3), const(-math.inf, (1, 6), "f32"), 0.0, dtype="f32")
    x2 = ew(Op.MUL, ew(Op.ADD, ew(Op.DIV, s, 8.0), mask), 1.5)
    out = graph_rewrite(Graph((s,), (x2,)), fold.RULES + simplify.RULES).outputs[0]
    # one multiply by 1.5/8 on the scores, the mask absorbed the positive scale
    assert out.op is Op.ADD
    scaled, folded = out.inputs
    assert scaled.op is Op.MUL and math.isclose(scaled.inputs[1].attr("value"), 1.5 / 8)
    assert folded.op is Op.WHERE and folded.inputs[1].attr("value") == -math.inf


def test_fold_moves_a_comparison_with_exp2_to_the_log_domain():
    a, z = _x(name="a"), _x(name="z", index=1)
    g = Graph((a, z), (ew(Op.GE, ew(Op.EXP2, a), z),))
    out = graph_rewrite(g, fold.RULES).outputs[0]
    assert out.op is Op.GE and out.inputs[0] is a and out.inputs[1].op is Op.LOG2
    ta, tz = torch.randn(4, 6), torch.rand(4, 6) - 0.2  # some thresholds <= 0: always true
    (got,) = evaluate(Graph((a, z), (out,)), [ta, tz])
    assert torch.equal(got, torch.exp2(ta) >= tz)


def test_dead_rules_fold_a_masked_tile_to_the_identity():
    x, m = _x(), _x((4, 1), name="m", index=1)
    p = ew(Op.EXP2, ew(Op.SUB, ew(Op.ADD, x, const(-math.inf, (4, 6), "f32")), m))
    out = rewrite_node(p, simplify.RULES + DEAD_RULES)
    assert is_identity(out, Op.SUM) and not is_identity(out, Op.MAX)


def test_specialize_substitutes_atoms_and_keeps_leaves():
    x, m = _x(), _x((4, 1), name="m", index=1)
    atom = ew(Op.GE, ew(Op.SUB, iota(1, (1, 6)), iota(0, (4, 1))), 1)
    base = ew(Op.EXP2, ew(Op.SUB, ew(Op.WHERE, atom, -math.inf, x, dtype="f32"), m))
    dead = specialize(base, {id(atom): True}, keep=[m])
    live = specialize(base, {id(atom): False}, keep=[m])
    assert is_identity(dead, Op.SUM)
    assert live.op is Op.EXP2 and live.inputs[0].inputs == (x, m)

"""The IR: nodes, graphs, printing, layouts and their torch views."""

import torch

from compiler.ir.build import cast, dot, ew, iota, reduce, view
from compiler.ir.evaluate import evaluate, layout_view
from compiler.ir.layout import Factor, Layout
from compiler.ir.node import Graph, TensorType, const, node
from compiler.ir.ops import G, Op
from compiler.ir.printer import render_graph


def _input(name, shape, dtype="f16", index=0):
    return node(Op.INPUT, (), TensorType(shape, dtype), index=index, name=name)


def test_nodes_are_frozen_and_compared_by_identity():
    a = const(1.0)
    b = const(1.0)
    assert a is not b and a != b and a.key() == b.key()
    try:
        a.op = Op.NEG
    except AttributeError:
        pass
    else:
        raise AssertionError("nodes must be immutable")


def test_op_groups_cover_every_elementwise_op():
    assert Op.TANH in G.UNARY and Op.WHERE in G.ELEMENTWISE and Op.ANY in G.REDUCE
    assert not (G.REDUCE & G.ELEMENTWISE)


def test_graph_is_topological_and_prints_stable_text():
    q = _input("q", (2, 8))
    k = _input("k", (8, 3), index=1)
    s = ew(Op.MUL, dot(q, k, "f32"), 0.5)
    out = reduce(Op.SUM, s, 1)
    g = Graph((q, k), (out,))
    assert g.nodes.index(q) < g.nodes.index(s) < g.nodes.index(out)
    assert render_graph(g) == (
        "%q = input(0) : [2,8] f16\n"
        "%k = input(1) : [8,3] f16\n"
        "%0 = dot(%q, %k) : [2,3] f32\n"
        "%1 = mul(%0, 0.5) : [2,3] f32\n"
        "%2 = sum(%1) {axis=1} : [2,1] f32\n"
        "return %2\n")


def test_layout_folds_a_permute_and_prints_compactly():
    lay = Layout.identity((2, 5, 4, 8)).transpose(1, 2)
    assert lay.shape == (2, 4, 5, 8)
    assert str(lay) == "[d0, d2, d1, d3]"


def test_layout_of_grouped_kv_heads_is_one_merged_dim():
    # k[:, :, :, None, :].expand(B, L, Hkv, G, D).reshape(B, L, Hkv*G, D)
    lay = Layout.identity((1, 6, 2, 4)).unsqueeze(3).expand((1, 6, 2, 3, 4)).reshape((1, 6, 6, 4))
    assert lay.dims[2] == (Factor(2, 2, 1), Factor(3, -1, 0))
    t = torch.arange(48.0).view(1, 6, 2, 4)
    want = t.repeat_interleave(3, dim=2)
    assert torch.equal(layout_view(t, lay), want)


def test_layout_reshape_splits_and_merges_with_strides():
    t = torch.arange(24.0).view(2, 3, 4)
    lay = Layout.identity((2, 3, 4)).reshape((6, 4)).reshape((2, 12)).transpose(0, 1)
    assert torch.equal(layout_view(t, lay), t.reshape(2, 12).t())


def test_layout_slice_and_select_keep_offsets():
    t = torch.arange(40.0).view(5, 8)
    lay = Layout.identity((5, 8)).slice(1, 2, 8, 2).select(0, 3)
    assert torch.equal(layout_view(t, lay), t[3, 2:8:2])


def test_compose_equals_applying_two_views():
    t = torch.arange(60.0).view(3, 4, 5)
    inner = Layout.identity((3, 4, 5)).permute((2, 0, 1))
    outer = Layout.identity(inner.shape).reshape((5, 12)).transpose(0, 1)
    assert torch.equal(layout_view(t, inner.compose(outer)), layout_view(layout_view(t, inner), outer))


def test_evaluate_runs_the_graph_in_torch():
    x = _input("x", (3, 4), "f32")
    m = reduce(Op.MAX, x, 1)
    y = ew(Op.EXP2, ew(Op.SUB, x, m))
    g = Graph((x,), (cast(y, "f16"), view(m, Layout.identity((3, 1)).squeeze([1]))))
    t = torch.randn(3, 4)
    a, b = evaluate(g, [t])
    assert a.dtype == torch.float16 and torch.allclose(a.float(), torch.exp2(t - t.amax(1, keepdim=True)), 1e-3)
    assert torch.equal(b, t.amax(1))


def test_iota_is_an_index_tensor():
    i = iota(0, (3, 1))
    j = iota(1, (1, 4))
    g = Graph((), (ew(Op.GE, ew(Op.SUB, j, i), 1),))
    (mask,) = evaluate(g, [])
    assert torch.equal(mask, torch.ones(3, 4, dtype=torch.bool).triu(1))

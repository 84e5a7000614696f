"""The tensor-property analysis: score spaces, mask atoms and dead regions, reduction classes."""

import warnings

import pytest
from kernel_programs import Program, Spec, make_inputs

import compiler
from compiler.analysis.index import intervals
from compiler.pipeline import Compilation, run_pipeline
from jobs.cases import kernel_case

DIMS = {"batch": 1, "heads": 2, "kv_heads": 2, "head_dim": 16, "q_len": 12, "kv_len": 20}

# per case: (row sinks, column sinks) as "op/kind/stage"
CLASSES = {
    "attn": (["max/independent/0", "sum/online/0", "dot/online/0"], []),
    "gemma2": (["max/independent/0", "sum/online/0", "dot/online/0"], []),
    "h2o": (["max/independent/0", "sum/online/0", "dot/online/0"], ["sum/finished/1"]),
    "snapkv": (["max/independent/0", "sum/online/0", "dot/online/0"], ["sum/finished/1"]),
    "roco": (["max/independent/0", "sum/online/0", "dot/online/0"], ["sum/finished/1", "sum/finished/1"]),
    "corm": (["max/independent/0", "sum/online/0", "dot/online/0"], ["any/finished/1"]),
    "kf": (["max/independent/0", "sum/online/0", "dot/online/0", "max/independent/0", "sum/online/0"],
           ["sum/finished/1"]),
}


def _props(program, inputs, options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return run_pipeline(Compilation(program, tuple(inputs), options, "t"), until="analyze").props


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_reduction_classes_of_the_seven_cases(name, options):
    case = kernel_case(name)
    props = _props(case.build(DIMS), case.inputs(DIMS, "float16", "cpu", 0).values(), options)
    (space,), (ri,) = props.axes.spaces, props.reductions
    assert props.axes.sizes[space.i] == 12 and props.axes.sizes[space.j] == 20
    rows = [f"{s.op.name.lower()}/{ri.kind[id(s.node)]}/{ri.stage[id(s.node)]}" for s in ri.sinks
            if s.axis == space.j]
    cols = [f"{s.op.name.lower()}/{ri.kind[id(s.node)]}/{ri.stage[id(s.node)]}" for s in ri.sinks
            if s.axis == space.i]
    assert (rows, cols) == CLASSES[name]
    assert not ri.blocked


def test_causal_mask_with_offset_is_one_atom(options):
    case = kernel_case("attn")
    props = _props(case.build(DIMS), case.inputs(DIMS, "float16", "cpu", 0).values(), options)
    (atoms,) = props.atoms
    assert [(a.kind, a.t) for a in atoms] == [("ge", 20 - 12 + 1)]  # dead where j - i > kv_len - q_len
    assert intervals(atoms) == ((float("-inf"), 8), (9, float("inf")))


def test_sliding_window_gives_a_band(options):
    spec = Spec(mask="window", q_len=12, kv_len=20, window=5)
    props = _props(Program(spec), make_inputs(spec), options)
    (atoms,) = props.atoms
    assert sorted(a.t for a in atoms) == [4, 9]  # live: 4 <= j - i <= 8
    assert len(intervals(atoms)) == 3


def test_entropy_needs_finished_row_statistics(options):
    spec = Spec(stats=("entropy",))
    props = _props(Program(spec), make_inputs(spec), options)
    (ri,) = props.reductions
    kinds = {ri.kind[id(s.node)] for s in ri.sinks if ri.stage[id(s.node)] == 1}
    assert kinds == {"finished"}  # sum(p * log p) is not a product of a tile value and a row factor


def test_no_score_space_without_a_matmul(options):
    import torch

    x = torch.randn(4, 8)
    props = _props(lambda t: torch.softmax(t, -1).sum(0), [x], options)
    assert props.axes.spaces == ()
    assert "no score space" in props.render()


def test_properties_render_as_text(options):
    case = kernel_case("corm")
    text = compiler.dump(case.build(DIMS), tuple(case.inputs(DIMS, "float16", "cpu", 0).values()),
                         after="analyze", options=options)
    assert "atom" in text and "any over I (column statistic): finished, stage 1" in text


@pytest.mark.parametrize("q_len,kv_len", [(12, 20), (1, 20), (12, 1)])
def test_a_matmul_with_a_size_one_axis_beside_the_scores_is_a_vector(q_len, kv_len, options):
    """q @ w (w [D, 1]) and u @ kᵀ (u [1, D]) beside q @ kᵀ are a column and a row vector: one score space,
    whose rows or columns may still have length 1 (one query decoding, one key: then the vector of that
    shape is as large as the scores and joins their space as a second matmul)."""
    import torch

    def program(q, k, u, w):
        s = q @ k.transpose(-1, -2) + u @ k.transpose(-1, -2) + q @ w
        return torch.softmax(s, -1).sum(-1)

    q, k = torch.randn(2, q_len, 16), torch.randn(2, kv_len, 16)
    props = _props(program, [q, k, torch.randn(1, 16), torch.randn(16, 1)], options)
    (space,) = props.axes.spaces
    assert (props.axes.sizes[space.i], props.axes.sizes[space.j]) == (q_len, kv_len)
    assert len(space.dots) == (1 if min(q_len, kv_len) > 1 else 2) and not props.reductions[0].blocked


def test_a_sliced_row_of_scores_stays_a_score_space(options):
    """The last query's row (TOVA), a slice of q's rows: a restricted space of its own beside the full one,
    though it has one row as q @ w has one column."""
    import torch

    def program(q, k):
        p = torch.softmax(q @ k.transpose(-1, -2), -1)
        return p.sum(-1), p[:, -1, :] * 2

    props = _props(program, [torch.randn(2, 12, 16), torch.randn(2, 20, 16)], options)
    sizes = props.axes.sizes
    assert sorted((sizes[s.i], sizes[s.j]) for s in props.axes.spaces) == [(1, 20), (12, 20)]

"""Decompose: composite ops into the primitive ones the analyses and the code generator know.

softmax(x) becomes base-2 row statistics: x2 = x·log2(e), m = max(x2), l = sum(exp2(x2 - m)),
lse = m + log2(l), p = exp2(x2 - lse). The max subtraction stays (the original FlashTensor dropped it
and overflows fp16 for logits above ~11). Writing p with lse instead of dividing by l means every use of p
(P·V, column sums, comparisons) reads one row statistic, which is what later kernels load.
triu/tril become index functions (where over iota), exp/log become exp2/log2 with the constant factored
out, so that `fold` can merge it with the scales around it.
"""

from __future__ import annotations

import math

from compiler.ir.build import cast, ew, iota, reduce
from compiler.ir.dtypes import is_float
from compiler.ir.node import Graph, Node
from compiler.ir.ops import Op
from compiler.passes import simplify as simplify_rules
from compiler.passes.rewrite import P, Rule, cse, graph_rewrite
from compiler.passes.simplify import simplify

LOG2E = 1.0 / math.log(2.0)
LN2 = math.log(2.0)


def _stat_dtype(n: Node) -> str:
    return "f64" if n.dtype == "f64" else "f32"


def log2_softmax_parts(x: Node, axis: int) -> tuple[Node, Node]:
    """(x2, lse) with x2 = x·log2(e) in f32 and lse the base-2 log-sum-exp of x2 along axis."""
    x2 = ew(Op.MUL, cast(x, _stat_dtype(x)), LOG2E)
    m = reduce(Op.MAX, x2, axis)
    total = reduce(Op.SUM, ew(Op.EXP2, ew(Op.SUB, x2, m)), axis)
    return x2, ew(Op.ADD, m, ew(Op.LOG2, total))


def _softmax(s: Node, x: Node) -> Node:
    x2, lse = log2_softmax_parts(x, s.attr("axis"))
    return cast(ew(Op.EXP2, ew(Op.SUB, x2, lse)), s.dtype)


def _log_softmax(s: Node, x: Node) -> Node:
    x2, lse = log2_softmax_parts(x, s.attr("axis"))
    return cast(ew(Op.MUL, ew(Op.SUB, x2, lse), LN2), s.dtype)


def _band(t: Node, x: Node) -> Node:
    """triu(x, d) keeps x where col - row >= d; tril(x, d) where col - row <= d; else 0."""
    rows, cols = t.shape[-2], t.shape[-1]
    diff = ew(Op.SUB, iota(1, (1, cols)), iota(0, (rows, 1)))
    keep = ew(Op.GE if t.op is Op.TRIU else Op.LE, diff, t.attr("diagonal"))
    zero = 0.0 if is_float(t.dtype) else (False if t.dtype == "bool" else 0)
    return ew(Op.WHERE, keep, x, zero, dtype=t.dtype)


def _exp(e: Node, x: Node) -> Node:
    return ew(Op.EXP2, ew(Op.MUL, x, LOG2E), dtype=e.dtype)


def _log(e: Node, x: Node) -> Node:
    return ew(Op.MUL, ew(Op.LOG2, x), LN2, dtype=e.dtype)


RULES: list[Rule] = [
    (P(Op.SOFTMAX, P(name="x"), name="s"), _softmax),
    (P(Op.LOG_SOFTMAX, P(name="x"), name="s"), _log_softmax),
    (P(frozenset({Op.TRIU, Op.TRIL}), P(name="x"), name="t"), _band),
    (P(Op.EXP, P(name="x"), name="e", where=lambda e: is_float(e.dtype)), _exp),
    (P(Op.LOG, P(name="x"), name="e", where=lambda e: is_float(e.dtype)), _log),
]


def decompose(graph: Graph) -> Graph:
    return simplify(cse(graph_rewrite(graph, RULES + simplify_rules.RULES)))

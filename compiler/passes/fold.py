"""Fold: the precision policy and the algebra that puts every scale into one multiply.

Precision: a widening cast of a float expression moves down to its leaves, so score math runs in f32 from
the matmul on (a matmul whose result is widened becomes a matmul with an f32 result: f32 accumulation, as
the kernels do). Narrowing casts stay: the one before P·V is where the kernel casts P to fp16.
Algebra: x / c becomes x · (1/c); scalar multiplies merge and distribute over sums whose terms absorb them
(a mask where(p, -inf, 0) absorbs any positive scale), so (s/√d + mask)·log2(e) becomes
s·(log2(e)/√d) + mask. A comparison with an exp2 moves to the log domain (no exp needed). A comparison
of |e|, max(p, q) or min(p, q) of integers becomes comparisons of the parts, so that a window written
|i - j| < w or j >= max(i - w, 0) is made of diagonal atoms (analysis/index.py) whose dead tiles are skipped.
"""

from __future__ import annotations

import math

from compiler.ir.build import cast, ew
from compiler.ir.dtypes import FLOATS, INTS, is_float
from compiler.ir.node import Graph, Node, TensorType, const, node
from compiler.ir.ops import G, Op
from compiler.passes import simplify as simplify_rules
from compiler.passes.rewrite import P, Rule, cse, graph_rewrite
from compiler.passes.simplify import _value_is, simplify

_WIDTH = {"f16": 1, "bf16": 1, "f32": 2, "f64": 3}
_WIDENABLE = frozenset({Op.ADD, Op.SUB, Op.MUL, Op.DIV, Op.NEG, Op.TANH, Op.EXP2, Op.LOG2, Op.ABS, Op.SQRT,
                        Op.RECIP, Op.MAXIMUM, Op.MINIMUM, Op.WHERE})


def scalar_constant(n: Node) -> bool:
    """A rank-0 numeric constant (float, or int that is not a bool): what fold moves to the right of a
    product and multiplies into its neighbours."""
    return n.op is Op.CONST and n.type.rank == 0 and is_float(n.dtype) or (
        n.op is Op.CONST and n.type.rank == 0 and isinstance(n.attr("value"), int)
        and not isinstance(n.attr("value"), bool))


def _val(n: Node) -> float:
    return float(n.attr("value"))


def _widen(c: Node, x: Node) -> Node | None:
    if not (x.dtype in FLOATS and c.dtype in FLOATS and _WIDTH[c.dtype] > _WIDTH[x.dtype]):
        return None
    if x.op is Op.DOT:
        return node(Op.DOT, x.inputs, TensorType(x.shape, c.dtype))
    if x.op not in _WIDENABLE:
        return None
    inputs = [cast(i, c.dtype) if is_float(i.dtype) and not scalar_constant(i) else i for i in x.inputs]
    return ew(x.op, *inputs, dtype=c.dtype)


def _absorbs(n: Node) -> bool:
    """Whether multiplying n by a scalar folds away (no extra multiply per element)."""
    if n.op is Op.CONST:
        return True
    if n.op is Op.MUL:
        return scalar_constant(n.inputs[1])
    if n.op is Op.NEG:
        return True
    if n.op is Op.WHERE:
        return n.inputs[1].op is Op.CONST and n.inputs[2].op is Op.CONST
    if n.op in (Op.ADD, Op.SUB):
        return all(_absorbs(i) for i in n.inputs)
    return False


def _distribute(m: Node, s: Node, c: Node) -> Node | None:
    a, b = s.inputs
    if not (_absorbs(a) and _absorbs(b)):
        return None
    return ew(s.op, ew(Op.MUL, a, c, dtype=m.dtype), ew(Op.MUL, b, c, dtype=m.dtype), dtype=m.dtype)


def _where_scale(m: Node, w: Node, c: Node) -> Node | None:
    p, a, b = w.inputs
    if a.op is not Op.CONST or b.op is not Op.CONST:
        return None
    return ew(Op.WHERE, p, ew(Op.MUL, a, c, dtype=m.dtype), ew(Op.MUL, b, c, dtype=m.dtype), dtype=m.dtype)


def _log_compare(g: Node, e: Node, z: Node) -> Node:
    """exp2(a) >= z  <=>  a >= log2(max(z, 0)): z <= 0 gives -inf, true for every a, as exp2(a) >= z is."""
    bound = ew(Op.LOG2, ew(Op.MAXIMUM, cast(z, "f32") if not is_float(z.dtype) else z, 0.0))
    return ew(Op.GE, e.inputs[0], bound)


def _log_is_neg_inf(g: Node, y: Node) -> Node | None:
    """log2(y) <= -inf holds exactly where y == 0 (-0 included; log2 of a negative or NaN is NaN)."""
    return ew(Op.EQ, y, const(0.0, g.shape, y.dtype)) if is_float(y.dtype) else None  # keeps g's shape


_FLIP = {Op.GE: Op.LE, Op.GT: Op.LT, Op.LE: Op.GE, Op.LT: Op.GT, Op.EQ: Op.EQ, Op.NE: Op.NE}
_PARTED = frozenset({Op.ABS, Op.MAXIMUM, Op.MINIMUM})


def _parted(n: Node) -> bool:
    return n.op in _PARTED and n.dtype in INTS


def _split_compare(g: Node, a: Node, b: Node) -> Node | None:
    """x OP t with x = |e|, max(p, q) or min(p, q) of integers (no NaN, so each step is exact):
    |e| >= t <=> e >= t or -e >= t, |e| < t <=> both, |e| == t <=> e == t or -e == t, != <=> both;
    max(p, q) >= t <=> either part, min(p, q) >= t <=> both, dually for <= and <."""
    x, t, op = (a, b, g.op) if _parted(a) else (b, a, _FLIP[g.op])
    if x.op is Op.ABS:
        parts = (x.inputs[0], ew(Op.NEG, x.inputs[0]))
        either = op in (Op.GE, Op.GT, Op.EQ)
    elif op in (Op.EQ, Op.NE):
        return None
    else:
        parts = x.inputs
        either = (op in (Op.GE, Op.GT)) == (x.op is Op.MAXIMUM)
    out = ew(Op.OR if either else Op.AND, *(ew(op, p, t) for p in parts))
    return out if out.shape == g.shape else None


_S = P(name="c", where=scalar_constant)
RULES: list[Rule] = [
    (P(Op.CAST, P(name="x"), name="c"), _widen),
    (P(Op.DIV, P(name="x"), _S, name="d", where=lambda d: is_float(d.dtype)),
     lambda d, x, c: ew(Op.MUL, x, 1.0 / _val(c), dtype=d.dtype) if _val(c) != 0 else None),
    # constants go right (a product of two constants is left to constant folding)
    (P(Op.MUL, _S, P(name="x", where=lambda x: x.op is not Op.CONST), name="m"),
     lambda m, c, x: ew(Op.MUL, x, c, dtype=m.dtype)),
    (P(Op.MUL, P(Op.MUL, P(name="x"), P(name="c1", where=scalar_constant)), _S, name="m"),
     lambda m, x, c1, c: ew(Op.MUL, x, _val(c1) * _val(c), dtype=m.dtype)),
    (P(Op.MUL, P(Op.NEG, P(name="x")), _S, name="m"), lambda m, x, c: ew(Op.MUL, x, -_val(c), dtype=m.dtype)),
    (P(Op.NEG, P(Op.MUL, P(name="x"), _S), name="n"), lambda n, x, c: ew(Op.MUL, x, -_val(c), dtype=n.dtype)),
    (P(Op.MUL, P(Op.WHERE, name="w"), _S, name="m"), _where_scale),
    (P(Op.MUL, P(frozenset({Op.ADD, Op.SUB}), name="s"), _S, name="m"), _distribute),
    (P(Op.GE, P(Op.EXP2, name="e"), P(name="z"), name="g"), _log_compare),
    (P(Op.LE, P(name="z"), P(Op.EXP2, name="e"), name="g"), _log_compare),
    # what a mask's -inf leaves of such a compare (CORM's threshold above the diagonal): no log at all
    (P(Op.GE, P(where=_value_is(-math.inf)), P(Op.LOG2, P(name="y")), name="g"), _log_is_neg_inf),
    (P(Op.LE, P(Op.LOG2, P(name="y")), P(where=_value_is(-math.inf)), name="g"), _log_is_neg_inf),
    # max(x, 0) == 0 <=> x <= 0 (a NaN x: false on both sides)
    (P(Op.EQ, P(Op.MAXIMUM, P(name="x"), P(where=_value_is(0))), P(where=_value_is(0)), name="e"),
     lambda e, x: ew(Op.LE, x, const(0.0, e.shape, x.dtype)) if is_float(x.dtype) else None),
    (P(G.COMPARE, P(name="a"), P(name="b"), name="g",
       where=lambda g: any(_parted(x) for x in g.inputs) and all(x.dtype in INTS for x in g.inputs)),
     _split_compare),
    # row-statistic algebra that the fusion plan relies on to simplify rescale factors
    (P(Op.SUB, P(name="a"), P(Op.ADD, P(name="a"), P(name="b")), name="s"),
     lambda s, a, b: ew(Op.NEG, b, dtype=s.dtype) if b.shape == s.shape else None),
    (P(Op.EXP2, P(Op.NEG, P(Op.LOG2, P(name="x"))), name="e"), lambda e, x: ew(Op.RECIP, x, dtype=e.dtype)),
    (P(Op.SUB, P(name="a"), P(name="a"), name="s", where=lambda s: is_float(s.dtype)),
     lambda s, a: const(0.0, s.shape, s.dtype)),
]


def fold(graph: Graph) -> Graph:
    # the simplify rules run alongside, so a cast folded into a constant can be absorbed in the same sweep
    return simplify(cse(graph_rewrite(graph, RULES + simplify_rules.RULES)))

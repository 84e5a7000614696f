"""Value classes by partial evaluation: what an expression is on a region where the masks are constant.

`specialize(node, truths)` replaces each atom by its truth on the region and folds. Beyond the ordinary
constant folding, values that are not constants are taken to be finite (scores computed from finite
inputs): x + (-inf) = -inf, x * 0 = 0, exp2(-inf) = 0, a matmul with a zero operand is zero. This is the
lattice {-inf, 0, finite} the paper uses to prove that a fully masked tile adds nothing to an
accumulator: the tile is dead when its folded contribution is the reduction's identity.
"""

from __future__ import annotations

import math

from compiler.ir.node import Node, const, is_const, upstream
from compiler.ir.ops import G, Op
from compiler.passes import simplify
from compiler.passes.rewrite import Memo, P, Rule, rewrite_node


def _is(value):
    return lambda n: is_const(n) and not isinstance(n.attr("value"), bool) and n.attr("value") == value


def _fill(value):
    return lambda n, **_: const(value, n.shape, n.dtype)


def _bool_is(value):
    return lambda n: is_const(n) and n.attr("value") is value


_NEG_INF, _POS_INF, _ZERO = _is(-math.inf), _is(math.inf), _is(0.0)
_ANY = P(name="x")

DEAD_RULES: list[Rule] = [
    (P(Op.ADD, _ANY, P(where=_NEG_INF), name="n"), _fill(-math.inf)),
    (P(Op.ADD, P(where=_NEG_INF), _ANY, name="n"), _fill(-math.inf)),
    (P(Op.SUB, P(where=_NEG_INF), _ANY, name="n"), _fill(-math.inf)),
    (P(Op.SUB, _ANY, P(where=_POS_INF), name="n"), _fill(-math.inf)),
    (P(Op.MUL, _ANY, P(where=_ZERO), name="n"), _fill(0.0)),
    (P(Op.MUL, P(where=_ZERO), _ANY, name="n"), _fill(0.0)),
    (P(Op.DIV, P(where=_ZERO), _ANY, name="n"), _fill(0.0)),
    (P(Op.DOT, P(where=_ZERO), _ANY, name="n"), _fill(0.0)),
    (P(Op.DOT, _ANY, P(where=_ZERO), name="n"), _fill(0.0)),
    (P(Op.MAXIMUM, _ANY, P(where=_NEG_INF), name="n"), lambda n, x: x if x.type == n.type else None),
    (P(Op.AND, _ANY, P(where=_bool_is(False)), name="n"), _fill(False)),
    (P(Op.AND, P(where=_bool_is(False)), _ANY, name="n"), _fill(False)),
    (P(Op.OR, _ANY, P(where=_bool_is(True)), name="n"), _fill(True)),
    (P(Op.OR, P(where=_bool_is(True)), _ANY, name="n"), _fill(True)),
    (P(Op.AND, _ANY, P(where=_bool_is(True)), name="n"), lambda n, x: x if x.type == n.type else None),
    (P(Op.OR, _ANY, P(where=_bool_is(False)), name="n"), lambda n, x: x if x.type == n.type else None),
    (P(Op.WHERE, P(), P(name="x"), P(name="x"), name="n"), lambda n, x: x if x.type == n.type else None),
]


def specialize(root: Node, truths: dict[int, bool], keep=()) -> Node:
    """root with every atom (id -> truth) replaced by its constant, folded under the finite assumption.
    Nodes in `keep` (the running statistics a tile expression refers to) are left as they are, unless they
    compute from an atom (a mask of one index, j < 4, is small, yet has a truth on the region)."""
    subst: Rule = (P(where=lambda n: id(n) in truths, name="a"),
                   lambda a: const(truths[id(a)], a.shape, a.dtype))
    memo = Memo()
    known = {k for k, t in truths.items() if t is not None}
    for n in keep:
        # up to reductions: a statistic read from the loop is kept even if its own masks were atoms
        if not any(id(u) in known for u in upstream([n], lambda u: u.op not in G.REDUCE and u.op is not Op.DOT)):
            memo.put(n, n)
    return rewrite_node(root, [subst] + simplify.RULES + DEAD_RULES, memo)


def is_identity(n: Node, op: Op) -> bool:
    """Whether n is the constant that reduction `op` ignores (0 for sums and matmuls, -inf for max...)."""
    if n.op is not Op.CONST:
        return False
    value = n.attr("value")
    if op is Op.ANY:
        return value is False
    if op is Op.DOT:
        return value == 0.0 and not isinstance(value, bool)
    identity = {Op.SUM: 0.0, Op.MAX: -math.inf, Op.MIN: math.inf}[op]
    return not isinstance(value, bool) and value == identity

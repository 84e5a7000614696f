"""Index functions: tensors defined by their indices (masks), and where they are constant.

An integer expression of IOTAs and constants is affine in the (i, j) indices of a score space. A comparison
of two such expressions whose i and j coefficients cancel (a*(j - i) + c >= 0) depends only on the diagonal
offset d = j - i: it is an *atom*, true on one side of a threshold. The thresholds of all atoms cut the
d line into intervals; inside one interval every atom is a constant, so a tile that lies inside it can be
computed with the mask folded away, and a tile where the folded expression is the reduction's identity is
dead (skipped). A comparison of one index with a constant (j < 4: attention sinks) is an *axis atom*, true
on one side of a threshold on that index; a pass cuts its streamed index by them (axis_atoms) to skip the
tiles of a diagonal region that are dead there. Comparisons of other index forms stay as they are: always
computed, never skipped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from compiler.analysis.axes import AxisInfo, Space
from compiler.ir.dtypes import INTS
from compiler.ir.node import Node
from compiler.ir.ops import G, Op


@dataclass(frozen=True)
class Affine:
    i: int = 0
    j: int = 0
    c: int = 0

    def __add__(self, o: Affine) -> Affine:
        return Affine(self.i + o.i, self.j + o.j, self.c + o.c)

    def scale(self, k: int) -> Affine:
        return Affine(self.i * k, self.j * k, self.c * k)


@dataclass(frozen=True)
class Atom:
    """A comparison that is a function of d = j - i only: `kind` in ge (d >= t), lt, eq, ne. (An axis atom
    is the same with one index in place of d.)"""

    node: Node
    kind: str
    t: int

    def truth(self, lo: float, hi: float) -> bool | None:
        """Its value for every d in [lo, hi], or None if it changes inside."""
        if self.kind in ("ge", "lt"):
            if lo >= self.t:
                value = True
            elif hi < self.t:
                value = False
            else:
                return None
            return value if self.kind == "ge" else not value
        if lo == hi == self.t:
            return self.kind == "eq"
        if hi < self.t or lo > self.t:
            return self.kind == "ne"
        return None

    @property
    def thresholds(self) -> tuple[int, ...]:
        return (self.t,) if self.kind in ("ge", "lt") else (self.t, self.t + 1)


def _affine(n: Node, axes: AxisInfo, space: Space, memo: dict) -> Affine | None:
    if id(n) in memo:
        return memo[id(n)]
    out = None
    if n.op is Op.IOTA:
        c = axes.of(n)[n.attr("axis")]
        out = Affine(i=1) if c == space.i else Affine(j=1) if c == space.j else None
    elif n.op is Op.CONST and n.dtype in INTS:
        out = Affine(c=int(n.attr("value")))
    elif n.op in (Op.ADD, Op.SUB) and n.dtype in INTS:
        a, b = (_affine(x, axes, space, memo) for x in n.inputs)
        if a is not None and b is not None:
            out = a + (b if n.op is Op.ADD else b.scale(-1))
    elif n.op is Op.MUL and n.dtype in INTS:
        a, b = (_affine(x, axes, space, memo) for x in n.inputs)
        if a is not None and b is not None and (a.i == a.j == 0 or b.i == b.j == 0):
            out = b.scale(a.c) if a.i == a.j == 0 else a.scale(b.c)
    elif n.op is Op.NEG and n.dtype in INTS:
        a = _affine(n.src, axes, space, memo)
        out = a.scale(-1) if a is not None else None
    elif n.op is Op.CAST and n.dtype in INTS:
        out = _affine(n.src, axes, space, memo)
    memo[id(n)] = out
    return out


_FLIP = {Op.GE: Op.LE, Op.GT: Op.LT, Op.LE: Op.GE, Op.LT: Op.GT, Op.EQ: Op.EQ, Op.NE: Op.NE}


def _atom(n: Node, f: Affine) -> Atom | None:
    """Normalize `f(i, j) OP 0` with f = a*(j - i) + c into an Atom on d = j - i."""
    if f.i != -f.j or f.j == 0:
        return None
    return _threshold(n, f.j, f.c)


def _threshold(n: Node, a: int, c: int) -> Atom | None:
    """Normalize `a*x + c OP 0` (a != 0) into an Atom on x: `x OP' t`."""
    op, c = n.op, Fraction(c)
    if a < 0:
        op, a, c = _FLIP[op], -a, -c
    x = -c / a  # the predicate is `d OP x`
    if op is Op.GE:
        return Atom(n, "ge", math.ceil(x))
    if op is Op.GT:
        return Atom(n, "ge", math.floor(x) + 1)
    if op is Op.LE:
        return Atom(n, "lt", math.floor(x) + 1)
    if op is Op.LT:
        return Atom(n, "lt", math.ceil(x))
    if x.denominator != 1:
        return None
    return Atom(n, "eq" if op is Op.EQ else "ne", int(x))


def _compared(nodes, axes: AxisInfo, space: Space):
    """(comparison, f) for each comparison among `nodes` of two affine index expressions: `f OP 0`."""
    memo: dict[int, Affine | None] = {}
    for n in nodes:
        if n.op not in G.COMPARE:
            continue
        a, b = (_affine(x, axes, space, memo) for x in n.inputs)
        if a is not None and b is not None:
            yield n, a + b.scale(-1)


def atoms(nodes, axes: AxisInfo, space: Space) -> tuple[Atom, ...]:
    """The diagonal atoms among `nodes` (comparisons of affine index expressions)."""
    found = (_atom(n, f) for n, f in _compared(nodes, axes, space))
    return tuple(a for a in found if a is not None)


def axis_atoms(nodes, axes: AxisInfo, space: Space, cls: int) -> tuple[Atom, ...]:
    """The atoms on one index among `nodes`: comparisons of index `cls` (space.i or space.j) with a
    constant, each an Atom whose threshold is on that index."""
    found = []
    for n, f in _compared(nodes, axes, space):
        a, other = (f.i, f.j) if cls == space.i else (f.j, f.i)
        atom = _threshold(n, a, f.c) if a != 0 and other == 0 else None
        if atom is not None:
            found.append(atom)
    return tuple(found)


def intervals(found: tuple[Atom, ...]) -> tuple[tuple[float, float], ...]:
    """The d intervals [lo, hi] (inclusive, ±inf at the ends) on which every atom is constant."""
    cuts = sorted({t for a in found for t in a.thresholds})
    bounds = [-math.inf, *cuts, math.inf]
    return tuple((bounds[k], bounds[k + 1] - 1 if k + 1 < len(cuts) + 1 else math.inf)
                 for k in range(len(cuts) + 1))

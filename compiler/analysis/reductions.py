"""Reduction classes: how each reduction of a score-sized value can be computed.

A *sink* is where a score-sized (quadratic) value becomes small again: a reduction along I or J, or a
matmul that contracts I or J (P·V). A sink depends on another when its operand reads the other's result
(through small nodes such as lse = m + log2(l)). Classes:

- independent: its operand reads no other sink; one streaming pass computes it;
- online: it reads sinks of the same pass only through factors that are constant along the reduced axis
  (exp2(x - c) with a running max of x in the same pass, or a division by a row statistic), so the pass
  keeps a running max and rescales the accumulator (online softmax: P·V and the row sum);
- finished: it needs other sinks' final values (column sums of probabilities need the finished row
  log-sum-exp), so it runs in a later pass that recomputes the scores and loads those values.

A score-sized value computed from the scores that must exist as a tensor (a program output such as the
attention probabilities, or the one row a view selects) is a *store*: a sink with no reduction (`op` None)
whose pass writes its tiles as it visits them; it reads its statistics finished, like any finished sink.

The stage of a sink is the number of passes that must finish before it.
"""

from __future__ import annotations

from dataclasses import dataclass

from compiler.analysis.axes import AxisInfo, Space
from compiler.ir.build import cast, ew
from compiler.ir.node import Graph, Node
from compiler.ir.ops import G, Op
from compiler.passes import fold, simplify
from compiler.passes.rewrite import rewrite_node


@dataclass(frozen=True, eq=False)
class Sink:
    node: Node
    op: Op | None  # SUM, MAX, MIN, ANY, DOT; None: a store (the tiles are written, nothing is reduced)
    axis: int  # the class it reduces or contracts (a store: the class its pass streams)
    operand: Node  # the quadratic operand
    other: Node | None = None  # DOT: the small operand (V)


@dataclass(frozen=True, eq=False)
class Factored:
    """operand = base * post, where base may use the running value of `shift` and post is constant
    along the reduced axis (applied once after the loop)."""

    base: Node
    shift: Node | None
    post: Node | None


@dataclass(frozen=True, eq=False)
class ReductionInfo:
    space: Space
    sinks: tuple[Sink, ...]
    blocked: tuple[tuple[Node, str], ...]  # uses of quadratic values that cannot be fused, and why
    deps: dict[int, tuple[Sink, ...]]
    stage: dict[int, int]
    kind: dict[int, str]  # independent | online | finished
    factored: dict[int, Factored]
    partners: dict[int, tuple[Sink, ...]]  # sinks that must share this sink's pass (online links)

    def sink_of(self, n: Node) -> Sink | None:
        return next((s for s in self.sinks if s.node is n), None)


def _from_scores(graph: Graph, space: Space) -> set[int]:
    """ids of the nodes that read the space's matmuls (directly or not)."""
    out = {id(d) for d in space.dots}
    for n in graph.nodes:
        if any(id(i) in out for i in n.inputs):
            out.add(id(n))
    return out


def _find_sinks(graph: Graph, axes: AxisInfo, space: Space):
    sinks, blocked = [], []
    quad = {id(n) for n in graph.nodes if axes.quadratic(n, space)}
    scored = _from_scores(graph, space)
    stored: set[int] = set()

    def store(x: Node) -> None:
        if id(x) not in stored:
            stored.add(id(x))
            sinks.append(Sink(x, None, space.j, x))

    for n in graph.nodes:
        if id(n) in quad:
            # a score-sized value of inputs and indices alone (a mask, a bias) is no use of the scores
            why = _not_in_a_tile(n, space, quad) if id(n) in scored else ""
            if why:
                blocked.append((n, why))
            elif graph.is_output(n) and id(n) in scored:
                store(n)
            continue
        qin = [i for i in n.inputs if id(i) in quad and id(i) in scored]
        if not qin:
            continue
        if n.op is Op.VIEW and id(n.src) in scored and role_preserving(n):
            store(n.src)  # one row or column of the scores' tiles (a selection of size 1)
        elif n.op in G.REDUCE and axes.of(n.src)[n.attr("axis")] in (space.i, space.j):
            sinks.append(Sink(n, n.op, axes.of(n.src)[n.attr("axis")], n.src))
        elif n.op is Op.DOT and len(qin) == 1 and qin[0] is n.inputs[0] and axes.of(n.inputs[0])[-1] in (
                space.i, space.j):
            sinks.append(Sink(n, Op.DOT, axes.of(n.inputs[0])[-1], n.inputs[0], n.inputs[1]))
        else:
            blocked.append((n, _unfused_use(n)))
    return tuple(sinks), tuple(blocked), quad


def _not_in_a_tile(n: Node, space: Space, quad: set[int]) -> str:
    """Why a kernel cannot compute score-sized n tile by tile ('' if it can)."""
    if n.op in G.ELEMENTWISE or n.op in G.SOURCE or n.op is Op.DOT and any(n is d for d in space.dots):
        return ""
    if n.op is Op.VIEW and (n.src.op is Op.INPUT or id(n.src) not in quad or role_preserving(n)):
        return ""
    if n.op is Op.TORCH:
        return f"torch {n.attr('target')} (no rule to fuse it) computes a score-sized value"
    if n.op in G.REDUCE:
        return f"{n.op.name.lower()} over a dim other than the rows or columns of the scores"
    if n.op is Op.DOT:
        return "a matmul of score-sized values"
    return f"{n.op.name.lower()} of score-sized values (neither a row or column selection nor a permutation)"


def _unfused_use(n: Node) -> str:
    if n.op is Op.TORCH:
        return f"torch {n.attr('target')} (no rule to fuse it) reads score-sized values"
    if n.op is Op.VIEW:
        return "a view of score-sized values that is no row or column selection"
    return f"{n.op.name.lower()} of score-sized values that is no reduction along the rows or columns"


def _sink_deps(node: Node, by_id: dict[int, Sink], memo: dict) -> frozenset[int]:
    """ids of the sinks `node` reads."""
    hit = memo.get(id(node))
    if hit is not None:
        return hit[1]
    out: set[int] = set()
    for i in node.inputs:
        if id(i) in by_id:
            out.add(id(i))
        else:
            out |= _sink_deps(i, by_id, memo)
    # the node is held with its result so that its id cannot be reused by a new node
    memo[id(node)] = (node, frozenset(out))
    return memo[id(node)][1]


class _Factorizer:
    """Splits an operand into a per-tile base and a post factor constant along `axis`."""

    def __init__(self, axes: AxisInfo, sink: Sink, live: dict[int, Sink], maxes: dict[int, Sink], deps):
        self.axes, self.axis, self.live, self.maxes, self.deps = axes, sink.axis, live, maxes, deps

    def reads_live(self, n: Node) -> bool:
        return bool(self.deps(n) & set(self.live))

    def constant_along(self, n: Node) -> bool:
        return self.axis not in self.axes.of(n) or n.shape[self.axes.of(n).index(self.axis)] == 1

    def __call__(self, n: Node) -> Factored | None:
        if not self.reads_live(n):
            return Factored(n, None, None)
        if n.op is Op.CAST:
            f = self(n.src)
            return f and Factored(cast(f.base, n.dtype), f.shift, f.post)
        if n.op is Op.MUL:
            return self._product(n)
        if n.op is Op.DIV and self.constant_along(n.inputs[1]):
            f = self(n.inputs[0])
            return f and Factored(f.base, f.shift, _mul(f.post, ew(Op.RECIP, n.inputs[1])))
        if n.op is Op.EXP2 and n.src.op is Op.SUB:
            x, c = n.src.inputs
            m = self.maxes.get(id(x))
            if m is not None and not self.reads_live(x) and self.constant_along(c):
                return Factored(ew(Op.EXP2, ew(Op.SUB, x, m.node)), m.node, ew(Op.EXP2, ew(Op.SUB, m.node, c)))
        return None

    def _product(self, n: Node) -> Factored | None:
        parts = []
        for x in n.inputs:
            if self.constant_along(x):
                parts.append(Factored(None, None, x))
            else:
                f = self(x)
                if f is None:
                    return None
                parts.append(f)
        shifts = {id(p.shift): p.shift for p in parts if p.shift is not None}
        if len(shifts) > 1:
            return None
        bases = [p.base for p in parts if p.base is not None]
        if not bases:
            return None
        base = bases[0]
        for b in bases[1:]:
            base = ew(Op.MUL, base, b, dtype=n.dtype)
        post = None
        for p in parts:
            post = _mul(post, p.post)
        return Factored(base, next(iter(shifts.values()), None), post)


def _mul(a: Node | None, b: Node | None) -> Node | None:
    if a is None or b is None:
        return a if b is None else b
    return ew(Op.MUL, a, b)


def _tidy(n: Node | None) -> Node | None:
    return n if n is None else rewrite_node(n, fold.RULES + simplify.RULES)


def reduction_info(graph: Graph, axes: AxisInfo, space: Space) -> ReductionInfo:
    sinks, blocked, _ = _find_sinks(graph, axes, space)
    # a store is no barrier: a value that reads the stored tiles recomputes them (it depends on what they do)
    by_id = {id(s.node): s for s in sinks if s.op is not None}
    memo: dict = {}
    deps = lambda n: _sink_deps(n, by_id, memo)  # noqa: E731
    stage, kind, factored, partners = {}, {}, {}, {}
    for s in sinks:  # graph order: a sink's dependencies come before it
        mine = deps(s.node)
        if not mine:
            stage[id(s.node)], kind[id(s.node)] = 0, "independent"
            factored[id(s.node)], partners[id(s.node)] = Factored(s.operand, None, None), ()
            continue
        live = {d: by_id[d] for d in mine if by_id[d].axis == s.axis and s.op is not None}
        maxes = {id(x.operand): x for x in live.values() if x.op is Op.MAX}
        f = _Factorizer(axes, s, live, maxes, deps)(s.operand) if live else None
        if f is not None:
            used = (deps(f.base) | (deps(f.post) if f.post is not None else frozenset())) & set(live)
            if f.shift is not None:
                used |= {id(f.shift)}
            others = mine - used
            st = max([stage[d] for d in used] + [stage[d] + 1 for d in others])
            if all(stage[d] == st for d in used):
                stage[id(s.node)], kind[id(s.node)] = st, "online"
                factored[id(s.node)] = Factored(f.base, f.shift, _tidy(f.post))
                partners[id(s.node)] = tuple(by_id[d] for d in sorted(used, key=_order(sinks)))
                continue
        stage[id(s.node)] = max(stage[d] + 1 for d in mine)
        kind[id(s.node)] = "finished"
        factored[id(s.node)], partners[id(s.node)] = Factored(s.operand, None, None), ()
    deps_out = {id(s.node): tuple(by_id[d] for d in sorted(deps(s.node), key=_order(sinks))) for s in sinks}
    return ReductionInfo(space, sinks, blocked, deps_out, stage, kind, factored, partners)


def role_preserving(n: Node) -> bool:
    """A view that only permutes dims or adds and drops size-1 dims: in a kernel it is the same value."""
    if n.op is not Op.VIEW or any(n.attr("layout").offset):
        return False
    layout = n.attr("layout")
    return all(s == 1 or layout.linked_dim(d) is not None for d, s in enumerate(n.shape))


def _order(sinks):
    index = {id(s.node): k for k, s in enumerate(sinks)}
    return lambda d: index[d]

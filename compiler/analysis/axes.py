"""Axis classes: which dims of which tensors are the same logical dimension.

Dims are unified through elementwise broadcasting (equal sizes), reductions (the kept dims), matmuls
(batch, M, N and the contracted K) and views (a dim that is exactly a source dim), except where that
would make two dims of one tensor one class (a vector indexed by row and by column serves both). A *score space* is the
(M, N) pair of a first-level matmul, one whose operands depend on no other matmul: in attention, I
(queries) and J (keys) of QKᵀ. A tensor with both I and J dims is *quadratic* (score-sized); the fusion
plan never lets one reach global memory unless it is a program input or output. A matmul whose output
has a size-1 axis where another one's has a score axis (q @ u, u of shape [D, 1]) is a row or column
vector, not a score space.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from compiler.ir.node import Graph, Node
from compiler.ir.ops import G, Op


class _UnionFind:
    def __init__(self):
        self.parent: list[int] = []
        self.reduced: set[int] = set()  # roots of classes that are the kept dim of a reduction

    def new(self, reduced: bool = False) -> int:
        self.parent.append(len(self.parent))
        if reduced:
            self.reduced.add(len(self.parent) - 1)
        return len(self.parent) - 1

    def compatible(self, a: int, b: int) -> bool:
        """A reduced (size-1, keepdim) dim never joins a dim that was not reduced: with a sequence of
        length 1 they have equal sizes but are different dimensions."""
        return (self.find(a) in self.reduced) == (self.find(b) in self.reduced)

    def find(self, a: int) -> int:
        while self.parent[a] != a:
            self.parent[a] = self.parent[self.parent[a]]
            a = self.parent[a]
        return a

    def union(self, a: int, b: int) -> None:
        a, b = self.find(a), self.find(b)
        if a != b:
            self.parent[max(a, b)] = min(a, b)
            if a in self.reduced or b in self.reduced:
                self.reduced.add(min(a, b))


@dataclass(frozen=True)
class Space:
    """A score space: rows `i` (the matmul's M class), columns `j` (N class), and its batch classes."""

    i: int
    j: int
    batch: tuple[int, ...]
    dots: tuple[Node, ...]


@dataclass(frozen=True, eq=False)
class AxisInfo:
    graph: Graph
    classes: dict[int, tuple[int, ...]]  # id(node) -> class per dim
    sizes: dict[int, int]  # class -> size
    spaces: tuple[Space, ...] = field(default=())
    _own: frozenset[int] = field(default=frozenset())
    _derived: dict[int, tuple[Node, tuple[int, ...]]] = field(default_factory=dict)

    def of(self, n: Node) -> tuple[int, ...]:
        """The class of each dim of n; nodes built after the analysis (by the fusion planner) get
        theirs from their inputs, as broadcasting and reductions define."""
        if id(n) in self._own:
            return self.classes[id(n)]
        hit = self._derived.get(id(n))
        # the cache holds each node with its classes, so an id is never reused while cached
        return hit[1] if hit is not None and hit[0] is n else self._derive(n)

    def _derive(self, n: Node) -> tuple[int, ...]:
        if n.op in G.ELEMENTWISE or n.op in G.REDUCE:
            out = []
            for d in range(n.type.rank):
                cls = -1
                for x in n.inputs:
                    k = d - (n.type.rank - x.type.rank)
                    if k >= 0 and x.shape[k] == n.shape[d] and not (n.op in G.REDUCE and d == n.attr("axis")):
                        cls = self.of(x)[k]
                        break
                out.append(cls)
            hit = tuple(out)
        elif n.op is Op.CONST:
            # a constant is the same along every dim: no class needed
            hit = (-1,) * n.type.rank
        else:
            raise KeyError(f"no axis classes for a new {n.op.name} node")
        self._derived[id(n)] = (n, hit)
        return hit

    def declare(self, n: Node, classes: tuple[int, ...]) -> Node:
        """Record the classes of a node the planner builds when they cannot be derived from its inputs
        (a reduction of a band selected by triu/tril); returns n."""
        if len(classes) != n.type.rank:
            raise ValueError(f"{len(classes)} classes for a node of rank {n.type.rank}")
        self._derived[id(n)] = (n, tuple(classes))
        return n

    def quadratic(self, n: Node, space: Space) -> bool:
        c = self.of(n)
        return space.i in c and space.j in c

    def space_of(self, n: Node) -> Space | None:
        for s in self.spaces:
            if self.quadratic(n, s):
                return s
        return None


def _reduced_dims(graph: Graph) -> dict[int, set[int]]:
    """Per node, its dims that are the kept dim of a reduction: a reduction's axis, and what a view or an
    elementwise op of such dims alone keeps of them (the lse m + log2(l) is a statistic like m)."""
    out: dict[int, set[int]] = {}
    for n in graph.nodes:
        if n.op in G.REDUCE:
            out[id(n)] = {n.attr("axis")}
        elif n.op is Op.VIEW:
            layout = n.attr("layout")
            out[id(n)] = {d for d in range(n.type.rank) if layout.linked_dim(d) in out[id(n.src)]}
        elif n.op in G.ELEMENTWISE and n.inputs:
            out[id(n)] = {d for d in range(n.type.rank) if n.shape[d] == 1 and all(
                _aligned(x, n, d) is None or _aligned(x, n, d) in out[id(x)] for x in n.inputs) and any(
                _aligned(x, n, d) is not None and x.op is not Op.CONST for x in n.inputs)}
        else:
            out[id(n)] = set()
    return out


def _aligned(x: Node, n: Node, d: int) -> int | None:
    k = d - (n.type.rank - x.type.rank)
    return k if k >= 0 else None


def _links(n: Node, dims: dict):
    """(strength, class, class, checked) for the dims n says are one dimension: strength 0 for elementwise
    broadcasting, the kept dims of a reduction and a matmul's batch, M and N dims; 1 for a matmul's
    contracted dims; 2 for a view dim that is exactly a source dim. `checked`: not between a reduced dim
    and one that is not (elementwise broadcasting of a keepdim statistic)."""
    mine = dims[id(n)]
    if n.op in G.ELEMENTWISE:
        for x in n.inputs:
            for k in range(x.type.rank):
                d = n.type.rank - x.type.rank + k
                if x.shape[k] == n.shape[d]:
                    yield 0, dims[id(x)][k], mine[d], True
    elif n.op in G.REDUCE:
        for d in range(n.type.rank):
            if d != n.attr("axis"):
                yield 0, dims[id(n.src)][d], mine[d], False
    elif n.op is Op.DOT:
        a, b = n.inputs
        yield 0, dims[id(a)][-2], mine[-2], False
        yield 0, dims[id(b)][-1], mine[-1], False
        yield 1, dims[id(a)][-1], dims[id(b)][-2], False
        for x in (a, b):
            for k in range(x.type.rank - 2):
                d = n.type.rank - x.type.rank + k
                if x.shape[k] == n.shape[d]:
                    yield 0, dims[id(x)][k], mine[d], False
    elif n.op is Op.VIEW:
        layout = n.attr("layout")
        for d in range(n.type.rank):
            src = layout.linked_dim(d)
            if src is not None:
                yield 2, dims[id(n.src)][src], mine[d], False


def _unify(uf: _UnionFind, graph: Graph, dims: dict) -> None:
    """Apply every link, strongest first, except one that would make two dims of one tensor the same
    class: a vector read as a column and as a row (ids[:, None] == ids[None, :], positions, lengths)
    serves both I and J, and P @ P contracts the columns of one with the rows of the other; they stay
    two dimensions."""
    together: dict[int, set[int]] = {}  # class -> the classes it is another dim of some tensor with
    for n in graph.nodes:
        roots = set(dims[id(n)])
        for r in roots:
            together.setdefault(r, set()).update(roots - {r})
    links = sorted((link for n in graph.nodes for link in _links(n, dims)), key=lambda t: t[0])
    for _, x, y, checked in links:
        a, b = uf.find(x), uf.find(y)
        if a == b or b in together.get(a, ()) or checked and not uf.compatible(a, b):
            continue
        uf.union(a, b)
        root = uf.find(a)
        gone = b if root == a else a
        merged = together.pop(a, set()) | together.pop(b, set())
        for c in merged:
            together[c].discard(gone)
            together[c].add(root)
        together[root] = merged


def _first_level_dots(graph: Graph) -> list[Node]:
    below_dot: dict[int, bool] = {}
    for n in graph.nodes:
        below_dot[id(n)] = any(below_dot[id(i)] or i.op is Op.DOT for i in n.inputs)
    return [n for n in graph.nodes if n.op is Op.DOT and not below_dot[id(n)]]


def axis_info(graph: Graph) -> AxisInfo:
    uf = _UnionFind()
    reduced = _reduced_dims(graph)
    dims = {id(n): [uf.new(d in reduced[id(n)]) for d in range(n.type.rank)] for n in graph.nodes}
    _unify(uf, graph, dims)
    classes = {k: tuple(uf.find(c) for c in v) for k, v in dims.items()}
    sizes: dict[int, int] = {}
    for n in graph.nodes:
        for c, s in zip(classes[id(n)], n.shape):
            sizes[c] = max(sizes.get(c, 1), s)
    spaces: dict[tuple[int, int], list[Node]] = {}
    for d in _first_level_dots(graph):
        c = classes[id(d)]
        if c[-2] != c[-1]:
            spaces.setdefault((c[-2], c[-1]), []).append(d)
    found = tuple(Space(i, j, tuple(dict.fromkeys(classes[id(ds[0])][:-2])), tuple(ds))
                  for (i, j), ds in spaces.items() if not _vector_product(i, j, spaces, sizes))
    return AxisInfo(graph, classes, sizes, found, frozenset(classes))


def _vector_product(i: int, j: int, spaces: dict[tuple[int, int], list[Node]], sizes) -> bool:
    """Whether the matmul pair (i, j) is a row or column vector beside a real score space: its size-1
    axis stands where another pair has a longer one (q @ w with w [D, 1] beside q @ kᵀ is a per-query
    value, not scores), and is an operand's own size-1 dim, not a slice of a longer one (TOVA's last
    query row, restricted to a score space of its own, stays one). A lone pair with a size-1 axis (one
    query decoding) stays a score space."""
    dots = spaces[(i, j)]
    return (sizes[j] == 1 and any(a == i and sizes[b] > 1 for a, b in spaces) and
            not any(_sliced(d.inputs[1], -1) for d in dots) or
            sizes[i] == 1 and any(b == j and sizes[a] > 1 for a, b in spaces) and
            not any(_sliced(d.inputs[0], -2) for d in dots))


def _sliced(n: Node, dim: int) -> bool:
    """Whether dim of n (size 1) is a part of a longer dim of what n views, through views and the
    elementwise ops the restriction moved below."""
    dim %= n.type.rank
    if n.op is Op.VIEW:
        layout = n.attr("layout")
        real = [f for f in layout.dims[dim] if f.dim >= 0]
        return len(real) == 1 and (layout.src_shape[real[0].dim] > 1 or _sliced(n.src, real[0].dim))
    if n.op in G.ELEMENTWISE:
        return any(_sliced(x, k) for x in n.inputs
                   if (k := dim - (n.type.rank - x.type.rank)) >= 0 and x.shape[k] == 1 and x.op is not Op.CONST)
    return False

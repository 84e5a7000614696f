"""The whole plan: kernels, their epilogues and stores, the torch steps, and the order of all of them.

Every node ends up in exactly one place: inside a kernel (its score-sized tile expressions, its
accumulators, its epilogue), in a torch step, or nowhere (inlined: constants, index expressions and
elementwise functions of inputs are recomputed where they are used). What must exist as a tensor is found
by demand, from the program outputs and from what each kernel and torch step reads.
"""

from __future__ import annotations

from dataclasses import replace

from compiler.analysis.axes import AxisInfo
from compiler.analysis.properties import PropertyInfo
from compiler.analysis.reductions import role_preserving
from compiler.fusion.hoist import Hoister, sources_only
from compiler.fusion.kernels import build_kernel, group_sinks, space_rejections
from compiler.fusion.maps import fuse_prologue
from compiler.fusion.plan import KernelPlan, Plan, Rejected, TorchStep
from compiler.ir.node import Graph, Node, upstream
from compiler.ir.ops import G, Op
from compiler.ir.printer import Names
from compiler.options import CompileOptions


def _input_only(graph: Graph) -> set[int]:
    """ids of nodes computed from inputs and constants only (no matmul, no index tensor)."""
    out = set()
    for n in graph.nodes:
        if n.op in (Op.INPUT, Op.CONST) or (
                n.op in G.ELEMENTWISE | {Op.VIEW} and all(id(i) in out for i in n.inputs)):
            out.add(id(n))
    return out


def _hoisted(graph: Graph, axes: AxisInfo, options: CompileOptions) -> list[Node]:
    """Score-sized expressions of inputs alone that every head would recompute (log2 of CORM's threshold):
    computed once, before the kernels."""
    if not options.hoist_broadcast_inputs:
        return []
    pure = _input_only(graph)
    found = []
    for n in graph.nodes:
        space = axes.space_of(n)
        if space is None or id(n) not in pure or n.op in (Op.INPUT, Op.CONST, Op.VIEW):
            continue
        broadcast = [c for c in space.batch if axes.sizes[c] > 1 and c not in axes.of(n)]
        users = graph.uses(n)
        maximal = any(id(u) not in pure or axes.space_of(u) is None for u in users)
        if broadcast and maximal:
            found.append(n)
    return found


class _Planner:
    def __init__(self, props: PropertyInfo, options: CompileOptions, name: str):
        self.graph, self.options, self.name = props.graph, options, name
        self.props = props
        self.axes = props.axes
        self.names = Names(self.graph)
        self.pos = {id(n): k for k, n in enumerate(self.graph.nodes)}
        self.kernels: list[KernelPlan] = []
        self.rejected: list[Rejected] = []
        self.torch: dict[int, TorchStep] = {}
        self.home: dict[int, int] = {}  # id(node) -> index of the kernel that computes it
        self.stores: dict[int, dict[int, Node]] = {}

    def run(self) -> Plan:
        prologue = _hoisted(self.graph, self.axes, self.options)
        for n in prologue:
            self.torch[id(n)] = TorchStep(n, "prologue", "input-only and the same for every head: "
                                          "computed once instead of once per program")
        materialized = {id(n) for n in self.graph.nodes if n.op is Op.INPUT} | {id(n) for n in prologue}
        self._build_kernels(materialized)
        self._epilogues()
        direct = self._demand_outputs()
        for k in range(len(self.kernels)):
            self._demand_kernel(k)
        steps = self._order()
        if self.options.prologue_kernels:
            steps = fuse_prologue(steps, self.name)
        return Plan(self.graph, self.axes, tuple(steps), tuple(direct), tuple(self.rejected))

    def _build_kernels(self, materialized: set[int]) -> None:
        hoist = None
        if self.options.hoist_head_independent_tiles:
            hoist = Hoister(self.axes, self.names, sources_only(self.graph))
        for ri in self.props.reductions:
            if ri.blocked:
                self.rejected += space_rejections(ri, self.names)
                continue
            groups, rejected = group_sinks(ri, self.axes, materialized, self.options, self.names)
            self.rejected += rejected
            for g in groups:
                k = len(self.kernels)
                notes = self._grid_notes(g)
                kernel = build_kernel(f"{self.name}_k{k}", g, ri, self.axes, self.options, notes[1], hoist)
                kernel = _with(kernel, batch_fastest=notes[0])
                if self.options.stop_saturated_any and all(a.sink.op is Op.ANY for a in kernel.accumulators):
                    kernel = _with(kernel, stops_saturated=True, notes=kernel.notes + (
                        "each loop segment stops once every lane of the program's any is true: after its "
                        "first tile, the rest runs only while one is still false",))
                self.kernels.append(kernel)
                for s in g.sinks:
                    self.home[id(s.node)] = k
        if hoist is not None:
            self.rejected += hoist.rejected
            for step, reader in hoist.steps:
                # ordered with the kernel that reads it (the dependency puts it first)
                self.pos[id(step.node)] = self.pos[id(reader)]
                self.torch[id(step.node)] = step

    def _grid_notes(self, group) -> tuple[bool, list[str]]:
        shared = [n for n in self.graph.nodes if id(n) in group.streams and any(
            self.axes.sizes[c] > 1 and c not in self.axes.of(n) for c in group.space.batch)]
        if shared:
            names = ", ".join(self.names(n) for n in shared)
            return True, [f"grid runs the batch/heads fastest: {names} is the same for every head, so "
                          "programs running together re-read its tiles from L2"]
        return False, []

    # --- epilogues: small nodes computed right after a kernel's loop ---

    def dep(self, n: Node) -> int:
        """The last kernel whose results n depends on (-1: none)."""
        hit = self._dep.get(id(n))
        if hit is not None and hit[0] is n:
            return hit[1]
        d = max([self.dep(i) for i in n.inputs] + [self.home.get(id(n), -1)])
        self._dep[id(n)] = (n, d)
        return d

    def _epilogues(self) -> None:
        self._dep: dict[int, tuple[Node, int]] = {}
        dep = {id(n): self.dep(n) for n in self.graph.nodes}
        for k, kernel in enumerate(self.kernels):
            allowed = self._epilogue_classes(kernel)
            done = {id(s) for s in kernel.sinks}
            epilogue = []
            for n in self.graph.nodes:
                if (dep[id(n)] != k or id(n) in done or self.axes.space_of(n) is not None
                        or not (n.op in G.ELEMENTWISE or role_preserving(n))):
                    continue
                if not all(c in allowed or s == 1 for c, s in zip(self.axes.of(n), n.shape)):
                    continue
                if all(id(i) in done or dep[id(i)] < k for i in n.inputs):
                    epilogue.append(n)
                    done.add(id(n))
                    self.home[id(n)] = k
            self.kernels[k] = _with(kernel, epilogue=tuple(epilogue))

    def _epilogue_classes(self, kernel: KernelPlan) -> set[int]:
        allowed = set(kernel.space.batch) | {kernel.p}
        for a in kernel.accumulators:
            allowed |= set(self.axes.of(a.sink.node))
        allowed.discard(kernel.r)
        return allowed

    # --- demand: what must exist as a tensor ---

    def _materialize(self, n: Node, why: str = "") -> None:
        if n.op is Op.INPUT:
            return
        if id(n) in self.home:
            self.stores.setdefault(self.home[id(n)], {})[id(n)] = n
            return
        if id(n) in self.torch:
            return
        kind = "view" if n.op is Op.VIEW else "fallback"
        self.torch[id(n)] = TorchStep(n, kind, why or self._fallback_reason(n))
        for i in n.inputs:
            self._materialize(i)

    def _fallback_reason(self, n: Node) -> str:
        if n.op is Op.VIEW:
            return "a view, free in torch"
        if n.op is Op.TORCH:
            return "no rule for this ATen op; it runs in torch"
        if self.axes.space_of(n) is not None:
            return "score-sized value of a space that could not be fused"
        return "not part of any kernel (small tensor)"

    def _demand_outputs(self) -> list[tuple[int, Node]]:
        direct, used = [], set()
        for index, out in enumerate(self.graph.outputs):
            x = out.src if out.op is Op.VIEW else out
            if id(x) in self.home and id(x) not in used and (x is out or direct_strides(out, x) is not None):
                used.add(id(x))
                direct.append((index, x))
                self.stores.setdefault(self.home[id(x)], {})[id(x)] = x
            else:
                self._materialize(out)
        return direct

    def _demand_kernel(self, k: int) -> None:
        kernel = self.kernels[k]
        inside = {id(s) for s in kernel.sinks} | {id(n) for n in kernel.epilogue}
        # a store's base is its own sink: what it reads are the inputs of that tile expression
        roots = [i for a in kernel.accumulators for i in (a.base.inputs if a.base is a.sink.node else (a.base,))]
        roots += [a.post for a in kernel.accumulators if a.post]
        roots += [a.init for a in kernel.accumulators if a.init is not None]
        roots += [a.sink.other for a in kernel.accumulators if a.sink.other is not None]
        roots += [i for n in kernel.epilogue for i in n.inputs]
        seen: set[int] = set()
        stack = list(roots)
        while stack:
            n = stack.pop()
            if id(n) in seen or id(n) in inside:
                continue
            seen.add(id(n))
            if self.axes.quadratic(n, kernel.space) and n.op is not Op.INPUT and id(n) not in self.torch:
                # part of the tile expression; a view of a score-sized input is loaded through its layout
                if n.op is Op.VIEW:
                    self._materialize(n.src)
                else:
                    stack.extend(n.inputs)
            elif self._inline(n, k):
                stack.extend(n.inputs)
            elif n.op is Op.VIEW and id(n) not in self.home:
                self._materialize(n.src)
            else:
                self._materialize(n)

    def _inline(self, n: Node, k: int) -> bool:
        """Recomputed where used: constants, index tensors, and elementwise functions of such or of loads,
        unless an earlier step computes the node anyway (then it is loaded)."""
        if id(n) in self.home or id(n) in self.torch or n.op is Op.INPUT:
            return False
        return n.op in (Op.CONST, Op.IOTA) or n.op in G.ELEMENTWISE and self.dep(n) <= k

    # --- order ---

    def _finish(self, i: int, k: KernelPlan) -> KernelPlan:
        """The kernel with its stores, and an epilogue pruned to what the stores need."""
        stores = tuple(sorted(self.stores.get(i, {}).values(), key=lambda n: self.pos[id(n)]))
        needed = {id(n) for n in stores}
        for n in reversed(k.epilogue):
            if id(n) in needed:
                needed |= {id(x) for x in n.inputs}
        return _with(k, stores=stores, epilogue=tuple(n for n in k.epilogue if id(n) in needed))

    def _order(self) -> tuple:
        kernels = [self._finish(i, k) for i, k in enumerate(self.kernels)]
        steps = [(self.pos[id(t.node)], 1, t) for t in self.torch.values()]
        for k in kernels:
            steps.append((max(self.pos[id(s)] for s in k.sinks), 0, k))
        writes = {}
        for _, _, s in steps:
            for n in (s.stores + s.sinks + s.epilogue if isinstance(s, KernelPlan) else (s.node,)):
                writes[id(n)] = s
        return tuple(_topological(steps, writes))


def _topological(steps, writes) -> list:
    """Steps in an order where each runs after the steps that write what it reads (ties: graph order)."""
    reads = {id(s): _reads(s, writes) for _, _, s in steps}
    done, out = set(), []
    pending = sorted(steps, key=lambda t: (t[0], t[1]))
    while pending:
        for idx, (_, _, s) in enumerate(pending):
            if all(id(w) in done or w is s for w in reads[id(s)]):
                out.append(s)
                done.add(id(s))
                pending.pop(idx)
                break
        else:
            raise RuntimeError("internal: the plan's steps have a dependency cycle")
    return out


def _reads(step, writes) -> list:
    """The steps that write what `step` reads, through the expressions it computes itself."""
    if isinstance(step, TorchStep):
        # the launcher computes the unnamed inner nodes of a torch step's expression on the way
        stack = list(step.node.inputs)
    else:
        stack = [a.base for a in step.accumulators] + [i for n in step.epilogue for i in n.inputs]
        stack += [a.sink.other for a in step.accumulators if a.sink.other is not None]
        stack += [a.init for a in step.accumulators if a.init is not None]
    nodes = upstream(stack, lambda n: not (isinstance(step, TorchStep) and id(n) in writes))
    return [writes[id(n)] for n in nodes if id(n) in writes]


def direct_strides(out: Node, x: Node) -> list[int | None] | None:
    """For a program output that is a view of x: the output dim that each dim of x is (None for size-1
    dims), if x can be stored straight into the output's buffer; else None."""
    layout = out.attr("layout")
    if any(layout.offset):
        return None
    where: list[int | None] = [None] * x.type.rank
    for od, fs in enumerate(layout.dims):
        for f in fs:
            if f.dim < 0 or f.coef != 1 or len(fs) != 1 or f.size != x.shape[f.dim]:
                return None
            where[f.dim] = od
    if any(w is None and s != 1 for w, s in zip(where, x.shape)):
        return None
    return where


def _with(kernel: KernelPlan, **changes) -> KernelPlan:
    return replace(kernel, **changes)


def plan_fusion(props: PropertyInfo, options: CompileOptions, name: str = "program") -> Plan:
    return _Planner(props, options, name).run()

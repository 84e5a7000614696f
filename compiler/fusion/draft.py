"""The fusion planner's draft: what the plan holds so far, frozen; each planner step returns a new one.

Mappings are keyed by node id (the nodes live in the graph or in the draft's steps, so the ids stay
valid) and are read-only views; a step builds new mappings instead of changing the ones it was given.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType

from compiler.analysis.axes import AxisInfo, Space
from compiler.analysis.properties import PropertyInfo
from compiler.fusion.plan import KernelPlan, MapKernel, Rejected, TorchRegion, TorchStep
from compiler.ir.node import Graph, Node
from compiler.ir.printer import Names
from compiler.options import CompileOptions


def _empty() -> MappingProxyType:
    return MappingProxyType({})


def frozen(mapping: dict) -> MappingProxyType:
    return MappingProxyType(dict(mapping))


def space_key(space: Space) -> tuple[int, int]:
    return space.i, space.j


@dataclass(frozen=True, eq=False)
class PendingRegion:
    """A torch region before its chunking is chosen: its nodes, and (after `demand`) its outputs."""

    space: Space
    nodes: tuple[Node, ...]
    why: str
    outputs: tuple[Node, ...] = ()


@dataclass(frozen=True, eq=False)
class Draft:
    props: PropertyInfo
    options: CompileOptions
    name: str
    # score spaces (by their (i, j) classes) the code generator could not write: they run in torch
    demoted: MappingProxyType = field(default_factory=_empty)
    prologue: tuple[TorchStep, ...] = ()  # input-only expressions computed once before the kernels
    kernels: tuple[KernelPlan, ...] = ()
    # id(node) -> index of the kernel that computes it
    home: MappingProxyType = field(default_factory=_empty)
    regions: tuple[PendingRegion, ...] = ()
    # id(node) -> index of the region that computes it
    region_of: MappingProxyType = field(default_factory=_empty)
    # id(node) -> its TorchStep (fallbacks, views, hoisted tiles)
    torch: MappingProxyType = field(default_factory=_empty)
    # kernel index -> the nodes it writes, in graph order
    stores: MappingProxyType = field(default_factory=_empty)
    direct: tuple[tuple[int, Node], ...] = ()  # (output index, node) stored in place
    # id(node) -> its place in the order (graph order, hoisted steps)
    pos: MappingProxyType = field(default_factory=_empty)
    rejected: tuple[Rejected, ...] = ()
    steps: tuple[KernelPlan | MapKernel | TorchStep | TorchRegion, ...] = ()
    finished: tuple[TorchRegion, ...] = field(default=())  # the regions with their chunking

    @property
    def graph(self) -> Graph:
        return self.props.graph

    @property
    def axes(self) -> AxisInfo:
        return self.props.axes

    def names(self) -> Names:
        return Names(self.graph)


class Deps:
    """The last kernel whose results a node depends on (-1: none), from the kernels' homes."""

    def __init__(self, home):
        self.home = home
        self.memo: dict[int, tuple[Node, int]] = {}

    def __call__(self, n: Node) -> int:
        hit = self.memo.get(id(n))
        if hit is not None and hit[0] is n:
            return hit[1]
        d = max([self(i) for i in n.inputs] + [self.home.get(id(n), -1)])
        self.memo[id(n)] = (n, d)
        return d

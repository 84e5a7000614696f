"""What the expression emitter asks about one kernel: the role of each axis class (the program's tile
P, the streamed tile R, a batch index, an inner dim), how a tensor tile is addressed and loaded (int64
offsets from the view layout and runtime strides, masked ragged edges), and what a sink of the kernel
stands for (its running value inside the loop, its final value after it)."""

from __future__ import annotations

import math

from compiler.analysis.axes import AxisInfo
from compiler.codegen.emit import Naming, Scope, compute_dtype
from compiler.fusion.plan import KernelPlan
from compiler.ir.dtypes import to_triton
from compiler.ir.layout import Layout
from compiler.ir.node import Node
from compiler.ir.ops import Op
from compiler.ir.printer import Names


class KernelContext(Naming):
    """What the emitter asks about this kernel: roles of classes, loads, sinks, scopes."""

    def __init__(self, kernel: KernelPlan, axes: AxisInfo, names: Names, materialized: set[int], target: str,
                 lang: str = "tl"):
        super().__init__(names)
        self.k, self.axes, self.target, self.lang = kernel, axes, target, lang
        inside = {id(n) for n in kernel.sinks} | {id(n) for n in kernel.epilogue}
        self.materialized = materialized - inside
        # the running and final values of the kernel's reductions (a stored tile is computed where read)
        self.sinks = {id(a.sink.node): i for i, a in enumerate(kernel.accumulators) if a.sink.op is not None}
        self.running: dict[int, str] = {}
        self.finals: dict[int, str] = {}
        self.loads: list[Node] = []
        self.inner: dict[int, tuple[int, int, int]] = {}  # class -> (index, size, padded size)
        self._varies: dict[int, tuple[Node, bool]] = {}
        self.batch = tuple(c for c in kernel.space.batch)
        # the loop streams a score-shaped tile that no other program reads (Keyformer's per-head noise):
        # its loads must be software-pipelined, which Triton does for loads that feed no dot only when
        # the loop names its stages (tl.range(..., num_stages=...))
        self.streams_tiles = False

    # --- roles ---

    def role(self, cls: int):
        if cls == self.k.p:
            return "P"
        if cls == self.k.r:
            return "R"
        if cls in self.batch:
            return ("B", self.batch.index(cls))
        return cls

    def inner_of(self, cls: int, size: int) -> tuple[int, int, int]:
        if cls not in self.inner:
            pad = max(16, 1 << (size - 1).bit_length())
            self.inner[cls] = (len(self.inner), size, pad)
        return self.inner[cls]

    def _vector(self, role, size: int) -> tuple[str, str | None]:
        """(index vector, mask or None) of a P, R or inner role."""
        if role == "P":
            return "o_p", "m_p"
        if role == "R":
            return "o_r", "m_r"
        k, real, pad = self.inner_of(role, size)
        return f"o_k{k}", (f"m_k{k}" if pad != real else None)

    def _place(self, vec: str, role, orient) -> str:
        if orient[0] == role:
            return f"{vec}[:, None]"
        if orient[1] == role:
            return f"{vec}[None, :]"
        raise NotImplementedError(f"a tile value has a dim ({role}) outside its orientation {orient}")

    # --- emitter hooks ---

    def special(self, n: Node, scope: Scope, orient):
        k = self.sinks.get(id(n))
        if k is None:
            return None
        if scope.kind == "loop":
            return f"{self.running[id(n)]}[:, None]"
        return self.finals[id(n)]

    def varies(self, n: Node) -> bool:
        hit = self._varies.get(id(n))
        if hit is not None and hit[0] is n:
            return hit[1]
        loaded = n.op is Op.INPUT or self.is_tensor(n) or n.op is Op.VIEW and self.is_tensor(n.src)
        # a loaded value varies only if it has the streamed dim (what it was computed from does not matter)
        out = n.op is not Op.CONST and (self.k.r in self.axes.of(n) or id(n) in self.sinks
                                        or not loaded and any(self.varies(i) for i in n.inputs))
        self._varies[id(n)] = (n, out)
        return out

    def scope_for(self, n: Node, scope: Scope) -> Scope:
        if scope.kind == "loop" and not self.varies(n):
            return scope.parent
        return scope

    def is_tensor(self, n: Node) -> bool:
        return id(n) in self.materialized

    def holds_p(self, n: Node) -> bool:
        return self.k.p in self.axes.of(n)

    def contracted(self, n: Node) -> int:
        return self.axes.of(n.inputs[0])[-1]

    # --- memory ---

    def index(self, n: Node, orient) -> str:
        cls = self.axes.of(n)[n.attr("axis")]
        role = self.role(cls)
        if n.shape[n.attr("axis")] == 1 and role not in ("P", "R"):
            return "0"
        if isinstance(role, tuple):
            return f"i_b{role[1]}"
        vec, _ = self._vector(role, n.shape[n.attr("axis")])
        return self._place(vec, role, orient)

    def access(self, n: Node, base: Node, layout: Layout, scope: Scope, orient) -> tuple[str, str | None]:
        """(pointer expression, mask) for tile `n` of tensor `base` viewed through `layout`."""
        name = self.arg(base)
        terms, masks = [], []
        for d, fs in enumerate(layout.dims):
            role = self.role(self.axes.of(n)[d])
            if n.shape[d] == 1:
                # index 0: no offset; a tile dim of length 1 (one query) still masks the other rows
                if role in ("P", "R"):
                    vec, mask = self._vector(role, 1)
                    terms.append(f"{self._place(vec, role, orient)} * 0")  # keeps the tile's shape
                    if role != "R" or scope.bounds:
                        masks.append(self._place(mask, role, orient))
                continue
            if isinstance(role, tuple):
                idx = f"i_b{role[1]}"
            else:
                vec, mask = self._vector(role, n.shape[d])
                idx = self._place(vec, role, orient)
                if mask is not None and (role != "R" or scope.bounds):
                    masks.append(self._place(mask, role, orient))
            for k, f in enumerate(fs):
                if f.dim < 0:
                    continue
                inner = math.prod(g.size for g in fs[k + 1:])
                digit = idx if inner == 1 else f"({idx} // {inner})"
                digit = digit if k == 0 else f"({digit} % {f.size})"
                coef = f" * {f.coef}" if f.coef != 1 else ""
                terms.append(f"{digit} * {name}_s{f.dim}{coef}")
        for d, off in enumerate(layout.offset):
            if off:
                terms.append(f"{off} * {name}_s{d}")
        ptr = f"{name}_ptr" + "".join(f" + {t}" for t in terms)
        return ptr, " & ".join(masks) if masks else None

    def _read_once(self, n: Node) -> bool:
        """Whether tile `n` spans the program's tile and the streamed one and differs per batch index:
        then each of its tiles is read by one program only, straight from memory (nothing to reuse in
        L2, unlike CORM's threshold, which every head re-reads)."""
        classes = self.axes.of(n)
        if self.k.p not in classes or self.k.r not in classes:
            return False
        sizes = self.axes.sizes
        return all(c in classes for c in self.batch if sizes[c] > 1)

    def load(self, n: Node, scope: Scope, orient) -> str:
        if n.op is Op.VIEW and not self.is_tensor(n):
            base, layout = n.src, n.attr("layout")
        else:
            base, layout = n, Layout.identity(n.shape)
        if not any(t is base for t in self.loads):
            self.loads.append(base)
        ptr, mask = self.access(n, base, layout, scope, orient)
        if scope.kind == "loop" and self._read_once(n):
            self.streams_tiles = True
        text = f"{self.lang}.load({ptr}, mask={mask}, other=0)" if mask else f"{self.lang}.load({ptr})"
        wide = compute_dtype(base.dtype, self.target)
        return f"{text}.to({to_triton(wide, self.lang)})" if wide != base.dtype else text

"""Layouts: a view of a tensor as a map from the view's index to its source's index.

Every layout op (permute, transpose, reshape, expand, unsqueeze, squeeze, slice, select) folds into one
`Layout`, so a chain of them on an input becomes strides at load time: nothing is copied.

Each dim of the view is a list of `Factor`s in row-major order (the first factor varies slowest). A
factor of size s maps its digit k in [0, s) to `coef * k` along source dim `dim` (`dim == -1`: a
broadcast, no source dim). A reshape that merges two source dims gives a dim with two factors; one that
splits a source dim gives two dims whose factors share that source dim with different coefficients.
Grouped KV heads (expand then reshape) are a dim with factors (Hkv, d2, 1) and (G, -1, 0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


class LayoutError(Exception):
    """The view cannot be expressed as a Layout (the op then runs in torch)."""


@dataclass(frozen=True)
class Factor:
    size: int
    dim: int  # source dim, -1 for broadcast
    coef: int

    def render(self, src_shape) -> str:
        """`d2` for a whole source dim, `d2*4:8` for part of one, `b4` for a broadcast of size 4."""
        if self.dim < 0:
            return f"b{self.size}"
        if self.coef == 1 and self.size == src_shape[self.dim]:
            return f"d{self.dim}"
        return f"d{self.dim}" + (f"*{self.coef}" if self.coef != 1 else "") + f":{self.size}"


@dataclass(frozen=True)
class Layout:
    src_shape: tuple[int, ...]
    dims: tuple[tuple[Factor, ...], ...]
    offset: tuple[int, ...]

    @staticmethod
    def identity(shape) -> Layout:
        shape = tuple(shape)
        # size-1 dims keep their factor too, so a later squeeze or permute still knows which dim it is
        dims = tuple((Factor(s, d, 1),) for d, s in enumerate(shape))
        return Layout(shape, dims, (0,) * len(shape))

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(math.prod(f.size for f in fs) for fs in self.dims)

    def __str__(self) -> str:
        parts = [".".join(f.render(self.src_shape) for f in fs) if fs else "1" for fs in self.dims]
        text = "[" + ", ".join(parts) + "]"
        return text + (f"+{list(self.offset)}" if any(self.offset) else "")

    def is_identity(self) -> bool:
        return self == Layout.identity(self.src_shape)

    def linked_dim(self, i: int) -> int | None:
        """The source dim that view dim i is exactly (same size, stride 1 factor), else None."""
        fs = self.dims[i]
        if len(fs) == 1 and fs[0].dim >= 0 and fs[0].coef == 1 and self.src_shape[fs[0].dim] == fs[0].size:
            return fs[0].dim
        return None

    # --- the layout ops, each returning a new Layout ---

    def permute(self, perm) -> Layout:
        perm = [p % len(self.dims) for p in perm]
        return Layout(self.src_shape, tuple(self.dims[p] for p in perm), self.offset)

    def transpose(self, a: int, b: int) -> Layout:
        perm = list(range(len(self.dims)))
        a, b = a % len(perm), b % len(perm)
        perm[a], perm[b] = perm[b], perm[a]
        return self.permute(perm)

    def unsqueeze(self, d: int) -> Layout:
        d = d % (len(self.dims) + 1)
        return Layout(self.src_shape, self.dims[:d] + ((),) + self.dims[d:], self.offset)

    def squeeze(self, dims) -> Layout:
        dims = {d % len(self.dims) for d in dims}
        keep = tuple(fs for i, fs in enumerate(self.dims) if i not in dims or self.shape[i] != 1)
        return Layout(self.src_shape, keep, self.offset)

    def expand(self, sizes) -> Layout:
        sizes = list(sizes)
        lead = len(sizes) - len(self.dims)
        if lead < 0:
            raise LayoutError("expand to fewer dims")
        dims = [()] * lead + list(self.dims)
        shape = [1] * lead + list(self.shape)
        for i, n in enumerate(sizes):
            if n == -1 or n == shape[i]:
                continue
            if shape[i] != 1:
                raise LayoutError(f"cannot expand dim {i} of size {shape[i]} to {n}")
            dims[i] = (Factor(n, -1, 0),)
        return Layout(self.src_shape, tuple(dims), self.offset)

    def reshape(self, new_shape) -> Layout:
        new_shape = _resolve(list(new_shape), math.prod(self.shape))
        flat = [f for fs in self.dims for f in fs if f.size != 1]
        dims = []
        for n in new_shape:
            taken: list[Factor] = []
            have = 1
            while have < n:
                if not flat:
                    raise LayoutError("reshape ran out of factors")
                f = flat.pop(0)
                need = n // have
                if f.size <= need:
                    if need % f.size:
                        raise LayoutError(f"reshape cannot split {f} into {need}")
                    taken.append(f)
                    have *= f.size
                    continue
                if f.size % need:
                    raise LayoutError(f"reshape cannot split {f} into {need}")
                # the view dim takes the outer part of f; the inner part stays for the next dims
                inner = f.size // need
                taken.append(Factor(need, f.dim, f.coef * inner))
                flat.insert(0, Factor(inner, f.dim, f.coef))
                have *= need
            dims.append(tuple(taken))
        if flat:
            raise LayoutError("reshape left factors unused")
        return Layout(self.src_shape, tuple(dims), self.offset)

    def slice(self, d: int, start: int, end: int, step: int = 1) -> Layout:
        d = d % len(self.dims)
        size = self.shape[d]
        start, end = _clamp(start, size), _clamp(end, size)
        n = max(0, (end - start + step - 1) // step)
        fs = self.dims[d]
        if len(fs) > 1:
            raise LayoutError("slice of a merged dim")
        if not fs:
            return self
        f = fs[0]
        offset = list(self.offset)
        if f.dim >= 0:
            offset[f.dim] += start * f.coef
        new = (Factor(n, f.dim, f.coef * step),)
        return Layout(self.src_shape, self.dims[:d] + (new,) + self.dims[d + 1:], tuple(offset))

    def select(self, d: int, index: int) -> Layout:
        d = d % len(self.dims)
        sliced = self.slice(d, index % self.shape[d], index % self.shape[d] + 1)
        return Layout(sliced.src_shape, sliced.dims[:d] + sliced.dims[d + 1:], sliced.offset)

    def compose(self, outer: Layout) -> Layout:
        """The layout of `outer` applied to the view `self` (outer.src_shape == self.shape)."""
        dims = []
        offset = list(self.offset)
        for d, o in enumerate(outer.offset):
            offset = [a + b for a, b in zip(offset, self._offset_of(d, o))]
        for fs in outer.dims:
            new: list[Factor] = []
            for f in fs:
                new.extend(self._factor_of(f))
            dims.append(tuple(new))
        return Layout(self.src_shape, tuple(dims), tuple(offset))

    def _offset_of(self, d: int, index: int) -> list[int]:
        out = [0] * len(self.src_shape)
        for f, digit in zip(self.dims[d], _digits(index, [f.size for f in self.dims[d]])):
            if f.dim >= 0:
                out[f.dim] += digit * f.coef
        return out

    def _factor_of(self, f: Factor) -> list[Factor]:
        if f.dim < 0:
            return [f]
        fs = self.dims[f.dim]
        if not fs:
            return [Factor(f.size, -1, 0)] if f.size != 1 else []
        if len(fs) == 1:
            g = fs[0]
            return [Factor(f.size, g.dim, g.coef * f.coef)]
        # a factor over a merged dim: only whole, unit-stride uses are expressible
        if f.coef == 1 and f.size == math.prod(g.size for g in fs):
            return list(fs)
        raise LayoutError("view of a part of a merged dim")


def _digits(index: int, sizes: list[int]) -> list[int]:
    out = []
    for s in reversed(sizes):
        out.append(index % s)
        index //= s
    return list(reversed(out))


def _resolve(shape: list[int], numel: int) -> list[int]:
    if -1 in shape:
        known = math.prod(s for s in shape if s != -1)
        shape[shape.index(-1)] = numel // known
    if math.prod(shape) != numel:
        raise LayoutError(f"reshape to {shape} from {numel} elements")
    return shape


def _clamp(i: int, size: int) -> int:
    if i < 0:
        i += size
    return max(0, min(size, i))

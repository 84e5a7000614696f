"""A kernel body as data: lines (assignments and statements), loops over the streamed tiles and while
loops, rendered to source once the whole kernel is built (Triton's, or Gluon's for codegen/gluon: the
text of a line is already spelled in its kernel's language, so rendering only indents and heads loops).

What is only known at the end (whether the loops name their stages, which assignments nothing reads) is
a property of this data, applied when it is rendered or by a pass over it, never an edit of emitted text.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass
class Line:
    """One statement without its indentation; `target` is the variable it assigns, if it is `x = ...`."""

    text: str
    target: str | None = None

    @staticmethod
    def assign(name: str, expr: str) -> Line:
        return Line(f"{name} = {expr}", name)

    def words(self) -> list[str]:
        return _WORD.findall(self.text)


@dataclass
class Loop:
    """`for r0 in range(lo, hi, BLOCK_N)` over the streamed tiles (tl.range with the kernel's STAGES when
    it names its loops' stages)."""

    lo: str
    hi: str
    body: list = field(default_factory=list)

    def header(self, stages: bool) -> str:
        if stages:
            return f"for r0 in tl.range({self.lo}, {self.hi}, BLOCK_N, num_stages=STAGES):"
        return f"for r0 in range({self.lo}, {self.hi}, BLOCK_N):"

    def words(self) -> list[str]:
        return _WORD.findall(f"{self.lo} {self.hi}") + [w for s in self.body for w in s.words()]


@dataclass
class While:
    cond: str
    body: list = field(default_factory=list)

    def words(self) -> list[str]:
        return _WORD.findall(self.cond) + [w for s in self.body for w in s.words()]


def render(block: list, stages: bool, indent: str = "    ") -> list[str]:
    """The block's source lines, each loop named with STAGES when `stages`."""
    out = []
    for s in block:
        if isinstance(s, Loop):
            out.append(indent + s.header(stages))
            out += render(s.body, stages, indent + "    ")
        elif isinstance(s, While):
            out.append(f"{indent}while {s.cond}:")
            out += render(s.body, stages, indent + "    ")
        else:
            out.append(indent + s.text)
    return out


def without_unused(block: list) -> list:
    """The block without its top-level assignments that nothing reads (a batch index of a size-1 batch,
    the final value of a running max nothing stores); assignments inside loops are loop-carried values
    and stay."""
    while True:
        words = Counter(w for s in block for w in s.words())
        # a variable read nowhere appears once: in its own assignment
        dead = [s for s in block if isinstance(s, Line) and s.target is not None and words[s.target] == 1]
        if not dead:
            return block
        block = [s for s in block if not any(s is d for d in dead)]

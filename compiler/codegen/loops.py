"""Loop segments: which streamed tiles a program visits, and with which body.

Coordinates: a program owns tile p0 of P (size BLOCK_M) and visits tiles r0 of R (size BLOCK_N). The
mask analysis gives intervals of d = r - p on which the folded body is fixed (for a column kernel the
space's j - i is -d). A tile with r0 in [S_t, E_t) straddles threshold t and runs the full (edge) body with
its masks computed; tiles between two straddling ranges lie inside one interval and run that interval's
folded body, or nothing if it is dead. For the causal mask this gives the two-stage loop: unmasked tiles
left of the diagonal, then the masked diagonal tiles, and no loop at all over the dead ones. A region live
only at some streamed indices (attention sinks: keys j < 4 below the window) visits, inside its span, only
the tiles holding one of them: fixed ranges of r, the same for every program; one live only at some
program indices (the sinks' column pass) is skipped by every program whose tile holds none of them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from compiler.codegen.block import Line


@dataclass(frozen=True)
class Segment:
    lo: str  # expressions of the first and last-plus-one tile start
    hi: str
    region: int | None  # index into the kernel's regions; None = edge (full body)
    bounds: bool  # check R against its size (ragged last tile)


def region_bounds(regions, column: bool):
    """Intervals and region indices in loop coordinates d = r - p, in increasing order of d."""
    spans = [(lo, hi, k) for k, (lo, hi) in enumerate(regions)]
    if column:
        spans = [(-hi, -lo, k) for lo, hi, k in spans]
    return sorted(spans, key=lambda s: s[0])


def segment_code(spans, p_size: int, r_size: int, dead, lang: str = "tl",
                 live=lambda region: (None, None)) -> tuple[list[Line], list[Segment]]:
    """Assignments computing the segment starts for the program's p0, and the segments in order.

    `spans`: [(lo, hi, region)] covering all d; `dead(region)`: whether that region has no work;
    `live(region)`: the intervals of r and of p where it has work (None: all of it); `lang`: the language
    module the expressions call (codegen/emit.py's Naming.lang)."""
    m = lang
    lines = [Line.assign("r_end", f"{m}.cdiv({r_size}, BLOCK_N) * BLOCK_N"),
             Line.assign("r_full", f"({r_size} // BLOCK_N) * BLOCK_N")]

    def split(span, region):
        if region is None or dead(region):
            return _split(span, region, dead, m)
        streamed, owners = live(region)
        lo, hi = span
        if owners is not None:
            hi = _owned(lo, hi, owners, m)
        parts = [(lo, hi)] if streamed is None else _live_tiles((lo, hi), streamed, m)
        return [s for a, b in parts for s in _split([a, b], region, dead, m)]

    if len(spans) == 1:
        return lines, split(["0", "r_end"], spans[0][2])
    # keep numerators non-negative so that // is a floor division in every Triton version
    margin = p_size + r_size + 512
    offset = (margin // 256 + 1) * 256
    bounds = ["0"]
    for k, (lo, _, _) in enumerate(spans[1:], start=1):
        t = int(max(-margin, min(margin, lo)))
        start = f"((({t} + p0 + {offset}) // BLOCK_N) - {offset} // BLOCK_N) * BLOCK_N"
        end = f"((({t} + p0 + BLOCK_M - 2 + {offset}) // BLOCK_N) - {offset} // BLOCK_N + 1) * BLOCK_N"
        prev = bounds[-1]
        lines.append(Line.assign(f"s_{k}", f"{m}.minimum({m}.maximum({start}, {prev}), r_end)"))
        lines.append(Line.assign(f"e_{k}", f"{m}.minimum({m}.maximum({end}, s_{k}), r_end)"))
        bounds += [f"s_{k}", f"e_{k}"]
    bounds.append("r_end")
    segments: list[Segment] = []
    for k, (_, _, region) in enumerate(spans):
        segments += split([bounds[2 * k], bounds[2 * k + 1]], region)
        if k + 1 < len(spans):
            segments.append(Segment(bounds[2 * k + 1], bounds[2 * k + 2], None, True))
    return lines, segments


def _split(span, region, dead, m: str) -> list[Segment]:
    """A pure span runs unchecked over whole tiles and checked over the ragged last one."""
    if region is not None and dead(region):
        return []
    lo, hi = span
    if (lo, hi) == ("0", "r_end"):
        return [Segment("0", "r_full", region, False), Segment("r_full", "r_end", region, True)]
    return [Segment(lo, f"{m}.minimum({hi}, r_full)", region, False),
            Segment(f"{m}.maximum({lo}, r_full)", hi, region, True)]


def _live_tiles(span, live, m: str) -> list[tuple[str, str]]:
    """The parts of `span` (tile starts [lo, hi)) holding a live index: per live interval [a, b] of r, the
    tiles from the one holding a to the one holding b, each starting after the last (two intervals can
    share a tile, which is then visited once, by the first)."""
    lo, hi = span
    out: list[tuple[str, str]] = []
    for a, b in live:
        if b < 0:
            continue
        start = lo if math.isinf(a) or a <= 0 else f"{m}.maximum(({int(a)} // BLOCK_N) * BLOCK_N, {lo})"
        if out:
            start = f"{m}.maximum({start}, {out[-1][1]})"
        end = hi if math.isinf(b) else f"{m}.minimum(({int(b)} // BLOCK_N + 1) * BLOCK_N, {hi})"
        out.append((start, end))
    return out


def _owned(lo: str, hi: str, owners, m: str) -> str:
    """The end of span [lo, hi): hi where the program's nominal rows p0 .. p0 + BLOCK_M - 1 meet a live
    interval of p, else lo (nothing). The overlap is counted in integers, so the bound stays arithmetic."""
    overlaps = []
    for a, b in owners:
        first = "p0" if math.isinf(a) else f"{m}.maximum(p0, {int(a)})"
        last = "p0 + BLOCK_M - 1" if math.isinf(b) else f"{m}.minimum(p0 + BLOCK_M - 1, {int(b)})"
        overlaps.append(f"{m}.maximum({last} - {first} + 1, 0)")
    return f"{m}.minimum({hi}, {lo} + ({' + '.join(overlaps)}) * r_end)"

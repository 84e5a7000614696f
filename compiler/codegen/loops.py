"""Loop segments: which streamed tiles a program visits, and with which body.

Coordinates: a program owns tile p0 of P (size BLOCK_M) and visits tiles r0 of R (size BLOCK_N). The
mask analysis gives intervals of d = r - p on which the folded body is fixed (for a column kernel the
space's j - i is -d). A tile with r0 in [S_t, E_t) straddles threshold t and runs the full (edge) body with
its masks computed; tiles between two straddling ranges lie inside one interval and run that interval's
folded body, or nothing if it is dead. For the causal mask this gives the two-stage loop: unmasked tiles
left of the diagonal, then the masked diagonal tiles, and no loop at all over the dead ones.
"""

from __future__ import annotations

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


def segment_code(spans, p_size: int, r_size: int, dead, lang: str = "tl") -> tuple[list[Line], list[Segment]]:
    """Assignments computing the segment starts for the program's p0, and the segments in order.

    `spans`: [(lo, hi, region)] covering all d; `dead(region)`: whether that region has no work; `lang`:
    the language module the expressions call (codegen/emit.py's Naming.lang)."""
    m = lang
    lines = [Line.assign("r_end", f"{m}.cdiv({r_size}, BLOCK_N) * BLOCK_N"),
             Line.assign("r_full", f"({r_size} // BLOCK_N) * BLOCK_N")]
    if len(spans) == 1:
        return lines, _split(["0", "r_end"], spans[0][2], dead, m)
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
        segments += _split([bounds[2 * k], bounds[2 * k + 1]], region, dead, m)
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


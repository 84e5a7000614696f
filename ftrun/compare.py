"""`ftrun compare A B`: did B make things faster or slower than A, and is that real?

Cases pair up by what they compute (part, model, system, shape, dtype) and, when both sides ran on the same
devices, by device; sides on different devices (two clusters) pair across them. For each pair with a time on
both sides: the ratio of medians B/A and a 95 % bootstrap confidence interval from the kept samples (each
side resampled on its own), and a verdict against a threshold t:

    slower   the whole interval lies above 1 + t          (a regression)
    faster   the whole interval lies below 1 / (1 + t)
    same     the whole interval lies within those bounds
    unsure   the interval crosses a bound: too noisy to say at this threshold

A pair without samples is judged on its ratio alone (and says so). A pair whose correctness state changed is
`broken` (a time before, none now: a regression), `fixed`, or `changed`; a case on one side only is
`only A` / `only B`. Provenance that differs between the sides (GPU, clocks, versions, commit, timing
method) is listed: it makes a comparison suspect.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from results.provenance import SUSPECT
from results.rows import Row, write_csv
from results.runsdir import RunsDir
from results.sides import Side, describe, resolve

DEFAULT_THRESHOLD = 0.05
RESAMPLES = 2000
# fewer samples than this on either side: no interval, the ratio alone decides
MIN_SAMPLES = 5
REGRESSIONS = ("slower", "broken")
VERDICT_ORDER = ("broken", "slower", "unsure", "changed", "faster", "fixed", "same", "interp", "only A", "only B")
CSV_COLUMNS = ("case", "part", "model", "system", "seqlen", "device_a", "device_b", "state_a", "state_b", "median_a_ms",
               "median_b_ms", "ratio", "ci_low", "ci_high", "n_a", "n_b", "verdict", "differs", "note")


@dataclass(frozen=True)
class Pair:
    case: str
    part: str
    model: str
    system: str
    seqlen: int
    a: Row | None
    b: Row | None
    verdict: str
    ratio: float | None = None
    ci: tuple[float, float] | None = None
    n: tuple[int, int] = (0, 0)
    differs: tuple[str, ...] = ()
    note: str = ""

    def as_dict(self) -> dict:
        return {"case": self.case, "part": self.part, "model": self.model, "system": self.system,
                "seqlen": self.seqlen, "device_a": self.a.device if self.a else None,
                "device_b": self.b.device if self.b else None, "state_a": self.a.state if self.a else None,
                "state_b": self.b.state if self.b else None,
                "median_a_ms": self.a.median_ms if self.a and self.a.done else None,
                "median_b_ms": self.b.median_ms if self.b and self.b.done else None,
                "ratio": _round(self.ratio), "ci_low": _round(self.ci[0]) if self.ci else None,
                "ci_high": _round(self.ci[1]) if self.ci else None, "n_a": self.n[0], "n_b": self.n[1],
                "verdict": self.verdict, "differs": " ".join(self.differs), "note": self.note}


@dataclass
class Comparison:
    a: dict
    b: dict
    threshold: float
    pairs: list[Pair] = field(default_factory=list)
    # provenance fact -> (values on side A, values on side B), where the two sides differ
    provenance: dict[str, tuple[list[str], list[str]]] = field(default_factory=dict)

    @property
    def regressions(self) -> list[Pair]:
        return [p for p in self.pairs if p.verdict in REGRESSIONS]

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for p in self.pairs:
            out[p.verdict] = out.get(p.verdict, 0) + 1
        return {v: out[v] for v in VERDICT_ORDER if v in out}

    def to_json(self) -> dict:
        return {"a": self.a, "b": self.b, "threshold": self.threshold, "counts": self.counts(),
                "regressions": len(self.regressions), "pairs": [p.as_dict() for p in self.pairs],
                "provenance": {k: {"a": a, "b": b} for k, (a, b) in self.provenance.items()}}


def compare_sides(runs: RunsDir, a: str, b: str, threshold: float = DEFAULT_THRESHOLD) -> Comparison:
    return compare(resolve(runs, a), resolve(runs, b), threshold)


def compare(a: Side, b: Side, threshold: float = DEFAULT_THRESHOLD) -> Comparison:
    # sides on the same devices pair device by device; otherwise (two clusters) across devices
    by_device = {r.device for r in a.rows} == {r.device for r in b.rows}
    rows_a, rows_b = _by_identity(a.rows, by_device), _by_identity(b.rows, by_device)
    result = Comparison(describe(a), describe(b), threshold, provenance=provenance_differences(a.rows, b.rows))
    # name the device in a case's label where one side holds several
    named = by_device and len({r.device for r in a.rows}) > 1
    for ident in list(rows_a) + [i for i in rows_b if i not in rows_a]:
        result.pairs.append(_pair(rows_a.get(ident), rows_b.get(ident), a, b, threshold, named))
    result.pairs.sort(key=lambda p: (VERDICT_ORDER.index(p.verdict), -(p.ratio or 0), p.case))
    return result


def _by_identity(rows, with_device: bool) -> dict[str, Row]:
    """What a case computes (and, when both sides ran on the same devices, where): the pairing key."""
    out = {}
    for r in rows:
        ident = json.dumps([r.part, r.model, r.system, r.dtype, r.dims, r.device if with_device else None],
                           sort_keys=True)
        out[ident] = r
    return out


def _pair(ra: Row | None, rb: Row | None, a: Side, b: Side, t: float, named: bool = False) -> Pair:
    r = ra or rb
    case = f"{r.part}/{r.model}/{r.system}@{r.seqlen}" + (f" {r.device}" if named else "")
    base = {"case": case, "part": r.part, "model": r.model, "system": r.system, "seqlen": r.seqlen, "a": ra, "b": rb}
    if ra is None or rb is None:
        return Pair(**base, verdict="only A" if rb is None else "only B")
    # a fact one side lacks (a failed run has no timing method) is no difference
    differs = tuple(f for f in SUSPECT if ra.provenance.get(f) and rb.provenance.get(f)
                    and ra.provenance[f] != rb.provenance[f])
    if ra.interpreted and rb.interpreted:
        return Pair(**base, verdict="interp", differs=differs, note="checked in the interpreter, not timed")
    if not (ra.done and rb.done):
        if ra.state == rb.state:
            return Pair(**base, verdict="same", differs=differs, note=f"{ra.state} on both sides")
        # a time before and a failure now is a regression; an interpreted run is neither a time nor a failure
        verdict = "changed" if ra.interpreted or rb.interpreted else "broken" if ra.done else \
            "fixed" if rb.done else "changed"
        note = f"{ra.state} -> {rb.state}" + (f": {rb.reason()}" if rb.reason() else "")
        return Pair(**base, verdict=verdict, differs=differs, note=note)
    sa, sb = a.samples.get(ra.attempt, ()), b.samples.get(rb.attempt, ())
    ratio = rb.median_ms / ra.median_ms
    ci = bootstrap_ratio(sa, sb, seed=r.key or case) if min(len(sa), len(sb)) >= MIN_SAMPLES else None
    note = "" if ci else "too few samples for an interval: the ratio alone decides"
    return Pair(**base, verdict=verdict_of(ratio, ci, t), ratio=ratio, ci=ci, n=(len(sa), len(sb)), differs=differs,
                note=note)


def verdict_of(ratio: float, ci: tuple[float, float] | None, t: float) -> str:
    slow, fast = 1.0 + t, 1.0 / (1.0 + t)
    low, high = ci if ci else (ratio, ratio)
    if low > slow:
        return "slower"
    if high < fast:
        return "faster"
    if low >= fast and high <= slow:
        return "same"
    return "unsure"


def bootstrap_ratio(a, b, seed: str, resamples: int = RESAMPLES, level: float = 0.95) -> tuple[float, float]:
    """A percentile bootstrap interval of median(b) / median(a), each side resampled with replacement."""
    import zlib

    import numpy as np

    rng = np.random.default_rng(zlib.crc32(seed.encode()))
    xa, xb = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    ratios = []
    for start in range(0, resamples, 250):
        k = min(250, resamples - start)
        ma = np.median(rng.choice(xa, size=(k, len(xa))), axis=1)
        mb = np.median(rng.choice(xb, size=(k, len(xb))), axis=1)
        ratios.append(mb / np.maximum(ma, 1e-12))
    both = np.concatenate(ratios)
    tail = (1.0 - level) / 2 * 100
    return float(np.percentile(both, tail)), float(np.percentile(both, 100 - tail))


def provenance_differences(rows_a, rows_b) -> dict[str, tuple[list[str], list[str]]]:
    """Facts (results.provenance.SUSPECT, plus device and scale) whose values differ between the sides."""
    out = {}
    for name in ("device", "scale") + SUSPECT:
        va = sorted({_fact(r, name) for r in rows_a if r.source == "ftrun" or name in ("device", "scale")} - {None})
        vb = sorted({_fact(r, name) for r in rows_b if r.source == "ftrun" or name in ("device", "scale")} - {None})
        if va != vb and (va or vb):
            out[name] = (va, vb)
    return out


def _fact(row: Row, name: str) -> str | None:
    return getattr(row, name) if name in ("device", "scale") else row.provenance.get(name)


def write_outputs(result: Comparison, out_dir: Path) -> list[Path]:
    """compare.csv, compare.json and the figure (compare.png, compare.pdf) in out_dir."""
    from plots.compare import draw

    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path, json_path = out_dir / "compare.csv", out_dir / "compare.json"
    write_csv(csv_path, [p.as_dict() for p in result.pairs], CSV_COLUMNS)
    json_path.write_text(json.dumps(result.to_json(), indent=1, default=str) + "\n")
    return [*draw(result, out_dir), csv_path, json_path]


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 4)


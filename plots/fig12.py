"""Fig. 12: kernel time (and end-to-end time) of the seven attention variants × systems."""

from __future__ import annotations

from plots.bars import build
from plots.common import Sheet
from plots.style import figure_title

TITLES = {"kernel": "kernel time per call", "e2e": "end-to-end prefill time"}


def sheets(name: str = "fig12") -> list[Sheet]:
    """One bar figure per part: NAME-kernel and NAME-e2e."""
    return [Sheet(f"{name}-{part}", f"{figure_title(name)} ({part}): {what}, ms (log scale), lower is better", build,
                  part) for part, what in TITLES.items()]

"""Fig. 14: attention and Gemma2 kernels against attention libraries."""

from __future__ import annotations

from plots.bars import build
from plots.common import Sheet
from plots.style import figure_title


def sheets(name: str = "fig14") -> list[Sheet]:
    title = f"{figure_title(name)}: attention libraries, kernel time per call, ms (log scale), lower is better"
    return [Sheet(name, title, build)]

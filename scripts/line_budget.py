"""Fail when a tracked Python file is longer than the budget (400 lines): small files, one concept each.

    python scripts/line_budget.py [LIMIT]
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def main(limit: int = 400) -> int:
    root = Path(__file__).resolve().parent.parent
    listed = subprocess.run(["git", "ls-files", "*.py"], cwd=root, capture_output=True, text=True, check=True)
    over = []
    for name in listed.stdout.split():
        path = root / name
        if path.is_file():
            n = len(path.read_text(errors="replace").splitlines())
            if n > limit:
                over.append(f"{name}: {n} lines")
    for line in over:
        print(f"over the {limit}-line budget: {line}", file=sys.stderr)
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 400))

"""Print the autotune cache: per kernel, the fastest configs and how many were timed.

    python scripts/show_tune_cache.py ~/.cache/ftrun/autotune/configs.json
"""

import json
import math
import sys

for entry in json.load(open(sys.argv[1])).values():
    timed = sorted((ms, cfg) for cfg, ms in entry["timings_ms"].items() if ms is not None and not math.isinf(ms))
    best = " ".join(f"{cfg}={ms:.4f}" for ms, cfg in timed[:5])
    print(f"{entry.get('kernel', '?')}: {best} (timed {len(entry['timings_ms'])}, ran {len(timed)})")

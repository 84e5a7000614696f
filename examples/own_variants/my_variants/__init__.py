"""Three attention variants of our own, benchmarked as ftrun plug-ins (see ../README section
"Benchmark your own variant" and ftrun.toml beside this package).

Each variant lives in its own file, so editing one re-runs that one only: a case's identity includes a
hash of the file that defines it.
"""

from my_variants.alibi import CASE as ALIBI
from my_variants.recent_h2o import CASE as RECENT_H2O
from my_variants.sliding_window import CASE as SLIDING_WINDOW

CASES = [SLIDING_WINDOW, ALIBI, RECENT_H2O]

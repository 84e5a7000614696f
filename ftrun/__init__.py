"""ftrun: the FlashTensor evaluation on Slurm or here, and your own attention variants beside it.

The public case API (no torch imported here):

    ftrun.Case(name, program, extra_inputs=None, outputs=("out",), reference=None, about="")
    ftrun.Output(name, dtype="input")

See jobs/case.py and the README section "Benchmark your own variant".
"""

from jobs.case import Case, CaseError, Output

__all__ = ["Case", "CaseError", "Output"]

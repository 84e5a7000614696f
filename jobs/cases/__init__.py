"""Kernel cases by name: the seven of the FlashTensor evaluation (jobs/cases/NAME.py), then the active
plug-ins' (jobs.plugins). Each is a jobs.case.Case."""

from __future__ import annotations

from jobs.case import Case


def kernel_case(name: str) -> Case:
    from jobs import plugins

    return plugins.case(name)

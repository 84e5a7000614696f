"""The seven kernel cases of the FlashTensor evaluation, by name (imports torch)."""

from __future__ import annotations

import importlib

from jobs.cases.base import KernelCase
from jobs.spec import KERNEL_MODELS


def kernel_case(name: str) -> KernelCase:
    if name not in KERNEL_MODELS:
        raise KeyError(f"unknown kernel case {name!r}; valid: {', '.join(KERNEL_MODELS)}")
    return importlib.import_module(f"jobs.cases.{name}").CASE

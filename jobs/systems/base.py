"""What a system is: something that turns a PyTorch program into a callable with the same outputs."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from results.case import CaseSpec

if TYPE_CHECKING:
    import torch


class NotSupported(Exception):
    """The system cannot run this case (or is not installed); recorded as NS with this reason."""


class System:
    """Base class. Subclasses set `name` and implement `compile`; override `unavailable`/`unsupported`.

    `compile(program, inputs, spec)` returns a callable taking the inputs positionally; anything it does
    before returning (tracing, tuning, the first call) counts as compile time.
    """

    name = ""

    def unavailable(self) -> str | None:
        """Why the system cannot run on this machine at all, or None."""
        return None

    def unsupported(self, spec: CaseSpec) -> str | None:
        """Why the system cannot run this case, or None."""
        return None

    def warm_up(self) -> None:
        """Once per process, before the first compile is timed: imports and set-up that no case owns."""

    def compile(self, program: torch.nn.Module, inputs: tuple, spec: CaseSpec) -> Callable:
        raise NotImplementedError

    def interpreted(self, device: torch.device) -> bool:
        """True when this system's programs run in an interpreter on `device` (Triton's, without a GPU):
        the result can be checked, but its time is not a measurement of the system."""
        return False

    def details(self) -> dict:
        """What exactly ran, for the record (library, backend, versions); read after `compile`."""
        return {}


def module_missing(name: str) -> str | None:
    """'<name> is not installed' if the module cannot be found, else None (without importing it)."""
    import importlib.util

    return None if importlib.util.find_spec(name) else f"{name} is not installed"

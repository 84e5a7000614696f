"""Which planned cases to run now, from their attempts so far.

A case with a result (or a deterministic failure) is final and skipped; a timeout gets one retry with
a doubled limit; transient failures are retried while the budget lasts. `force` runs everything.
"""

from __future__ import annotations

from dataclasses import dataclass

from results.records import DETERMINISTIC, TIMEOUT, TRANSIENT

TIMEOUT_RETRIES = 1
TIMEOUT_SCALE = 2.0


@dataclass(frozen=True)
class Decision:
    run: bool
    why: str
    limit_scale: float = 1.0


def decide(attempts: list, retries: int, force: bool = False) -> Decision:
    """attempts: rows with `state` and `error_class`, oldest first."""
    if force:
        return Decision(True, "forced")
    if not attempts:
        return Decision(True, "new")
    last = attempts[-1]
    if last["state"] == "done":
        return Decision(False, "done")
    cls = last["error_class"]
    if cls in DETERMINISTIC:
        return Decision(False, f"final: {cls}")
    if cls == TIMEOUT:
        timeouts = sum(1 for a in attempts if a["error_class"] == TIMEOUT)
        if timeouts <= TIMEOUT_RETRIES:
            return Decision(True, "retry after timeout", TIMEOUT_SCALE ** timeouts)
        return Decision(False, "final: timeout")
    if cls in TRANSIENT:
        transient = sum(1 for a in attempts if a["error_class"] in TRANSIENT)
        if transient <= retries:
            return Decision(True, f"retry after {cls} ({transient}/{retries})")
        return Decision(False, f"final: {cls} (retry budget spent)")
    return Decision(True, f"unknown failure class {cls}")

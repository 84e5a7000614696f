"""Which planned cases to run now, from their attempts so far.

A case with a result, or a deterministic failure, is final and skipped; a timeout gets one retry with a
doubled limit; transient failures are retried while the budget lasts, after a back-off, away from the
nodes they failed on; a cancelled case runs again only when the user submits again (a plain submit, not
a follower: `ftrun cancel` is final for `submit --follow`) and never uses the retry budget. A case in
flight is never submitted twice, not even with `force`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from results.records import CANCELLED, DETERMINISTIC, TIMEOUT, TRANSIENT, evidence_rank

TIMEOUT_RETRIES = 1
TIMEOUT_SCALE = 2.0


@dataclass(frozen=True)
class Decision:
    run: bool
    why: str
    limit_scale: float = 1.0
    final: bool = True
    exclude: tuple[str, ...] = ()


def decide(attempts: list, retries: int, force: bool = False, in_flight: bool = False,
           now: datetime | None = None, backoff_s: float = 30.0, rerun_cancelled: bool = True) -> Decision:
    """attempts: rows with `state`, `error_class`, `finished`, `node`, oldest first.

    A result or a deterministic failure decides the case whatever came after it (a task's closing
    baseline repetition that crashed or was cancelled hides nothing); otherwise the latest attempt does.
    The n-th transient retry waits backoff_s · 4^(n-1) seconds after the failure.
    """
    if in_flight:
        return Decision(False, "in flight", final=False)
    if force:
        return Decision(True, "forced")
    if not attempts:
        return Decision(True, "new")
    # the latest among equals: a case fixed after a wrong result is done, one broken after a result is not
    best = max(reversed(attempts), key=lambda a: evidence_rank(a["state"], a["error_class"]))
    if best["state"] == "done":
        return Decision(False, "done")
    if best["error_class"] in DETERMINISTIC:
        return Decision(False, f"final: {best['error_class']}")
    last = attempts[-1]
    cls = last["error_class"]
    if cls == CANCELLED:
        if not rerun_cancelled:
            return Decision(False, "cancelled: a plain `ftrun submit` (or --force) runs it again")
        return Decision(True, "cancelled before")
    if cls == TIMEOUT:
        timeouts = sum(1 for a in attempts if a["error_class"] == TIMEOUT)
        if timeouts <= TIMEOUT_RETRIES:
            return Decision(True, "retry after timeout", TIMEOUT_SCALE ** timeouts)
        return Decision(False, "final: timeout")
    if cls in TRANSIENT:
        failed = [a for a in attempts if a["error_class"] in TRANSIENT]
        if len(failed) > retries:
            return Decision(False, f"final: {cls} (retry budget spent)")
        wait = backoff_s * 4 ** (len(failed) - 1)
        if now is not None and last["finished"] and _age_s(last["finished"], now) < wait:
            return Decision(False, f"backing off after {cls}", final=False)
        nodes = tuple(sorted({a["node"] for a in failed if a["node"]}))
        return Decision(True, f"retry after {cls} ({len(failed)}/{retries})", exclude=nodes)
    return Decision(True, f"unknown failure class {cls}")


def _age_s(finished: str, now: datetime) -> float:
    return (now - datetime.fromisoformat(finished)).total_seconds()

"""Where a result was made, flattened to the few facts that decide whether two results can be compared.

A record's `provenance` is free-form (whatever the job side could read: nvidia-smi, versions, the commit);
this module reads it defensively into flat strings, for the index, the report and `ftrun compare`.
"""

from __future__ import annotations

# the facts, in the order people read them; each is a string or None
FIELDS = ("gpu", "driver", "sm_clock_max_mhz", "power_limit_w", "torch", "triton", "cuda", "python", "commit",
          "dirty", "host", "timing_method")
# facts that make two timings incomparable when they differ (the rest is context)
SUSPECT = ("gpu", "driver", "sm_clock_max_mhz", "power_limit_w", "torch", "triton", "cuda", "commit", "dirty",
           "timing_method")


def summarize(provenance: object, timing_method: str | None = None) -> dict[str, str | None]:
    """The flat facts of a record's provenance (missing or malformed parts become None)."""
    p = provenance if isinstance(provenance, dict) else {}
    gpu = p.get("gpu") if isinstance(p.get("gpu"), dict) else {}
    smi = gpu.get("smi") if isinstance(gpu.get("smi"), dict) else {}
    code = p.get("code") if isinstance(p.get("code"), dict) else {}
    cpu = _text(p.get("cpu"))
    facts = {
        "gpu": _text(gpu.get("name")) or (f"cpu ({cpu})" if cpu else ("cpu" if p else None)),
        "driver": _text(smi.get("driver_version")),
        "sm_clock_max_mhz": _text(smi.get("clocks.max.sm")),
        "power_limit_w": _text(smi.get("power.limit")),
        "torch": _text(p.get("torch")),
        "triton": _text(p.get("triton")),
        "cuda": _text(p.get("cuda")),
        "python": _text(p.get("python")),
        "commit": _text(code.get("commit")),
        "dirty": None if code.get("dirty") is None else str(bool(code.get("dirty"))).lower(),
        "host": _text(p.get("host")),
        "timing_method": timing_method or None,
    }
    return {name: facts[name] for name in FIELDS}


def short(facts: dict) -> str:
    """One line for a table cell: 'NVIDIA H100 · torch 2.13.0 · triton 3.6.0 · a1b2c3d'."""
    parts = [facts.get("gpu")]
    parts += [f"{name} {facts[name]}" for name in ("torch", "triton") if facts.get(name)]
    commit = facts.get("commit")
    if commit:
        parts.append(commit[:7] + ("+dirty" if facts.get("dirty") == "true" else ""))
    return " · ".join(p for p in parts if p)


def _text(value: object) -> str | None:
    if value is None or isinstance(value, (dict, list)):
        return None
    text = str(value).strip()
    return text[:200] or None

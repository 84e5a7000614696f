"""What a measurement is of: a frozen case spec and its identity (the key every result is filed under).

No torch here: planning, status and plotting import this module on login nodes.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass

# Bump when a change makes old measurements incomparable (timing method, case semantics):
# results recorded under another protocol become STALE and are re-run.
PROTOCOL_VERSION = 1

PARTS = ("kernel", "e2e")
# a name that becomes part of a file or folder name: a model, a system, a cluster, an id
NAME = re.compile(r"[A-Za-z0-9_.-]+")


class SpecError(ValueError):
    """A case spec (from a file, or built by a plug-in) that is not valid; the message says why."""


def check_name(kind: str, value: object) -> str:
    """`value` if it can name a file: [A-Za-z0-9_.-]+ and not '.' or '..'; SpecError otherwise."""
    if not isinstance(value, str) or not NAME.fullmatch(value) or value in (".", ".."):
        raise SpecError(f"{kind} {value!r} is not a valid name: use letters, digits, '_', '.' and '-'")
    return value


@dataclass(frozen=True)
class CaseSpec:
    """One measurement to make: a program (model) compiled by a system at one shape on one device class.

    `dims` are the program's sizes (batch, heads, kv_heads, head_dim, q_len, kv_len for kernels;
    plus layers, hidden, intermediate for e2e). `scale` is a label only: the dims are the identity.
    `options` are further settings that change the result (e.g. an e2e weights checkpoint, the hash of a
    plug-in program's source); they join the identity only when present, so cases without options keep
    their keys.
    """

    part: str
    model: str
    system: str
    dims: tuple[tuple[str, int], ...]
    dtype: str
    device: str
    scale: str = "full"
    protocol: int = PROTOCOL_VERSION
    options: tuple[tuple[str, str], ...] = ()

    @property
    def key(self) -> str:
        return case_key(self.identity())

    @property
    def seqlen(self) -> int:
        d = dict(self.dims)
        return d.get("q_len", d.get("seq", 0))

    def dim(self, name: str) -> int:
        return dict(self.dims)[name]

    def option(self, name: str, default: str | None = None) -> str | None:
        return dict(self.options).get(name, default)

    def identity(self) -> dict:
        ident = {
            "part": self.part, "model": self.model, "system": self.system,
            "dims": dict(self.dims), "dtype": self.dtype, "device": self.device,
            "protocol": self.protocol,
        }
        if self.options:
            ident["options"] = dict(self.options)
        return ident

    def to_json(self) -> dict:
        d = asdict(self)
        d["dims"] = dict(self.dims)
        d["options"] = dict(self.options)
        d["key"] = self.key
        return d

    @classmethod
    def from_json(cls, d: object) -> CaseSpec:
        """The spec a file holds, validated: field types, names usable in paths, and (when the file
        gives one) a key that matches the fields. SpecError otherwise."""
        if not isinstance(d, dict):
            raise SpecError(f"a case is a JSON object, found {type(d).__name__}")
        missing = [f for f in ("part", "model", "system", "dims", "dtype", "device") if f not in d]
        if missing:
            raise SpecError(f"a case lacks {', '.join(missing)}")
        dims, options = d["dims"], d.get("options") or {}
        if not isinstance(dims, dict) or not dims or not all(
                isinstance(k, str) and type(v) is int and v > 0 for k, v in dims.items()):
            raise SpecError(f"case dims must map names to positive integers, found {dims!r}")
        if not isinstance(options, dict) or not all(isinstance(v, str) for v in options.values()):
            raise SpecError(f"case options must map names to strings, found {options!r}")
        protocol = d.get("protocol", PROTOCOL_VERSION)
        if type(protocol) is not int:
            raise SpecError(f"case protocol must be an integer, found {protocol!r}")
        if d["part"] not in PARTS:
            raise SpecError(f"case part must be one of {', '.join(PARTS)}, found {d['part']!r}")
        for kind in ("model", "system", "dtype", "device"):
            check_name(kind, d[kind])
        scale = d.get("scale", "full")
        check_name("scale", scale)
        spec = cls(part=d["part"], model=d["model"], system=d["system"], dims=tuple(sorted(dims.items())),
                   dtype=d["dtype"], device=d["device"], scale=scale, protocol=protocol,
                   options=tuple(sorted(options.items())))
        if "key" in d and d["key"] != spec.key:
            raise SpecError(f"case key {d['key']!r} does not match its fields (they give {spec.key})")
        return spec

    def label(self) -> str:
        return f"{self.part}/{self.model}/{self.system}@{self.seqlen}"


def case_key(identity: dict) -> str:
    """First 16 hex digits of sha256 over the canonical JSON of a case's identity fields."""
    blob = json.dumps(identity, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]

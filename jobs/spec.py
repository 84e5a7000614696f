"""What a case is: frozen specs, their identity, and the scale presets.

No torch here: planning, status and plotting import this module on login nodes.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field

# Bump when a change makes old measurements incomparable (timing method, case semantics):
# results recorded under another protocol become STALE and are re-run.
PROTOCOL_VERSION = 1

PARTS = ("kernel", "e2e")
KERNEL_MODELS = ("attn", "h2o", "roco", "kf", "snapkv", "corm", "gemma2")
DTYPES = ("float16", "bfloat16", "float32")


@dataclass(frozen=True)
class Scale:
    """A named set of sizes. `seqlens` maps the paper's sequence lengths to this scale's (empty: the same)."""

    name: str
    batch: int
    heads: int
    head_dim: int
    seqlen: int
    dtype: str
    # e2e model dimensions
    layers: int
    hidden: int
    intermediate: int
    seqlens: dict[int, int] = field(default_factory=dict)
    about: str = ""

    def seq(self, full_seqlen: int) -> int:
        if not self.seqlens:
            return full_seqlen
        return self.seqlens.get(full_seqlen, self.seqlen)

    def full_seqlen(self, seqlen: int) -> int:
        """The paper's sequence length that this scale's `seqlen` stands for."""
        inverse = {v: k for k, v in self.seqlens.items()}
        return inverse.get(seqlen, seqlen)


SCALES: dict[str, Scale] = {
    "full": Scale(
        "full", batch=1, heads=32, head_dim=128, seqlen=4096, dtype="float16",
        layers=32, hidden=4096, intermediate=11008,
        about="the paper's shapes: batch 1, 32 heads, head_dim 128, seq 4096, fp16; Llama-2-7B",
    ),
    "small": Scale(
        "small", batch=1, heads=4, head_dim=64, seqlen=256, dtype="float16",
        layers=2, hidden=256, intermediate=688,
        seqlens={1024: 128, 2048: 192, 4096: 256, 8192: 384, 16384: 512},
        about="fits a 2-core CPU: 4 heads, head_dim 64, seq 256, fp16; a 2-layer Llama",
    ),
    "tiny": Scale(
        "tiny", batch=1, heads=2, head_dim=32, seqlen=64, dtype="float16",
        layers=1, hidden=64, intermediate=172,
        seqlens={1024: 32, 2048: 48, 4096: 64, 8192: 80, 16384: 96},
        about="seconds on any machine: 2 heads, head_dim 32, seq 64",
    ),
}


@dataclass(frozen=True)
class CaseSpec:
    """One measurement to make: a program (model) compiled by a system at one shape on one device class.

    `dims` are the program's sizes (batch, heads, kv_heads, head_dim, q_len, kv_len for kernels;
    plus layers, hidden, intermediate for e2e). `scale` is a label only: the dims are the identity.
    `options` are further settings that change the result (e.g. an e2e weights checkpoint); they join the
    identity only when present, so cases without options keep their keys.
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

    def to_dict(self) -> dict:
        d = asdict(self)
        d["dims"] = dict(self.dims)
        d["options"] = dict(self.options)
        d["key"] = self.key
        return d

    @classmethod
    def from_dict(cls, d: dict) -> CaseSpec:
        return cls(
            part=d["part"], model=d["model"], system=d["system"],
            dims=tuple(sorted(d["dims"].items())), dtype=d["dtype"], device=d["device"],
            scale=d.get("scale", "full"), protocol=d.get("protocol", PROTOCOL_VERSION),
            options=tuple(sorted((d.get("options") or {}).items())),
        )

    def label(self) -> str:
        return f"{self.part}/{self.model}/{self.system}@{self.seqlen}"


def case_key(identity: dict) -> str:
    """First 16 hex digits of sha256 over the canonical JSON of a case's identity fields."""
    blob = json.dumps(identity, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def kernel_dims(scale: Scale, full_seqlen: int) -> tuple[tuple[str, int], ...]:
    seq = scale.seq(full_seqlen)
    d = {"batch": scale.batch, "heads": scale.heads, "kv_heads": scale.heads,
         "head_dim": scale.head_dim, "q_len": seq, "kv_len": seq}
    return tuple(sorted(d.items()))


def e2e_dims(scale: Scale, full_seqlen: int) -> tuple[tuple[str, int], ...]:
    d = {"batch": scale.batch, "seq": scale.seq(full_seqlen), "layers": scale.layers,
         "hidden": scale.hidden, "heads": scale.heads, "kv_heads": scale.heads,
         "head_dim": scale.hidden // scale.heads, "intermediate": scale.intermediate}
    return tuple(sorted(d.items()))

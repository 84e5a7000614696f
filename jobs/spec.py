"""The shapes of cases: scale presets and the dims they give a kernel or an e2e case.

A case itself (its spec and identity) is results.case.CaseSpec. No torch here: planning, status and
plotting import this module on login nodes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

KERNEL_MODELS = ("attn", "h2o", "roco", "kf", "snapkv", "corm", "gemma2")


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
        """This scale's length for the paper's `full_seqlen`. A length the map lacks is refused (ValueError):
        falling back to a default would make several lengths one case."""
        if not self.seqlens:
            return full_seqlen
        if full_seqlen not in self.seqlens:
            raise ValueError(f"the {self.name} scale has no sequence length for {full_seqlen}; it maps "
                             f"{', '.join(map(str, self.seqlens))} (the full scale takes any)")
        return self.seqlens[full_seqlen]

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

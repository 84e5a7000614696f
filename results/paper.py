"""The FlashTensor paper's published numbers (its artifact's logs), shipped as package data.

Rows come out as the same tidy rows as measured ones, with the paper's system names mapped to ours
(dynamo -> inductor, flashattn -> flashattn2) and the paper's own compiler called `flashtensor-paper`,
so it is never confused with ours.
"""

from __future__ import annotations

import csv
import io
from importlib import resources

from results.rows import Row

SYSTEM_NAMES = {"our": "flashtensor-paper", "dynamo": "inductor", "flashattn": "flashattn2"}


def paper_rows() -> list[Row]:
    text = resources.files("results").joinpath("data/flashtensor-paper-results.csv").read_text()
    rows = []
    for r in csv.DictReader(io.StringIO(text)):
        ok = r["status"] == "ok"
        seqlen = int(r["seqlen"])
        rows.append(Row(
            part=r["experiment"], model=r["model"], system=SYSTEM_NAMES.get(r["system"], r["system"]),
            device=r["device"], seqlen=seqlen, full_seqlen=seqlen, dims=paper_dims(seqlen),
            state="DONE" if ok else "FAIL", error=None if ok else r["status"],
            median_ms=float(r["avg_ms"]) if ok else None, source="paper", figure=r["figure"]))
    return rows


def paper_dims(seqlen: int) -> dict:
    """The paper's kernel shape: batch 1, 32 heads, head_dim 128, fp16 (notes §11)."""
    return {"batch": 1, "heads": 32, "kv_heads": 32, "head_dim": 128, "q_len": seqlen, "kv_len": seqlen}

"""The e2e correctness gate: a system's prefill against the same prefill with the eager torch attention.

Hidden states (float16, [B, L, hidden], after the final RMSNorm: rms ~1) must agree within
    ‖got − want‖ / ‖want‖ ≤ REL_TOL   and   |got − want| ≤ ELEM_TOL · (rms(want) + |want|) elementwise.
Measured on CPU (fp16, seeded weights; tests/e2e/test_model.py and test_e2e.py keep them honest):

    model                                  fp16 eager vs float32 model    float32 attention / inductor vs eager
    small (2 layers, hidden 256, L 256)    rel 5.5e-4, max 3.8e-3·rms     rel 4.9e-4 / 1.2e-4, max 3.9e-3·rms
    32 layers, hidden 512, L 512           rel 1.8e-3, max 2.2e-2·rms     rel 1.3e-3, max 1.3e-2·rms

Rounding grows with depth (×3 from 2 to 32 layers), so REL_TOL = 1e-2 is 6–8× what a correct attention
shows at full depth, room for the wider full-scale model and a GPU's different kernels; ELEM_TOL = 0.05
is ~4× the worst elementwise error in rms units (~10× in the check's rms + |want| units, 4.7e-3 at 32
layers), and the |want| term lets large entries (real checkpoints have outlier channels) err in
proportion. What it catches at small scale: a logit scale off by 10% gives rel 1.6e-2; an output off by a
layout or mask bug is ≫ 1e-2. Subtler kernel errors are the kernel part's job (float64 reference).

KV selections can differ legitimately where two scores tie within rounding, so they are compared by the
fraction of the reference's selected keys that the system also selected (for corm, whose selection varies
in size, |both| / |either|), over all layers and heads: ≥ OVERLAP_MIN. A correct attention keeps ≥ 99.9%
(worst layer 99.2%) at 32 layers; a wrong score keeps 86–91% (snapkv without pooling, kf without noise or
at τ = 1, h2o from Σp², roco from the mean alone), so OVERLAP_MIN = 0.97. Caches that keep everything
(attn, gemma2) have no selection; their K and V follow from the hidden states, which are checked.
"""

from __future__ import annotations

import torch

from jobs.check import WrongResult
from jobs.e2e.kvcache import KVCache

REL_TOL = 1e-2
ELEM_TOL = 0.05
OVERLAP_MIN = 0.97


def reference_of(outputs: tuple[torch.Tensor, list[KVCache]]) -> dict:
    """What the check keeps of the eager prefill: the hidden states and each layer's selected positions."""
    hidden, caches = outputs
    return {"hidden": hidden, "index": [c.index for c in caches]}


def check_prefill(outputs, want: dict, variant: str) -> dict:
    hidden, caches = outputs
    stats = {"hidden": _check_hidden(hidden, want["hidden"])}
    if len(caches) != len(want["index"]):
        raise WrongResult(f"expected {len(want['index'])} layer caches, got {len(caches)}")
    if want["index"][0] is not None:
        stats["kv_overlap"] = _check_selection([c.index for c in caches], want["index"], variant)
    return {"rel_tol": REL_TOL, "elem_tol": ELEM_TOL, "overlap_min": OVERLAP_MIN, "outputs": stats}


def _check_hidden(got: torch.Tensor, want: torch.Tensor) -> dict:
    if got.dtype != want.dtype or got.shape != want.shape:
        raise WrongResult(f"hidden: expected {want.dtype} {tuple(want.shape)}, got {got.dtype} {tuple(got.shape)}")
    g, w = got.double(), want.double()
    if not bool(torch.isfinite(g).all()):
        raise WrongResult(f"hidden: {int((~torch.isfinite(g)).sum())} NaN/inf values (the reference is finite)")
    err = (g - w).abs()
    rms = float(w.square().mean().sqrt())
    rel = float((g - w).norm() / w.norm())
    # the elementwise error in units of (rms + |want|): at most ELEM_TOL
    scaled = float((err / (rms + w.abs())).max())
    if rel > REL_TOL or scaled > ELEM_TOL:
        raise WrongResult(f"hidden: relative error {rel:.3g} (tolerance {REL_TOL}), max error {scaled:.3g} × "
                          f"(rms + |value|) (tolerance {ELEM_TOL}) against the eager torch prefill")
    return {"rel_err": rel, "max_err": float(err.max()), "max_err_scaled": scaled, "rms": rms}


def _check_selection(got: list[torch.Tensor], want: list[torch.Tensor], variant: str) -> dict:
    kept = total = 0
    worst = 1.0
    for layer, (g, w) in enumerate(zip(got, want)):
        if variant != "corm" and g.shape != w.shape:
            raise WrongResult(f"layer {layer} KV cache: expected {tuple(w.shape)} positions, got {tuple(g.shape)}")
        common, size = _overlap(g, w, variant)
        kept, total = kept + common, total + size
        worst = min(worst, common / max(size, 1))
    overlap = kept / max(total, 1)
    if overlap < OVERLAP_MIN:
        raise WrongResult(f"KV selection: {overlap:.1%} of the eager prefill's selected keys also selected "
                          f"(at least {OVERLAP_MIN:.0%} needed); worst layer {worst:.1%}")
    return {"overlap": overlap, "worst_layer": worst}


def _overlap(got: torch.Tensor, want: torch.Tensor, variant: str) -> tuple[int, int]:
    """(selected by both, selected by either) for corm's [N, 3] rows; (both, want's count) for [B, H, n]."""
    if variant == "corm":
        g, w = _row_codes(got), _row_codes(want)
        both = int(torch.isin(g, w).sum())
        return both, g.numel() + w.numel() - both
    hit = (got[..., :, None] == want[..., None, :]).any(-1)
    return int(hit.sum()), want.numel()


def _row_codes(rows: torch.Tensor) -> torch.Tensor:
    """[N, 3] (batch, head, position) rows -> one int64 per row (positions and heads stay below 2**24)."""
    return (rows[:, 0] << 48) | (rows[:, 1] << 24) | rows[:, 2]

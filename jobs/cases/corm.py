"""corm (CORM): attention plus, per key, whether any query gives it probability >= 1/(query index + 1)."""

import torch
import torch.nn.functional as F

from jobs.cases.common import Case, CausalAttention, Output, reference_chunks, reference_out, to_bshd


class Corm(CausalAttention):
    def forward(self, q, k, v, corm_mask):
        scores = self.scores(q, k)
        scores += self.causal_mask(q, k)
        probs = F.softmax(scores.float(), dim=-1)
        out = self.attend(probs, v, q)
        corm_score = (probs >= corm_mask).any(dim=2)
        return out, corm_score.view(q.shape[0], self.heads, k.shape[1])


def threshold(dims, device, gen):
    """corm_mask [Lq, Lk] float32, row i = 1 / (i + 1)."""
    q_len, kv_len = dims["q_len"], dims["kv_len"]
    rows = 1.0 / torch.arange(1, q_len + 1, device=device, dtype=torch.float32)
    return {"corm_mask": rows[:, None].expand(q_len, kv_len).contiguous()}


def reference(x):
    group = x["q"].shape[2] // x["k"].shape[2]
    thr = x["corm_mask"].double()
    outs, margins = [], []
    for hs, _, p in reference_chunks(x["q"], x["k"]):
        outs.append(reference_out(p, x["v"], hs, group))
        # any_i(p >= thr) is true iff max_i(p / thr - 1) >= 0 (thr > 0); the relative margin says how
        # close a key is to flipping under rounding
        margins.append((p / thr - 1).amax(dim=2))
    return {"out": to_bshd(outs), "corm_score": torch.cat(margins, 1)}


CASE = Case("corm", Corm, outputs=(Output("out"), Output("corm_score", "bool")), reference=reference,
            extra_inputs=threshold, about="attention + any(P >= 1/(i+1)) per key")

"""h2o (Heavy-Hitter Oracle): attention plus the column sums of the probabilities, [B, H, Lk] float32."""

import torch
import torch.nn.functional as F

from jobs.cases.common import Case, CausalAttention, Output, reference_chunks, reference_out, to_bshd


class H2O(CausalAttention):
    def forward(self, q, k, v):
        scores = self.scores(q, k)
        scores += self.causal_mask(q, k)
        probs = F.softmax(scores.float(), dim=-1)
        out = self.attend(probs, v, q)
        h2o_score = probs.sum(dim=2)
        return out, h2o_score.view(q.shape[0], self.heads, k.shape[1])


def reference(x):
    group = x["q"].shape[2] // x["k"].shape[2]
    outs, cols = [], []
    for hs, _, p in reference_chunks(x["q"], x["k"]):
        outs.append(reference_out(p, x["v"], hs, group))
        cols.append(p.sum(dim=2))
    return {"out": to_bshd(outs), "h2o_score": torch.cat(cols, dim=1)}


CASE = Case("h2o", H2O, outputs=(Output("out"), Output("h2o_score", "float32")), reference=reference,
            about="attention + column sums of P")

"""roco (RoCo): attention plus column sums of P and of P², [B, H, Lk] float32 each."""

import torch
import torch.nn.functional as F

from jobs.cases.common import Case, CausalAttention, Output, reference_chunks, reference_out, to_bshd


class RoCo(CausalAttention):
    def forward(self, q, k, v):
        scores = self.scores(q, k)
        scores += self.causal_mask(q, k)
        probs = F.softmax(scores.float(), dim=-1)
        out = self.attend(probs, v, q)
        roco_score = probs.sum(dim=2)
        roco_sq_score = (probs**2).sum(dim=2)
        shape = (q.shape[0], self.heads, k.shape[1])
        return out, roco_score.view(shape), roco_sq_score.view(shape)


def reference(x):
    group = x["q"].shape[2] // x["k"].shape[2]
    outs, sums, squares = [], [], []
    for hs, _, p in reference_chunks(x["q"], x["k"]):
        outs.append(reference_out(p, x["v"], hs, group))
        sums.append(p.sum(dim=2))
        squares.append((p * p).sum(dim=2))
    return {"out": to_bshd(outs), "roco_score": torch.cat(sums, 1), "roco_sq_score": torch.cat(squares, 1)}


OUTPUTS = (Output("out"), Output("roco_score", "float32"), Output("roco_sq_score", "float32"))
CASE = Case("roco", RoCo, outputs=OUTPUTS, reference=reference, about="attention + column sums of P and P^2")

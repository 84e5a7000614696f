"""snapkv (SnapKV as in the artifact): column sums of P smoothed by avg_pool1d(k=5, pad=2, stride=1)."""

import torch
import torch.nn.functional as F

from jobs.cases.common import Case, CausalAttention, Output, reference_chunks, reference_out, to_bshd

KERNEL_SIZE = 5


class SnapKV(CausalAttention):
    def forward(self, q, k, v):
        scores = self.scores(q, k)
        scores += self.causal_mask(q, k)
        probs = F.softmax(scores.float(), dim=-1)
        out = self.attend(probs, v, q)
        snapkv_score = probs.sum(dim=2)
        snapkv_score = F.avg_pool1d(snapkv_score, kernel_size=KERNEL_SIZE, padding=KERNEL_SIZE // 2, stride=1)
        return out, snapkv_score.view(q.shape[0], self.heads, k.shape[1])


def reference(x):
    group = x["q"].shape[2] // x["k"].shape[2]
    outs, cols = [], []
    for hs, _, p in reference_chunks(x["q"], x["k"]):
        outs.append(reference_out(p, x["v"], hs, group))
        cols.append(p.sum(dim=2))
    pooled = F.avg_pool1d(torch.cat(cols, 1), kernel_size=KERNEL_SIZE, padding=KERNEL_SIZE // 2, stride=1)
    return {"out": to_bshd(outs), "snapkv_score": pooled}


CASE = Case("snapkv", SnapKV, outputs=(Output("out"), Output("snapkv_score", "float32")), reference=reference,
            about="attention + avg-pooled column sums of P")

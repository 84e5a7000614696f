"""gemma2: causal attention with Gemma-2 logit soft-capping, s = cap·tanh(s/cap), cap = 50."""

import torch
import torch.nn.functional as F

from jobs.cases.common import Case, CausalAttention, Output, reference_chunks, reference_out, to_bshd

SOFTCAP = 50.0


class Gemma2(CausalAttention):
    def forward(self, q, k, v):
        scores = self.scores(q, k)
        scores /= SOFTCAP
        scores = torch.tanh(scores)
        scores *= SOFTCAP
        scores += self.causal_mask(q, k)
        probs = F.softmax(scores.float(), dim=-1)
        return self.attend(probs, v, q)


def reference(x):
    group = x["q"].shape[2] // x["k"].shape[2]
    chunks = reference_chunks(x["q"], x["k"], softcap=SOFTCAP)
    return {"out": to_bshd([reference_out(p, x["v"], hs, group) for hs, _, p in chunks])}


CASE = Case("gemma2", Gemma2, outputs=(Output("out"),), reference=reference, about="soft-capped attention (cap 50)")

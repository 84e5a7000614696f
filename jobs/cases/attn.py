"""attn: plain causal attention. out = softmax(QK^T/sqrt(D) + causal mask) V."""

import torch.nn.functional as F

from jobs.cases.common import Case, CausalAttention, Output, reference_chunks, reference_out, to_bshd


class Attn(CausalAttention):
    def forward(self, q, k, v):
        scores = self.scores(q, k)
        scores += self.causal_mask(q, k)
        probs = F.softmax(scores.float(), dim=-1)
        return self.attend(probs, v, q)


def reference(x):
    group = x["q"].shape[2] // x["k"].shape[2]
    outs = [reference_out(p, x["v"], hs, group) for hs, _, p in reference_chunks(x["q"], x["k"])]
    return {"out": to_bshd(outs)}


CASE = Case("attn", Attn, outputs=(Output("out"),), reference=reference, about="causal attention")

"""kf (Keyformer): attention plus column sums of a Gumbel-perturbed softmax at temperature tau = 1.5.

kf_score = softmax((S + g) / tau).sum(over queries), with g = -log(exp_rand), exp_rand [B, H, Lq, Lk]
float32 = 1 + |randn| (as the artifact's benchmark).
"""

import torch
import torch.nn.functional as F

from jobs.cases.common import Case, CausalAttention, Output, reference_chunks, reference_out, to_bshd

TAU = 1.5


class KeyFormer(CausalAttention):
    def forward(self, q, k, v, exp_rand):
        scores = self.scores(q, k)
        scores += self.causal_mask(q, k)
        probs = F.softmax(scores.float(), dim=-1)
        out = self.attend(probs, v, q)
        gumbels = -exp_rand.log()
        kf_score = (scores.float() + gumbels) / TAU
        kf_score = F.softmax(kf_score.float(), dim=-1).sum(dim=2)
        return out, kf_score.view(q.shape[0], self.heads, k.shape[1])


def noise(dims, device, gen):
    shape = (dims["batch"], dims["heads"], dims["q_len"], dims["kv_len"])
    return {"exp_rand": 1 + torch.randn(shape, generator=gen, device=device, dtype=torch.float32).abs()}


def reference(x):
    group = x["q"].shape[2] // x["k"].shape[2]
    outs, cols = [], []
    for hs, s, p in reference_chunks(x["q"], x["k"]):
        outs.append(reference_out(p, x["v"], hs, group))
        g = -x["exp_rand"][:, hs].double().log()
        cols.append(F.softmax((s + g) / TAU, dim=-1).sum(dim=2))
    return {"out": to_bshd(outs), "kf_score": torch.cat(cols, 1)}


CASE = Case("kf", KeyFormer, outputs=(Output("out"), Output("kf_score", "float32")), reference=reference,
            extra_inputs=noise, about="attention + Gumbel-softmax column sums")

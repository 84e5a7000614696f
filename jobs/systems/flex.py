"""flex: FlexAttention compiled with torch.compile, as users write it.

A causal BlockMask (bottom-right aligned like the cases, built once at compile time) and, for gemma2, a
score_mod that soft-caps the scaled logits: 50·tanh(s/50). FlexAttention returns `out` (and optionally the
row log-sum-exp) only, so the cases with statistics over P are NS. A plug-in case's score_mod and block
mask are derived from its program (flex_program.py), or it is NS with the reason. Runs on CUDA and, with
torch >= 2.6, on CPU.
"""

from __future__ import annotations

import torch

from jobs.plugins import is_plugin_case
from jobs.systems.attention_library import attention_only, from_bhsd, is_gqa, to_bhsd
from jobs.systems.base import System


class Flex(System):
    name = "flex"
    library = "FlexAttention"

    def unavailable(self):
        try:
            import torch.nn.attention.flex_attention  # noqa: F401
        except ImportError:
            return f"this torch ({torch.__version__}) has no torch.nn.attention.flex_attention"
        return None

    def unsupported(self, spec):
        if is_plugin_case(spec.model):
            return None  # decided from the program itself, at compile
        return attention_only(self.library, spec, softcap="score_mod")

    def compile(self, program, inputs, spec):
        from torch.nn.attention.flex_attention import create_block_mask, flex_attention

        torch._dynamo.reset()
        if is_plugin_case(spec.model):
            return _derived(program, inputs, spec)
        q_len, kv_len = spec.dim("q_len"), spec.dim("kv_len")
        offset = kv_len - q_len

        def causal(b, h, q_idx, kv_idx):
            return q_idx + offset >= kv_idx

        block_mask = create_block_mask(causal, B=None, H=None, Q_LEN=q_len, KV_LEN=kv_len, device=inputs[0].device)
        score_mod = _softcap_mod() if spec.model == "gemma2" else None
        gqa = is_gqa(spec)
        flex = torch.compile(flex_attention, dynamic=False)

        def attention(q, k, v):
            out = flex(to_bhsd(q), to_bhsd(k), to_bhsd(v), score_mod=score_mod, block_mask=block_mask,
                       enable_gqa=gqa)
            return from_bhsd(out)

        # compilation happens at the first call, so it belongs to compile time
        attention(*inputs)
        return attention

    def details(self):
        return {"library": "torch", "version": torch.__version__, "entry": "flex_attention",
                "compiled": "torch.compile(flex_attention, dynamic=False)"}


def _derived(program, inputs, spec):
    """A plug-in program through FlexAttention with the score_mod and block mask its graph gives."""
    from torch.nn.attention.flex_attention import create_block_mask, flex_attention

    from jobs.systems.flex_program import derive

    form = derive(program, inputs)
    block_mask = None
    if form.dead is not None:
        dead = form.dead.to(inputs[0].device)

        def alive(b, h, q_idx, kv_idx):
            index = tuple(i if n > 1 else 0 for i, n in zip((b, h, q_idx, kv_idx), dead.shape))
            return ~dead[index]

        batch, heads = (None if n == 1 else n for n in dead.shape[:2])
        block_mask = create_block_mask(alive, B=batch, H=heads, Q_LEN=dead.shape[2], KV_LEN=dead.shape[3],
                                       device=inputs[0].device)
    flex = torch.compile(flex_attention, dynamic=False)
    gqa = is_gqa(spec)

    def attention(q, k, v, *extra):
        out = flex(to_bhsd(q), to_bhsd(k), to_bhsd(v), score_mod=form.score_mod, block_mask=block_mask,
                   scale=1.0, enable_gqa=gqa)
        return from_bhsd(out) if form.out_layout == "bshd" else out

    attention(*inputs)
    return attention


def _softcap_mod():
    from jobs.cases.gemma2 import SOFTCAP

    def softcap(score, b, h, q_idx, kv_idx):
        return SOFTCAP * torch.tanh(score / SOFTCAP)

    return softcap

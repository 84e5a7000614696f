"""Fixtures of the e2e tests: a tiny Hugging Face Llama checkpoint written on the spot."""

import json
from itertools import count

import pytest
import torch


def hf_tensors(dims: dict, vocab: int) -> dict[str, torch.Tensor]:
    """Random bfloat16 tensors under Hugging Face Llama names (with lm_head and the old rotary buffers)."""
    gen = torch.Generator().manual_seed(3)
    h, i, w = dims["hidden"], dims["intermediate"], dims["heads"] * dims["head_dim"]

    def t(*shape):
        return torch.randn(*shape, generator=gen).to(torch.bfloat16)

    tensors = {"model.embed_tokens.weight": t(vocab, h), "model.norm.weight": t(h), "lm_head.weight": t(vocab, h)}
    for n in range(dims["layers"]):
        p = f"model.layers.{n}."
        tensors.update({
            p + "input_layernorm.weight": t(h), p + "post_attention_layernorm.weight": t(h),
            p + "self_attn.q_proj.weight": t(w, h), p + "self_attn.k_proj.weight": t(w, h),
            p + "self_attn.v_proj.weight": t(w, h), p + "self_attn.o_proj.weight": t(h, w),
            p + "self_attn.rotary_emb.inv_freq": t(dims["head_dim"] // 2),
            p + "mlp.gate_proj.weight": t(i, h), p + "mlp.up_proj.weight": t(i, h), p + "mlp.down_proj.weight": t(h, i),
        })
    return tensors


@pytest.fixture
def checkpoint(tmp_path):
    """checkpoint(dims, vocab=100, config=None, drop=None) -> (folder, tensors by Hugging Face name).

    The folder holds two safetensors shards and a config.json, as a Hugging Face download does.
    """
    from safetensors.torch import save_file

    numbers = count()

    def write(dims: dict, vocab: int = 100, config: dict | None = None, drop: str | None = None):
        tensors = hf_tensors(dims, vocab)
        kept = sorted(n for n in tensors if n != drop)
        folder = tmp_path / f"checkpoint-{next(numbers)}"
        folder.mkdir()
        save_file({n: tensors[n] for n in kept[::2]}, str(folder / "model-00001-of-00002.safetensors"))
        save_file({n: tensors[n] for n in kept[1::2]}, str(folder / "model-00002-of-00002.safetensors"))
        (folder / "config.json").write_text(json.dumps(config or {"rms_norm_eps": 1e-6, "rope_theta": 5e5}))
        return folder, tensors

    return write

"""Seeded random weights (healthy at full depth) and the Hugging Face safetensors loader."""

import pytest
import torch

from jobs.e2e.model import LlamaConfig
from jobs.e2e.weights import CheckpointError, load_model, random_model

TINY = {"batch": 1, "seq": 16, "layers": 2, "hidden": 64, "heads": 2, "kv_heads": 2, "head_dim": 32,
        "intermediate": 96}


def attention(q, k, v):
    """Plain causal attention, for running the model in these tests."""
    out = torch.nn.functional.scaled_dot_product_attention(
        q.transpose(1, 2).float(), k.transpose(1, 2).float(), v.transpose(1, 2).float(), is_causal=True)
    return out.transpose(1, 2).to(q.dtype), None


def test_random_weights_are_seeded_float16_and_scaled_by_role():
    cfg = LlamaConfig.from_dims(TINY)
    a, b, c = random_model(cfg, "cpu", 1), random_model(cfg, "cpu", 1), random_model(cfg, "cpu", 2)
    assert all(p.dtype == torch.float16 and not p.requires_grad for p in a.parameters())
    assert all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters()))
    assert not torch.equal(a.layers[0].qkv.weight, c.layers[0].qkv.weight)
    assert a.layers[0].qkv.weight.float().std().item() == pytest.approx(64**-0.5, rel=0.05)
    assert a.layers[0].down.weight.float().std().item() == pytest.approx((96 * 4) ** -0.5, rel=0.05)
    assert torch.equal(a.norm.weight, torch.ones_like(a.norm.weight))


def test_random_weights_keep_float16_activations_healthy_through_32_layers():
    dims = {**TINY, "layers": 32, "hidden": 256, "heads": 2, "head_dim": 128, "intermediate": 688, "seq": 128}
    model = random_model(LlamaConfig.from_dims(dims), "cpu", 0)
    residual = {}
    model.norm.register_forward_pre_hook(lambda module, args: residual.setdefault("x", args[0]))
    tokens = torch.randint(0, model.cfg.vocab, (1, 128), generator=torch.Generator().manual_seed(0))
    hidden, _ = model(tokens, attention)
    x = residual["x"].float()
    assert torch.isfinite(x).all() and torch.isfinite(hidden).all()
    # the residual stream stays near unit scale: 1 from the embedding plus at most ~1 from 64 residual branches
    assert 1.0 < x.square().mean().sqrt().item() < 1.5
    assert x.abs().max().item() < 12


def test_loader_fills_the_fused_layout_from_hugging_face_names(checkpoint):
    folder, tensors = checkpoint(TINY)
    model = load_model(folder, TINY, "cpu")
    assert (model.cfg.vocab, model.cfg.norm_eps, model.cfg.rope_theta) == (100, 1e-6, 5e5)
    assert all(p.dtype == torch.float16 for p in model.parameters())

    def hf(name):
        return tensors[name].half()

    for n, layer in enumerate(model.layers):
        p = f"model.layers.{n}."
        qkv = torch.cat([hf(p + f"self_attn.{x}_proj.weight") for x in "qkv"])
        gate_up = torch.cat([hf(p + "mlp.gate_proj.weight"), hf(p + "mlp.up_proj.weight")])
        assert torch.equal(layer.qkv.weight, qkv) and torch.equal(layer.gate_up.weight, gate_up)
        assert torch.equal(layer.o_proj.weight, hf(p + "self_attn.o_proj.weight"))
        assert torch.equal(layer.down.weight, hf(p + "mlp.down_proj.weight"))
        assert torch.equal(layer.attn_norm.weight, hf(p + "input_layernorm.weight"))
        assert torch.equal(layer.mlp_norm.weight, hf(p + "post_attention_layernorm.weight"))
    assert torch.equal(model.embed.weight, hf("model.embed_tokens.weight"))
    assert torch.equal(model.norm.weight, hf("model.norm.weight"))
    hidden, _ = model(torch.arange(16)[None] % 100, attention)
    assert torch.isfinite(hidden).all()


def test_loader_rejects_a_checkpoint_that_does_not_fit(checkpoint, tmp_path):
    folder, _ = checkpoint(TINY, drop="model.layers.1.mlp.up_proj.weight")
    with pytest.raises(CheckpointError, match="lacks 1 tensors"):
        load_model(folder, TINY, "cpu")
    folder, _ = checkpoint(TINY)
    with pytest.raises(CheckpointError, match="needs --scale full"):
        load_model(folder, {**TINY, "intermediate": 128}, "cpu")
    with pytest.raises(CheckpointError, match="more layers"):
        load_model(folder, {**TINY, "layers": 1}, "cpu")
    with pytest.raises(CheckpointError, match="no \\*.safetensors"):
        load_model(tmp_path, TINY, "cpu")

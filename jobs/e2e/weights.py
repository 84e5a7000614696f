"""The e2e model's weights: seeded random (default) or a local Hugging Face Llama safetensors checkpoint.

Both build the parameters directly on the target device in float16: the model is made on the meta
device and materialised there, then filled.

Random init keeps fp16 activations near unit scale at any depth: the input projections (qkv, gate_up)
have std 1/sqrt(fan_in), so q and k are about N(0, 1) per element and the attention logits q·k/sqrt(D)
are about N(0, 1), as the kernel benchmark's randn inputs; the projections that write into the residual
stream (o_proj, down) have std 1/sqrt(fan_in · 2 · layers), so the 2 · layers residual additions add at
most one unit of variance to the N(0, 1) embedding: after 32 layers the residual stream has rms ~1.1 and
|x| < 6, the MLP's gate_up outputs |x| < 6 (hidden 256 and 1024 on CPU; tests/e2e/test_weights.py), far
from float16's range at any width. Norm weights are 1.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import torch

from jobs.e2e.model import Llama, LlamaConfig


class CheckpointError(ValueError):
    """The checkpoint cannot fill this model (missing, misnamed or wrongly shaped tensors)."""


def empty_model(cfg: LlamaConfig, device, dtype=torch.float16) -> Llama:
    """Uninitialised parameters on `device`, without a detour through host memory or float32."""
    with torch.device("meta"):
        model = Llama(cfg).to(dtype)
    return model.to_empty(device=device).requires_grad_(False)


def random_model(cfg: LlamaConfig, device, seed: int) -> Llama:
    model = empty_model(cfg, device)
    gen = torch.Generator(device=device).manual_seed(seed)
    residual_scale = 1 / math.sqrt(2 * cfg.layers)
    for name, p in model.named_parameters():
        if name.endswith("norm.weight"):
            p.fill_(1.0)
        elif name == "embed.weight":
            p.normal_(0.0, 1.0, generator=gen)
        else:
            std = p.shape[1] ** -0.5
            if name.endswith(("o_proj.weight", "down.weight")):
                std *= residual_scale
            p.normal_(0.0, std, generator=gen)
    return model


# Hugging Face Llama name -> (our parameter, row block within it: index, number of blocks)
_LAYER_NAMES = {
    "input_layernorm.weight": ("attn_norm.weight", 0, 1),
    "self_attn.q_proj.weight": ("qkv.weight", 0, 3),
    "self_attn.k_proj.weight": ("qkv.weight", 1, 3),
    "self_attn.v_proj.weight": ("qkv.weight", 2, 3),
    "self_attn.o_proj.weight": ("o_proj.weight", 0, 1),
    "post_attention_layernorm.weight": ("mlp_norm.weight", 0, 1),
    "mlp.gate_proj.weight": ("gate_up.weight", 0, 2),
    "mlp.up_proj.weight": ("gate_up.weight", 1, 2),
    "mlp.down_proj.weight": ("down.weight", 0, 1),
}
_TOP_NAMES = {"model.embed_tokens.weight": ("embed.weight", 0, 1), "model.norm.weight": ("norm.weight", 0, 1)}
# in a causal-LM checkpoint but not part of a prefill without LM head
_UNUSED = re.compile(r"^lm_head\.weight$|\.rotary_emb\.inv_freq$")
_LAYER = re.compile(r"^model\.layers\.(\d+)\.(.+)$")


def hf_target(name: str) -> tuple[str, int, int] | None:
    """Where a Hugging Face tensor goes: (our parameter name, row block, blocks), or None if unused."""
    if name in _TOP_NAMES:
        return _TOP_NAMES[name]
    m = _LAYER.match(name)
    if m and m.group(2) in _LAYER_NAMES:
        target, block, blocks = _LAYER_NAMES[m.group(2)]
        return f"layers.{m.group(1)}.{target}", block, blocks
    if _UNUSED.search(name):
        return None
    raise CheckpointError(f"unexpected tensor {name!r} in the checkpoint: not a Llama model?")


def checkpoint_files(path: Path) -> list[Path]:
    path = Path(path)
    files = [path] if path.is_file() else sorted(path.glob("*.safetensors"))
    if not files:
        raise CheckpointError(f"no *.safetensors file in {path}: give a Hugging Face Llama checkpoint folder")
    return files


def checkpoint_config(path: Path, dims: dict) -> LlamaConfig:
    """The model config for `dims`, with the checkpoint's vocab, RoPE theta and norm epsilon."""
    from safetensors import safe_open

    overrides = {}
    config = Path(path) / "config.json"
    if config.is_file():
        hf = json.loads(config.read_text())
        overrides = {"rope_theta": float(hf.get("rope_theta") or 10000.0),
                     "norm_eps": float(hf.get("rms_norm_eps") or 1e-5)}
    for file in checkpoint_files(path):
        with safe_open(str(file), framework="pt") as f:
            if "model.embed_tokens.weight" in f.keys():
                overrides["vocab"] = f.get_slice("model.embed_tokens.weight").get_shape()[0]
    if "vocab" not in overrides:
        raise CheckpointError(f"no model.embed_tokens.weight in {path}")
    return LlamaConfig.from_dims(dims, **overrides)


def load_model(path: Path, dims: dict, device) -> Llama:
    """The model of `dims` with every weight from the checkpoint at `path` (a folder or one file)."""
    from safetensors import safe_open

    model = empty_model(checkpoint_config(path, dims), device)
    params = dict(model.named_parameters())
    filled: set[tuple[str, int]] = set()
    for file in checkpoint_files(path):
        with safe_open(str(file), framework="pt", device=str(device)) as f:
            for name in f.keys():
                target = hf_target(name)
                if target is None:
                    continue
                _fill(params, name, f.get_tensor(name), *target)
                filled.add(target[:2])
    missing = [f"{n}[{b}]" for n, p in params.items() for b in range(_blocks(n)) if (n, b) not in filled]
    if missing:
        raise CheckpointError(f"the checkpoint at {path} lacks {len(missing)} tensors for a {model.cfg.layers}-layer "
                              f"model, e.g. {', '.join(missing[:3])}")
    return model


def _blocks(param: str) -> int:
    """How many checkpoint tensors make up one of our parameters ("layers.0.qkv.weight": 3)."""
    return {"qkv": 3, "gate_up": 2}.get(param.split(".")[-2], 1)


def _fill(params: dict, name: str, tensor: torch.Tensor, target: str, block: int, blocks: int) -> None:
    if target not in params:
        raise CheckpointError(f"{name} has no place in this model (more layers than the case's dims?)")
    param = params[target]
    rows = param.shape[0] // blocks
    part = param[block * rows:(block + 1) * rows]
    if tuple(tensor.shape) != tuple(part.shape):
        raise CheckpointError(f"{name} is {tuple(tensor.shape)}, the case's dims want {tuple(part.shape)} "
                              "(a Llama-2-7B checkpoint needs --scale full)")
    part.copy_(tensor)

"""Any program of the form softmax(f(QK^T)) V as FlexAttention: its score_mod and block mask, derived.

FlexAttention computes out = softmax(score_mod(q·k, b, h, q_idx, kv_idx)) v with a block mask naming the
dead (q_idx, kv_idx) blocks. A plug-in program has that form when, in its exported graph (torch.export,
the frontend TVM and TensorRT use too):

  * its one output is P·V (up to layout ops and casts) with V the third input,
  * P is a softmax over the last axis of S,
  * S is reached from one matmul of the first two inputs (Q·K^T, up to layout ops) through elementwise ops
    only, whose other operands are numbers or tensors that do not depend on q, k, v (masks built from
    index functions, extra inputs): those are evaluated once and indexed per (b, h, q_idx, kv_idx).

Then score_mod replays those elementwise ops on one score, and the block mask holds the positions where
S is -inf whatever the score is (tried with several scores). Anything else is NotSupported with the
reason: a second output (a statistic over P), a non-elementwise step between QK^T and the softmax.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from jobs.systems.base import NotSupported

aten = torch.ops.aten
LAYOUT = {"view", "reshape", "_unsafe_view", "transpose", "permute", "expand", "unsqueeze", "squeeze", "clone",
          "contiguous", "alias", "t", "to", "_to_copy", "type_as"}
POINTWISE = {"add", "sub", "rsub", "mul", "div", "neg", "tanh", "exp", "exp2", "log", "log2", "sigmoid", "abs",
             "clamp", "clamp_min", "clamp_max", "minimum", "maximum", "where", "masked_fill", "pow", "sqrt", "rsqrt",
             "sin", "cos", "relu", "square", "reciprocal", "to", "_to_copy", "type_as", "floor", "ceil", "round",
             "sign", "erf", "log1p", "expm1", "softplus", "gelu", "fmod", "remainder", "eq", "ne", "lt", "le", "gt",
             "ge", "logical_and", "logical_or", "logical_not", "bitwise_not", "__and__", "__or__"}
# scores S=-inf is tested against: a dead position stays -inf for each
_PROBE_SCORES = (-3.0, 0.0, 0.5, 4.0)


@dataclass
class FlexForm:
    score_mod: object
    dead: torch.Tensor | None  # [B|1, H|1, Lq, Lk] bool, or None when nothing is masked
    out_layout: str  # "bshd" or "bhsd"


def derive(program, inputs: tuple) -> FlexForm:
    """The FlexAttention form of a program, or NotSupported saying why it has none."""
    try:
        ep = torch.export.export(program, tuple(inputs))
    except Exception as e:  # noqa: BLE001 - a program torch.export cannot take has no flex form either
        raise NotSupported(f"flex: torch.export cannot capture the program ({type(e).__name__})") from None
    module = ep.module()
    graph = module.graph
    places = [n for n in graph.nodes if n.op == "placeholder"]
    if len(places) < 3:
        raise NotSupported("flex: FlexAttention takes q, k, v; the program has fewer inputs")
    q, k, v = places[:3]
    outputs = next(n for n in graph.nodes if n.op == "output").args[0]
    if len(outputs) != 1:
        raise NotSupported(f"flex: FlexAttention returns attention's output only; the program returns "
                           f"{len(outputs)} outputs")
    pv = _through(outputs[0], LAYOUT)
    if _name(pv) not in ("matmul", "bmm"):
        raise NotSupported(f"flex: the output is not P·V (it comes from {_name(pv) or pv.op})")
    probs, values = (_through(a, LAYOUT) for a in pv.args[:2])
    if values is not v or _name(probs) not in ("softmax", "_softmax") or probs.args[1] not in (-1, 3):
        raise NotSupported("flex: the output is not softmax(S) over the keys times the third input (v)")
    values_of = _evaluable(module, places, (q, k, v), inputs)
    region, score = _region(probs.args[0], values_of, q, k)
    layout = "bshd" if tuple(outputs[0].meta["val"].shape) == tuple(inputs[0].shape) else "bhsd"
    replay = _Replay(region, score, values_of, inputs[0].device)
    return FlexForm(replay.score_mod, replay.dead(), layout)


def _name(node) -> str:
    target = getattr(node, "target", None)
    packet = getattr(target, "overloadpacket", None)
    return packet.__name__.rstrip("_") if packet is not None else ""


def _through(node, ops: set):
    """Back from `node` over ops that only move data (and over the GQA expansion of k or v)."""
    while node.op == "call_function" and node.args and (_name(node) in ops or _expands_heads(node)):
        node = node.args[0]
    return node


def _expands_heads(node) -> bool:
    """repeat_interleave over the head axis of [B, L, Hkv, D]: query head h reads KV head h // group, as
    FlexAttention's enable_gqa (a repeat over heads, h % Hkv, is not that and is refused)."""
    if _name(node) != "repeat_interleave" or len(node.args) < 3:
        return False
    return node.args[2] in (2, -2) and node.args[0].meta["val"].dim() == 4


def _evaluable(module, places, qkv, inputs) -> dict:
    """Values computed once, before any call: the extra inputs themselves (read where they lie, so a call
    sees its data), and what depends on no input at all (masks from index functions, constants). What is
    computed from an extra input stays in score_mod, so no input's work moves out of the timed call."""
    env = {p: x for p, x in zip(places, inputs) if p not in qkv}
    inputs_only = set(env)
    for node in module.graph.nodes:
        if node.op == "get_attr":
            env[node] = _attribute(module, node.target)
        if node.op != "call_function" or node in env:
            continue
        deps = node.all_input_nodes
        if all(d in env and d not in inputs_only for d in deps):
            args, kwargs = _map((node.args, node.kwargs), env)
            env[node] = node.target(*args, **kwargs)
    return env


def _attribute(module, path: str):
    for part in path.split("."):
        module = getattr(module, part)
    return module


def _region(node, values_of: dict, q, k) -> tuple[list, object]:
    """The elementwise nodes between QK^T and the softmax, in graph order, and the QK^T node."""
    seen, score, stack = set(), None, [node]
    while stack:
        n = stack.pop()
        if n in seen or n in values_of or not hasattr(n, "op"):
            continue
        seen.add(n)
        if _name(n) in ("matmul", "bmm"):
            a, b = (_through(x, LAYOUT - {"to", "_to_copy"}) for x in n.args[:2])
            if (a, b) != (q, k) or (score is not None and score is not n):
                raise NotSupported("flex: the scores are not one matmul of q and k (as q·kᵀ)")
            score = n
            continue
        if n.op != "call_function" or _name(n) not in POINTWISE:
            what = _name(n) or n.op
            raise NotSupported(f"flex: the scores pass through {what} before the softmax; score_mod takes one "
                               "score at a time (elementwise ops only)")
        stack.extend(n.all_input_nodes)
    if score is None:
        raise NotSupported("flex: the softmax does not read a q·kᵀ matmul")
    order = {n: i for i, n in enumerate(node.graph.nodes)}
    return sorted(seen - {score}, key=order.get), score


class _Replay:
    """The region's ops applied to one score (score_mod) or to a few whole-grid probes (the dead set)."""

    def __init__(self, region: list, score, values_of: dict, device: torch.device):
        self.region, self.score, self.device = region, score, device
        self.leaves = {n: _as_4d(v) for n, v in values_of.items() if isinstance(v, torch.Tensor)}
        self.last = region[-1] if region else score

    def run(self, score_value, leaf_value) -> torch.Tensor:
        env = {self.score: score_value}
        for node in self.region:
            args, kwargs = _map((node.args, node.kwargs), env, lambda n: leaf_value(n))
            env[node] = _functional(node.target)(*args, **kwargs)
        return env[self.last]

    def score_mod(self, score, b, h, q_idx, kv_idx):
        def pick(node):
            t = self.leaves[node]
            return t[tuple(i if size > 1 else 0 for i, size in zip((b, h, q_idx, kv_idx), t.shape))]
        return self.run(score, pick)

    def dead(self) -> torch.Tensor | None:
        # on the inputs' device, where masks built from q.device lie (masked_fill takes no mask from another)
        probes = [self.run(torch.tensor(s, device=self.device), lambda n: self.leaves[n]) for s in _PROBE_SCORES]
        dead = torch.stack([torch.broadcast_to(p, torch.broadcast_shapes(*(x.shape for x in probes))).isneginf()
                            for p in probes]).all(dim=0)
        return _as_4d(dead) if bool(dead.any()) else None


def _as_4d(t: torch.Tensor) -> torch.Tensor:
    if t.dim() > 4:
        raise NotSupported(f"flex: a tensor of rank {t.dim()} joins the scores; score_mod indexes [b, h, q, kv]")
    return t.reshape((1,) * (4 - t.dim()) + tuple(t.shape))


def _functional(target):
    """An in-place ATen op's functional twin (mul_ -> mul): score_mod must not write its inputs."""
    packet = getattr(target, "overloadpacket", None)
    if packet is None or not packet.__name__.endswith("_"):
        return target
    return getattr(getattr(aten, packet.__name__.rstrip("_")), target._overloadname)


def _map(value, env: dict, leaf=None):
    """Replace graph nodes inside (nested) args by their values."""
    if hasattr(value, "op") and hasattr(value, "all_input_nodes"):
        if value in env:
            return env[value]
        if leaf is not None:
            return leaf(value)
        raise KeyError(value)
    if isinstance(value, (list, tuple)):
        return type(value)(_map(v, env, leaf) for v in value)
    if isinstance(value, dict):
        return {k: _map(v, env, leaf) for k, v in value.items()}
    return value

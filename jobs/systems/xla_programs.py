"""The seven cases written with jax.numpy, step for step as jobs/cases/*.py, in the same dtypes.

Scores come out of the QK^T matmul in the input dtype (float32 accumulation, as cuBLAS), are scaled, capped
and masked in that dtype (each step computed in float32 and rounded back, as PyTorch's half-precision
elementwise ops do), and the softmax runs in float32. Imports jax: load it only from the xla system.

Shapes: q [B, Lq, H, D], k and v [B, Lk, Hkv, D]; outputs as the case's `outputs`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp

F32 = jnp.float32


def _matmul(a, b):
    """a @ b in a's dtype, accumulated in float32."""
    return jnp.matmul(a, b, preferred_element_type=F32).astype(a.dtype)


def _rounded(fn, x):
    """An elementwise op on a half tensor computed in float32 and rounded back (PyTorch's opmath)."""
    return fn(x.astype(F32)).astype(x.dtype)


class Attention:
    """Causal attention pieces for one set of dims (CausalAttention in jobs/cases/common.py)."""

    def __init__(self, dims: dict):
        self.heads, self.kv_heads, self.head_dim = dims["heads"], dims["kv_heads"], dims["head_dim"]
        self.group = self.heads // self.kv_heads

    def expand_kv(self, t):
        """[B, Lk, Hkv, D] -> [B, Lk, H, D]: query head h reads KV head h // group."""
        return t if self.group == 1 else jnp.repeat(t, self.group, axis=2)

    def scores(self, q, k):
        """[B, H, Lq, Lk] in q's dtype, scaled by 1/sqrt(D), unmasked."""
        qh = q.transpose(0, 2, 1, 3)
        kh = self.expand_kv(k).transpose(0, 2, 3, 1)
        scale = math.sqrt(self.head_dim)
        return _rounded(lambda s: s / scale, _matmul(qh, kh))

    def masked(self, s):
        """Adds the causal mask: -inf where key j > query i + (Lk - Lq)."""
        q_len, kv_len = s.shape[-2], s.shape[-1]
        i = jnp.arange(q_len)[:, None]
        j = jnp.arange(kv_len)[None, :]
        return jnp.where(j > i + (kv_len - q_len), jnp.asarray(-jnp.inf, s.dtype), s)

    def attend(self, probs, v, q):
        """probs [B, H, Lq, Lk] float32 -> out [B, Lq, H, D] in q's dtype."""
        vh = self.expand_kv(v).transpose(0, 2, 1, 3)
        return _matmul(probs.astype(q.dtype), vh).transpose(0, 2, 1, 3)

    def probs(self, q, k):
        return jax.nn.softmax(self.masked(self.scores(q, k)).astype(F32), axis=-1)


def attn(a: Attention):
    def forward(q, k, v):
        return a.attend(a.probs(q, k), v, q)

    return forward


def h2o(a: Attention):
    def forward(q, k, v):
        p = a.probs(q, k)
        return a.attend(p, v, q), p.sum(axis=2)

    return forward


def roco(a: Attention):
    def forward(q, k, v):
        p = a.probs(q, k)
        return a.attend(p, v, q), p.sum(axis=2), (p**2).sum(axis=2)

    return forward


def kf(a: Attention):
    from jobs.cases.kf import TAU

    def forward(q, k, v, exp_rand):
        s = a.masked(a.scores(q, k))
        p = jax.nn.softmax(s.astype(F32), axis=-1)
        gumbel = -jnp.log(exp_rand)
        noisy = jax.nn.softmax((s.astype(F32) + gumbel) / TAU, axis=-1)
        return a.attend(p, v, q), noisy.sum(axis=2)

    return forward


def snapkv(a: Attention):
    from jobs.cases.snapkv import KERNEL_SIZE

    pad = KERNEL_SIZE // 2

    def avg_pool(x):
        """avg_pool1d over the last axis, stride 1, zero padding counted (PyTorch's default)."""
        n = x.shape[-1]
        padded = jnp.pad(x, ((0, 0), (0, 0), (pad, pad)))
        return sum(padded[..., i:i + n] for i in range(KERNEL_SIZE)) / KERNEL_SIZE

    def forward(q, k, v):
        p = a.probs(q, k)
        return a.attend(p, v, q), avg_pool(p.sum(axis=2))

    return forward


def corm(a: Attention):
    def forward(q, k, v, corm_mask):
        p = a.probs(q, k)
        return a.attend(p, v, q), (p >= corm_mask).any(axis=2)

    return forward


def gemma2(a: Attention):
    from jobs.cases.gemma2 import SOFTCAP

    def forward(q, k, v):
        s = a.scores(q, k)
        s = _rounded(lambda x: x / SOFTCAP, s)
        s = _rounded(jnp.tanh, s)
        s = _rounded(lambda x: x * SOFTCAP, s)
        p = jax.nn.softmax(a.masked(s).astype(F32), axis=-1)
        return a.attend(p, v, q)

    return forward


PROGRAMS: dict[str, Callable[[Attention], Callable]] = {
    "attn": attn, "h2o": h2o, "roco": roco, "kf": kf, "snapkv": snapkv, "corm": corm, "gemma2": gemma2,
}


def program(model: str, dims: dict) -> Callable:
    """The case's forward as a jax-traceable function of its inputs (q, k, v, then the extra inputs)."""
    return PROGRAMS[model](Attention(dims))

"""Element types of the IR, by short name, and their torch and Triton spellings.

The IR stores dtypes as these strings so that nodes print and hash without torch objects.
"""

from __future__ import annotations

import torch

FLOATS = ("f16", "bf16", "f32", "f64")
INTS = ("i32", "i64")

_TORCH = {
    "bool": torch.bool, "i32": torch.int32, "i64": torch.int64,
    "f16": torch.float16, "bf16": torch.bfloat16, "f32": torch.float32, "f64": torch.float64,
}
_FROM_TORCH = {v: k for k, v in _TORCH.items()}
# the element type names of triton.language, which Gluon's language module shares
_TRITON = {
    "bool": "int1", "i32": "int32", "i64": "int64",
    "f16": "float16", "bf16": "bfloat16", "f32": "float32", "f64": "float64",
}
# promotion order: a later entry wins (as torch's category order for tensors of equal rank)
_RANK = {"bool": 0, "i32": 1, "i64": 2, "f16": 3, "bf16": 3, "f32": 4, "f64": 5}


def to_torch(dtype: str) -> torch.dtype:
    return _TORCH[dtype]


def from_torch(dtype: torch.dtype) -> str:
    if dtype not in _FROM_TORCH:
        raise KeyError(f"unsupported element type {dtype}")
    return _FROM_TORCH[dtype]


def to_triton(dtype: str, lang: str = "tl") -> str:
    """The element type as the kernel text spells it, in its language module `lang` (tl: triton.language,
    gl: Gluon's)."""
    return f"{lang}.{_TRITON[dtype]}"


def is_float(dtype: str) -> bool:
    return dtype in FLOATS


def promote(a: str, b: str) -> str:
    """The result type of a binary op on two tensors (f16 with bf16 gives f32, as in torch)."""
    if {a, b} == {"f16", "bf16"}:
        return "f32"
    return a if _RANK[a] >= _RANK[b] else b


def scalar_dtype(value) -> str:
    """Dtype of a Python scalar constant (a 'weak' type: tensors of any dtype win over it)."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "i64"
    return "f64"

"""The seven cases end to end, through the generated kernels (Triton's interpreter on CPU): against
their float64 references, with NaN-prefilled outputs, GQA, batch 2, q_len != kv_len with odd lengths,
±100 logits, bf16, and larger head dims. And no allocation anywhere near a score matrix."""

import pytest
import torch
from case_runner import compile_case, dims, run_case
from torch.utils._python_dispatch import TorchDispatchMode

from jobs.spec import KERNEL_MODELS


@pytest.mark.parametrize("name", KERNEL_MODELS)
def test_case_small(name, options, device):
    run_case(name, dims(), "float16", options, device)


@pytest.mark.parametrize("name", KERNEL_MODELS)
def test_case_with_the_code_generation_options_flipped(name, options, device):
    # both settings of each code generation option must be right, not only the default one
    trial = options.__class__(cache_dir=options.cache_dir, name_all_stages=not options.name_all_stages,
                              stop_saturated_any=not options.stop_saturated_any)
    run_case(name, dims(), "float16", trial, device)


@pytest.mark.slow
@pytest.mark.parametrize("name", KERNEL_MODELS)
def test_case_logits_100(name, options, device):
    # logits reach ±100: a softmax without its max overflows fp32 exp (and fp16 P) here
    run_case(name, dims(), "float16", options, device, scale=20.0)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["attn", "h2o", "kf", "corm"])
def test_case_bf16(name, options, device):
    run_case(name, dims(q_len=29, kv_len=29), "bfloat16", options, device)


@pytest.mark.slow
@pytest.mark.parametrize("name,head_dim", [("roco", 64), ("gemma2", 64), ("snapkv", 64), ("attn", 128)])
def test_case_head_dims_mha_batch1(name, head_dim, options, device):
    run_case(name, dims(batch=1, heads=2, kv_heads=2, head_dim=head_dim, q_len=48, kv_len=48), "float16",
             options, device)


class _NewStorage(TorchDispatchMode):
    """Records the largest storage created by any torch op while active (views of existing storage and
    the inputs do not count)."""

    def __init__(self, known):
        super().__init__()
        self.known, self.largest = set(known), (0, "")

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else [out]:
            if isinstance(t, torch.Tensor):
                storage = t.untyped_storage()
                if storage.data_ptr() not in self.known:
                    self.known.add(storage.data_ptr())
                    self.largest = max(self.largest, (storage.nbytes(), str(func)))
        return out


@pytest.mark.parametrize("name", ["h2o", "kf", "corm", "snapkv"])
def test_no_score_sized_allocation(name, options, device):
    d = dims()
    case, inputs, fn = compile_case(name, d, "float16", options, device)
    fn(*inputs.values())  # JIT and tuning happen at the first call
    with _NewStorage(x.untyped_storage().data_ptr() for x in inputs.values()) as seen:
        fn(*inputs.values())
    one_score_matrix_per_head = d["batch"] * d["heads"] * d["q_len"] * d["kv_len"] * 2  # fp16 bytes
    assert 0 < seen.largest[0] < one_score_matrix_per_head, seen.largest

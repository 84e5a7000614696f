"""A plug-in case through every system: those that can take its program pass the float64 gate, the others
are NS with a reason that names what they lack."""

import sys
from pathlib import Path

import pytest
from systems_testlib import TINY, check_system, e2e_spec, has, make_spec

from jobs import plugins
from jobs.measure import CaseFailure, _workload
from jobs.systems import get_system

VARIANT = '''
import math, torch, ftrun

class Biased(torch.nn.Module):
    """Causal attention plus a per-head distance penalty and an extra [Lq, Lk] bias input."""
    def __init__(self, heads: int):
        super().__init__()
        self.heads = heads

    def forward(self, q, k, v, bias):
        s = q.transpose(1, 2) @ k.transpose(1, 2).transpose(-2, -1) / math.sqrt(q.shape[-1])
        i = torch.arange(q.shape[1], device=q.device)[:, None]
        j = torch.arange(k.shape[1], device=q.device)[None, :]
        slopes = torch.exp2(-0.5 * torch.arange(1, self.heads + 1, device=q.device, dtype=torch.float32))
        s = s + (bias - slopes[:, None, None] * (i - j).clamp_min(0)).to(s.dtype)
        p = torch.softmax(s.masked_fill(j > i, float("-inf")).float(), dim=-1)
        return (p.to(q.dtype) @ v.transpose(1, 2)).transpose(1, 2).contiguous()

def bias(dims, device, gen):
    return {"bias": torch.randn(dims["q_len"], dims["kv_len"], generator=gen, device=device)}

CASES = [ftrun.Case("biased", Biased, extra_inputs=bias)]
'''


@pytest.fixture
def biased(tmp_path):
    path = tmp_path / "biased_variant.py"
    path.write_text(VARIANT)
    sys.modules.pop("biased_variant", None)  # each test imports its own copy
    with plugins.using(plugins.PluginSpec(paths=(str(path),))):
        yield "biased"
    sys.modules.pop("biased_variant", None)


@pytest.mark.parametrize("system", ["torch", "flashtensor"])
def test_systems_that_take_the_program_pass_the_gate(biased, system):
    stats = check_system(get_system(system), make_spec(biased, system, TINY))
    assert stats["outputs"]["out"]["max_abs_err"] < 1e-2


@pytest.mark.skipif(not has("tvm"), reason="tvm is not installed")
def test_tvm_takes_what_its_frontend_takes_and_says_what_it_does_not(biased):
    import torch

    # TVM's frontend has no converter for exp2: NS naming the op; the example package's sliding window builds
    with pytest.raises(CaseFailure, match=r"tvm: its PyTorch frontend does not take this program .*exp2"):
        _workload(make_spec("biased", "tvm", TINY), torch.device("cpu"))
    example = Path(__file__).resolve().parents[2] / "examples" / "own_variants" / "my_variants"
    with plugins.using(plugins.PluginSpec(paths=(str(example),))):
        stats = check_system(get_system("tvm"), make_spec("sliding_window", "tvm", TINY))
    assert stats["outputs"]["out"]["max_abs_err"] < 1e-2


@pytest.mark.parametrize("system, reason", [
    ("xla", "XLA compiles jax.numpy programs and has no PyTorch frontend"),
    ("cudnn", "it has no way to take the program of case 'biased'"),
    ("flashattn2", "it has no way to take the program of case 'biased'"),
    ("flashinfer", "it has no way to take the program of case 'biased'"),
])
def test_systems_that_cannot_say_why(biased, system, reason):
    assert reason in (get_system(system).unsupported(make_spec(biased, system, TINY)) or "")


def test_a_plugin_case_in_the_e2e_model_is_ns(biased):
    import torch

    with pytest.raises(CaseFailure, match="e2e model selects KV entries for the seven paper variants only"):
        _workload(e2e_spec(biased, "torch"), torch.device("cpu"))

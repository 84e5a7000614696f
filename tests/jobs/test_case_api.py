"""The public case API: ftrun.Case validates what it is given, builds programs with the dims they name,
and its default reference (the program in float64, by head blocks) agrees with the seven hand-written ones."""

import subprocess
import sys

import pytest
import torch

import ftrun
from jobs.cases import kernel_case
from jobs.check import check_outputs
from jobs.reference import float64_reference, head_axes
from jobs.spec import KERNEL_MODELS

DIMS = {"batch": 2, "heads": 4, "kv_heads": 2, "head_dim": 16, "q_len": 24, "kv_len": 40}


class Scaled(torch.nn.Module):
    """Plain attention with the scale as an argument; `extra` is [B, H, Lq, Lk], `bias` [Lq, Lk]."""

    def __init__(self, head_dim: int, heads: int):
        super().__init__()
        self.scale, self.heads = head_dim ** -0.5, heads

    def forward(self, q, k, v, extra, bias):
        k, v = (t.repeat_interleave(q.shape[2] // k.shape[2], dim=2) for t in (k, v))
        s = (q.transpose(1, 2) @ k.transpose(1, 2).transpose(-2, -1)) * self.scale + extra.half() + bias.half()
        p = torch.softmax(s.float(), dim=-1)
        return (p.to(q.dtype) @ v.transpose(1, 2)).transpose(1, 2), p.sum(dim=2), (p > 0.2).any(dim=2)


def extras(dims, device, gen):
    shape = (dims["batch"], dims["heads"], dims["q_len"], dims["kv_len"])
    return {"extra": torch.randn(shape, generator=gen, device=device) * 0.1,
            "bias": torch.randn(dims["q_len"], dims["kv_len"], generator=gen, device=device) * 0.1}


CASE = ftrun.Case("scaled", Scaled, extra_inputs=extras,
                  outputs=("out", ftrun.Output("colsum", "float32"), ftrun.Output("hit", "bool")))


@pytest.mark.parametrize("name", KERNEL_MODELS)
def test_default_reference_matches_the_hand_written_one_by_head_blocks(name):
    case = kernel_case(name)
    inputs = case.inputs(DIMS, "float16", "cpu", 3)
    by_hand = case.reference(inputs)
    # a block of one KV group (2 heads) at a time: four evaluations of the program in float64
    derived = float64_reference(case, inputs, block_elems=1)
    for output in case.outputs:
        got, want = derived[output.name], by_hand[output.name]
        assert got.dtype == torch.float64 and got.shape == want.shape
        if output.is_bool:
            assert torch.equal(got > 0, want >= 0)
        else:
            torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


def test_head_axes_are_found_for_inputs_and_outputs():
    inputs = CASE.inputs(DIMS, "float16", "cpu", 0)
    axes = head_axes(CASE, DIMS, inputs)
    assert axes == {"q": (2, "heads"), "k": (2, "kv_heads"), "v": (2, "kv_heads"), "extra": (1, "heads"),
                    "bias": None, "out": (2, "heads"), "colsum": (1, "heads"), "hit": (1, "heads")}


def test_blocked_reference_equals_the_whole_one_and_the_program_passes_the_gate():
    inputs = CASE.inputs(DIMS, "float16", "cpu", 0)
    whole = float64_reference(CASE, inputs)
    blocked = float64_reference(CASE, inputs, block_elems=1)
    for name in whole:
        torch.testing.assert_close(blocked[name], whole[name], rtol=0, atol=0)
    outputs = CASE.build(DIMS)(*inputs.values())
    stats = check_outputs(outputs, CASE.outputs, CASE.reference(inputs), "float16")
    assert set(stats["outputs"]) == {"out", "colsum", "hit"}
    # a wrong program fails the gate against its own float64 evaluation
    with pytest.raises(Exception, match="colsum"):
        check_outputs((outputs[0], outputs[1] * 1.1, outputs[2]), CASE.outputs, CASE.reference(inputs), "float16")


def test_the_program_gets_the_dims_it_names_and_only_those():
    program = CASE.build(DIMS)
    assert program.scale == 16 ** -0.5 and program.heads == 4
    plain = ftrun.Case("plain", torch.nn.Identity)
    assert isinstance(plain.build(DIMS), torch.nn.Identity)


def test_inputs_are_seeded():
    a, b = CASE.inputs(DIMS, "float16", "cpu", 7), CASE.inputs(DIMS, "float16", "cpu", 7)
    assert all(torch.equal(a[n], b[n]) for n in a) and list(a) == ["q", "k", "v", "extra", "bias"]
    assert not torch.equal(a["extra"], CASE.inputs(DIMS, "float16", "cpu", 8)["extra"])


@pytest.mark.parametrize("args, kwargs, message", [
    (("bad name", Scaled), {}, "not a valid name"),
    (("x", 5), {}, "program must be an nn.Module class"),
    (("x", Scaled), {"outputs": ("out", "out")}, "distinct names"),
    (("x", Scaled), {"outputs": ("out", "2nd")}, "must be an identifier"),
    (("x", Scaled), {"reference": "float64"}, "reference must be a function"),
])
def test_bad_case_arguments_say_what_to_give(args, kwargs, message):
    with pytest.raises(ftrun.CaseError, match=message):
        ftrun.Case(*args, **kwargs)


def test_output_dtypes_are_checked():
    with pytest.raises(ftrun.CaseError, match="dtype must be one of input, float32"):
        ftrun.Output("out", "int8")


def test_source_hash_follows_the_file_that_defines_the_case(tmp_path):
    from jobs import plugins

    source = ("import torch, ftrun\n"
              "class P(torch.nn.Module):\n    def forward(self, q, k, v):\n        return q * {}\n"
              "CASES = [ftrun.Case('p', P)]\n")
    hashes = []
    for n, factor in enumerate((1, 2, 1)):
        path = tmp_path / f"hash_variant_{n}.py"
        path.write_text(source.format(factor))
        case = plugins.import_file(path).CASES[0]
        assert case.source_files() == [path]
        hashes.append(case.source_hash())
    assert hashes[0] == hashes[2] != hashes[1]
    # the built-in cases keep the keys they had: no source hash joins their identity
    assert plugins.case_options("h2o") == ()


def test_importing_ftrun_does_not_import_torch():
    code = "import sys, ftrun; ftrun.Case; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"

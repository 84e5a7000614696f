"""The Hopper target on programs the seven cases do not cover: every program the Triton path fuses
still compiles with CompileOptions.hopper_kernels on, to the same plan; each kernel either gets a Gluon
source or keeps its Triton one with the decline's reason recorded; and the Gluon sources it accepts
compile for sm_90. What the planner makes of the 2024-2026 variants (tests/compiler/variants.py) and of
the grammar's newer classes (torch regions, stores, restricted score spaces, two score spaces) is in
test_hopper_variants.py."""

import re
import warnings
from unittest import mock

import pytest
from kernel_programs import COL_STATS, MASKS, MODS, ROW_STATS, LogBias, Program, Spec, log_bias_inputs, make_inputs
from test_hopper_compile import check_design, hopper_jobs, run_compile

from compiler.codegen.gluon.choose import WRITER_FAILED
from compiler.codegen.gluon.version import GluonApi, gluon_api
from compiler.options import CompileOptions
from compiler.pipeline import Compilation, run_pipeline

SPECS = ([Spec(mask=m, batch=2, heads=4, kv_heads=2, q_len=37, kv_len=53) for m in MASKS]
         + [Spec(mod=m, q_len=45, kv_len=45) for m in MODS if m != "none"]
         + [Spec(stats=ROW_STATS, q_len=33, kv_len=47), Spec(stats=COL_STATS, q_len=33, kv_len=47),
            Spec(mask="window", q_len=90, kv_len=90, window=9), Spec(dtype="bfloat16"), Spec(dtype="float32"),
            Spec(head_dim=80), Spec(head_dim=8)])


def _ids(spec: Spec) -> str:
    return "-".join(f"{k}={v}" for k, v in vars(spec).items() if v != getattr(Spec(), k)) or "default"


def codegen(program, args, tmp_path, api: GluonApi | None = None, hopper: bool = True):
    options = CompileOptions(target="cuda", cache_dir=tmp_path / "t", hopper_kernels=hopper)
    with warnings.catch_warnings(), mock.patch("compiler.codegen.gluon.choose.gluon_api",
                                               return_value=api or gluon_api()):
        warnings.simplefilter("ignore")
        return run_pipeline(Compilation(program, args, options, "prog"), until="codegen")


def declines(c) -> dict[str, str]:
    """Per kernel the Hopper target declined: the reason."""
    return {r.candidate.split()[1]: r.reason for r in c.plan.rejected if r.candidate.startswith("emit ")}


def check_targets(c, triton) -> set[str]:
    """With the switch on (`c`) the program compiles to the kernels it has with the switch off (`triton`),
    nothing left to torch; every kernel has a Gluon source or a reason, never a failure of the writer; a
    Gluon source calls only Gluon's language (gl), never triton.language's (tl). Returns the kernels the
    target took."""
    assert c.failed is None and triton.failed is None, (c.failed, triton.failed)
    assert [k.name for k in c.plan.generated] == [k.name for k in triton.plan.generated]
    chosen = {s.name for s in c.sources if s.tune_role}
    declined = declines(c)
    assert len(c.sources) == len(c.plan.generated)
    assert chosen | set(declined) == {k.name for k in c.plan.generated} and not chosen & set(declined)
    assert not any(r.startswith(WRITER_FAILED) for r in declined.values()), declined
    for s in c.sources:
        if s.tune_role:
            assert not re.search(r"\btl\.|@triton\.jit", s.source), s.name
    return chosen


@pytest.mark.parametrize("spec", SPECS, ids=_ids)
def test_every_kernel_gets_a_source_or_a_reason(spec, tmp_path):
    program, args = Program(spec), make_inputs(spec)
    c = codegen(program, args, tmp_path)
    chosen = check_targets(c, codegen(program, args, tmp_path, hopper=False))
    if spec.dtype == "float32":
        assert not chosen  # the warpgroup matmuls take f16 or bf16
    if spec.head_dim in (80, 8):
        assert not chosen and any("power of two" in r.reason for r in c.plan.rejected)


def test_tiles_that_overflow_shared_memory_are_declined(tmp_path):
    """head_dim 256: Q, K and V tiles of a row pass need 256 KB or more in every candidate config; the
    column pass (no V) fits."""
    spec = Spec(stats=("col_sum",), head_dim=256, q_len=70, kv_len=70)
    c = codegen(Program(spec), make_inputs(spec), tmp_path)
    reasons = {r.candidate.split()[1]: r.reason for r in c.plan.rejected if r.candidate.startswith("emit ")}
    assert "shared memory" in reasons["prog_k0"] and {s.name for s in c.sources if s.tune_role} == {"prog_k1"}


def test_a_score_sized_log_input_is_declined(tmp_path):
    c = codegen(LogBias(), log_bias_inputs(2, 40, 16), tmp_path)
    assert not any(s.tune_role for s in c.sources)
    assert any("streams the score-sized" in r.reason for r in c.plan.rejected)


@pytest.mark.slow
def test_accepted_sources_of_other_programs_compile_for_sm90(tmp_path):
    """Masks, score modifications and statistics beyond the seven cases, grouped KV heads, odd lengths,
    bf16: whatever the target accepts compiles for sm_90 with the design's structure."""
    compiled = 0
    for k, spec in enumerate(s for s in SPECS if s.dtype != "float32" and s.head_dim == 32):
        where = tmp_path / str(k)
        where.mkdir()
        jobs = hopper_jobs(codegen(Program(spec), make_inputs(spec), where), where)
        for r in run_compile(jobs, where).values() if jobs else ():
            check_design(r)
            compiled += 1
    assert compiled >= 10

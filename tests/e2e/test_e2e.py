"""The e2e part through the job entry on the CPU: every variant's prefill is checked, timed and recorded."""

import pytest
import torch

from jobs import entry, measure
from jobs.e2e.check import OVERLAP_MIN, REL_TOL
from jobs.e2e.workload import e2e_workload
from jobs.spec import KERNEL_MODELS, SCALES, e2e_dims
from jobs.systems.base import System
from jobs.timing import TimingSpec
from results.case import CaseSpec
from results.runsdir import RunsDir

QUICK = TimingSpec(warmup_ms=0, min_warmup=1, rep_ms=0, min_reps=2)


def spec(model: str, system: str, scale: str = "small", **options) -> CaseSpec:
    return CaseSpec("e2e", model, system, e2e_dims(SCALES[scale], 4096), "float16", "cpu", scale,
                    options=tuple(sorted(options.items())))


class Float32Attention(System):
    """A correct attention that rounds differently: the program run in float32."""

    def compile(self, program, inputs, spec):
        def run(q, k, v, *extra):
            out, *scores = program(q.float(), k.float(), v.float(), *extra)
            return (out.to(q.dtype), *scores)
        return run


class LogitScale(System):
    """A wrong attention scale, 1.25/sqrt(D): right shapes, plausible values."""

    def compile(self, program, inputs, spec):
        return lambda q, *rest: program(q * 1.25, *rest)


class SquaredScore(System):
    """h2o with Σp² instead of Σp as its score: right attention output, wrong heavy hitters."""

    def compile(self, program, inputs, spec):
        from jobs.cases import kernel_case

        roco = kernel_case("roco").program(heads=program.heads, kv_heads=program.kv_heads, head_dim=program.head_dim)
        return lambda q, k, v: (lambda out, _, squares: (out, squares))(*roco(q, k, v))


@pytest.fixture
def test_systems(monkeypatch):
    extra = {"float32-attention": Float32Attention, "logit-scale": LogitScale, "squared-score": SquaredScore}
    real = measure.get_system
    monkeypatch.setattr(measure, "get_system", lambda name: extra[name]() if name in extra else real(name))


def assert_done(record):
    assert record.state == "done", record.error
    assert record.timing.n >= 2 and record.compile_s >= 0
    return record.check["outputs"]


@pytest.mark.parametrize("model", KERNEL_MODELS)
def test_torch_prefill_of_every_variant(runs_dir, model):
    check = assert_done(entry.run_case(spec(model, "torch"), RunsDir(runs_dir), timing=QUICK))
    assert check["hidden"]["rel_err"] == 0
    assert ("kv_overlap" in check) == (model not in ("attn", "gemma2"))


@pytest.mark.slow
@pytest.mark.parametrize("model", KERNEL_MODELS)
def test_inductor_prefill_of_every_variant(runs_dir, model):
    check = assert_done(entry.run_case(spec(model, "inductor", "tiny"), RunsDir(runs_dir), timing=QUICK))
    assert check["hidden"]["rel_err"] < REL_TOL / 5


@pytest.mark.parametrize("model", ["kf", "corm"])
def test_a_correct_attention_that_rounds_differently_passes(runs_dir, test_systems, model):
    check = assert_done(entry.run_case(spec(model, "float32-attention"), RunsDir(runs_dir), timing=QUICK))
    assert 0 < check["hidden"]["rel_err"] < REL_TOL / 5
    assert check["kv_overlap"]["overlap"] > OVERLAP_MIN


@pytest.mark.parametrize("model, system, message", [
    ("attn", "fake-wrong", "hidden: relative error"),
    ("gemma2", "logit-scale", "hidden: relative error"),
    ("h2o", "squared-score", "KV selection"),
])
def test_a_wrong_attention_is_a_wrong_result(runs_dir, test_systems, model, system, message):
    record = entry.run_case(spec(model, system), RunsDir(runs_dir), timing=QUICK)
    assert (record.state, record.error_class) == ("failed", "wrong_result")
    assert message in record.error and record.timing is None


def test_the_forward_is_seeded_and_keeps_the_selected_caches():
    case = spec("kf", "torch", "tiny")
    work = e2e_workload(case, measure.get_system("torch"), torch.device("cpu"))
    hidden, caches = work.fn(*work.inputs)
    again, _ = work.fn(*work.inputs)
    dims = dict(case.dims)
    assert hidden.shape == (1, dims["seq"], dims["hidden"]) and hidden.dtype == torch.float16
    assert torch.equal(hidden, again)
    assert len(caches) == dims["layers"]
    assert caches[0].k.shape == (1, dims["heads"], dims["seq"] // 8, dims["head_dim"])


def test_weights_from_a_checkpoint(runs_dir, checkpoint):
    folder, _ = checkpoint(dict(e2e_dims(SCALES["tiny"], 4096)), config={"rms_norm_eps": 1e-5})
    runs = RunsDir(runs_dir)
    check = assert_done(entry.run_case(spec("h2o", "torch", "tiny", weights=str(folder)), runs, timing=QUICK))
    assert check["kv_overlap"]["overlap"] == 1.0
    record = entry.run_case(spec("h2o", "torch", "small", weights=str(folder)), runs, timing=QUICK)
    assert (record.state, record.error_class) == ("failed", "unsupported")
    assert "needs --scale full" in record.error

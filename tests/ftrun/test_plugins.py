"""Plug-ins: from ftrun.toml and entry points, carried to the job side, and bad ones as one line each."""

import sys
import textwrap

import pytest
from typer.testing import CliRunner

from ftrun.cli import app
from jobs import plugins
from jobs.entry import run_case
from jobs.runner import ChunkRun, run_chunk
from results.records import RunInfo
from results.runsdir import RunsDir

runner = CliRunner()
VARIANT = '''
import torch, ftrun

class Doubled(torch.nn.Module):
    """attention of 2q: sharper"""
    def forward(self, q, k, v):
        s = (2 * q).transpose(1, 2) @ k.transpose(1, 2).transpose(-2, -1) / q.shape[-1] ** 0.5
        return (torch.softmax(s.float(), dim=-1).to(q.dtype) @ v.transpose(1, 2)).transpose(1, 2)

CASES = [ftrun.Case("doubled", Doubled, about="attention of 2q")]
'''
TOML = '''
[plugins]
paths = ["variant.py"]

[experiments.mine]
models = ["doubled"]
systems = ["torch", "flashtensor"]
seqlens = [4096]
scale = "tiny"
'''


@pytest.fixture
def user(tmp_path, monkeypatch):
    """A user's folder: a variant file and the ftrun.toml naming it (each test imports its own)."""
    (tmp_path / "variant.py").write_text(VARIANT)
    (tmp_path / "ftrun.toml").write_text(TOML)
    monkeypatch.chdir(tmp_path)
    sys.modules.pop("variant", None)
    yield tmp_path
    sys.modules.pop("variant", None)


def invoke(*args):
    return runner.invoke(app, list(map(str, args)))


def test_list_shows_plugin_cases_experiments_and_where_they_come_from(user):
    result = invoke("list")
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "doubled" in text and "attention of 2q" in text and "mine" in text and "variant.py" in text
    assert "fake-hangs" not in text  # the tests' own plug-ins are not this user's


def test_plugin_case_runs_in_a_worker_that_loads_the_plugin(user, runs_dir):
    spec = plugins.PluginSpec(paths=(str(user / "variant.py"),))
    with plugins.using(spec, {}):
        mine = plugins.loaded().cases["doubled"]
        from ftrun.submit import expand
        from jobs.experiments import Experiment, Part
        from jobs.spec import SCALES

        cases = expand(Experiment("x", "", (Part("kernel", ("doubled",), ("torch",)),)), SCALES["tiny"], "cpu")
        assert cases[0].option("source") == mine.source_hash()
        cfg = ChunkRun(RunsDir(runs_dir), lambda s: 300.0, runs_dir / "chunk.log", run=RunInfo(cluster="t"),
                       plugins=spec.to_json())
        done = run_chunk(cases, cfg)
        bare = run_chunk(cases, ChunkRun(RunsDir(runs_dir), lambda s: 300.0, runs_dir / "bare.log"))
    assert done[0].state == "done", done[0].error
    assert bare[0].error_class == "compile_error" and "not known here" in bare[0].error


def test_a_variant_edited_after_planning_is_not_run_under_the_old_key(user, runs_dir):
    from ftrun.submit import expand
    from jobs.experiments import Experiment, Part
    from jobs.spec import SCALES

    spec = plugins.PluginSpec(paths=(str(user / "variant.py"),))
    with plugins.using(spec):
        case = expand(Experiment("x", "", (Part("kernel", ("doubled",), ("torch",)),)), SCALES["tiny"], "cpu")[0]
    (user / "variant.py").write_text(VARIANT.replace("2 * q", "3 * q"))
    with plugins.using(spec):
        record = run_case(case, RunsDir(runs_dir))
        assert plugins.case_options("doubled") != case.options
    assert record.error_class == "compile_error" and "changed after this case was planned" in record.error


def test_submit_plans_plugin_cases_with_their_source_hash(user):
    result = invoke("submit", "mine", "--cluster", "local", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "mine on local" in result.output and "2 cases" in result.output


def test_entry_points_bring_cases_and_experiments(tmp_path, monkeypatch):
    (tmp_path / "ep_variant.py").write_text(VARIANT.replace("CASES = ", "ALL = ") + textwrap.dedent('''
        from jobs.experiments import Experiment, Part
        EXP = Experiment("ep_exp", "from an entry point", (Part("kernel", ("doubled",), ("torch",)),))
        '''))
    info = tmp_path / "ep_variant-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: ep-variant\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[ftrun.cases]\ndoubled = ep_variant:ALL\n\n"
                                           "[ftrun.experiments]\nep_exp = ep_variant:EXP\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with plugins.using(plugins.PluginSpec()) as found:
        assert "doubled" in found.cases and "ep_exp" in found.experiments
        assert "entry point doubled = ep_variant:ALL" in plugins.origin("case", "doubled")
    (info / "entry_points.txt").write_text("[ftrun.cases]\nx = ep_variant:MISSING\n")
    with pytest.raises(plugins.PluginError, match="entry point x = ep_variant:MISSING .* loading it failed"):
        with plugins.using(plugins.PluginSpec()):
            pass


BAD = [
    ("import not_a_module\n", "list", "importing it failed (ModuleNotFoundError: No module named 'not_a_module'"),
    ("X = 1\n", "list", "defines none of CASES, SYSTEMS, EXPERIMENTS"),
    ("CASES = 5\n", "list", "CASES must be a list, found int"),
    ("CASES = [{'name': 'x'}]\n", "list", "a case must be an ftrun.Case, found dict"),
    (VARIANT.replace('"doubled"', '"h2o"'), "list", "case 'h2o' has the name of a built-in case; rename it"),
    ("import ftrun\nSYSTEMS = {'torch': ftrun.Case}\n", "list", "system 'torch' has the name of a built-in system"),
    (VARIANT.replace("return (", "if q.sum() > 0:\n            q = q * 2\n        return ("), "submit",
     "cannot be captured by torch.export"),
    (VARIANT.replace("q.shape[-1] ** 0.5", "q.shape[-1] ** 0.5 + torch.ones(3)"), "submit",
     "fails on its own inputs"),
    (VARIANT.replace('about="attention of 2q"', 'outputs=("out", "extra")'), "submit",
     "returns 1 output(s) but names 2 (out, extra)"),
]


@pytest.mark.parametrize("source, command, message", BAD)
def test_bad_plugin_is_one_line_naming_the_file(user, source, command, message):
    (user / "variant.py").write_text(source)
    args = ["list"] if command == "list" else ["submit", "mine", "--runs-dir", user / "runs"]
    result = invoke(*args)
    text = " ".join(result.output.split())
    assert result.exit_code == 1 and message in text, result.output
    assert text.startswith("error: plug-in ") and "variant.py" in text and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) <= 3  # one line, wrapped by the terminal width at most
    assert not (user / "runs").exists()


@pytest.mark.parametrize("toml, message", [
    ('[plugins]\npaths = ["nowhere.py"]\n', "nowhere.py (from [plugins] paths in ftrun.toml) does not exist"),
    ('[plugins]\nmodules = ["no_such_plugin_module"]\n', "module 'no_such_plugin_module' of [plugins]"),
    ('[plugins]\npaths = "variant.py"\n', 'plugins.paths: expected a list of file or folder paths, found the string'),
    ('[plugins]\npaths = ["variant.py", "variant.py"]\n[experiments.mine]\nmodels = ["nope"]\nsystems = ["torch"]\n',
     "unknown case in experiment mine 'nope'"),
])
def test_bad_plugin_configuration_is_one_line(user, toml, message):
    (user / "ftrun.toml").write_text(toml)
    command = ["submit", "mine", "--runs-dir", user / "runs"] if "experiments" in toml else ["list"]
    result = invoke(*command)
    assert result.exit_code == 1 and message in " ".join(result.output.split()), result.output
    assert not (user / "runs").exists()


def test_compile_a_file_class_and_a_named_case(user):
    result = invoke("compile", "variant.py:Doubled", "--scale", "tiny")
    assert result.exit_code == 0, result.output
    assert "1 kernel(s)" in result.output and "matches the float64 reference" in result.output
    assert "checked, not timed" in result.output
    source = invoke("compile", "doubled", "--scale", "tiny", "--source")
    assert source.exit_code == 0 and "@triton.jit" in source.output and "[:, None]" in source.output
    explained = invoke("compile", "doubled", "--scale", "tiny", "--explain")
    assert "# plan" in explained.output and "kernel(s)" in explained.output
    captured = invoke("compile", "doubled", "--scale", "tiny", "--dump-after", "capture")
    assert "dot(" in captured.output and "softmax" in captured.output


@pytest.mark.parametrize("args, message", [
    (["compile", "nothing"], "unknown case 'nothing'; valid: attn, h2o"),
    (["compile", "variant.py:Nope"], "variant.py has no Nope"),
    (["compile", "missing.py:X"], "plug-in missing.py does not exist"),
    (["compile", "h2o", "--dump-after", "lunch"], "unknown step 'lunch'; valid: capture, simplify"),
    (["compile", "h2o", "--scale", "huge"], "unknown scale 'huge'"),
])
def test_compile_bad_input_is_one_line(user, args, message):
    result = invoke(*args)
    assert result.exit_code == 1 and message in " ".join(result.output.split()), result.output


def test_list_says_whether_a_plugin_system_runs_here(user):
    (user / "variant.py").write_text(VARIANT + textwrap.dedent('''
        from jobs.systems.base import System

        class Moon(System):
            def unavailable(self):
                return "needs the moon"

        class Here(System):
            def compile(self, program, inputs, spec):
                return program

        SYSTEMS = {"moon": Moon, "here": Here}
        '''))
    result = invoke("list")
    lines = [" ".join(line.replace("│", " ").split()) for line in result.output.splitlines()]
    assert result.exit_code == 0, result.output
    assert "moon no needs the moon variant.py" in lines and "here yes variant.py" in lines, result.output


def test_a_plugin_experiment_is_drawn_under_its_own_name(tmp_path):
    from ftrun.figures import draw_experiment
    from jobs.experiments import Experiment, Part
    from results.rows import Row

    def row(model, system, seqlen, ms=None, state="DONE"):
        dims = {"batch": 1, "heads": 32, "kv_heads": 8, "head_dim": 128, "q_len": seqlen, "kv_len": seqlen}
        return Row("kernel", model, system, "h100", seqlen, state, dims, median_ms=ms, p10_ms=ms, p90_ms=ms)

    rows = [row("doubled", "torch", n, 2.0 * n / 1024) for n in (1024, 2048)]
    rows += [row("doubled", "flashtensor", n, 0.5 * n / 1024) for n in (1024, 2048)]
    rows += [row("doubled", "flex", n, state="NS") for n in (1024, 2048)]
    bars = Experiment("mine", "mine", (Part("kernel", ("doubled",), ("torch", "flex", "flashtensor"), (1024, 2048)),))
    paths = draw_experiment(bars, rows, ["doubled"], ["torch", "flex", "flashtensor"], tmp_path)
    assert [p.name for p in paths] == ["mine-kernel.pdf", "mine-kernel.png", "mine-kernel.csv"]
    plotted = (tmp_path / "mine-kernel.csv").read_text()
    # one panel per case and length, the compiler's speedup over the best baseline, NS where flex made no time
    assert "doubled @1024" in plotted and "doubled @2048" in plotted and ",NS," in plotted and ",4.0" in plotted
    sweep = Experiment("sweep", "doubled across lengths", bars.parts, figure="fig13")
    assert [p.name for p in draw_experiment(sweep, rows, ["doubled"], ["torch", "flashtensor"], tmp_path)][0] == \
        "sweep.pdf"


def test_a_plugin_that_cannot_load_on_the_node_is_a_final_failure(user, runs_dir):
    from ftrun.submit import expand
    from jobs.experiments import Experiment, Part
    from jobs.spec import SCALES

    spec = plugins.PluginSpec(paths=(str(user / "variant.py"),))
    with plugins.using(spec):
        case = expand(Experiment("x", "", (Part("kernel", ("doubled",), ("torch",)),)), SCALES["tiny"], "cpu")[0]
    (user / "variant.py").rename(user / "moved.py")
    sys.modules.pop("variant", None)
    cfg = ChunkRun(RunsDir(runs_dir), lambda s: 300.0, runs_dir / "chunk.log", plugins=spec.to_json())
    record = run_chunk([case], cfg)[0]
    assert record.error_class == "compile_error" and "could not be loaded here" in record.error
    assert "variant.py" in record.error and "does not exist" in record.error

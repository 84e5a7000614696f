"""ftrun.toml against its schema: every bad value is one line saying what was expected, what was found and
where, with exit 1 and nothing written; good files load into the settings ftrun uses."""

import pytest
from typer.testing import CliRunner

from ftrun.cli import app
from ftrun.errors import FtrunError
from ftrun.settings import load_settings

runner = CliRunner()
SLURM = '[clusters.a]\nkind = "slurm"\npartition = "p"\n'
EXPERIMENT = '[experiments.mine]\nmodels = ["attn"]\nsystems = ["torch"]\n'

BAD = [
    # (file, what the line says)
    (SLURM + "setup = 5", "clusters.a.setup: expected a list of shell lines, found 5"),
    (SLURM + 'setup = "module load cuda"', 'setup: expected a list of shell lines, found the string '
     "'module load cuda'; write it as a list: [\"module load cuda\"]"),
    (SLURM + "setup = [1]", "clusters.a.setup[0]: expected a non-empty string, found 1"),
    (SLURM + "cases_per_task = 2.5", "clusters.a.cases_per_task: expected an integer > 0, found 2.5"),
    (SLURM + "cases_per_task = true", "clusters.a.cases_per_task: expected an integer > 0, found the boolean true"),
    (SLURM + "max_tasks = 0", "clusters.a.max_tasks: expected an integer > 0, found 0"),
    (SLURM + 'max_tasks = "4"', "clusters.a.max_tasks: expected an integer > 0, found the string '4'"),
    (SLURM + "cpus = -1", "clusters.a.cpus: expected an integer > 0, found -1"),
    (SLURM + "case_timeout_min = false", "case_timeout_min: expected a number > 0, found the boolean false"),
    (SLURM + "case_timeout_min = nan", "case_timeout_min: expected a number > 0, found nan"),
    (SLURM + "case_timeout_min = inf", "case_timeout_min: expected a number > 0, found inf"),
    (SLURM + "task_time_min = 0", "clusters.a.task_time_min: expected a number > 0, found 0"),
    (SLURM + "retries = -1", "clusters.a.retries: expected an integer >= 0, found -1"),
    (SLURM + "retries = 1.5", "clusters.a.retries: expected an integer >= 0, found 1.5"),
    (SLURM + "backoff_s = -2", "clusters.a.backoff_s: expected a number >= 0, found -2"),
    (SLURM + "time_limits = 5", "clusters.a.time_limits: expected a table of minutes per system, found 5"),
    (SLURM + "time_limits = { tvmm = 5 }", "time_limits: unknown system 'tvmm'; valid: torch, inductor"),
    (SLURM + "time_limits = { tvm = true }", "clusters.a.time_limits.tvm: expected a number > 0, found the boolean"),
    (SLURM + 'time_limits = { tvm = "5" }', "clusters.a.time_limits.tvm: expected a number > 0, found the string"),
    (SLURM + 'scale = "huge"', "clusters.a.scale: expected one of 'full', 'small', 'tiny', found the string 'huge'"),
    (SLURM + 'device = "x/../y"', "clusters.a.device: device 'x/../y' is not a valid name"),
    (SLURM + "sbatch = { constraint = true }", "expected a string or an integer (an sbatch option's value)"),
    (SLURM + "sbatch = 3", "clusters.a.sbatch: expected a table of sbatch options, found 3"),
    (SLURM + "gres = 1", "clusters.a.gres: expected a non-empty string, found 1"),
    ('[clusters.a]\nkind = "slurm"\npartition = []', "clusters.a.partition: expected a non-empty string, found a list"),
    ('[clusters.a]\nkind = "slurm"', "clusters.a: a slurm cluster needs a partition"),
    ("[clusters.a]\nkind = true", "clusters.a.kind: expected one of 'local', 'slurm', found the boolean true"),
    ('[clusters."x/y"]\nkind = "local"', "cluster 'x/y' is not a valid name"),
    ("clusters = 3", "clusters: expected a table of clusters, found 3"),
    ("runs_dir = 5", "runs_dir: expected a non-empty string, found 5"),
    ('default_cluster = "mars"', "default_cluster 'mars' is not defined; defined: local"),
    ("plugins = 1", "plugins: expected a table of settings, found 1"),
    ('[plugins]\nmodule = ["x"]', "unknown key(s) module; valid keys: modules, paths"),
    ("[plugins]\nmodules = [1]", "plugins.modules[0]: expected a non-empty string, found 1"),
    ("[experiments.mine]\nmodels = []\nsystems = ['torch']", "experiments.mine.models: expected a non-empty list"),
    ("[experiments.mine]\nsystems = ['torch']", "experiments.mine: models missing; add it"),
    ('[experiments.mine]\nmodels = "attn"\nsystems = ["torch"]', "models: expected a list of case names, found the"),
    (EXPERIMENT + "seqlens = [0]", "experiments.mine.seqlens[0]: expected an integer > 0, found 0"),
    (EXPERIMENT + "seqlens = [true]", "experiments.mine.seqlens[0]: expected an integer > 0, found the boolean"),
    (EXPERIMENT + 'figure = "fig99"', "experiments.mine.figure: expected one of 'fig12', 'fig13'"),
    (EXPERIMENT + 'dtype = "int8"', "experiments.mine.dtype: expected one of 'float16', 'bfloat16', 'float32'"),
    (EXPERIMENT + "dims = { heads = 32, kv_heads = 5 }", "heads (32) must be a multiple of kv_heads (5)"),
    (EXPERIMENT + "dims = { heads = 0 }", "experiments.mine.dims.heads: expected an integer > 0, found 0"),
    (EXPERIMENT + "dims = { layers = 2 }", "unknown key(s) layers; valid keys: batch, heads, kv_heads, head_dim"),
    (EXPERIMENT + 'colour = "red"', "unknown key(s) colour; valid keys: about, models, systems"),
    ('[experiments.fig12]\nmodels = ["attn"]\nsystems = ["torch"]', "fig12 is a built-in experiment; choose another"),
    ('[experiments.mine]\nmodels = ["attn", "h2o"]\nsystems = ["torch"]\nfigure = "fig13"',
     "a fig13 sweep draws one case, found 2; make one experiment per case"),
]


@pytest.mark.parametrize("toml, message", BAD)
def test_bad_value_is_one_line(tmp_path, toml, message):
    config = tmp_path / "ftrun.toml"
    config.write_text(toml + "\n")
    with pytest.raises(FtrunError) as error:
        load_settings(config)
    text = str(error.value)
    assert message in text and "\n" not in text
    assert text.startswith(str(config)), text


@pytest.mark.parametrize("toml, message", [BAD[1], BAD[4], BAD[16], BAD[40]])
def test_the_cli_exits_1_and_writes_nothing(tmp_path, toml, message):
    config = tmp_path / "ftrun.toml"
    config.write_text(toml + "\n")
    runs = tmp_path / "runs"
    result = runner.invoke(app, ["submit", "smoke", "--config", str(config), "--runs-dir", str(runs)])
    assert result.exit_code == 1 and message in " ".join(result.output.split())
    assert result.output.startswith("error:") and "Traceback" not in result.output and not runs.exists()


def test_a_full_file_loads(tmp_path):
    config = tmp_path / "ftrun.toml"
    config.write_text(SLURM + 'setup = ["module load cuda"]\ntime_limits = { tvm = 240, inductor = 1.5 }\n'
                      'sbatch = { constraint = "a100", nodes = 1 }\nretries = 0\nbackoff_s = 0\n'
                      '[plugins]\npaths = ["v.py"]\nmodules = ["my_pkg"]\n'
                      '[experiments.mine]\nmodels = ["x"]\nsystems = ["torch"]\nseqlens = [1024, 2048]\n'
                      'dims = { heads = 32, kv_heads = 8 }\ndtype = "bfloat16"\nfigure = "fig12"\n')
    settings = load_settings(config)
    cluster = settings.clusters["a"]
    assert cluster.setup == ("module load cuda",) and cluster.time_limits == {"tvm": 240, "inductor": 1.5}
    assert cluster.retries == 0 and cluster.case_limit_s("inductor") == 90.0
    assert settings.plugins.paths == (str(tmp_path / "v.py"),) and settings.plugins.modules == ("my_pkg",)
    assert settings.plugins.search == (str(tmp_path),)
    mine = settings.experiments["mine"]
    assert mine.dims == {"heads": 32, "kv_heads": 8} and mine.dtype == "bfloat16"
    assert mine.parts[0].seqlens == (1024, 2048) and mine.parts[0].models == ("x",)


def test_an_experiment_shape_sets_full_scale_dims_and_keeps_the_ratio_below():
    from ftrun.submit import expand
    from jobs.experiments import Experiment, Part
    from jobs.spec import SCALES

    exp = Experiment("e", "", (Part("kernel", ("attn",), ("torch",), (4096,)),), dims={"heads": 32, "kv_heads": 8},
                     dtype="bfloat16")
    full = expand(exp, SCALES["full"], "h100")[0]
    small = expand(exp, SCALES["small"], "cpu")[0]
    assert (full.dim("heads"), full.dim("kv_heads"), full.dtype) == (32, 8, "bfloat16")
    assert (small.dim("heads"), small.dim("kv_heads"), small.dtype) == (4, 1, "bfloat16")

"""The table of bad inputs for tests/ftrun/test_bad_input.py: every command and config key, each with the
words its one error line must contain.

An entry is (id, argv, words, setup): `setup` names what the working folder holds besides a small valid
store (ftrun-runs/) and a valid ftrun.toml: {"toml": text replacing ftrun.toml, "env": {...}, "files": {...}}.
"""

from __future__ import annotations

VALID_TOML = '[clusters.box]\nkind = "local"\nmax_tasks = 1\n'


def toml(body: str) -> dict:
    return {"toml": body}


def cluster(line: str) -> dict:
    return toml(f'[clusters.box]\nkind = "local"\n{line}\n')


USAGE = [
    ("unknown command", ["frobnicate"], "No such command 'frobnicate'"),
    ("unknown option", ["status", "--bogus"], "No such option: --bogus"),
    ("submit without experiment", ["submit"], "Missing argument 'experiment'"),
    ("every not a number", ["status", "--every", "abc"], "Invalid value for '--every'"),
    ("poll not a number", ["submit", "smoke", "--poll", "x"], "Invalid value for '--poll'"),
    ("logs without case", ["logs"], "Missing argument 'case'"),
    ("tail not a number", ["logs", "attn", "--tail", "ten"], "Invalid value for '--tail'"),
    ("import without path", ["results", "import"], "Missing argument 'path'"),
    ("export without csv", ["results", "export"], "Missing option '--csv'"),
    ("unknown results command", ["results", "frob"], "No such command 'frob'"),
    ("bench seqlen not a number", ["bench", "kernels", "--seqlen", "long"], "Invalid value for '--seqlen'"),
    ("bench logit scale not a number", ["bench", "kernels", "--logit-scale", "big"], "Invalid value"),
    ("plot without experiment", ["plot"], "Missing argument"),
    ("compare without B", ["compare", "a"], "Missing argument"),
    ("cancel unknown option", ["cancel", "--all", "--bogus"], "No such option"),
    ("compile without case", ["compile"], "Missing argument"),
    ("status two experiments", ["status", "smoke", "fig12"], "unexpected extra argument"),
]

COMMANDS = [
    ("unknown experiment", ["submit", "fig99"], "unknown experiment 'fig99'"),
    ("unknown system filter", ["submit", "fig12", "--only", "system=tvmx"], "unknown system 'tvmx'"),
    ("unknown model filter", ["submit", "fig12", "--only", "model=llama"], "unknown model 'llama'"),
    ("unknown filter key", ["submit", "fig12", "--only", "colour=red"], "unknown filter key 'colour'"),
    ("filter without value", ["submit", "fig12", "--only", "model"], "is not key=value"),
    ("filter empty value", ["submit", "fig12", "--only", "model="], "is not key=value"),
    ("seqlen filter not a number", ["submit", "fig12", "--only", "seqlen=long"], "is not a number"),
    ("seqlen filter matches nothing", ["submit", "fig12", "--only", "seqlen=123"], "no case of fig12"),
    ("unknown part filter", ["submit", "fig12", "--only", "part=decode"], "unknown part 'decode'"),
    ("unknown cluster", ["submit", "smoke", "--cluster", "mars"], "unknown cluster 'mars'"),
    ("unknown scale", ["submit", "smoke", "--scale", "huge"], "unknown scale 'huge'"),
    ("gpus that are not here", ["submit", "smoke", "--gpus", "0,3"], "--gpus 0,3"),
    ("weights that do not exist", ["submit", "fig12", "--only", "part=e2e", "--weights", "nowhere"],
     "weights nowhere do not exist"),
    ("poll zero", ["submit", "smoke", "--poll", "0"], "--poll"),
    ("status unknown experiment", ["status", "fig99"], "unknown experiment 'fig99'"),
    ("status every zero", ["status", "--watch", "--every", "0"], "--every 0"),
    ("status every negative", ["status", "--watch", "--every", "-1"], "--every -1"),
    ("plot unknown experiment", ["plot", "fig99"], "unknown experiment 'fig99'"),
    ("plot unknown source", ["plot", "fig12", "--source", "dreams"], "unknown source 'dreams'"),
    ("plot without results", ["plot", "fig14"], "no measured results for fig14"),
    ("plot out is a file", ["plot", "fig12", "--source", "paper", "--out", "afile"], "--out afile is a file"),
    ("export csv is a folder", ["results", "export", "--csv", "adir"], "--csv adir is a folder"),
    ("export csv under a file", ["results", "export", "--csv", "afile/x.csv"], "afile is a file"),
    ("export without runs folder", ["results", "export", "--csv", "x.csv", "--runs-dir", "nowhere"],
     "no runs folder at nowhere"),
    ("import a file", ["results", "import", "afile"], "afile is not a folder"),
    ("import nothing", ["results", "import", "nowhere"], "nowhere is not a folder"),
    ("import an empty folder", ["results", "import", "adir"], "holds neither a runs folder"),
    ("import this runs folder", ["results", "import", "ftrun-runs"], "is this runs folder already"),
    ("rebuild runs folder is a file", ["results", "rebuild", "--runs-dir", "afile"], "is a file, not a folder"),
    ("status runs folder is a file", ["status", "--runs-dir", "afile"], "is a file, not a folder"),
    ("submit runs folder is a file", ["submit", "smoke", "--runs-dir", "afile"], "is a file, not a folder"),
    ("logs matches nothing", ["logs", "zzz"], "no case matches 'zzz'"),
    ("logs matches several", ["logs", "smoke"], "matches"),
    ("logs without runs folder", ["logs", "attn", "--runs-dir", "nowhere"], "no runs folder at nowhere"),
    ("cancel without a choice", ["cancel"], "say which cases to cancel"),
    ("cancel unknown model", ["cancel", "--only", "model=llama"], "unknown model 'llama'"),
    ("retry unknown class", ["retry", "--class", "bogus"], "unknown failure class 'bogus'"),
    ("retry unknown cluster", ["retry", "--cluster", "mars"], "mars"),
    ("bench campaign filter", ["bench", "kernels", "--only", "part=e2e"], "bench filters take model and system"),
    ("bench dim zero", ["bench", "kernels", "--dim", "heads=0"], "expected heads=POSITIVE_INTEGER"),
    ("bench dim unknown", ["bench", "kernels", "--dim", "colour=3"], "unknown dimension 'colour'"),
    ("bench dim without value", ["bench", "kernels", "--dim", "heads"], "heads"),
    ("bench seqlen negative", ["bench", "kernels", "--seqlen", "-1"], "--seqlen -1"),
    ("bench seqlen unmapped", ["bench", "kernels", "--scale", "tiny", "--seqlen", "512"], "512"),
    ("bench unknown scale", ["bench", "kernels", "--scale", "huge"], "unknown scale 'huge'"),
    ("bench unknown dtype", ["bench", "kernels", "--dtype", "int8"], "unknown dtype 'int8'"),
    ("bench unknown model", ["bench", "kernels", "--only", "model=llama"], "unknown model 'llama'"),
    ("compile unknown case", ["compile", "nothing"], "unknown case 'nothing'"),
    ("compile missing file", ["compile", "missing.py:X"], "missing.py does not exist"),
    ("compile unknown step", ["compile", "h2o", "--dump-after", "lunch"], "unknown step 'lunch'"),
    ("compile unknown scale", ["compile", "h2o", "--scale", "huge"], "unknown scale 'huge'"),
    ("compare unknown sides", ["compare", "nowhere", "elsewhere"], "nowhere"),
    ("report out is a file", ["report", "--out", "afile"], "afile"),
    ("report unknown experiment", ["report", "fig99", "--out", "rep"], "fig99"),
    ("config that does not exist", ["clusters", "--config", "nowhere.toml"], "nowhere.toml does not exist"),
    ("config is a folder", ["status", "--config", "adir"], "adir"),
]

CONFIG = [
    ("not TOML", ["clusters"], "is not valid TOML", toml("[clusters.box\nkind = 'local'\n")),
    ("unknown top key", ["clusters"], "colour", toml('colour = "red"\n' + VALID_TOML)),
    ("unknown cluster key", ["clusters"], "colour", cluster('colour = "red"')),
    ("setup a number", ["clusters"], "setup", cluster("setup = 5")),
    ("setup a string", ["clusters"], "setup", cluster('setup = "module load cuda"')),
    ("cases per task a fraction", ["clusters"], "cases_per_task", cluster("cases_per_task = 2.5")),
    ("runs_dir a number", ["clusters"], "runs_dir", toml("runs_dir = 5\n" + VALID_TOML)),
    ("time_limits a number", ["clusters"], "time_limits", cluster("time_limits = 5")),
    ("time_limits misspelt system", ["submit", "smoke"], "tvmm", cluster("time_limits = { tvmm = 10 }")),
    ("time_limits negative", ["clusters"], "time_limits", cluster("time_limits = { tvm = -3 }")),
    ("max_tasks a boolean", ["clusters"], "max_tasks", cluster("max_tasks = true")),
    ("max_tasks zero", ["clusters"], "max_tasks", cluster("max_tasks = 0")),
    ("retries negative", ["clusters"], "retries", cluster("retries = -1")),
    ("retries a fraction", ["clusters"], "retries", cluster("retries = 1.5")),
    ("unknown kind", ["clusters"], "kind", toml('[clusters.box]\nkind = "pbs"\n')),
    ("slurm without partition", ["clusters"], "partition", toml('[clusters.s]\nkind = "slurm"\n')),
    ("partition not a string", ["clusters"], "partition", toml('[clusters.s]\nkind = "slurm"\npartition = 5\n')),
    ("default cluster undefined", ["clusters"], "default_cluster", toml('default_cluster = "nope"\n' + VALID_TOML)),
    ("cluster name with a path", ["clusters"], "x/../pwned", toml('[clusters."x/../pwned"]\nkind = "local"\n')),
    ("case timeout a string", ["clusters"], "case_timeout_min", cluster('case_timeout_min = "ten"')),
    ("cpus negative", ["clusters"], "cpus", cluster("cpus = -2")),
    ("memory a number", ["clusters"], "memory", cluster("memory = 5")),
    ("sbatch a string", ["clusters"], "sbatch", cluster('sbatch = "--exclusive"')),
    ("clusters not a table", ["clusters"], "clusters", toml("clusters = 5\n")),
    ("backoff negative", ["clusters"], "backoff_s", cluster("backoff_s = -1")),
    ("scale unknown", ["submit", "smoke", "--cluster", "box"], "huge", cluster('scale = "huge"')),
    ("plugins modules a string", ["list"], "modules", toml('[plugins]\nmodules = "my_variants"\n' + VALID_TOML)),
    ("plugin file missing", ["list"], "missing.py", toml('[plugins]\npaths = ["missing.py"]\n' + VALID_TOML)),
    ("plugin module missing", ["list"], "no_such_module",
     toml('[plugins]\nmodules = ["no_such_module"]\n' + VALID_TOML)),
    ("experiment unknown case", ["submit", "mine"], "nonexistent",
     toml('[experiments.mine]\nmodels = ["nonexistent"]\nsystems = ["torch"]\n' + VALID_TOML)),
    ("experiment unknown figure", ["clusters"], "fig99",
     toml('[experiments.mine]\nmodels = ["attn"]\nsystems = ["torch"]\nfigure = "fig99"\n' + VALID_TOML)),
    ("experiment negative length", ["clusters"], "seqlens",
     toml('[experiments.mine]\nmodels = ["attn"]\nsystems = ["torch"]\nseqlens = [-1]\n' + VALID_TOML)),
    ("experiment unknown key", ["clusters"], "colour",
     toml('[experiments.mine]\nmodels = ["attn"]\nsystems = ["torch"]\ncolour = "red"\n' + VALID_TOML)),
    ("experiment clashes with a built-in", ["clusters"], "fig12",
     toml('[experiments.fig12]\nmodels = ["attn"]\nsystems = ["torch"]\n' + VALID_TOML)),
    ("config not UTF-8", ["clusters"], "TOML", {"toml": None, "files": {"ftrun.toml": b"\xff\xfe\x00bad"}}),
]

ENVIRONMENT = [
    ("autotune space unknown", ["bench", "kernels", "--only", "model=attn", "--only", "system=flashtensor"],
     "FTRUN_AUTOTUNE_SPACE", {"env": {"FTRUN_AUTOTUNE_SPACE": "huge"}}),
    ("tvm trials not a number", ["submit", "smoke"], "FTRUN_TVM_TRIALS", {"env": {"FTRUN_TVM_TRIALS": "many"}}),
]


def table() -> list[tuple[str, list[str], str, dict]]:
    rows = [(i, a, w, {}) for i, a, w in USAGE + COMMANDS] + [(i, a, w, s) for i, a, w, s in CONFIG + ENVIRONMENT]
    assert len({r[0] for r in rows}) == len(rows), "ids must be unique"
    return rows

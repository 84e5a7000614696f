"""The command line's habits: --version, help that keeps its defaults and shows no <bool>, completion, and
JSON where scripts read."""

import json
import re
import subprocess
import sys
from pathlib import Path

import typer
from typer.testing import CliRunner

from ftrun.cli import app

runner = CliRunner()


def commands(group, path=()):
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            yield from commands(command, (*path, name))
        else:
            yield (*path, name), command


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and re.match(r"ftrun \d+\.\d+\.\d+", result.output)


def test_every_help_keeps_its_defaults_and_shows_no_bool():
    root = typer.main.get_command(app)
    seen = 0
    for path, command in commands(root):
        result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "250"})
        assert result.exit_code == 0, path
        text = " ".join(result.output.split())
        assert "<bool>" not in text, path
        for param in command.params:
            said = re.search(r"\[default: ([^\]]+)\]", param.help or "")
            if said:
                seen += 1
                assert f"[default: {said.group(1)}]" in text, (path, param.name)
    assert seen >= 6
    assert "<bool>" not in runner.invoke(app, ["--help"]).output


def test_shell_completion_is_available():
    assert "--install-completion" in runner.invoke(app, ["--help"]).output
    ftrun = Path(sys.executable).parent / "ftrun"
    script = subprocess.run(["bash", "-c", f"'{ftrun}' --show-completion"], capture_output=True, text=True,
                            timeout=60).stdout
    assert "complete -o default -F _ftrun_completion ftrun" in script


def test_list_and_clusters_as_json(tmp_path):
    listed = json.loads(runner.invoke(app, ["list", "--json"]).output)
    assert "fig12" in listed["experiments"] and "flashtensor" in listed["systems"] and "tiny" in listed["scales"]
    config = tmp_path / "ftrun.toml"
    config.write_text("[clusters.a100]\nkind = 'slurm'\npartition = 'a100'\nmax_tasks = 7\n")
    shown = json.loads(runner.invoke(app, ["clusters", "--json", "--config", str(config)]).output)
    assert shown["clusters"]["a100"]["max_tasks"] == 7 and shown["default_cluster"] == "local"

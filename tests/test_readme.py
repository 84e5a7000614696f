"""Every command of the README's `console` block runs, in order, as a user would type it."""

import re
import shlex
from pathlib import Path

from typer.testing import CliRunner

from ftrun.cli import app

README = Path(__file__).resolve().parent.parent / "README.md"


def console_commands() -> list[list[str]]:
    blocks = re.findall(r"```console\n(.*?)```", README.read_text(), re.S)
    return [shlex.split(line[2:]) for block in blocks for line in block.splitlines() if line.startswith("$ ftrun ")]


def test_readme_examples_run_in_order(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    commands = console_commands()
    assert len(commands) >= 6
    runner = CliRunner()
    outputs = []
    for argv in commands:
        result = runner.invoke(app, argv[1:], catch_exceptions=False)
        assert result.exit_code == 0, f"{' '.join(argv)}\n{result.output}"
        outputs.append(result.output)
    assert (tmp_path / "results.csv").exists() and (tmp_path / "figures" / "fig12-kernel.png").exists()
    assert (tmp_path / "paper-figures" / "fig12-kernel.pdf").exists()
    # the repeated submit resumes: nothing left to run
    assert "nothing to run" in outputs[-1]


def test_readme_compare_and_report_run_in_order(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    block = re.search(r"```console-compare\n(.*?)```", README.read_text(), re.S).group(1)
    commands = [shlex.split(line[2:]) for line in block.splitlines() if line.startswith("$ ftrun ")]
    assert [c[1] for c in commands] == ["submit", "submit", "compare", "report"]
    runner = CliRunner()
    for argv in commands:
        result = runner.invoke(app, argv[1:], catch_exceptions=False)
        # compare exits 3 when `after` is slower beyond the threshold: on a shared CPU that is up to chance
        allowed = (0, 3) if argv[1] == "compare" else (0,)
        assert result.exit_code in allowed, f"{' '.join(argv)}\n{result.output}"
    assert {p.name for p in (tmp_path / "compare").iterdir()} == {"compare.csv", "compare.json", "compare.png",
                                                                  "compare.pdf"}
    assert "Comparison" in (tmp_path / "report" / "index.html").read_text()

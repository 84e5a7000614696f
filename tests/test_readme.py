"""The README's examples run as a user would type them: each section's `console` block in order, in a
fresh folder holding the files that section writes out (a code block whose first line is `# FILE`)."""

import csv
import re
import shlex
from pathlib import Path

from typer.testing import CliRunner

from ftrun.cli import app

README = Path(__file__).resolve().parent.parent / "README.md"
runner = CliRunner()


def section(title: str) -> str:
    text = README.read_text()
    start = text.index(f"## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end > 0 else None]


def console_commands(text: str) -> list[list[str]]:
    blocks = re.findall(r"```console\n(.*?)```", text, re.S)
    return [shlex.split(line[2:]) for block in blocks for line in block.splitlines() if line.startswith("$ ftrun ")]


def files_of(text: str) -> dict[str, str]:
    """Code blocks that start with `# NAME` (a file the reader writes), by NAME."""
    blocks = re.findall(r"```\w+\n# (\S+)\n(.*?)```", text, re.S)
    return {name: f"# {name}\n{body}" for name, body in blocks}


def run_all(commands: list[list[str]]) -> list[str]:
    outputs = []
    for argv in commands:
        result = runner.invoke(app, argv[1:], catch_exceptions=False)
        assert result.exit_code == 0, f"{' '.join(argv)}\n{result.output}"
        outputs.append(result.output)
    return outputs


def test_readme_examples_run_in_order(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    commands = console_commands(section("Use"))
    assert len(commands) >= 6
    outputs = run_all(commands)
    assert (tmp_path / "results.csv").exists() and (tmp_path / "figures" / "fig12-kernel.png").exists()
    assert (tmp_path / "paper-figures" / "fig12-kernel.pdf").exists()
    # the repeated submit resumes: nothing left to run
    assert "nothing to run" in outputs[-1]


def test_benchmark_your_own_variant(tmp_path, monkeypatch):
    text = section("Benchmark your own variant")
    files = files_of(text)
    assert set(files) == {"my_variant.py", "ftrun.toml"}
    for name, body in files.items():
        (tmp_path / name).write_text(body)
    monkeypatch.chdir(tmp_path)
    commands = console_commands(text)
    outputs = run_all(commands)
    assert "sink_window" in outputs[0] and "my_variant.py" in outputs[0]
    assert "matches the float64 reference" in outputs[1] and "# plan" not in outputs[1]
    assert "kernel sink_window_k0" in outputs[2]
    figure = tmp_path / "my-figures" / "mine-kernel.png"
    assert figure.exists() and "nothing to run" in outputs[-1]
    # editing the variant re-runs its cases (a new identity), and only them
    variant = tmp_path / "my_variant.py"
    variant.write_text(variant.read_text().replace("SINKS, WINDOW = 4, 32", "SINKS, WINDOW = 2, 32"))
    again = run_all([commands[-1]])[0]
    ran = re.findall(r"(DONE|INTERP|NS|FAIL\S*) kernel/(\w+)/(\w+)", again)
    assert ran and {model for _, model, _ in ran} == {"sink_window"}, again
    assert {system for _, _, system in ran} == {"torch", "inductor", "flex", "flashtensor"}
    # the figure draws the new version only: one row per system, not one per version
    run_all([["ftrun", "plot", "mine", "--out", "my-figures"]])
    rows = list(csv.DictReader(figure.with_suffix(".csv").open()))
    assert sorted(r["system"] for r in rows if r["model"] == "sink_window") == sorted(
        ["torch", "inductor", "flex", "flashtensor"])


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

"""The FlashTensor artifact's backup_logs of all three figures: imported (a log without a time as FAIL) and
drawn with every system in them, the paper's own compiler included, at the logs' numbers."""

import csv
import os

import pytest
from typer.testing import CliRunner

from ftrun import artifact
from ftrun.cli import app

runner = CliRunner()

# our own small logs in the artifact's formats: (figure, file name, time in ms or None for a failed run)
LOGS = [
    ("fig12", "kernel.h100.attn.torch.log", 11.9722), ("fig12", "kernel.h100.attn.dynamo.log", 3.5804),
    ("fig12", "kernel.h100.attn.our.log", 0.6153), ("fig12", "kernel.h100.corm.tvm.log", None),
    ("fig12", "kernel.h100.corm.our.log", 1.6554), ("fig12", "e2e.h100.attn.our.log", 170.0036),
    ("fig12", "e2e.h100.attn.tensorrt.log", 221.7971),
    ("fig13", "h100.torch.1024.log", 0.9424), ("fig13", "h100.torch.2048.log", 3.3103),
    ("fig13", "h100.our.1024.log", 0.2037), ("fig13", "h100.our.2048.log", 0.453),
    ("fig14", "a100.attn.flashattn.log", 1.399), ("fig14", "a100.attn.flashinfer.log", 1.4643),
    ("fig14", "a100.attn.our.log", 1.0827), ("fig14", "a100.gemma2.our.log", 1.1011),
]


def log_text(name: str, ms: float | None) -> str:
    parts = name.split(".")
    system = parts[-2] if not parts[-2].isdigit() else parts[-3]
    seqlen = parts[-2] if parts[-2].isdigit() else "4096"
    head = f"model='x' system='{system}' seqlen={seqlen}\ncheck=True\nstart_peak_mem_mib=96.0\nmib=512.0\n"
    # a distractor the parser must not take for the result: another label's average
    noise = "[Attn_p0] avg_ms: 0.1234\n"
    if ms is None:
        return head + noise + "Traceback (most recent call last):\nRuntimeError: Unsupported kUInt bits 1\n"
    result = f"[{system}] avg {ms} ms, min {ms * 0.98:.4f} ms, max {ms * 1.02:.4f} ms (10 runs, 100 warmups)\n"
    return head + noise + result


@pytest.fixture
def artifact_dir(tmp_path):
    root = tmp_path / "flashtensor-ae"
    for figure, name, ms in LOGS:
        folder = root / figure / "backup_logs"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(log_text(name, ms))
    return root


def ftrun(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.mark.parametrize("name, expect", [
    ("kernel.a100.attn.dynamo.log", ("fig12", "kernel", "a100", "attn", "inductor", None)),
    ("e2e.h100.kf.our.log", ("fig12", "e2e", "h100", "kf", "flashtensor-paper", None)),
    ("h100.tensorrt.8192.log", ("fig13", "kernel", "h100", "h2o", "tensorrt", 8192)),
    ("a100.gemma2.flashattn.log", ("fig14", "kernel", "a100", "gemma2", "flashattn2", None)),
    ("notes.txt", None), ("a.b.log", None),
])
def test_the_three_namings(name, expect):
    got = artifact.parse_name(name)
    assert (None if got is None else (got.figure, got.part, got.device, got.model, got.system, got.seqlen)) == expect


def test_import_all_three_figures_then_plot_every_system(artifact_dir, tmp_path):
    runs = tmp_path / "runs"
    first = ftrun("results", "import", artifact_dir, "--runs-dir", runs)
    assert first.exit_code == 0, first.output
    assert f"imported {len(LOGS)} file(s)" in first.output
    assert "FAIL" in first.output and "kernel.h100.corm.tvm.log" in first.output
    again = ftrun("results", "import", artifact_dir, "--runs-dir", runs)
    assert f"imported 0 file(s), {len(LOGS)} already present" in again.output

    for figure in ("fig12", "fig13", "fig14"):
        out = tmp_path / "figs"
        result = ftrun("plot", figure, "--runs-dir", runs, "--out", out)
        assert result.exit_code == 0, result.output
        drawn = {(r["part"], r["device"], r["model"], r["system"], int(r["seqlen"])): r
                 for path in out.glob(f"{figure}*.csv") for r in csv.DictReader(path.open())}
        logs = [(artifact.parse_name(name), ms) for f, name, ms in LOGS if f == figure]
        assert len(drawn) == len(logs)
        for got, ms in logs:
            row = drawn[(got.part, got.device, got.model, got.system, got.seqlen or 4096)]
            assert row["source"] == "flashtensor-artifact"
            if ms is None:
                assert row["state"] == "FAIL" and "Unsupported kUInt bits 1" in row["reason"]
            else:
                assert row["state"] == "DONE" and float(row["median_ms"]) == ms
    # Fig. 12 at 4096 and Fig. 13 at 1024/2048 keep their own numbers: the figure is part of the case
    fig12 = list(csv.DictReader((tmp_path / "figs" / "fig12-kernel.csv").open()))
    assert {r["system"] for r in fig12} == {"torch", "inductor", "flashtensor-paper", "tvm"}
    assert [r for r in fig12 if r["system"] == "flashtensor-paper" and r["model"] == "attn"][0][
        "speedup_vs_best_baseline"] == "5.819"
    fig13 = list(csv.DictReader((tmp_path / "figs" / "fig13.csv").open()))
    assert sorted((r["system"], int(r["seqlen"]), float(r["peak_mib"])) for r in fig13)[0] == (
        "flashtensor-paper", 1024, 512.0)


def test_a_single_backup_logs_folder_and_refusals(artifact_dir, tmp_path):
    runs = tmp_path / "runs"
    only13 = artifact_dir / "fig13" / "backup_logs"
    assert "imported 4 file(s)" in ftrun("results", "import", only13, "--runs-dir", runs).output
    (tmp_path / "empty").mkdir()
    refused = ftrun("results", "import", tmp_path / "empty", "--runs-dir", runs)
    assert refused.exit_code == 1 and "{device}.{sys}.{seqlen}.log for Fig. 13" in refused.output


def test_links_are_never_followed(artifact_dir, tmp_path):
    secret = tmp_path / "secret.log"
    secret.write_text("[torch] avg 1.0 ms\n")
    folder = artifact_dir / "fig14" / "backup_logs"
    os.symlink(secret, folder / "a100.attn.torch.log")
    os.symlink(folder, artifact_dir / "fig15")
    result = ftrun("results", "import", artifact_dir, "--runs-dir", tmp_path / "runs")
    assert "a100.attn.torch.log: not a plain file (links are not followed)" in result.output
    assert f"imported {len(LOGS)} file(s)" in result.output

"""Attention sinks beside a window compile for the H200 (sm_90) without a GPU: the row pass's loop bounds
that skip the keys between the sinks and the window (codegen/loops.py) are arithmetic the real frontend
accepts, on the Triton path and on the Hopper target, with the installed Triton and with 3.6's Gluon API
(the GPU machine's). The numbers are checked in the interpreter (test_window_bounds.py)."""

import sys
import warnings
from pathlib import Path

import pytest
import test_hopper_compile as hopper
import test_sm90_compile as sm90
import torch
from test_window_bounds import SinkWindow

from compiler.codegen.gluon.version import GluonApi


class _Case:
    """A kernel case of the sinks (4 of them, a window of 32) at the dims the sm_90 tests compile."""

    def inputs(self, dims, dtype, device, seed):
        g = torch.Generator().manual_seed(seed)
        return {n: torch.randn(dims["batch"], dims["heads"], dims[length], dims["head_dim"], generator=g).half()
                for n, length in (("q", "q_len"), ("k", "kv_len"), ("v", "kv_len"))}

    def build(self, dims):
        return SinkWindow(4, 32)


@pytest.mark.slow
def test_sink_window_compiles_for_sm90(tmp_path, monkeypatch):
    monkeypatch.setattr(sm90, "kernel_case", lambda name: _Case())
    results = sm90._compile(sm90._jobs("sink", sm90.DIMS, lambda role: sm90.SMALL_CONFIG, tmp_path), tmp_path)
    assert [r["kernel"] for r in results] == ["sink_k0", "sink_k1"] and all(r["shared"] > 0 for r in results)


@pytest.mark.slow
@pytest.mark.parametrize("api", [None, GluonApi("3.6.0", "async_copy_global_to_shared")], ids=["installed", "3.6"])
def test_sink_window_hopper_kernels_compile(api, tmp_path, monkeypatch):
    if api is not None and not Path(hopper.TRITON36).exists():
        pytest.fail(f"no Triton 3.6 at {hopper.TRITON36}: run scripts/install.sh (or set FTRUN_TRITON36_PYTHON)")
    monkeypatch.setattr(hopper, "kernel_case", lambda name: _Case())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        c = hopper.compile_plan("sink", hopper.DIMS, tmp_path, api=api)
    assert "where j in [0, 3], dead elsewhere: skipped" in c.plan.render()
    jobs = hopper.hopper_jobs(c, tmp_path)
    results = hopper.run_compile(jobs, tmp_path, hopper.TRITON36 if api else sys.executable)
    assert jobs and set(results) == {j["kernel"] for j in jobs}
    for r in results.values():
        assert r["triton"].startswith("3.6" if api else "3.")
        hopper.check_design(r)

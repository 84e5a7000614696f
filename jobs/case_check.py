"""A plug-in case tried before it is planned: built, run once and captured at a tiny shape on the CPU.

A case whose program fails on its own inputs, returns other outputs than it names, or cannot be captured
by torch.export (the frontend of the compiler, TVM, TensorRT and the FlexAttention derivation) is a bad
plug-in: one PluginError line naming its file and what to change, before anything is submitted.
"""

from __future__ import annotations

import contextlib
import functools
import io
import logging

from jobs.plugins import PluginError

TINY = {"batch": 1, "heads": 2, "kv_heads": 2, "head_dim": 32, "q_len": 64, "kv_len": 64}
# systems that capture the program with torch.export
EXPORTING = ("flashtensor", "tvm", "tensorrt", "flex")


def check_case(case, export: bool = True) -> None:
    _check(case, case.source_hash(), export)


@functools.lru_cache(maxsize=64)
def _check(case, source: str, export: bool) -> None:
    import torch

    where = f"plug-in {case.origin()}: case {case.name}"
    try:
        inputs = tuple(case.inputs(TINY, "float16", "cpu", 0).values())
        program = case.build(TINY)
        with torch.no_grad():
            outputs = program(*inputs)
    except Exception as e:  # noqa: BLE001 - the user's program, reported in one line
        raise PluginError(f"{where} fails on its own inputs at {_shape()} ({_first(e)}); run it by hand and fix "
                          "the program or its extra_inputs") from None
    outputs = outputs if isinstance(outputs, (tuple, list)) else (outputs,)
    if len(outputs) != len(case.outputs):
        raise PluginError(f"{where} returns {len(outputs)} output(s) but names {len(case.outputs)} "
                          f"({', '.join(o.name for o in case.outputs)}); list every output in outputs=")
    for out, spec in zip(outputs, case.outputs):
        want = "float16" if spec.dtype == "input" else spec.dtype
        got = str(getattr(out, "dtype", type(out).__name__)).removeprefix("torch.")
        if got != want:
            raise PluginError(f"{where}: output {spec.name} is {got}, the case says {want}; give "
                              f"Output({spec.name!r}, {got!r}) or cast it in the program")
    if not export:
        return
    try:
        with _quiet():
            torch.export.export(program, inputs)
    except Exception as e:  # noqa: BLE001
        raise PluginError(f"{where} cannot be captured by torch.export ({_first(e)}); the compilers need one "
                          "graph: avoid Python branches on tensor values, .item() and data-dependent shapes") from None


@contextlib.contextmanager
def _quiet():
    """torch.export prints the graph and logs warnings when it fails: the user gets our one line instead."""
    loggers = [logging.getLogger(name) for name in ("torch", "torch.fx.experimental.symbolic_shapes")]
    levels = [logger.level for logger in loggers]
    try:
        for logger in loggers:
            logger.setLevel(logging.ERROR)
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def _shape() -> str:
    return ", ".join(f"{k}={v}" for k, v in TINY.items())


def _first(e: BaseException) -> str:
    text = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return f"{type(e).__name__}: {text[:200]}"

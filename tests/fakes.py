"""Systems that fail on purpose, for the failure paths of the job side (a plug-in: tests/conftest.py)."""

import os
import time

import torch

from jobs.systems.base import System


class Wrong(System):
    """Right shapes and dtypes, wrong values: the eager result with `out` shifted."""

    name = "fake-wrong"

    def compile(self, program, inputs, spec):
        def run(*args):
            result = program(*args)
            first = result[0] if isinstance(result, tuple) else result
            shifted = first + 0.25
            return (shifted, *result[1:]) if isinstance(result, tuple) else shifted
        return run


class Raises(System):
    name = "fake-raises"

    def compile(self, program, inputs, spec):
        raise RuntimeError("cannot lower op aten.frobnicate")


class Hangs(System):
    """Compiles, then never returns from a call."""

    name = "fake-hangs"

    def compile(self, program, inputs, spec):
        def run(*args):
            time.sleep(3600)
        return run


class Dies(System):
    """The process dies in the middle of a call, as with a segfault in native code."""

    name = "fake-dies"

    def compile(self, program, inputs, spec):
        def run(*args):
            os._exit(7)
        return run


class Unwritten(System):
    """Allocates its outputs with torch.empty and forgets to write a block of them."""

    name = "fake-unwritten"

    def compile(self, program, inputs, spec):
        def run(*args):
            result = program(*args)
            first = result[0] if isinstance(result, tuple) else result
            out = torch.empty(first.shape, dtype=first.dtype, device=first.device)
            out[:, : first.shape[1] // 2] = first[:, : first.shape[1] // 2]
            return (out, *result[1:]) if isinstance(result, tuple) else out
        return run


class Mutates(System):
    name = "fake-mutates"

    def compile(self, program, inputs, spec):
        def run(*args):
            result = program(*args)
            args[0].mul_(1.5)
            return result
        return run


class OutOfMemory(System):
    name = "fake-oom"

    def compile(self, program, inputs, spec):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 64.00 GiB")


class Slow(System):
    """Takes a few seconds to compile, then runs the program eagerly: keeps a Slurm task busy."""

    name = "fake-slow"

    def compile(self, program, inputs, spec):
        time.sleep(float(os.environ.get("FTRUN_FAKE_SLOW_S", "4")))
        return program


class Probe(System):
    """Sleeps a moment in compile and appends (visible GPU, start, end) to FTRUN_PROBE_FILE."""

    name = "fake-probe"

    def compile(self, program, inputs, spec):
        start = time.time()
        time.sleep(1.5)
        line = f'{{"gpu": "{os.environ.get("CUDA_VISIBLE_DEVICES")}", "start": {start}, "end": {time.time()}}}\n'
        with open(os.environ["FTRUN_PROBE_FILE"], "a") as f:
            f.write(line)
        return program


SYSTEMS = {system.name: system for system in (Wrong, Raises, Hangs, Dies, Unwritten, Mutates, OutOfMemory, Slow, Probe)}

"""inductor: torch.compile with its default backend (the paper's "dynamo")."""

import torch

from jobs.systems.base import System


class Inductor(System):
    name = "inductor"

    def warm_up(self):
        import torch._dynamo  # noqa: F401 - seconds of imports, once per process

    def compile(self, program, inputs, spec):
        torch._dynamo.reset()
        fn = torch.compile(program, dynamic=False)
        # compilation happens at the first call, so it belongs to compile time
        fn(*inputs)
        return fn

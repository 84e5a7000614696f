"""torch: the program run eagerly, as written (the paper's "PyTorch")."""

from jobs.systems.base import System


class Eager(System):
    name = "torch"

    def compile(self, program, inputs, spec):
        return program

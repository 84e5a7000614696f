"""The compiler's one exception type."""


class CompileError(Exception):
    """The program cannot be compiled (for example, torch.export cannot capture it); says why."""

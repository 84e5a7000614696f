"""torch.compile(model, backend="flashtensor"): dynamo hands us each captured FX graph.

Installed packages register the backend through the `torch_dynamo_backends` entry point in
pyproject.toml; `register()` does the same by hand (for a checkout that is not installed).
"""

from __future__ import annotations


def flashtensor_backend(gm, example_inputs, **options):
    from compiler.api import compile

    compiled = compile(gm, example_inputs, name="dynamo", **options)
    return compiled


def register() -> None:
    """Make backend="flashtensor" known to torch.compile in this process (idempotent)."""
    from torch._dynamo.backends.registry import _BACKENDS, register_backend

    if "flashtensor" not in _BACKENDS:
        register_backend(flashtensor_backend, "flashtensor")

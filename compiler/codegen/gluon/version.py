"""What the installed Triton's Gluon offers for Hopper, detected once per process.

Generated sources are written for the installed version: Triton 3.6 names the TMA load
`tma.async_copy_global_to_shared`, later releases `tma.async_load` (3.9 removed the old name). Both take
`gl.warp_specialize([(function, args), ...], worker_warps, worker_registers)`; 3.5's form (default and
worker arguments passed apart) is not generated, and the target declines there.
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass


@dataclass(frozen=True)
class GluonApi:
    version: str
    tma_load: str  # the name of the TMA global -> shared copy in `tma`


@functools.cache
def gluon_api() -> GluonApi | str:
    """The installed Gluon Hopper API, or why the Hopper target cannot be generated for it."""
    try:
        import triton
        from triton.experimental.gluon import language as gl
        from triton.experimental.gluon.language.nvidia.hopper import tma, warpgroup_mma  # noqa: F401
    except Exception as e:  # noqa: BLE001 - any failure to import means no Gluon Hopper target
        return f"Gluon's Hopper language is not importable ({type(e).__name__}: {e})"
    params = list(inspect.signature(gl.warp_specialize).parameters)
    if not params or params[0] != "functions_and_args":
        return (f"triton {triton.__version__}: gl.warp_specialize takes ({', '.join(params[:3])}, ...), not the "
                "list of (function, args) the generated code uses (Triton 3.6 and later)")
    load = "async_load" if hasattr(tma, "async_load") else "async_copy_global_to_shared"
    if not hasattr(tma, load):
        return f"triton {triton.__version__}: gluon's tma module has no TMA load"
    return GluonApi(triton.__version__, load)

"""Launch a compiled kernel straight through its binary launcher.

Triton's `JITFunction.run` binds and specializes every argument and looks the kernel up in its cache on
each launch: about 20 µs of host time per launch on the H200's host with our ~25 arguments, which is most
of a call when the kernels themselves take tens of µs (Fig. 13 at sequence 1024). After a launch through
Triton, later launches whose arguments would specialize the same way (every pointer with the same 16-byte
alignment, every integer the same; dtypes are fixed by the compiled program's signature), on the same
device, call that compiled kernel's launcher directly with what `run` would pass it.

TMA descriptor arguments (codegen/gluon) specialize by their element type, box, layout and padding; the
key also holds their shape and strides, so a launch whose descriptor would differ in any way goes through
Triton. Triton's launcher still encodes each descriptor per launch (one driver call), as `run` would.

Only where the installed Triton's `run` makes that call the way `Direct` does (checked once, from its
source). Launch hooks get what `run` gives them; an empty hook chain (Triton's default) is passed as no
hook, which skips building the launch metadata nobody reads. Anything else keeps Triton's path.
"""

from __future__ import annotations

import functools
import inspect

import torch

# what JITFunction.run ends with (Triton 3.x), whitespace normalized
_RUN_CALL = ("kernel.run(grid_0, grid_1, grid_2, stream, kernel.function, kernel.packed_metadata, "
             "launch_metadata, knobs.runtime.launch_enter_hook, knobs.runtime.launch_exit_hook, "
             "*bound_args.values())")


@functools.cache
def _run_matches() -> bool:
    try:
        from triton.runtime.jit import JITFunction

        return _RUN_CALL in " ".join(inspect.getsource(JITFunction.run).split())
    except Exception:  # noqa: BLE001 - no source, another layout: keep Triton's path
        return False


class Direct:
    """One kernel's direct launch, valid for the argument specialization it was made with."""

    def __init__(self, compiled, args: tuple, device: int):
        from triton import knobs

        self.compiled, self.device, self.runtime = compiled, device, knobs.runtime
        self.key = _key(args)

    @classmethod
    def after(cls, compiled, tensors, args: tuple) -> Direct | None:
        """The direct launch of `compiled`, just launched by Triton with `args`, or None if unsupported."""
        if compiled is None or not tensors or not tensors[0].is_cuda or not _run_matches():
            return None
        if not all(hasattr(compiled, a) for a in ("run", "function", "packed_metadata")):
            return None
        return cls(compiled, args, torch.cuda.current_device())

    def __call__(self, grid: tuple, args: tuple) -> bool:
        """Launch; False (nothing launched) if the arguments would specialize differently."""
        if _key(args) != self.key or torch.cuda.current_device() != self.device:
            return False
        k = self.compiled
        g1 = grid[1] if len(grid) > 1 else 1
        g2 = grid[2] if len(grid) > 2 else 1
        stream = _raw_stream(self.device)
        enter, leave = _hook(self.runtime.launch_enter_hook), _hook(self.runtime.launch_exit_hook)
        meta = k.launch_metadata(grid, stream, *args) if enter is not None else None
        k.run(grid[0], g1, g2, stream, k.function, k.packed_metadata, meta, enter, leave, *args)
        return True


def _key(args: tuple) -> tuple:
    """What Triton's specialization could read from each argument: a tensor's 16-byte alignment, a TMA
    descriptor's element type, box, layout, padding, shape and strides, any other value itself."""
    return tuple(_spec(a) for a in args)


def _spec(a):
    if hasattr(a, "data_ptr"):
        return a.data_ptr() % 16 == 0
    if hasattr(a, "block_shape") and hasattr(a, "base"):
        return (type(a).__name__, a.base.dtype, a.base.data_ptr() % 16 == 0, tuple(a.block_shape),
                getattr(a, "layout", None), getattr(a, "padding", None), tuple(a.shape), tuple(a.strides))
    return a


def _hook(h):
    """None for no hook or a chain with nothing in it (calling it would do nothing)."""
    return None if h is None or getattr(h, "calls", None) == [] else h


def _raw_stream(device: int) -> int:
    get = getattr(torch._C, "_cuda_getCurrentRawStream", None)  # what Triton's driver itself calls
    return get(device) if get is not None else torch.cuda.current_stream(device).cuda_stream

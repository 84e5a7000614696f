"""The public case API: what a program to benchmark is, as data (`ftrun.Case`, `ftrun.Output`).

    import torch
    import ftrun

    class WindowedAttention(torch.nn.Module):           # q, k, v [B, L, H, D] (+ extra inputs)
        def __init__(self, head_dim: int): ...
        def forward(self, q, k, v): ...

    CASES = [ftrun.Case("windowed", WindowedAttention)]

A case is its program (an nn.Module class, or a function returning a module, called with the dims it
names among batch, heads, kv_heads, head_dim, q_len, kv_len), its extra inputs beyond q, k, v (a function
`(dims, device, generator) -> {name: tensor}` that draws from the generator, so inputs are seeded), its
outputs (names, or `Output(name, dtype)` where the program's dtype is not q's), and optionally a float64
reference `(inputs) -> {name: tensor}`. Without one, the reference is the same program evaluated in
float64, a block of heads at a time (jobs/reference.py). The seven paper cases (jobs/cases/) use this API.

No torch at module level: planning and `ftrun list` read cases on login nodes.
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from results.case import SpecError, check_name

# what an output's dtype may be: "input" is the dtype of q (the case's dtype)
OUTPUT_DTYPES = ("input", "float32", "float16", "bfloat16", "bool")
# the dims a program's constructor may ask for by name
DIM_NAMES = ("batch", "heads", "kv_heads", "head_dim", "q_len", "kv_len")


class CaseError(ValueError):
    """A case built with arguments that cannot work; the message says which and what to give instead."""


@dataclass(frozen=True)
class Output:
    """One output of a case and the dtype the program gives it ("input" = the dtype of q).

    The reference of a "bool" output is a float64 relative margin: the answer is margin >= 0, and a
    system may disagree only where |margin| is within the tolerance.
    """

    name: str
    dtype: str = "input"

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise CaseError(f"an output name must be an identifier, found {self.name!r}")
        if self.dtype not in OUTPUT_DTYPES:
            raise CaseError(f"output {self.name}: dtype must be one of {', '.join(OUTPUT_DTYPES)}, "
                            f"found {self.dtype!r}")

    @property
    def is_bool(self) -> bool:
        return self.dtype == "bool"


class Case:
    """A program to compile, check and time, with its inputs and its float64 reference."""

    def __init__(self, name: str, program: Callable, *, extra_inputs: Callable | None = None,
                 outputs: tuple = ("out",), reference: Callable | None = None, about: str = ""):
        try:
            self.name = check_name("case name", name)
        except SpecError as e:
            raise CaseError(str(e)) from None
        if not callable(program):
            raise CaseError(f"case {name}: program must be an nn.Module class or a function that builds one, "
                            f"found {type(program).__name__}")
        for role, fn in (("extra_inputs", extra_inputs), ("reference", reference)):
            if fn is not None and not callable(fn):
                raise CaseError(f"case {name}: {role} must be a function, found {type(fn).__name__}")
        if isinstance(outputs, (str, Output)):
            outputs = (outputs,)
        self.outputs = tuple(o if isinstance(o, Output) else Output(o) for o in outputs)
        if not self.outputs or len({o.name for o in self.outputs}) != len(self.outputs):
            raise CaseError(f"case {name}: outputs must be one or more distinct names, found {outputs!r}")
        self.program = program
        self.extra_inputs = extra_inputs
        self.explicit_reference = reference
        self.about = about

    def __repr__(self) -> str:
        return f"Case({self.name!r}, {getattr(self.program, '__name__', self.program)!r})"

    def build(self, dims: dict):
        """The nn.Module under test for these dims (passing only the dims the program names)."""
        return self.program(**_wanted(self.program, dims))

    def inputs(self, dims: dict, dtype: str, device, seed: int, logit_scale: float = 1.0) -> dict:
        """Seeded inputs in the order of the program's forward arguments: q, k, v, then the extra inputs.

        `logit_scale` multiplies q, so that logits reach about ±5·scale (tests of large logits).
        """
        import torch

        from jobs.cases.common import TORCH_DTYPES, make_qkv

        gen = torch.Generator(device=device).manual_seed(seed)
        q, k, v = make_qkv(dims, TORCH_DTYPES[dtype], device, gen, logit_scale)
        extra = self.extra_inputs(dims, device, gen) if self.extra_inputs else {}
        return {"q": q, "k": k, "v": v, **extra}

    def reference(self, inputs: dict) -> dict:
        """float64 outputs by name (for a "bool" output, a float64 margin whose sign is the answer)."""
        if self.explicit_reference is not None:
            return self.explicit_reference(inputs)
        from jobs.reference import float64_reference

        return float64_reference(self, inputs)

    def source_files(self) -> list[Path]:
        """The files that define this case's program, inputs and reference (not torch's, not ftrun's own
        shared modules): what its identity hashes."""
        objects = [self.program, self.extra_inputs, self.explicit_reference]
        if inspect.isclass(self.program):
            objects += list(self.program.__mro__)
        files = []
        for obj in filter(None, objects):
            try:
                path = Path(inspect.getsourcefile(obj) or "")
            except TypeError:  # a builtin (object, nn.Module's C parts)
                continue
            if path.is_file() and not _is_library(path) and path not in files:
                files.append(path)
        return files

    def source_hash(self) -> str:
        """First 12 hex digits of sha256 over the source of the files that define the case."""
        digest = hashlib.sha256()
        for path in sorted(self.source_files()):
            digest.update(path.read_bytes())
        return digest.hexdigest()[:12]

    def origin(self) -> str:
        """The file that defines the case's program, for messages."""
        try:
            return inspect.getsourcefile(self.program) or "?"
        except TypeError:
            return "?"


def _wanted(program: Callable, dims: dict) -> dict:
    """The dims that `program` takes as keyword arguments (all of them if it takes **kwargs)."""
    target = program.__init__ if inspect.isclass(program) else program
    if (getattr(target, "__module__", None) or "").startswith("torch"):
        return {}  # a module without its own __init__ (nn.Module's takes *args, **kwargs): no dims
    try:
        params = inspect.signature(target).parameters.values()
    except (TypeError, ValueError):
        return {}
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return {k: v for k, v in dims.items() if k in DIM_NAMES}
    names = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    return {k: v for k, v in dims.items() if k in names}


def _is_library(path: Path) -> bool:
    """torch's files and ftrun's own packages change with their versions, not with a case."""
    import importlib.util

    roots = [_ROOT / package for package in ("jobs", "ftrun", "compiler", "results")]
    torch = importlib.util.find_spec("torch")
    roots += [Path(p) for p in (torch.submodule_search_locations or ())] if torch else []
    path = path.resolve()
    return any(path.is_relative_to(root.resolve()) for root in roots)


_ROOT = Path(__file__).resolve().parents[1]

"""Experiments as data: which (part, model, system, seqlen) each figure needs, expanded into cases.

No torch here. Sequence lengths are the paper's (full scale); a scale maps them to its own sizes.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass

from jobs.spec import KERNEL_MODELS, SCALES, Scale, e2e_dims, kernel_dims
from results.case import CaseSpec

# The paper's Fig. 12 layout, plus the systems users reach for today where they apply.
FIG12_SYSTEMS = ("torch", "inductor", "tensorrt", "tvm", "korch", "einnet", "flashtensor", "cudnn", "flex", "xla")
FIG14_SYSTEMS = ("flashattn2", "flashinfer", "tensorrt", "cudnn", "flex", "flashtensor")


@dataclass(frozen=True)
class Part:
    """One panel group of a figure: every model × system × seqlen in it is a case."""

    part: str
    models: tuple[str, ...]
    systems: tuple[str, ...]
    seqlens: tuple[int, ...] = (4096,)


@dataclass(frozen=True)
class Experiment:
    name: str
    about: str
    parts: tuple[Part, ...]
    default_scale: str | None = None
    # how it is drawn: "fig12" (bars per model), "fig13" (sequence-length sweep) or "fig14"
    figure: str = "fig12"


EXPERIMENTS: dict[str, Experiment] = {
    e.name: e
    for e in (
        Experiment("fig12", "Fig. 12: the seven attention kernels (and the Llama-2-7B prefill) × systems",
                   (Part("kernel", KERNEL_MODELS, FIG12_SYSTEMS), Part("e2e", KERNEL_MODELS, FIG12_SYSTEMS))),
        Experiment("fig13", "Fig. 13: the H2O kernel across sequence lengths",
                   (Part("kernel", ("h2o",), ("torch", "inductor", "tensorrt", "flashtensor"),
                         (1024, 2048, 4096, 8192)),), figure="fig13"),
        Experiment("fig14", "Fig. 14: attention and Gemma2 kernels against attention libraries",
                   (Part("kernel", ("attn", "gemma2"), FIG14_SYSTEMS),), figure="fig14"),
        Experiment("smoke", "a tiny run of two kernels, in seconds",
                   (Part("kernel", ("attn", "h2o"), ("torch",)),), default_scale="tiny"),
    )
}

FILTER_KEYS = ("model", "system", "seqlen", "part")


def experiments() -> dict[str, Experiment]:
    """The built-in experiments plus those named in FTRUN_EXPERIMENTS ("module:attribute" of a dict of
    Experiment; ';'-separated), e.g. a lab's own campaign, or the fault-injection campaigns of the tests."""
    extra: dict[str, Experiment] = {}
    for item in filter(None, os.environ.get("FTRUN_EXPERIMENTS", "").split(";")):
        module, _, attribute = item.partition(":")
        extra.update(getattr(importlib.import_module(module), attribute))
    return {**EXPERIMENTS, **extra}


def expand(experiment: Experiment, scale: Scale, device: str, parts: tuple[str, ...] | None = None,
           e2e_options: dict[str, str] | None = None) -> list[CaseSpec]:
    """Every case of an experiment at one scale on one device class, in figure order.

    `e2e_options` (e.g. {"weights": path}) are attached to the e2e cases and become part of their identity.
    """
    e2e_opts = tuple(sorted((e2e_options or {}).items()))
    cases = []
    for part in experiment.parts:
        if parts is not None and part.part not in parts:
            continue
        dims_of = kernel_dims if part.part == "kernel" else e2e_dims
        for model in part.models:
            for seqlen in part.seqlens:
                for system in part.systems:
                    options = e2e_opts if part.part == "e2e" else ()
                    cases.append(CaseSpec(part.part, model, system, dims_of(scale, seqlen), scale.dtype, device,
                                          scale.name, options=options))
    return cases


def matches(case: CaseSpec, filters: dict[str, set[str]], full_seqlen: dict[int, int] | None = None) -> bool:
    """Values of one key are alternatives; different keys must all match. `seqlen` is the paper's length."""
    for key, values in filters.items():
        if key == "seqlen":
            value = str((full_seqlen or {}).get(case.seqlen, case.seqlen))
        else:
            value = getattr(case, key)
        if value not in values:
            return False
    return True


def plan(name: str, scale_name: str, device: str, filters: dict[str, set[str]] | None = None,
         e2e_options: dict[str, str] | None = None) -> list[CaseSpec]:
    experiment = experiments()[name]
    scale = SCALES[scale_name]
    # a filter on seqlen speaks the paper's lengths, whatever the scale
    full_of = {v: k for k, v in scale.seqlens.items()}
    return [c for c in expand(experiment, scale, device, e2e_options=e2e_options) if matches(c, filters or {}, full_of)]

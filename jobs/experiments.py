"""Experiments as data: which (part, model, system, seqlen) each figure needs, and their shape at a scale.

No torch here. Sequence lengths are the paper's (full scale); a scale maps them to its own sizes. Besides
the built-in ones, experiments come from plug-ins and from ftrun.toml's [experiments.NAME] (jobs.plugins).
The planner makes the cases (ftrun.submit.expand): a case is born there, with its key.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from jobs import plugins
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
    # the full-scale shape where it is not the paper's (batch, heads, kv_heads, head_dim); smaller scales
    # keep their own sizes and this kv_heads ratio
    dims: dict = field(default_factory=dict)
    # the dtype at every scale (default: the scale's, float16)
    dtype: str | None = None

    def models(self) -> list[str]:
        return list(dict.fromkeys(m for part in self.parts for m in part.models))

    def systems(self) -> list[str]:
        return list(dict.fromkeys(s for part in self.parts for s in part.systems))


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


FIGURES = ("fig12", "fig13", "fig14")


def experiments() -> dict[str, Experiment]:
    """The built-in experiments, then the plug-ins' and ftrun.toml's (imports the plug-in modules)."""
    return {**EXPERIMENTS, **plugins.loaded().experiments}


def experiment(name: str) -> Experiment | None:
    """One experiment by name; a built-in or ftrun.toml one is found without importing any plug-in."""
    found = EXPERIMENTS.get(name) or plugins.toml_experiment(name)
    return found or experiments().get(name)


def shaped(experiment: Experiment, scale: Scale) -> Scale:
    """The scale an experiment runs at: its own dims at full scale, its dtype and GQA ratio at every scale."""
    changes: dict = {"dtype": experiment.dtype} if experiment.dtype else {}
    if scale.name == "full":
        changes.update({k: v for k, v in experiment.dims.items() if k in ("batch", "heads", "head_dim")})
    return replace(scale, **changes)


def _kv_heads(experiment: Experiment, scale: Scale) -> int:
    """KV heads at this (shaped) scale: the experiment's at full scale, its heads-per-KV-head ratio below."""
    dims = experiment.dims
    if "kv_heads" not in dims:
        return scale.heads
    if scale.name == "full":
        return dims["kv_heads"]
    group = dims.get("heads", SCALES["full"].heads) // dims["kv_heads"]
    return max(1, scale.heads // max(1, group))


def shape(experiment: Experiment, scale: Scale, part: str, seqlen: int) -> tuple[tuple[tuple[str, int], ...], str]:
    """The dims and dtype of the experiment's cases of one part at one (the paper's) sequence length."""
    scale = shaped(experiment, scale)
    if part == "e2e":
        return e2e_dims(scale, seqlen), scale.dtype
    dims = dict(kernel_dims(scale, seqlen))
    dims["kv_heads"] = _kv_heads(experiment, scale)
    return tuple(sorted(dims.items())), scale.dtype


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


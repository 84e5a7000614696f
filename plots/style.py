"""How systems, cases, devices, shapes and figures are named and coloured in every figure."""

import re

SYSTEM_LABELS = {
    "torch": "PyTorch", "inductor": "Inductor", "tensorrt": "TensorRT", "tvm": "TVM", "korch": "Korch",
    "einnet": "EinNet", "cudnn": "cuDNN", "flex": "FlexAttention", "xla": "XLA", "flashattn2": "FlashAttention-2",
    "flashinfer": "FlashInfer", "flashtensor": "ftrun compiler", "flashtensor-hopper": "ftrun compiler (Hopper)",
    "flashtensor-paper": "FlashTensor (paper)",
}
SYSTEM_COLORS = {
    "torch": "#9e9e9e", "inductor": "#5b8def", "tensorrt": "#76b900", "tvm": "#b07aa1", "korch": "#d4a373",
    "einnet": "#bc6c25", "cudnn": "#2a9d8f", "flex": "#e9c46a", "xla": "#8d99ae", "flashattn2": "#f4a261",
    "flashinfer": "#457b9d", "flashtensor": "#d62828", "flashtensor-hopper": "#9d0208",
    "flashtensor-paper": "#f28482",
}
MODEL_LABELS = {"attn": "Attn", "h2o": "H2O", "roco": "RoCo", "kf": "KeyFormer", "snapkv": "SnapKV",
                "corm": "CORM", "gemma2": "Gemma2"}
# our compiler and the paper's: never a "baseline" when speedups are computed
COMPILERS = ("flashtensor", "flashtensor-hopper", "flashtensor-paper")


def system_label(name: str) -> str:
    return SYSTEM_LABELS.get(name, name)


def model_label(name: str) -> str:
    return MODEL_LABELS.get(name, name)


def device_label(row) -> str:
    label = row.device.upper()
    if row.source == "paper":
        return f"{label} (paper)"
    if row.source == "flashtensor-artifact":
        return f"{label} (artifact logs)"
    if row.scale not in (None, "full"):
        return f"{label} ({row.scale} scale)"
    return label


def figure_title(name: str) -> str:
    """'fig12' -> 'Fig. 12'; any other experiment (smoke, a plug-in's) keeps its own name."""
    m = re.fullmatch(r"fig(\d+)", name)
    return f"Fig. {m.group(1)}" if m else name


def shape_text(device: str, rows) -> str:
    """What a device row measured, from its cases' dims: 'CPU (small scale): batch 1, 4 heads, head_dim 64,
    seq 256, float16'; the end-to-end model is called Llama-2-7B only at Llama-2-7B's size."""
    dims = [r.dims for r in rows if r.dims]
    if not dims:
        return ""

    def value(name: str) -> str:
        values = sorted({d[name] for d in dims if name in d})
        return "?" if not values else str(values[0]) if len(values) == 1 else f"{values[0]}-{values[-1]}"

    dtypes = ", ".join(sorted({r.dtype for r in rows}))
    if "layers" in dims[0]:
        layers, hidden = value("layers"), value("hidden")
        model = "Llama-2-7B" if (layers, hidden) == ("32", "4096") else \
            f"a {layers}-layer Llama-style model (hidden {hidden})"
        return f"{device}: {model}, batch {value('batch')}, seq {value('seq')}, {dtypes}"
    return (f"{device}: batch {value('batch')}, {value('heads')} heads, head_dim {value('head_dim')}, "
            f"seq {value('q_len')}, {dtypes}")

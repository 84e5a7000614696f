"""How systems and cases are named and coloured in every figure."""

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
    if row.scale not in (None, "full"):
        return f"{label} ({row.scale} scale)"
    return label

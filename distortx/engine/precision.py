"""Mixed precision where the hardware computes bf16 natively (CUDA; CPUs with AVX512-BF16 or AMX)."""
from __future__ import annotations

from contextlib import nullcontext
from typing import Any

import torch


def fast_bf16(device: torch.device) -> bool:
    """True where bf16 convolutions are native: CUDA, or a CPU whose oneDNN has bf16 kernels."""
    device = torch.device(device)
    if device.type == "cuda":
        return True
    if device.type != "cpu":
        return False
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def autocast(device: torch.device, enabled: bool):
    """bf16 autocast on ``device`` when ``enabled`` and :func:`fast_bf16` (else a no-op context)."""
    device = torch.device(device)
    if enabled and fast_bf16(device):
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return nullcontext()


def to_float32(tree: Any) -> Any:
    """Floating tensors of a nested dict/list/tuple output cast to float32 (losses are computed in float32)."""
    if isinstance(tree, torch.Tensor):
        return tree.float() if tree.is_floating_point() and tree.dtype != torch.float32 else tree
    if isinstance(tree, dict):
        return {k: to_float32(v) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return type(tree)(to_float32(v) for v in tree)
    return tree

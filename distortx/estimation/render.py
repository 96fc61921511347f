"""Drawing a per-pixel parameter map as a colour PNG (what ``distortx estimate --map`` writes)."""
from __future__ import annotations

import torch
from torch import Tensor

#: viridis at 0, 1/4, 1/2, 3/4, 1 (dark purple = low value, yellow = high)
_ANCHORS = torch.tensor([[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]], dtype=torch.float32)


def colorize(values: Tensor, low: float, high: float) -> Tensor:
    """values Tensor[H, W] -> uint8 Tensor[3, H, W], ``low`` mapped to the first colour, ``high`` to the last."""
    t = ((values.float() - low) / max(high - low, 1e-12)).clamp(0, 1) * (len(_ANCHORS) - 1)
    i = t.floor().long().clamp(max=len(_ANCHORS) - 2)
    f = (t - i).unsqueeze(-1)
    rgb = _ANCHORS[i] * (1 - f) + _ANCHORS[i + 1] * f
    return rgb.round().clamp(0, 255).to(torch.uint8).permute(2, 0, 1).contiguous()

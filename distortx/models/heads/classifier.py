"""``classifier``: global average pooling + (dropout) + a linear layer, on the deepest feature map."""
from __future__ import annotations

from typing import Sequence, Union

from torch import nn

from ...errors import ParameterError


def classifier(in_channels: Union[int, Sequence[int]], num_classes: int, dropout: float = 0.0) -> nn.Sequential:
    """Tensor[N, C, h, w] -> logits Tensor[N, num_classes]; ``in_channels`` an int or the backbone's tuple (last used)."""
    c = in_channels if isinstance(in_channels, int) else tuple(in_channels)[-1]
    if int(num_classes) < 1:
        raise ParameterError(f"classifier: num_classes must be >= 1, got {num_classes}")
    if not 0.0 <= float(dropout) < 1.0:
        raise ParameterError(f"classifier: dropout must be in [0, 1), got {dropout}")
    return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(float(dropout)), nn.Linear(int(c), int(num_classes)))

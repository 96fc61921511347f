"""``pyramid_classifier``: a classification head that reads every backbone map, not only the deepest.

Each map ``Tensor[N, C_i, h_i, w_i]`` is summarised by the mean and the standard deviation of every channel over
its positions (texture statistics: what tells a box-filter downscale from a Gaussian blur lives in the shallow,
high-resolution maps that a pool of the deepest map has averaged away). The summaries are concatenated and
classified by a small MLP. It is what the default model v2 uses.
"""
from __future__ import annotations

from typing import List, Sequence, Union

import torch
from torch import Tensor, nn

from ...errors import ParameterError


class PyramidClassifier(nn.Module):
    """list of Tensor[N, C_i, h_i, w_i] -> logits Tensor[N, num_classes]."""

    def __init__(self, in_channels: Sequence[int], num_classes: int, hidden: int = 128, dropout: float = 0.0):
        super().__init__()
        features = 2 * sum(int(c) for c in in_channels)
        self.mlp = nn.Sequential(nn.Linear(features, int(hidden)), nn.ReLU(inplace=True),
                                 nn.Dropout(float(dropout)), nn.Linear(int(hidden), int(num_classes)))

    def forward(self, maps: List[Tensor]) -> Tensor:
        stats = []
        for x in maps:
            flat = x.float().flatten(2)                                   # [N, C, h*w]
            mean = flat.mean(dim=2)
            std = (flat.var(dim=2, unbiased=False) + 1e-6).sqrt()
            stats += [mean, std]
        return self.mlp(torch.cat(stats, dim=1))


def pyramid_classifier(in_channels: Union[int, Sequence[int]], num_classes: int, hidden: int = 128,
                       dropout: float = 0.0) -> PyramidClassifier:
    """The head over the backbone's maps of ``in_channels`` (one int: a single map)."""
    channels = (in_channels,) if isinstance(in_channels, int) else tuple(in_channels)
    if int(num_classes) < 1:
        raise ParameterError(f"pyramid_classifier: num_classes must be >= 1, got {num_classes}")
    if int(hidden) < 1:
        raise ParameterError(f"pyramid_classifier: hidden must be >= 1, got {hidden}")
    if not 0.0 <= float(dropout) < 1.0:
        raise ParameterError(f"pyramid_classifier: dropout must be in [0, 1), got {dropout}")
    return PyramidClassifier(channels, num_classes, hidden, dropout)

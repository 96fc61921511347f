"""``iqa_cnn``: Kang et al.'s IQA-CNN+ (ICIP 2015), the shallow baseline of Ahn et al.'s Table 1.

IQA-CNN+ reads a 32x32 locally normalised patch: one convolution with 50 7x7 kernels, max- and min-pooling of
each kernel's 26x26 response (100 numbers), two fully connected layers of 800 with ReLU, then the task
outputs; an image's prediction is the average over its non-overlapping patches.

Here it runs fully convolutionally on the whole image: the 7x7 convolution (no padding) is pooled by max and
min windows of 26 with stride 32, so each output cell is exactly one 32x32 patch's 100 features; the two FC
layers are 1x1 convolutions. The single map, Tensor[N, 800, H/32, W/32] (floor), holds one feature vector per
patch. A classification head that averages it and applies a linear layer computes the mean of the per-patch
linear outputs: Kang's patch averaging.
"""
from __future__ import annotations

from typing import List, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..weights import load_weights


def local_contrast_normalise(x: Tensor, window: int = 3, eps: float = 0.02) -> Tensor:
    """Kang's local normalisation per channel: (x - local mean) / (local std + eps) over ``window``^2 pixels.

    ``eps`` plays Kang's C = 1 grey level, expressed on the ImageNet-normalised scale (1 / 255 / 0.226 ~ 0.017).
    Tensor[N, C, H, W] -> Tensor[N, C, H, W].
    """
    pad = window // 2
    mean = F.avg_pool2d(x, window, stride=1, padding=pad, count_include_pad=False)
    var = F.avg_pool2d((x - mean).pow(2), window, stride=1, padding=pad, count_include_pad=False)
    return (x - mean) / (var.clamp(min=0).sqrt() + eps)


class IQACNN(nn.Module):
    """IQA-CNN+ trunk: [Tensor[N, hidden, floor(H/32), floor(W/32)]] (one 800-d vector per 32x32 patch)."""

    strides = (32,)

    def __init__(self, kernels: int = 50, kernel_size: int = 7, patch: int = 32, hidden: int = 800,
                 local_norm: bool = True, dropout: float = 0.0) -> None:
        super().__init__()
        self.patch, self.local_norm = patch, local_norm
        self.pool = patch - kernel_size + 1  # 26: the conv response of one patch
        self.conv = nn.Conv2d(3, kernels, kernel_size)
        self.fc1 = nn.Conv2d(2 * kernels, hidden, 1)
        self.fc2 = nn.Conv2d(hidden, hidden, 1)
        self.dropout = nn.Dropout(dropout)
        self.channels = (hidden,)

    def forward(self, x: Tensor) -> List[Tensor]:
        if self.local_norm:
            x = local_contrast_normalise(x)
        y = self.conv(x)
        pooled = torch.cat([F.max_pool2d(y, self.pool, self.patch), -F.max_pool2d(-y, self.pool, self.patch)], 1)
        h = self.dropout(torch.relu(self.fc1(pooled)))
        return [self.dropout(torch.relu(self.fc2(h)))]


def iqa_cnn(weights: Optional[str] = None, local_norm: bool = True, dropout: float = 0.0) -> IQACNN:
    """Kang's IQA-CNN+ trunk (50 7x7 kernels, min+max pooling, two FC 800); inputs of at least 32x32."""
    return load_weights(IQACNN(local_norm=local_norm, dropout=dropout), weights, "iqa_cnn weights")

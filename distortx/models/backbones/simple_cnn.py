"""``simple_cnn``: four conv-BN-ReLU blocks, one map at stride 8 (the first built-in; kept for plugins' tests)."""
from __future__ import annotations

from typing import Optional

from torch import nn

from ..weights import load_weights


def simple_cnn(width: int = 32, weights: Optional[str] = None) -> nn.Sequential:
    """Four 3x3 conv-BN-ReLU blocks of width, 2x, 4x, 8x ``width`` with 2x2 max-pooling between them.

    Returns an ``nn.Sequential`` mapping Tensor[N, 3, H, W] to one map Tensor[N, 8 width, H/8, W/8].
    """
    layers, c_in = [], 3
    for k in range(4):
        c_out = width * 2**k
        layers += [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]
        if k < 3:
            layers.append(nn.MaxPool2d(2))
        c_in = c_out
    net = nn.Sequential(*layers)
    net.channels, net.strides = (c_in,), (8,)
    return load_weights(net, weights, "simple_cnn weights")

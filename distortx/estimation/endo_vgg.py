"""Endo et al.'s classification trunk: a VGG-like network whose pooling is a strided 2x2 convolution
(Springenberg et al.'s "all convolutional net") and whose regulariser is spatial dropout (Tompson et al.).

Layout (our reading of Endo's Fig. 2; the widths are a parameter): three stages, each
``[3x3 conv -> BN -> ReLU] x 2 -> 2x2 conv stride 2 -> BN -> ReLU -> Dropout2d``, widths w, 2w, 4w;
a 32x32 CIFAR image leaves as Tensor[N, 4w, 4, 4]. Batch norm is our addition (the paper does not say),
kept because it makes short training runs converge; ``batch_norm=False`` removes it.
"""
from __future__ import annotations

from typing import List

from torch import Tensor, nn


def _conv(c_in: int, c_out: int, k: int, stride: int, bn: bool) -> List[nn.Module]:
    pad = 1 if k == 3 else 0
    layers: List[nn.Module] = [nn.Conv2d(c_in, c_out, k, stride=stride, padding=pad, bias=not bn)]
    if bn:
        layers.append(nn.BatchNorm2d(c_out))
    layers.append(nn.ReLU(inplace=True))
    return layers


class EndoVGG(nn.Module):
    """Tensor[N, 3, H, W] float in [0, 1] -> [maps of stage 1, 2, 3]: Tensor[N, w*2^i, H/2^(i+1), W/2^(i+1)]."""

    MEAN = (0.4914, 0.4822, 0.4465)  # CIFAR-10 statistics; any photo set is close enough
    STD = (0.2470, 0.2435, 0.2616)

    def __init__(self, width: int = 64, stages: int = 3, spatial_dropout: float = 0.1, batch_norm: bool = True):
        super().__init__()
        import torch

        self.register_buffer("mean", torch.tensor(self.MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(self.STD).view(1, 3, 1, 1), persistent=False)
        self.stages = nn.ModuleList()
        c_in, chans, strides = 3, [], []
        for i in range(stages):
            c = width * 2**i
            layers = _conv(c_in, c, 3, 1, batch_norm) + _conv(c, c, 3, 1, batch_norm) + _conv(c, c, 2, 2, batch_norm)
            if spatial_dropout > 0:
                layers.append(nn.Dropout2d(spatial_dropout))
            self.stages.append(nn.Sequential(*layers))
            chans.append(c)
            strides.append(2 ** (i + 1))
            c_in = c
        self.channels, self.strides = tuple(chans), tuple(strides)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")

    def forward(self, images: Tensor) -> List[Tensor]:
        x = (images - self.mean) / self.std
        out = []
        for stage in self.stages:
            x = stage(x)
            out.append(x)
        return out

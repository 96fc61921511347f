"""The estimator backbone after Uchida, Tanaka, Okutomi (the network Endo et al. use to estimate a
degradation parameter): a stack of 3x3 convolutions with growing then shrinking dilation, ReLU, no batch
norm (Endo omits it), padding that keeps the spatial size. With the head's final 3x3 convolution the seven
layers have dilations 1, 2, 3, 4, 3, 2, 1 and a receptive field of 33x33 pixels (Uchida's JPEG network,
itself the denoiser of Zhang et al.'s IRCNN).
"""
from __future__ import annotations

from typing import List, Sequence

from torch import Tensor, nn

#: Dilations of the backbone's layers; the head adds the last 3x3 layer (dilation 1).
UCHIDA_DILATIONS = (1, 2, 3, 4, 3, 2)


class DilatedBackbone(nn.Module):
    """Tensor[N, 3, H, W] float in [0, 1] -> [Tensor[N, width, H, W]] (one map, stride 1).

    width: channels of every layer (64 in Uchida's and Endo's networks).
    dilations: one 3x3 conv + ReLU per entry.
    """

    def __init__(self, width: int = 64, dilations: Sequence[int] = UCHIDA_DILATIONS, in_channels: int = 3):
        super().__init__()
        layers: List[nn.Module] = []
        c_in = in_channels
        for d in dilations:
            layers += [nn.Conv2d(c_in, width, 3, padding=int(d), dilation=int(d)), nn.ReLU(inplace=True)]
            c_in = width
        self.body = nn.Sequential(*layers)
        self.channels = (int(width),)
        self.strides = (1,)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")  # Uchida: he_normal
                nn.init.zeros_(m.bias)

    def forward(self, images: Tensor) -> List[Tensor]:
        # centre the input: the first layer then sees zero-mean data (no normalisation layer follows)
        return [self.body(images - 0.5)]


def receptive_field(dilations: Sequence[int]) -> int:
    """Side of the receptive field of 3x3 convolutions with these dilations (head included by the caller)."""
    return 1 + 2 * sum(int(d) for d in dilations)

"""The estimator backbone after Uchida, Tanaka, Okutomi (the network Endo et al. use to estimate a
degradation parameter): a stack of 3x3 convolutions with growing then shrinking dilation, ReLU, no batch
norm (Endo omits it), padding that keeps the spatial size. With the head's final 3x3 convolution the seven
layers have dilations 1, 2, 3, 4, 3, 2, 1 and a receptive field of 33x33 pixels (Uchida's JPEG network,
itself the denoiser of Zhang et al.'s IRCNN).
"""
from __future__ import annotations

from typing import List, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

#: Dilations of the backbone's layers; the head adds the last 3x3 layer (dilation 1).
UCHIDA_DILATIONS = (1, 2, 3, 4, 3, 2)


class DilatedBackbone(nn.Module):
    """Tensor[N, 3, H, W] float in [0, 1] -> [Tensor[N, width, H, W]] (one map, stride 1).

    width: channels of every layer (64 in Uchida's and Endo's networks).
    dilations: one 3x3 conv + ReLU per entry.
    residual_gain: > 0 adds three input channels, ``gain * (x - mean3x3(x))``: the high-pass residual that
        forensic networks feed their first layer (SRM filters), amplified so that one 8-bit level is ~0.03.
    grid: > 0 adds two input channels marking the rows and columns on a block boundary of this grid (8: JPEG's
        8x8 blocks), so the network need not infer the block phase from the content. Both are our additions:
        on this project's 2-core CPU, 1,500 steps of the JPEG estimator reached a val spread of 15..75 (q 10..90)
        with both, 39..60 with the residual alone and 49..52 after 2,000 steps without (docs/endo.md).
    """

    def __init__(self, width: int = 64, dilations: Sequence[int] = UCHIDA_DILATIONS, in_channels: int = 3,
                 residual_gain: float = 0.0, grid: int = 0):
        super().__init__()
        self.residual_gain, self.grid = float(residual_gain), int(grid)
        layers: List[nn.Module] = []
        c_in = in_channels * (2 if self.residual_gain else 1) + (2 if self.grid else 0)
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

    def forward(self, images: Tensor, origin: Tuple[int, int] = (0, 0)) -> List[Tensor]:
        """``origin``: the (row, column) of the top-left pixel on the JPEG block grid (with ``grid``); a crop
        of a JPEG at (y, x) passes (y, x) so block boundaries keep their marks."""
        # centre the input: the first layer then sees zero-mean data (no normalisation layer follows).
        # The first layer runs in float32 even under autocast: bf16 keeps 8 significant bits, which would round
        # away the one-level differences a JPEG or noise estimator reads; later layers see filtered features.
        x = images.float() - 0.5
        parts = [x]
        if self.residual_gain:
            parts.append(self.residual_gain * (x - F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)))
        if self.grid:
            n, _, h, w = x.shape
            ry = ((torch.arange(h, device=x.device) + int(origin[0])) % self.grid).float().sub((self.grid - 1) / 2).abs()
            rx = ((torch.arange(w, device=x.device) + int(origin[1])) % self.grid).float().sub((self.grid - 1) / 2).abs()
            edge = (self.grid - 1) / 2
            parts.append((ry == edge).float().view(1, 1, h, 1).expand(n, 1, h, w))
            parts.append((rx == edge).float().view(1, 1, 1, w).expand(n, 1, h, w))
        x = torch.cat(parts, 1) if len(parts) > 1 else x
        with torch.autocast(device_type=x.device.type, enabled=False):
            x = self.body[1](self.body[0](x))
        return [self.body[2:](x)]


def receptive_field(dilations: Sequence[int]) -> int:
    """Side of the receptive field of 3x3 convolutions with these dilations (head included by the caller)."""
    return 1 + 2 * sum(int(d) for d in dilations)

"""``dx_small``: distortx's small backbone, fast enough to train an SSD Y-net from scratch on a laptop CPU.

A plain stem convolution keeps every pixel's neighbourhood (noise, blocking, quantisation live there),
then depthwise-separable blocks (MobileNet's 3x3 depthwise + 1x1 pointwise, BN + ReLU after each; a
residual connection where the shape allows) in five stages:

    stage   stride  channels  blocks      at 300x300
    stem       2       32     conv 3x3    150
    1          4       48     1           75
    2          8       96     2           38   -> map 0
    3         16      160     3           19   -> map 1
    4         32      256     2           10   -> map 2

About 0.2 M parameters and 0.09 GMAC per 300x300 image (the SSD Y-net on it: 0.8 M, 0.2 GMAC).
"""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

from torch import Tensor, nn

from ..weights import load_weights

STAGES: Tuple[Tuple[int, int], ...] = ((48, 1), (96, 2), (160, 3), (256, 2))  # (channels, blocks), stride 2 each
OUT_STAGES = (1, 2, 3)  # indices into STAGES returned as maps: strides 8, 16, 32


def conv_bn_relu(c_in: int, c_out: int, kernel: int = 3, stride: int = 1, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class SeparableBlock(nn.Module):
    """3x3 depthwise (stride s) + 1x1 pointwise, each with BN + ReLU; x + f(x) when stride 1 and c_in == c_out."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1) -> None:
        super().__init__()
        self.depthwise = conv_bn_relu(c_in, c_in, 3, stride, groups=c_in)
        self.pointwise = conv_bn_relu(c_in, c_out, 1)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: Tensor) -> Tensor:
        y = self.pointwise(self.depthwise(x))
        return x + y if self.residual else y


class DxSmall(nn.Module):
    """Tensor[N, 3, H, W] -> maps at strides 8, 16, 32 (channels 96, 160, 256 by default)."""

    def __init__(self, stem: int = 32, stages: Sequence[Tuple[int, int]] = STAGES,
                 out_stages: Sequence[int] = OUT_STAGES) -> None:
        super().__init__()
        self.stem = conv_bn_relu(3, stem, 3, 2)
        blocks, c_in = [], stem
        for c_out, n in stages:
            layers = [SeparableBlock(c_in, c_out, 2)] + [SeparableBlock(c_out, c_out) for _ in range(n - 1)]
            blocks.append(nn.Sequential(*layers))
            c_in = c_out
        self.stages = nn.ModuleList(blocks)
        self.out_stages = tuple(out_stages)
        self.channels = tuple(stages[i][0] for i in self.out_stages)
        self.strides = tuple(2 ** (i + 2) for i in self.out_stages)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: Tensor) -> List[Tensor]:
        x = self.stem(x)
        out = []
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i in self.out_stages:
                out.append(x)
        return out


def dx_small(weights: Optional[str] = None, width: float = 1.0) -> DxSmall:
    """The small default backbone; ``width`` scales every stage's channels (multiples of 8)."""
    def scale(c: int) -> int:
        return max(8, int(round(c * width / 8)) * 8)

    net = DxSmall(scale(32), tuple((scale(c), n) for c, n in STAGES))
    return load_weights(net, weights, "dx_small weights")

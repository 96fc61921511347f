"""VGG-16 (Simonyan & Zisserman) and SSD's atrous VGG-16 (Liu et al. 2016, after DeepLab), from torchvision's
definition of the convolutional trunk (``torchvision.models.vgg16(weights=None).features``: no download).

Indices of the ``features`` layers tapped here: 15 = ReLU after conv3_3, 22 = ReLU after conv4_3, 29 = ReLU
after conv5_3, 30 = pool5. A torchvision VGG-16 state dict loads as is (its ``classifier.*`` is ignored).
"""
from __future__ import annotations

from typing import List, Optional

import torch
from torch import Tensor, nn

from ..weights import load_weights

_CONV3_3, _CONV4_3, _CONV5_3, _POOL3 = 15, 22, 29, 16


def _torchvision_vgg16_features() -> nn.Sequential:
    """``torchvision.models.vgg16(weights=None).features`` with its initialisation, without building (and
    initialising) the 120 M-parameter classifier that the backbone drops."""
    from torchvision.models.vgg import cfgs, make_layers

    features = make_layers(cfgs["D"], batch_norm=False)
    for m in features.modules():
        if isinstance(m, nn.Conv2d):  # torchvision VGG.__init__
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            nn.init.constant_(m.bias, 0)
    return features


class L2Norm(nn.Module):
    """SSD's channel-wise L2 normalisation with a learnable per-channel scale (initialised to ``scale``).

    conv4_3 activations are much larger than those of deeper layers; normalising each position's feature
    vector to unit L2 norm, then scaling it (20 in SSD), keeps the multi-scale heads balanced.
    Tensor[N, C, H, W] -> Tensor[N, C, H, W].
    """

    def __init__(self, channels: int, scale: float = 20.0, eps: float = 1e-10) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.full((channels,), float(scale)))
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        norm = x.pow(2).sum(1, keepdim=True).sqrt() + self.eps
        return x / norm * self.weight.view(1, -1, 1, 1)


class VGG16Features(nn.Module):
    """torchvision's VGG-16 trunk returning conv3_3 (256, /4), conv4_3 (512, /8), conv5_3 (512, /16), pool5 (512, /32)."""

    channels = (256, 512, 512, 512)
    strides = (4, 8, 16, 32)
    taps = (_CONV3_3, _CONV4_3, _CONV5_3, 30)

    def __init__(self) -> None:
        super().__init__()
        self.features = _torchvision_vgg16_features()

    def forward(self, x: Tensor) -> List[Tensor]:
        out = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in self.taps:
                out.append(x)
        return out


class AtrousVGG16(nn.Module):
    """SSD300's base network: VGG-16 through conv5_3 (pool3 rounds up, so 300 -> 38 at conv4_3), pool5 3x3
    stride 1, fc6 = 3x3 conv dilation 6 with 1024 channels, fc7 = 1x1 conv with 1024 channels.

    Returns [L2Norm(conv4_3) Tensor[N, 512, H/8, W/8], fc7 Tensor[N, 1024, H/16, W/16]].
    """

    channels = (512, 1024)
    strides = (8, 16)

    def __init__(self, l2norm_scale: float = 20.0) -> None:
        super().__init__()
        features = _torchvision_vgg16_features()[: _CONV5_3 + 1]
        features[_POOL3].ceil_mode = True
        self.features = features
        self.l2norm = L2Norm(512, l2norm_scale)
        self.pool5 = nn.MaxPool2d(3, stride=1, padding=1)
        self.fc6 = nn.Conv2d(512, 1024, 3, padding=6, dilation=6)
        self.fc7 = nn.Conv2d(1024, 1024, 1)
        for conv in (self.fc6, self.fc7):
            nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(conv.bias)

    def forward(self, x: Tensor) -> List[Tensor]:
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i == _CONV4_3:
                conv4_3 = self.l2norm(x)
        x = torch.relu(self.fc6(self.pool5(x)))
        return [conv4_3, torch.relu(self.fc7(x))]


def vgg16(weights: Optional[str] = None) -> VGG16Features:
    """VGG-16 (torchvision's layers, random init): maps at strides 4, 8, 16, 32."""
    return load_weights(VGG16Features(), weights, "vgg16 weights", ignore_prefixes=("classifier.",))


def atrous_vgg16(weights: Optional[str] = None, l2norm_scale: float = 20.0) -> AtrousVGG16:
    """SSD's atrous VGG-16: conv4_3 with L2Norm (scale ``l2norm_scale``) and fc7."""
    return load_weights(AtrousVGG16(l2norm_scale), weights, "atrous_vgg16 weights", ignore_prefixes=("classifier.",))

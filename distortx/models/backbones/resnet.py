"""ResNet-18/50/101 (He et al.) from torchvision's definitions (``weights=None``: no download), as multi-scale
trunks: the outputs of layer1..layer4 at strides 4, 8, 16, 32 (torchvision's ``IntermediateLayerGetter``).

The module keeps torchvision's attribute names, so a torchvision ResNet state dict loads as is (``fc.*`` ignored).
"""
from __future__ import annotations

from typing import List, Optional

from torch import Tensor, nn

from ..weights import load_weights


class ResNetFeatures(nn.Module):
    """torchvision ResNet without avgpool/fc: Tensor[N, 3, H, W] -> [layer1, layer2, layer3, layer4]."""

    strides = (4, 8, 16, 32)

    def __init__(self, arch: str) -> None:
        super().__init__()
        import torchvision.models as tvm

        net = getattr(tvm, arch)(weights=None)
        self.conv1, self.bn1, self.relu, self.maxpool = net.conv1, net.bn1, net.relu, net.maxpool
        self.layer1, self.layer2, self.layer3, self.layer4 = net.layer1, net.layer2, net.layer3, net.layer4
        expansion = 4 if arch in ("resnet50", "resnet101", "resnet152") else 1
        self.channels = tuple(c * expansion for c in (64, 128, 256, 512))

    def forward(self, x: Tensor) -> List[Tensor]:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        c2 = self.layer1(x)
        c3 = self.layer2(c2)
        c4 = self.layer3(c3)
        return [c2, c3, c4, self.layer4(c4)]


def _resnet(arch: str, weights: Optional[str]) -> ResNetFeatures:
    return load_weights(ResNetFeatures(arch), weights, f"{arch} weights", ignore_prefixes=("fc.",))


def resnet18(weights: Optional[str] = None) -> ResNetFeatures:
    """ResNet-18 trunk: channels 64, 128, 256, 512 at strides 4, 8, 16, 32."""
    return _resnet("resnet18", weights)


def resnet50(weights: Optional[str] = None) -> ResNetFeatures:
    """ResNet-50 trunk: channels 256, 512, 1024, 2048 at strides 4, 8, 16, 32."""
    return _resnet("resnet50", weights)


def resnet101(weights: Optional[str] = None) -> ResNetFeatures:
    """ResNet-101 trunk (Ahn et al.'s second backbone): channels 256, 512, 1024, 2048 at strides 4, 8, 16, 32."""
    return _resnet("resnet101", weights)

"""Built-in backbones and heads, registered through ``distortx_backbones`` / ``distortx_heads``.

Backbones map Tensor[N, 3, H, W] to a feature map Tensor[N, out_channels, h, w]. torchvision's definitions
are used where they exist; no pretrained weights are downloaded: pass ``weights=PATH`` to load a state dict
you supply. The SSD-specific pieces (atrous VGG, SSD head, parameter estimator) arrive with the model wave.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from ..hookspecs import hookimpl
from .spec import BackboneSpec, HeadSpec


def _load(module: nn.Module, weights: Optional[str]) -> nn.Module:
    if weights:
        from ..errors import DistortxError

        try:
            state = torch.load(weights, map_location="cpu", weights_only=True)
            module.load_state_dict(state.get("state_dict", state) if isinstance(state, dict) else state)
        except (OSError, RuntimeError, KeyError) as exc:
            raise DistortxError(f"cannot load backbone weights from {weights}: {exc}") from exc
    return module


def simple_cnn(width: int = 32, weights: Optional[str] = None) -> nn.Module:
    """Four conv-BN-ReLU blocks with stride-2 pooling: small enough to train on a CPU in minutes."""
    layers, c_in = [], 3
    for k in range(4):
        c_out = width * 2**k
        layers += [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]
        if k < 3:
            layers.append(nn.MaxPool2d(2))
        c_in = c_out
    return _load(nn.Sequential(*layers), weights)


def vgg16(weights: Optional[str] = None) -> nn.Module:
    """torchvision VGG-16 convolutional trunk (``features``), 512 output channels."""
    from torchvision.models import vgg16 as tv_vgg16

    return _load(tv_vgg16(weights=None).features, weights)


def resnet101(weights: Optional[str] = None) -> nn.Module:
    """torchvision ResNet-101 without its pooling and FC layers, 2048 output channels."""
    from torchvision.models import resnet101 as tv_resnet101

    net = tv_resnet101(weights=None)
    return _load(nn.Sequential(*list(net.children())[:-2]), weights)


def classifier(in_channels: int, num_classes: int, dropout: float = 0.0) -> nn.Module:
    """Global average pool + (dropout) + linear: Tensor[N, C, h, w] -> logits Tensor[N, num_classes]."""
    return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(in_channels, num_classes))


@hookimpl
def distortx_backbones():
    return [
        BackboneSpec("simple_cnn", simple_cnn, out_channels=256, description="4 conv blocks, CPU-trainable"),
        BackboneSpec("vgg16", vgg16, out_channels=512, description="torchvision VGG-16 features"),
        BackboneSpec("resnet101", resnet101, out_channels=2048, description="torchvision ResNet-101 trunk"),
    ]


@hookimpl
def distortx_heads():
    return [HeadSpec("classifier", classifier, task="classification", description="global pool + FC")]

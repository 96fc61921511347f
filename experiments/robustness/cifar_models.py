"""The small CIFAR-10 classifier of the robustness worked example (docs/robustness.md).

``build(num_classes=10)`` returns a 5-conv VGG-style CNN (BatchNorm, ReLU, two max-pools, global average
pool, one linear layer; 36 k parameters, 7.5 M multiply-adds per 32x32 image at the default width 16) that takes float images
in [0, 1] and normalises them itself with CIFAR-10's channel mean/std, so a robustness sweep needs no
--mean/--std:

    distortx robustness --model experiments/robustness/cifar_models.py:build:experiments/robustness/runs/clean.pth ...
"""
from __future__ import annotations

import torch
from torch import nn

CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2470, 0.2435, 0.2616)


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class SmallCifarNet(nn.Module):
    """float Tensor[N, 3, 32, 32] in [0, 1] -> logits Tensor[N, num_classes]."""

    def __init__(self, num_classes: int = 10, width: int = 16):
        super().__init__()
        w = width
        self.register_buffer("mean", torch.tensor(CIFAR_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(CIFAR_STD).view(1, 3, 1, 1))
        self.features = nn.Sequential(
            _block(3, w), _block(w, w), nn.MaxPool2d(2),
            _block(w, 2 * w), _block(2 * w, 2 * w), nn.MaxPool2d(2),
            _block(2 * w, 4 * w), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )
        self.classifier = nn.Linear(4 * w, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features((x - self.mean) / self.std))


def build(num_classes: int = 10, width: int = 16) -> nn.Module:
    return SmallCifarNet(num_classes, width)

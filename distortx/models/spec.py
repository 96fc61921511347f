"""Typed objects returned by the ``distortx_backbones`` and ``distortx_heads`` hooks."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from torch import nn


@dataclass(frozen=True, eq=False)
class BackboneSpec:
    """A feature extractor. ``build(**kwargs) -> nn.Module`` maps Tensor[N, 3, H, W] to feature maps.

    out_channels: channels of the last feature map (what a classifier head consumes).
    """

    name: str
    build: Callable[..., nn.Module]
    out_channels: int
    description: str = ""
    plugin: str = field(default="", compare=False)


@dataclass(frozen=True, eq=False)
class HeadSpec:
    """A task head. ``build(in_channels, **kwargs) -> nn.Module``; ``task`` is e.g. "classification",
    "detection", "regression"."""

    name: str
    build: Callable[..., nn.Module]
    task: str
    description: str = ""
    plugin: str = field(default="", compare=False)

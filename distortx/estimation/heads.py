"""Heads of Endo et al.'s two networks.

* :class:`ParamEstimatorHead` ("param_estimator"): the last 3x3 convolution of the Uchida network, one
  output channel per degradation parameter, predicting the parameter at every pixel. It works on a
  normalised scale (the parameter divided by ``scale``, so targets are O(1)) and returns physical units.
* :class:`ParamAwareHead` ("param_aware_classifier"): global average pooling of the trunk's last map, the
  degradation parameter (normalised by ``param_scale``) embedded by a small MLP and concatenated to the
  pooled features, then FC -> ReLU -> dropout -> FC to the class logits. This is how the parameter enters
  the classifier (Endo's Fig. 1-b: a second input). ``num_params=0`` gives the same head without the
  parameter (Endo's "Org" / "Jpg" networks), so the compared networks differ only by that input.
"""
from __future__ import annotations

from typing import Optional, Sequence, Union

import torch
from torch import Tensor, nn

from ..errors import ParameterError

Channels = Union[int, Sequence[int]]


def _last(in_channels: Channels) -> int:
    return int(in_channels[-1]) if isinstance(in_channels, (tuple, list)) else int(in_channels)


def _scale(scale: Union[float, Sequence[float]], n: int, who: str) -> Tensor:
    s = torch.tensor([float(scale)] * n if isinstance(scale, (int, float)) else [float(v) for v in scale])
    if s.numel() != n or not bool((s > 0).all()):
        raise ParameterError(f"{who}: scale must be {n} positive number(s), got {scale!r}")
    return s


class ParamEstimatorHead(nn.Module):
    """[..., Tensor[N, C, H, W]] -> parameters Tensor[N, P]: the spatial mean of :meth:`pixel_map`
    (the "regression" head contract of the model registry).

    num_params: P; scale: the physical value of a network output of 1 (JPEG quality 100, sigma 50).
    """

    def __init__(self, in_channels: Channels, num_params: int = 1, scale: Union[float, Sequence[float]] = 1.0,
                 strides: Optional[Sequence[int]] = None):
        super().__init__()
        self.conv = nn.Conv2d(_last(in_channels), int(num_params), 3, padding=1)
        nn.init.kaiming_normal_(self.conv.weight, nonlinearity="linear")
        nn.init.constant_(self.conv.bias, 0.5)  # start mid-range on the normalised scale
        self.register_buffer("scale", _scale(scale, int(num_params), "param_estimator").view(1, -1, 1, 1))

    def normalised(self, features) -> Tensor:
        """Per-pixel parameters divided by ``scale``: Tensor[N, P, H, W] (what the MSE loss compares)."""
        x = features[-1] if isinstance(features, (list, tuple)) else features
        with torch.autocast(device_type=x.device.type, enabled=False):  # the regression stays in float32
            return self.conv(x.float())

    def pixel_map(self, features) -> Tensor:
        """Per-pixel parameters Tensor[N, P, H, W] in physical units."""
        return self.normalised(features) * self.scale

    def forward(self, features) -> Tensor:
        return self.pixel_map(features).mean(dim=(2, 3))


class ParamAwareHead(nn.Module):
    """(features [..., Tensor[N, C, h, w]], params Tensor[N, P] or None) -> logits Tensor[N, num_classes]."""

    def __init__(self, in_channels: Channels, num_classes: int = 10, num_params: int = 1,
                 param_scale: Union[float, Sequence[float]] = 1.0, hidden: int = 256, param_embed: int = 32,
                 dropout: float = 0.5, strides: Optional[Sequence[int]] = None):
        super().__init__()
        c = _last(in_channels)
        self.num_params = int(num_params)
        self.pool = nn.AdaptiveAvgPool2d(1)
        if self.num_params > 0:
            self.register_buffer("param_scale", _scale(param_scale, self.num_params, "param_aware_classifier").view(1, -1))
            self.embed = nn.Sequential(nn.Linear(self.num_params, param_embed), nn.ReLU(inplace=True))
            c += param_embed
        self.fc = nn.Sequential(nn.Linear(c, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout),
                                nn.Linear(hidden, int(num_classes)))

    def forward(self, features, params: Optional[Tensor] = None) -> Tensor:
        x = features[-1] if isinstance(features, (list, tuple)) else features
        z = self.pool(x).flatten(1)
        if self.num_params > 0:
            if params is None:
                raise ParameterError("param_aware_classifier needs the degradation parameter: pass params "
                                     "Tensor[N, P] or build the model with an estimator")
            p = params.reshape(z.shape[0], self.num_params).to(z.dtype) / self.param_scale.to(z.dtype)
            z = torch.cat([z, self.embed(p)], dim=1)
        return self.fc(z)


"""SSD box coding: regression targets of ground-truth boxes relative to default boxes, and back.

With a prior (p_cx, p_cy, p_w, p_h) and variances (v0, v1) (SSD: 0.1, 0.2; torchvision's BoxCoder weights
(10, 10, 5, 5) are their inverses), a box (cx, cy, w, h) is encoded as

    t_x = (cx - p_cx) / (v0 p_w),   t_y = (cy - p_cy) / (v0 p_h),   t_w = log(w / p_w) / v1,   t_h = log(h / p_h) / v1

and a regression output (t_x, t_y, t_w, t_h) is decoded as

    cx = p_cx + (t_x v0) p_w,   w = p_w exp(min(t_w v1, log(1000/16))),   box = (cx - w/2, cy - h/2, cx + w/2, cy + h/2).

The clamp of the log-scale before exp() is torchvision's ``bbox_xform_clip``: an untrained or diverging head
can emit large t_w, and exp() then overflows float32 to inf, giving inf/NaN boxes that poison IoU, NMS and the
loss; log(1000/16) caps a box at 62.5x its prior's width. NaN regressions stay NaN (they are dropped later).

``decode`` is the twin of ``decode_box`` in csrc/boxes/box_math.h: the same float32 operations in the same
order, exp() evaluated in float64 and rounded once, so the native ops and this reference agree bit for bit.
Boxes are xyxy; priors are (cx, cy, w, h); the last dimension is the coordinate.
"""
from __future__ import annotations

import math
from typing import Sequence, Tuple

import torch
from torch import Tensor

from ..errors import ParameterError

SSD_VARIANCES: Tuple[float, float] = (0.1, 0.2)
LOG_SCALE_CLAMP = math.log(1000.0 / 16)


def cxcywh_to_xyxy(boxes: Tensor) -> Tensor:
    """(cx, cy, w, h) -> (x1, y1, x2, y2), any leading shape."""
    cx, cy, w, h = boxes.unbind(-1)
    return torch.stack([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h], -1)


def xyxy_to_cxcywh(boxes: Tensor) -> Tensor:
    """(x1, y1, x2, y2) -> (cx, cy, w, h), any leading shape."""
    x1, y1, x2, y2 = boxes.unbind(-1)
    return torch.stack([(x1 + x2) * 0.5, (y1 + y2) * 0.5, x2 - x1, y2 - y1], -1)


def _variances(variances: Sequence[float]) -> Tuple[float, float]:
    if len(variances) != 2 or not all(math.isfinite(v) and v > 0 for v in variances):
        raise ParameterError(f"variances must be two positive finite numbers, got {tuple(variances)}")
    return float(variances[0]), float(variances[1])


def encode(boxes: Tensor, priors: Tensor, variances: Sequence[float] = SSD_VARIANCES) -> Tensor:
    """Regression targets Tensor[..., P, 4] of xyxy ``boxes`` [..., P, 4] against priors [P, 4] (cx, cy, w, h)."""
    v0, v1 = _variances(variances)
    g = xyxy_to_cxcywh(boxes)
    pcx, pcy, pw, ph = priors.unbind(-1)
    return torch.stack(
        [
            (g[..., 0] - pcx) / (v0 * pw),
            (g[..., 1] - pcy) / (v0 * ph),
            torch.log(g[..., 2] / pw) / v1,
            torch.log(g[..., 3] / ph) / v1,
        ],
        -1,
    )


def decode(loc: Tensor, priors: Tensor, variances: Sequence[float] = SSD_VARIANCES) -> Tensor:
    """xyxy boxes Tensor[..., P, 4] from regressions ``loc`` [..., P, 4] and priors [P, 4] (cx, cy, w, h)."""
    v0, v1 = _variances(variances)
    pcx, pcy, pw, ph = priors.unbind(-1)
    cx = pcx + (loc[..., 0] * v0) * pw
    cy = pcy + (loc[..., 1] * v0) * ph
    dw = (loc[..., 2] * v1).clamp(max=LOG_SCALE_CLAMP)
    dh = (loc[..., 3] * v1).clamp(max=LOG_SCALE_CLAMP)
    w = pw * torch.exp(dw.double()).to(dw.dtype)
    h = ph * torch.exp(dh.double()).to(dh.dtype)
    hw, hh = 0.5 * w, 0.5 * h
    return torch.stack([cx - hw, cy - hh, cx + hw, cy + hh], -1)

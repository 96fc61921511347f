"""Gaussian blur sigma read from a photo's edges, without a network (re-blur gradient ratio).

A step edge blurred by a Gaussian of S.D. sigma has a gradient peak of height A / (sqrt(2 pi) sigma); blurred again
by a known sigma_r, the peak falls to A / (sqrt(2 pi) sqrt(sigma^2 + sigma_r^2)). So at an edge the ratio R of the
two peaks gives sigma = sigma_r / sqrt(R^2 - 1), whatever the edge's contrast (after Zhuo & Sim, "Defocus map
estimation from a single image", 2011). The edges are the grey image's gradient maxima (local maxima in 3 x 3)
among the strongest ``EDGE_SHARE`` (2 %) of the area read and at least ``MIN_GRADIENT`` grey levels per pixel; the
reading is the median over them, re-read with sigma_r set to it (``ITERATIONS``: the ratio is most precise for a
sigma_r near sigma), times ``GAIN`` (fitted on the val photos: edges of a photo are not isolated steps, and
neighbouring edges make a blurred photo's peaks fall less). A photo's own sharpness reads ~0.5 (what its lens and
resizing left); Ahn's levels are 1.5 / 3 / 6.

What it cannot do: read an area with fewer than ``MIN_EDGES`` edges (a flat sky: None); tell a blur from a photo
that was never sharp (a defocused background reads as blurred); a JPEG after a strong blur adds block edges and
reads lower (sigma 6 then q90: ~4.9).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from ..corruptions.common import gaussian_filter  # scipy's gaussian_filter, edges repeated
from ..errors import ImageError

#: the share of the area's gradient values above which edges are taken, and the least gradient (grey levels per px)
EDGE_SHARE, MIN_GRADIENT = 0.02, 2.0
#: the fewest edges read; the re-blur sigma of the first reading and the range later ones are kept in
MIN_EDGES, FIRST_REBLUR, REBLUR_RANGE = 10, 1.0, (1.0, 8.0)
#: readings; the factor on the median (val photos, Ahn's blur at 1.5 / 3 / 6)
ITERATIONS, GAIN = 3, 1.076
#: pixels of the image's border left out (the re-blur reads past it); pixels of a box's border left out (a region
#: pasted into a photo meets it in a sharp seam)
BORDER, BOX_INSET = 4, 3


@dataclass(frozen=True)
class BlurReading:
    """sigma: the Gaussian blur S.D. in pixels (None: too few edges to read); edges: how many edges were read."""

    sigma: Optional[float]
    edges: int


def _gradient(x: Tensor) -> Tensor:
    """Central-difference gradient magnitude of Tensor[1, H, W] (0 on the outer rows and columns)."""
    gx, gy = torch.zeros_like(x), torch.zeros_like(x)
    gx[:, :, 1:-1] = (x[:, :, 2:] - x[:, :, :-2]) / 2
    gy[:, 1:-1] = (x[:, 2:] - x[:, :-2]) / 2
    return (gx * gx + gy * gy).sqrt()[0]


def _read_once(grey: Tensor, edges: Tensor, sharp: Tensor, reblur: float) -> float:
    again = _gradient(gaussian_filter(grey, reblur))[BORDER:-BORDER, BORDER:-BORDER]
    ratio = (sharp[edges] / again[edges].clamp_min(1e-6)).clamp_min(1.0 + 1e-4)
    return float((reblur / (ratio * ratio - 1).sqrt()).median())


def read_blur_sigma(image: Tensor, boxes: Sequence[Sequence[float]] = (),
                    exclude: Sequence[Sequence[float]] = ()) -> BlurReading:
    """The Gaussian blur sigma (pixels) of one image Tensor[C, H, W] (uint8, or float in [0, 1]), read over the
    whole image or inside ``boxes`` (x0, y0, x1, y1 in pixels; edges are taken 3 px or more inside a box, and the
    re-blur sees its surroundings), leaving out ``exclude`` (boxes of other distortions, whose noise or blocks
    make sharp edges of their own)."""
    if not isinstance(image, Tensor) or image.dim() != 3 or image.shape[0] not in (1, 3):
        shape = tuple(image.shape) if isinstance(image, Tensor) else type(image).__name__
        raise ImageError(f"read_blur_sigma needs an image Tensor[C, H, W] with 1 or 3 channels, got {shape}")
    _, h, w = image.shape
    if boxes:   # read the boxes' surroundings only (a large photo's blur finding: not its 12 megapixels)
        margin = BORDER + 3 * int(math.ceil(REBLUR_RANGE[1])) + BOX_INSET + 1
        cy0 = max(0, min(int(b[1]) for b in boxes) - margin)
        cx0 = max(0, min(int(b[0]) for b in boxes) - margin)
        cy1 = min(h, max(int(math.ceil(b[3])) for b in boxes) + margin)
        cx1 = min(w, max(int(math.ceil(b[2])) for b in boxes) + margin)
        image = image[:, cy0:cy1, cx0:cx1]
        boxes = [(b[0] - cx0, b[1] - cy0, b[2] - cx0, b[3] - cy0) for b in boxes]
        exclude = [(b[0] - cx0, b[1] - cy0, b[2] - cx0, b[3] - cy0) for b in exclude]
    x = image.float().cpu()
    if image.is_floating_point():
        x = x * 255.0
    grey = x.mean(0, keepdim=True)
    _, h, w = grey.shape
    if min(h, w) <= 2 * BORDER + 2:
        return BlurReading(None, 0)
    sharp = _gradient(grey)[BORDER:-BORDER, BORDER:-BORDER]
    inside = torch.zeros(h, w, dtype=torch.bool) if boxes else torch.ones(h, w, dtype=torch.bool)
    for x0, y0, x1, y1 in boxes:
        ya, yb = max(0, int(y0) + BOX_INSET), max(0, int(math.ceil(y1)) - BOX_INSET)
        xa, xb = max(0, int(x0) + BOX_INSET), max(0, int(math.ceil(x1)) - BOX_INSET)
        inside[ya:yb, xa:xb] = True
    for x0, y0, x1, y1 in exclude:      # with a margin: the other distortion's seam is sharp too
        ya, yb = max(0, int(y0) - BOX_INSET), max(0, int(math.ceil(y1)) + BOX_INSET)
        xa, xb = max(0, int(x0) - BOX_INSET), max(0, int(math.ceil(x1)) + BOX_INSET)
        inside[ya:yb, xa:xb] = False
    inside = inside[BORDER:-BORDER, BORDER:-BORDER]
    values = sharp[inside]
    if values.numel() < MIN_EDGES:
        return BlurReading(None, 0)
    threshold = max(float(torch.quantile(values, 1.0 - EDGE_SHARE)), MIN_GRADIENT)
    peaks = F.max_pool2d(sharp[None, None], 3, 1, 1)[0, 0]
    edges = inside & (sharp >= peaks) & (sharp >= threshold)
    count = int(edges.sum())
    if count < MIN_EDGES:
        return BlurReading(None, count)
    sigma = _read_once(grey, edges, sharp, FIRST_REBLUR)
    lo, hi = REBLUR_RANGE
    for _ in range(ITERATIONS - 1):
        sigma = _read_once(grey, edges, sharp, min(max(sigma, lo), hi))
    return BlurReading(GAIN * sigma, count)

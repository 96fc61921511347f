"""The strength f of Ahn's 1/f noise ("fnoise") read from a region's flattest patches, without a network.

fnoise adds pink noise of S.D. 0.0154 f on [0, 1] (3.9 f grey levels; Ahn's levels f = 2.5 / 5 / 10;
distortx.distortions.noise). Most of its power lies at coarse scales, where a photo's own content has its power
too, but a fixed share lies at the finest ones, where the flat-patch reader (:func:`read_flat_noise`: 8 x 8 patches
minus their plane, the flattest of them) sees it and a clean photo's flat parts show only their own grain. So
f = (that reading) / ``SIGMA_PER_F``, fitted on the val photos (``pixel_measurements.py --fit-fnoise``: Ahn's three
levels in whole 300-px crops and in 100-px regions: 2.438). Val: level 1 (f = 2.5) reads 2.3-3.9 (whole, 5-95 %)
and 2.4-5.1 (100 px), level 3 (f = 10) 8.7-10.4 / 5.8-11.8; the clean photos in six JPEG histories read f 0.6
(median; 95 %: up to 2.4) whole and 1.1 (up to 3.7) in a 100-px region: a photo's texture is read as fine noise
where no patch is flat (the reader's texture floor), and a camera's own noise is read as what it is.
"""
from __future__ import annotations

import statistics
from typing import Optional, Sequence

from torch import Tensor

from ..errors import ImageError
from .noise_flat import MIN_SIDE, read_flat_noise

#: flat-patch sigma (0..255) per unit of f (val photos, Ahn's levels 2.5 / 5 / 10)
SIGMA_PER_F = 2.44


def read_fnoise_strength(image: Tensor, boxes: Optional[Sequence[Sequence[float]]] = None) -> Optional[float]:
    """Ahn's f of the 1/f noise in ``boxes`` (x0, y0, x1, y1 pixels; None: the whole image) of ``image``
    Tensor[C, H, W] (uint8, or float in [0, 1]): the median over the boxes of at least ``MIN_SIDE`` px a side of their
    flat-patch sigma / SIGMA_PER_F; None when no box is that large."""
    if not isinstance(image, Tensor) or image.dim() != 3:
        raise ImageError("read_fnoise_strength needs an image Tensor[C, H, W]")
    _, h, w = image.shape
    readings = []
    for box in boxes if boxes is not None else [(0, 0, w, h)]:
        x0, y0 = max(0, int(round(box[0]))), max(0, int(round(box[1])))
        x1, y1 = min(w, int(round(box[2]))), min(h, int(round(box[3])))
        if min(x1 - x0, y1 - y0) >= MIN_SIDE:
            readings.append(read_flat_noise(image[:, y0:y1, x0:x1]).sigma / SIGMA_PER_F)
    return statistics.median(readings) if readings else None

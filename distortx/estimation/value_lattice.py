"""How many levels a region's 8-bit values were quantized to: the ``quantization`` distortion measured, not guessed.

Ahn's quantization maps every 8-bit value to the lower edge of one of ``L`` equal bins,
e_k = floor(k 256 / L), k = 0 .. L-1 (``distortx.distortions.tone``). Its pixels hold nothing but those edges,
and the values next to an edge, e_k - 1 and e_k + 1, are empty, where an ordinary photo's smooth histogram holds
about as many at a value as at its neighbours. So each edge's *excess*, h(e_k) - (h(e_k - 1) + h(e_k + 1)) / 2,
summed over the edges and divided by the number of values read, is the share of the values that were quantized
to L levels: ~0 for a clean region, 1 for a quantized one, and in between for a box that covers a quantized region
and some of its clean surroundings (what a detector's box does).

:func:`read_value_levels` computes that share for L = 2 .. ``MAX_LEVELS``, counted without the lattice's strongest
edge (a single spike, a region of one value or a border of one grey, is no lattice; a quantized region's values sit
on several edges), and reads the coarsest L whose share is within 10 % of the largest (a lattice of 2L bins holds
every edge of L bins, and so the same share), when that share is at least ``min_share``. Values 0 and 255 are left
out (a shadow or a highlight clipped to them is a spike on every lattice; so is the edge 0).

What it cannot see: a later lossy step (JPEG, noise, blur) spreads the values off the edges. With ``tolerance`` t
the edge is the window e_k +- t and its neighbours the windows of the same width beside it, which takes a few grey
levels of spread; a stronger one reads as no lattice (the detector does not box those either).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Optional, Sequence, Tuple

import torch
from torch import Tensor

from ..io import to_uint8_image

#: the finest quantization read (L bins per channel); finer lattices are too dense to tell from a smooth histogram
MAX_LEVELS = 32


@dataclass(frozen=True)
class LevelsReading:
    """``levels``: the coarsest L whose bin edges hold the quantized values (None: no lattice up to MAX_LEVELS);
    ``share``: the share of the values read that lie on that lattice (the largest over L when there is none);
    ``values``: how many values were read (0 and 255 left out)."""

    levels: Optional[int]
    share: float
    values: int


@lru_cache(maxsize=8)
def _edge_weights(tolerance: int) -> Tuple[Tensor, ...]:
    """Per L = 2 .. MAX_LEVELS: Tensor[L, 256] float64, +1 on the window e_k +- t of each edge and -1/2 on the two
    windows of the same width beside it, so that ``weights @ histogram`` is each edge's excess."""
    t = int(tolerance)
    v = torch.arange(256)
    out = []
    for levels in range(2, MAX_LEVELS + 1):
        edges = torch.div(torch.arange(levels) * 256, levels, rounding_mode="floor")[:, None]
        d = v[None, :] - edges
        w = (d.abs() <= t).double() - 0.5 * ((d.abs() > t) & (d.abs() <= 3 * t + 1)).double()
        w[0] = 0.0          # the edge 0: its value is left out
        out.append(w)
    return tuple(out)


def box_mask(boxes: Sequence[Sequence[float]], height: int, width: int, top: int = 0, left: int = 0) -> Tensor:
    """Tensor[height, width] bool: the union of ``boxes`` (x0, y0, x1, y1 photo pixels, each from floor(x0, y0) to
    ceil(x1, y1)) on the window of the photo whose corner is (top, left)."""
    mask = torch.zeros(height, width, dtype=torch.bool)
    for x0, y0, x1, y1 in boxes:
        mask[max(int(y0) - top, 0):max(math.ceil(y1) - top, 0), max(int(x0) - left, 0):max(math.ceil(x1) - left, 0)] = True
    return mask


def region_histogram(image: Tensor, boxes: Sequence[Sequence[float]] = ()) -> Tensor:
    """Histogram Tensor[256] (int64) of the 8-bit values of image Tensor[C, H, W] (uint8, or float in [0, 1]) inside
    the union of ``boxes`` (x0, y0, x1, y1 pixels; the whole image when there are none), all channels together."""
    x = to_uint8_image(image)
    values = x[:, box_mask(boxes, *x.shape[1:])] if boxes else x
    return torch.bincount(values.reshape(-1).long(), minlength=256)


def read_levels_from_histogram(hist: Tensor, tolerance: int = 0, min_share: float = 0.05) -> LevelsReading:
    """The reading of a value histogram Tensor[256] (module docstring)."""
    hist = hist.double().clone()
    hist[0] = hist[255] = 0
    total = float(hist.sum())
    if total == 0:
        return LevelsReading(None, 0.0, 0)
    excess = [w @ hist / total for w in _edge_weights(int(tolerance))]      # per L: Tensor[L], each edge's share
    share = torch.stack([e.sum() for e in excess])                          # Tensor[MAX_LEVELS - 1]
    beyond_spike = torch.stack([e.sum() - e.max() for e in excess])         # the same without the strongest edge
    best = float(beyond_spike.max())
    if best < min_share:
        return LevelsReading(None, float(share.max()), int(total))
    row = next(r for r in range(len(excess)) if float(beyond_spike[r]) >= 0.9 * best)
    return LevelsReading(row + 2, float(share[row]), int(total))


def read_value_levels(image: Tensor, boxes: Sequence[Sequence[float]] = (), tolerance: int = 0,
                      min_share: float = 0.05) -> LevelsReading:
    """The number of levels per channel that image Tensor[C, H, W] (uint8, or float in [0, 1]) was quantized to,
    inside the union of ``boxes`` (x0, y0, x1, y1) or over the whole image (module docstring)."""
    return read_levels_from_histogram(region_histogram(image, boxes), tolerance, min_share)

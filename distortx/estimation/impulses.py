"""How much of a region salt-and-pepper noise replaced: the ``salt_pepper`` distortion measured, not guessed.

Ahn's salt and pepper (``distortx.distortions.noise``) sets a random share ``amount`` of the channel values to 0 or
255, each value alone. Such a value stands out from its 8 neighbours in its channel, where a photo's values follow
their neighbours. :func:`read_impulse_amount` calls a value *eligible* when the median of its 8 neighbours (in its
channel) lies in [T, 255 - T]: replaced by 0 or 255 there, it would differ from that median by at least T. An
*impulse* is an eligible value at 0 or 255. The amount is impulses / eligible values: the share replaced, whatever
the photo's own dark and bright areas (a clipped shadow or highlight has dark or bright neighbours, so it is not
eligible), ~0 for a clean photo (a lone specular pixel at 255 is rare). The median of 8 barely moves when a few of
the neighbours are impulses too (Ahn's amounts are 1-5 %).

Strong Gaussian noise clipped at 0 and 255 also leaves eligible values there (Ahn's noise at level 1 reads
0.002-0.03, as much as level 1 of salt and pepper). What tells them apart is where they fall: salt and pepper
picks 0 or 255 whatever the photo is there, so the neighbours' median at its 255s and at its 0s is the same on
average, while noise reaches 255 where the photo is bright and 0 where it is dark. The reading's ``salt_bias`` is
that difference of means: -2 to 25 grey levels for salt and pepper over 24 val photos at Ahn's three amounts (-3 to
37 over the detector's and classifier's 253 right salt-and-pepper candidates on val,
``experiments/default_model/pixel_measurements.py``), 53 to 136 for Ahn's Gaussian noise at its three levels. The
neighbours' spread, the other difference, does not separate them on textured photos (salt and pepper up to 23 grey
levels, noise from 14).

What it cannot see: impulses that a later lossy step (JPEG, blur) spread off 0 and 255 read as none, and a box
larger than the region it covers reads the region's amount diluted by the clean values around it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from ..io import to_uint8_image
from .value_lattice import box_mask

#: how far (grey levels) the 8 neighbours' median must lie from 0 and 255 for a value there to be read
THRESHOLD = 48
#: fewer eligible values than this read no amount
MIN_VALUES = 500


@dataclass(frozen=True)
class ImpulseReading:
    """``amount``: the share of the eligible values that are impulses (None: fewer than MIN_VALUES eligible);
    ``impulses`` and ``eligible``: the counts behind it; ``salt_bias``: the mean of the neighbours' median at the
    impulses at 255 minus that at the impulses at 0, grey levels (None unless there are both), module docstring."""

    amount: Optional[float]
    impulses: int
    eligible: int
    salt_bias: Optional[float] = None


def _bounds(boxes: Sequence[Sequence[float]], H: int, W: int):
    y0 = max(min(int(b[1]) for b in boxes), 0)
    x0 = max(min(int(b[0]) for b in boxes), 0)
    y1 = min(max(math.ceil(b[3]) for b in boxes), H)
    x1 = min(max(math.ceil(b[2]) for b in boxes), W)
    return y0, x0, y1, x1


def read_impulse_amount(image: Tensor, boxes: Sequence[Sequence[float]] = (), threshold: int = THRESHOLD) -> ImpulseReading:
    """The salt-and-pepper amount of image Tensor[C, H, W] (uint8, or float in [0, 1]) inside the union of ``boxes``
    (x0, y0, x1, y1 pixels; the whole image when there are none), module docstring."""
    x = to_uint8_image(image)
    C, H, W = x.shape
    y0, x0, y1, x1 = _bounds(boxes, H, W) if boxes else (0, 0, H, W)
    if y1 <= y0 or x1 <= x0:
        return ImpulseReading(None, 0, 0)
    ya, xa = max(y0 - 1, 0), max(x0 - 1, 0)            # one pixel of context around the area read
    part = x[:, ya:min(y1 + 1, H), xa:min(x1 + 1, W)].float()
    padded = F.pad(part[None], (1, 1, 1, 1), mode="replicate")[0]
    h, w = part.shape[1:]
    neighbours = torch.stack([padded[:, 1 + dy:1 + dy + h, 1 + dx:1 + dx + w]
                              for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx])
    median = neighbours.median(dim=0).values                    # Tensor[C, h, w]: the lower of the two middle ones
    eligible = (median >= threshold) & (median <= 255 - threshold)
    impulse = eligible & ((part == 0) | (part == 255))
    inside = box_mask(boxes or [(0, 0, W, H)], h, w, ya, xa)
    n_eligible, n_impulses = int(eligible[:, inside].sum()), int(impulse[:, inside].sum())
    salt_bias = None
    salt, pepper = impulse & inside & (part == 255), impulse & inside & (part == 0)
    if bool(salt.any()) and bool(pepper.any()):
        salt_bias = float(median[salt].mean() - median[pepper].mean())
    if n_eligible < MIN_VALUES:
        return ImpulseReading(None, n_impulses, n_eligible, salt_bias)
    return ImpulseReading(n_impulses / n_eligible, n_impulses, n_eligible, salt_bias)

"""SSD default boxes ("priors"), as in Liu et al., *SSD: Single Shot MultiBox Detector* (ECCV 2016), sec. 2.2,
with the layout of the reference Caffe/PyTorch implementations (ssd.pytorch ``PriorBox``).

For feature map k of size f_k x f_k with stride ``steps[k]`` (pixels) on an ``image_size`` input, every cell
(i = row, j = column) gets, in this order, boxes centred at

    cx = (j + 0.5) / (image_size / steps[k]),   cy = (i + 0.5) / (image_size / steps[k])

with sizes (normalised by image_size, s_k = min_sizes[k] / image_size):

    (s_k, s_k),  (s'_k, s'_k) with s'_k = sqrt(s_k * max_sizes[k] / image_size),
    then for each aspect ratio a in aspect_ratios[k]:  (s_k sqrt(a), s_k / sqrt(a)), (s_k / sqrt(a), s_k sqrt(a)).

So a cell has 2 + 2 len(aspect_ratios[k]) boxes. Boxes are (cx, cy, w, h) in [0, 1] units; with ``clip`` every
coordinate is clamped to [0, 1] (the original SSD clamps the (cx, cy, w, h) values, not the corners).
Values are computed in float64 and rounded once to float32.

SSD300 (the paper's VGG16 configuration): maps 38, 19, 10, 5, 3, 1 with 4, 6, 6, 6, 4, 4 boxes per cell,
5776 + 2166 + 600 + 150 + 36 + 4 = 8732 priors.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

import torch
from torch import Tensor

from ..errors import ParameterError


@dataclass(frozen=True)
class PriorConfig:
    """Geometry of the default boxes: one entry per feature map (all tuples have the same length)."""

    image_size: int = 300
    feature_maps: Tuple[int, ...] = (38, 19, 10, 5, 3, 1)
    steps: Tuple[float, ...] = (8, 16, 32, 64, 100, 300)
    min_sizes: Tuple[float, ...] = (30, 60, 111, 162, 213, 264)
    max_sizes: Tuple[float, ...] = (60, 111, 162, 213, 264, 315)
    aspect_ratios: Tuple[Tuple[float, ...], ...] = ((2,), (2, 3), (2, 3), (2, 3), (2,), (2,))
    clip: bool = True

    def __post_init__(self) -> None:
        m = len(self.feature_maps)
        for name in ("steps", "min_sizes", "max_sizes", "aspect_ratios"):
            if len(getattr(self, name)) != m:
                raise ParameterError(f"PriorConfig.{name} needs {m} entries (one per feature map), got {len(getattr(self, name))}")
        if self.image_size <= 0 or any(f <= 0 for f in self.feature_maps) or any(s <= 0 for s in self.steps):
            raise ParameterError("PriorConfig: image_size, feature_maps and steps must be positive")
        if any(lo <= 0 or hi < lo for lo, hi in zip(self.min_sizes, self.max_sizes)):
            raise ParameterError("PriorConfig: need 0 < min_sizes[k] <= max_sizes[k]")
        if any(a <= 0 for ars in self.aspect_ratios for a in ars):
            raise ParameterError("PriorConfig: aspect ratios must be positive")

    def boxes_per_location(self) -> Tuple[int, ...]:
        """Default boxes per feature-map cell, per map (SSD300: 4, 6, 6, 6, 4, 4)."""
        return tuple(2 + 2 * len(a) for a in self.aspect_ratios)

    def boxes_per_map(self) -> Tuple[int, ...]:
        """Default boxes per feature map (SSD300: 5776, 2166, 600, 150, 36, 4)."""
        return tuple(f * f * n for f, n in zip(self.feature_maps, self.boxes_per_location()))

    def num_priors(self) -> int:
        return sum(self.boxes_per_map())


SSD300 = PriorConfig()

SSD512 = PriorConfig(
    image_size=512,
    feature_maps=(64, 32, 16, 8, 4, 2, 1),
    steps=(8, 16, 32, 64, 128, 256, 512),
    min_sizes=(35.84, 76.8, 153.6, 230.4, 307.2, 384.0, 460.8),
    max_sizes=(76.8, 153.6, 230.4, 307.2, 384.0, 460.8, 537.6),
    aspect_ratios=((2,), (2, 3), (2, 3), (2, 3), (2, 3), (2,), (2,)),
)


def ssd_config(
    image_size: int,
    feature_maps: Sequence[int],
    min_ratio: int = 20,
    max_ratio: int = 90,
    aspect_ratios: Optional[Sequence[Sequence[float]]] = None,
    steps: Optional[Sequence[float]] = None,
    clip: bool = True,
) -> PriorConfig:
    """A :class:`PriorConfig` for another input size / backbone, with the SSD scale rule.

    Sizes follow the reference implementation's rule (percent of the image): the first map gets
    (10 %, 20 %), the others min sizes ``min_ratio, min_ratio + d, ...`` and max sizes one step higher, with
    ``d = floor((max_ratio - min_ratio) / (m - 2))`` for m maps. ``steps`` default to ``image_size / f_k``
    (cell centres exactly on the map grid). Aspect ratios default to SSD300's pattern ([2] on the first
    and the last two maps, [2, 3] in between). ``ssd_config(300, (38, 19, 10, 5, 3, 1), steps=SSD300.steps)``
    equals :data:`SSD300`.
    """
    maps = tuple(int(f) for f in feature_maps)
    m = len(maps)
    if m < 2:
        raise ParameterError("ssd_config needs at least two feature maps")
    if m == 2:
        mins, maxs = [image_size * 0.1, image_size * min_ratio / 100], [image_size * 0.2, image_size * max_ratio / 100]
    else:
        d = (max_ratio - min_ratio) // (m - 2)
        ratios = [min_ratio + d * k for k in range(m - 1)]
        mins = [image_size * 10 / 100] + [image_size * r / 100 for r in ratios]
        maxs = [image_size * 20 / 100] + [image_size * (r + d) / 100 for r in ratios]
    if aspect_ratios is None:
        aspect_ratios = [(2,)] + [(2, 3)] * max(m - 3, 0) + [(2,)] * min(2, m - 1)
    if steps is None:
        steps = [image_size / f for f in maps]
    return PriorConfig(
        image_size=image_size,
        feature_maps=maps,
        steps=tuple(steps),
        min_sizes=tuple(mins),
        max_sizes=tuple(maxs),
        aspect_ratios=tuple(tuple(a) for a in aspect_ratios),
        clip=clip,
    )


def default_boxes(config: PriorConfig = SSD300, device=None, dtype: torch.dtype = torch.float32) -> Tensor:
    """Default boxes Tensor[P, 4] as (cx, cy, w, h) in [0, 1] units, in the order described in the module doc."""
    per_map = []
    for f, step, smin, smax, ars in zip(config.feature_maps, config.steps, config.min_sizes, config.max_sizes,
                                        config.aspect_ratios):
        fk = config.image_size / step
        s = smin / config.image_size
        s_prime = math.sqrt(s * (smax / config.image_size))
        sizes = [(s, s), (s_prime, s_prime)]
        for a in ars:
            r = math.sqrt(a)
            sizes += [(s * r, s / r), (s / r, s * r)]
        wh = torch.tensor(sizes, dtype=torch.float64)  # [A, 2]
        centres = (torch.arange(f, dtype=torch.float64) + 0.5) / fk
        cy, cx = torch.meshgrid(centres, centres, indexing="ij")  # row i -> cy, column j -> cx
        xy = torch.stack([cx, cy], -1).reshape(f * f, 1, 2).expand(f * f, len(sizes), 2)
        per_map.append(torch.cat([xy, wh.expand(f * f, -1, -1)], -1).reshape(-1, 4))
    out = torch.cat(per_map, 0)
    if config.clip:
        out = out.clamp(0.0, 1.0)
    return out.to(device=device, dtype=dtype)

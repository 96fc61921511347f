"""Regional application: each box of an image gets its own distortion; pixels outside every box are kept.

Semantics (shared by the reference path here and the fused native kernel): a region's distortion is
computed on the *clean* image as a whole (so a blur near a box edge sees real context, and JPEG blocks stay
aligned to the image grid) and only the pixels inside the box are copied to the output. Boxes may overlap:
a later region overwrites an earlier one where they overlap ("later boxes win"). Pixels outside all boxes
are bit-identical to the input.

Boxes are ``(x0, y0, x1, y1)`` in integer pixels, half-open: columns ``x0 <= x < x1``, rows ``y0 <= y < y1``,
clipped to the image; an empty box changes nothing.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import torch
from torch import Tensor

from ..errors import ParameterError
from .spec import Params


@dataclass(frozen=True)
class Region:
    """One distorted region: distortion ``name``, its parameter ``values`` (P,), ``seed`` and ``box``.

    box: (x0, y0, x1, y1) integer pixels, half-open; ``None`` means the whole image.
    """

    name: str
    values: tuple[float, ...]
    box: Optional[tuple[int, int, int, int]] = None
    seed: int = 0
    level: int = -1

    def params(self) -> Params:
        return Params(
            torch.tensor([list(self.values)], dtype=torch.float32),
            torch.tensor([self.seed], dtype=torch.long),
            torch.tensor([self.level], dtype=torch.long),
        )


def clip_box(box: Optional[Sequence[int]], height: int, width: int) -> tuple[int, int, int, int]:
    """Clip a half-open xyxy box to an image of ``height`` x ``width``; ``None`` = the whole image."""
    if box is None:
        return 0, 0, width, height
    if len(box) != 4:
        raise ParameterError(f"a box must be (x0, y0, x1, y1), got {tuple(box)}")
    x0, y0, x1, y1 = (int(round(float(v))) for v in box)
    x0, x1 = max(0, min(x0, width)), max(0, min(x1, width))
    y0, y1 = max(0, min(y0, height)), max(0, min(y1, height))
    return x0, y0, max(x0, x1), max(y0, y1)


def region_mask(boxes: Sequence[Optional[Sequence[int]]], height: int, width: int) -> Tensor:
    """Bool Tensor[H, W]: True inside at least one box."""
    mask = torch.zeros(height, width, dtype=torch.bool)
    for b in boxes:
        x0, y0, x1, y1 = clip_box(b, height, width)
        mask[y0:y1, x0:x1] = True
    return mask

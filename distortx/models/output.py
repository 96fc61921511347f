"""What an assembled model's forward returns."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

from torch import Tensor


@dataclass
class ModelOutput:
    """Outputs of :class:`~distortx.models.DistortxModel`; a field is None where the model has no such head.

    logits:     Tensor[N, K] classification scores over ``model.classes`` (K = 1 + distortion types).
    loc, conf:  raw SSD outputs Tensor[N, P, 4] (box regressions) and Tensor[N, P, C + 1] (class logits,
                background at column 0, columns follow ``model.det_classes``).
    priors:     default boxes Tensor[P, 4] (cx, cy, w, h in [0, 1]) of this input size.
    detections: eval mode only: N dicts ``boxes`` float Tensor[D, 4] xyxy pixels, ``scores`` Tensor[D],
                ``labels`` int64 Tensor[D] (1..C, indices into ``model.det_classes``); with an edge refiner in the
                head, the boxes are refined and ``border`` Tensor[D] says how sharp a border each side showed.
    params:     Tensor[N, P] of a regression head (distortion parameters).
    image_size: (H, W) of the input.
    images:     the input Tensor[N, 3, H, W] in [0, 1] (a reference, for losses that read pixels).
    """

    logits: Optional[Tensor] = None
    loc: Optional[Tensor] = None
    conf: Optional[Tensor] = None
    priors: Optional[Tensor] = None
    detections: Optional[List[Dict[str, Tensor]]] = None
    params: Optional[Tensor] = None
    image_size: Optional[Tuple[int, int]] = None
    images: Optional[Tensor] = None

"""``apply_regions``: the regional compositor for one image (each box its own distortion; pixels outside every
box kept bit-identical; semantics in :mod:`distortx.distortions.regions`)."""
from __future__ import annotations

from typing import Sequence

from ..distortions.edges import from_batch, to_batch
from ..distortions.regions import Region
from ..distortions.spec import check_images
from ..errors import ParameterError
from .fused import distort_batch


def apply_regions(image, regions: Sequence[Region], impl: str = "auto"):
    """Apply ``regions`` to one image; returns a new image of the type, layout and dtype given.

    image: Tensor[C, H, W] or Tensor[1, C, H, W] (float in [0, 1] or uint8), or a numpy array (H, W) /
    (H, W, C) (uint8 or float). ``impl``: "auto" (the fused native kernel when built; regions of types without
    one take the reference in the same call) | "native" | "python" (the references), as
    :func:`distortx.ops.distort_batch`, which this is for a batch of one. With a uint8 image the distortions
    are computed in float and the result rounded once.
    """
    img, fmt = to_batch(image, "image")
    check_images(img, "image")
    if img.shape[0] != 1:
        raise ParameterError(f"apply_regions takes one image, got a batch of {img.shape[0]}")
    return from_batch(distort_batch(img, [list(regions)], impl=impl), fmt)

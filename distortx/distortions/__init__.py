"""The distortion catalogue: typed specs, the counter RNG, region value types, built-in families (python references).

Applying regions (the compositor) is :func:`distortx.ops.apply_regions`; the one-call faces ``distort`` /
``corrupt`` are :mod:`distortx.functional`."""
from .regions import Region, clip_box, region_mask
from .spec import DistortionSpec, LevelSet, Parameter, Params, check_images

__all__ = [
    "DistortionSpec", "LevelSet", "Parameter", "Params", "Region", "check_images", "clip_box", "region_mask",
]

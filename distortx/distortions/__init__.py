"""The distortion catalogue: typed specs, the counter RNG, regional application, built-in families."""
from .regions import Region, apply_regions, clip_box, region_mask
from .spec import DistortionSpec, LevelSet, Parameter, Params, check_images

__all__ = [
    "DistortionSpec", "LevelSet", "Parameter", "Params", "Region",
    "apply_regions", "check_images", "clip_box", "region_mask",
]

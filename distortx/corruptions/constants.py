"""The ImageNet-C severity constants (Hendrycks & Dietterich 2019) as imagecorruptions 1.1.2 publishes them,
one row per severity 1..5. Each corruption's code says what its columns mean."""
from __future__ import annotations

from typing import Dict, List, Tuple

IMAGENET_C: Dict[str, List[Tuple[float, ...]]] = {
    # noise
    "gaussian_noise": [(0.08,), (0.12,), (0.18,), (0.26,), (0.38,)],          # sigma on 0..1
    "shot_noise": [(60,), (25,), (12,), (5,), (3,)],                           # photons at white
    "impulse_noise": [(0.03,), (0.06,), (0.09,), (0.17,), (0.27,)],           # fraction of values flipped
    "speckle_noise": [(0.15,), (0.2,), (0.35,), (0.45,), (0.6,)],             # sigma of the multiplicative noise
    # blur
    "gaussian_blur": [(1,), (2,), (3,), (4,), (6,)],                           # sigma, px
    "glass_blur": [(0.7, 1, 2), (0.9, 2, 1), (1, 2, 3), (1.1, 3, 2), (1.5, 4, 2)],  # sigma, max shift, iterations
    "defocus_blur": [(3, 0.1), (4, 0.5), (6, 0.5), (8, 0.5), (10, 0.5)],      # disk radius, anti-alias sigma
    "motion_blur": [(10, 3), (15, 5), (15, 8), (15, 12), (20, 15)],           # radius, sigma (angle ~ U[-45, 45])
    "zoom_blur": [(1.0, 1.11, 0.01), (1.0, 1.16, 0.01), (1.0, 1.21, 0.02), (1.0, 1.26, 0.02), (1.0, 1.31, 0.03)],
    # weather                                                                  # zoom factors = arange(start, stop, step)
    "snow": [(0.1, 0.3, 3, 0.5, 10, 4, 0.8), (0.2, 0.3, 2, 0.5, 12, 4, 0.7), (0.55, 0.3, 4, 0.9, 12, 8, 0.7),
             (0.55, 0.3, 4.5, 0.85, 12, 8, 0.65), (0.55, 0.3, 2.5, 0.85, 12, 12, 0.55)],
    # flake mean, SD, zoom, threshold, motion radius, motion sigma, image weight
    "frost": [(1, 0.4), (0.8, 0.6), (0.7, 0.7), (0.65, 0.7), (0.6, 0.75)],  # image weight, frost weight
    "fog": [(1.5, 2), (2.0, 2), (2.5, 1.7), (2.5, 1.5), (3.0, 1.4)],          # fog strength, plasma roughness decay
    "spatter": [(0.65, 0.3, 4, 0.69, 0.6, 0), (0.65, 0.3, 3, 0.68, 0.6, 0), (0.65, 0.3, 2, 0.68, 0.5, 0),
                (0.65, 0.3, 1, 0.65, 1.5, 1), (0.67, 0.4, 1, 0.65, 1.5, 1)],
    # liquid mean, SD, blur sigma, threshold, strength (water) / mask sigma (mud), 0 = water, 1 = mud
    # digital
    "brightness": [(0.1,), (0.2,), (0.3,), (0.4,), (0.5,)],                    # added to HSV value
    "contrast": [(0.4,), (0.3,), (0.2,), (0.1,), (0.05,)],                    # gain about the channel mean
    "saturate": [(0.3, 0), (0.1, 0), (2, 0), (5, 0.1), (20, 0.2)],            # HSV saturation gain, offset
    "jpeg_compression": [(25,), (18,), (15,), (10,), (7,)],                   # Pillow quality
    "pixelate": [(0.6,), (0.5,), (0.4,), (0.3,), (0.25,)],                    # box-downscale factor
    "elastic_transform": [(12.5,), (16.25,), (21.25,), (25.0,), (30.0,)],     # alpha = 250 x (.05 .065 .085 .1 .12)
}

#: imagecorruptions' order: the 15 benchmark corruptions, then the 4 validation ones
NAMES: Tuple[str, ...] = (
    "gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur", "motion_blur", "zoom_blur",
    "snow", "frost", "fog", "brightness", "contrast", "elastic_transform", "pixelate", "jpeg_compression",
    "speckle_noise", "gaussian_blur", "spatter", "saturate",
)

SUBSETS: Dict[str, Tuple[str, ...]] = {
    "common": NAMES[:15], "validation": NAMES[15:], "all": NAMES, "noise": NAMES[0:3], "blur": NAMES[3:7],
    "weather": NAMES[7:10], "digital": NAMES[10:15],
}

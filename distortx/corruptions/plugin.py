"""The ImageNet-C family in the catalogue, registered through the ``distortx_distortions`` hook like any plugin:
``imagenet_c_<name>`` for each of imagecorruptions' 19 names (namespaced, so ``gaussian_noise``, ``contrast`` ...
of Ahn's set keep their own meaning), one parameter ``severity`` 1..5, level set ``imagenet_c``."""
from __future__ import annotations

import functools

from ..distortions.spec import DistortionSpec, LevelSet, Parameter
from ..hookspecs import hookimpl
from . import blur, digital, noise, weather
from .benchmark import presets
from .constants import NAMES

PREFIX = "imagenet_c_"
SOURCE = "Hendrycks & Dietterich 2019 (ImageNet-C); constants of imagecorruptions 1.1.2"
#: corruptions whose output depends on the seed
STOCHASTIC = {"gaussian_noise", "shot_noise", "impulse_noise", "speckle_noise", "glass_blur", "motion_blur", "snow",
              "frost", "fog", "spatter", "elastic_transform"}
DESCRIPTIONS = {
    "gaussian_noise": "additive gaussian noise", "shot_noise": "Poisson photon noise",
    "impulse_noise": "salt and pepper per value", "speckle_noise": "multiplicative gaussian noise",
    "gaussian_blur": "gaussian blur", "glass_blur": "blur, local pixel shuffle, blur",
    "defocus_blur": "anti-aliased disk blur", "motion_blur": "one-sided line blur at a random angle",
    "zoom_blur": "mean of centre zooms", "snow": "motion-blurred snow flakes, brightened image",
    "frost": "frost texture blended in (drawn; photographs with DISTORTX_FROST_DIR)", "fog": "plasma-fractal fog",
    "spatter": "water drops (severity 1-3) or mud (4-5)", "brightness": "HSV value raised",
    "contrast": "contrast about the channel mean", "saturate": "HSV saturation scaled",
    "jpeg_compression": "Pillow JPEG at low quality", "pixelate": "box down, nearest up",
    "elastic_transform": "smooth random displacement field",
}
#: severities not ordered by damage between neighbours (LevelSet.graded=False): glass_blur, frost and saturate by
#: imagecorruptions' own mean PSNR (tests/data/imagenet_c_reference.json: e.g. saturate 17.4, 15.2, 19.9, 13.7,
#: 11.5 dB); fog and snow because one draw of their plasma / flakes can outweigh a step of severity (snow 2 and 3
#: differ by 0.35 dB on average, less than one draw's S.D.)
UNGRADED = {"glass_blur", "frost", "saturate", "fog", "snow"}
MODULES = {name: mod for mod in (noise, blur, weather, digital) for name in dir(mod)}


#: corruptions with a uint8 form (uint8 in, uint8 out, the same values as the float form truncated to 8 bits)
UINT8 = {"contrast": digital.contrast_u8, "impulse_noise": noise.impulse_noise_u8,
         "gaussian_noise": noise.gaussian_noise_u8, "speckle_noise": noise.speckle_noise_u8,
         "shot_noise": noise.shot_noise_u8,
         "jpeg_compression": digital.jpeg_compression_u8, "pixelate": digital.pixelate_u8, "snow": weather.snow_u8,
         "motion_blur": blur.motion_blur_u8, "frost": weather.frost_u8}


@functools.lru_cache(maxsize=None)
def spec_of(name: str) -> DistortionSpec:
    return DistortionSpec(
        name=PREFIX + name,
        parameters=(Parameter("severity", 1.0, 5.0, doc="ImageNet-C severity", integer=True),),
        reference=getattr(MODULES[name], name),
        reference_uint8=UINT8.get(name),
        levels=(LevelSet("imagenet_c", (1, 2, 3, 4, 5), source=SOURCE, graded=name not in UNGRADED),),
        default_levels="imagenet_c",
        description=f"ImageNet-C {name}: {DESCRIPTIONS[name]}",
        source=SOURCE,
        stochastic=name in STOCHASTIC,
    )


@hookimpl
def distortx_distortions():
    return [spec_of(name) for name in NAMES]


@hookimpl
def distortx_presets():
    return presets()

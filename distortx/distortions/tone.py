"""Tone family: uniform quantization (Ahn) and contrast reduction (Dodge).

Images are float N,C,H,W in [0, 1]; both distortions are deterministic (no seed).

* ``quantization`` (Ahn's "quantization noise"): a uniform quantizer with ``L`` grey levels per channel,
  out = round(x * (L - 1)) / (L - 1), rounding half to even (``torch.round``; ``rintf`` in the native
  kernel). The paper names the distortion but gives no values: the level set "ahn" = (16, 8, 4) is our
  choice (mild -> severe, "decreasing" severity). There is no exact identity; L = 256 is near-identity,
  |out - x| <= 1/510 (and exact on 8-bit images, x = k/255).
* ``contrast`` (Dodge & Karam, after Haeberli & Voorhies' "image processing by interpolation"): blend with
  a constant grey image, out = (1 - a) * x + a * g, where g is the image's mean luminance, a scalar per
  image used for every channel: mean over pixels of 0.299 R + 0.587 G + 0.114 B (the plain mean for one
  channel). a = 0 is the identity, a = 1 a flat grey image. Levels 0, 0.1, ..., 1.0 as in the paper.

Sources: Ahn, Kang, Sohn, *Image Distortion Detection using Convolutional Neural Network*; Dodge, Karam,
*Understanding How Image Quality Affects Deep Neural Networks*; Haeberli, Voorhies, *Image Processing by
Interpolation and Extrapolation* (IRIS Universe 28, 1994).
"""
from __future__ import annotations

import torch
from torch import Tensor

from .native_codes import NATIVE_CODES
from .spec import DistortionSpec, LevelSet, Parameter
from .papers import AHN, DODGE


#: ITU-R BT.601 luma weights used for the grey image of ``contrast``
LUMA = (0.299, 0.587, 0.114)


def quantization_ref(images: Tensor, values: Tensor, seed: Tensor) -> Tensor:
    """values[:, 0] = L grey levels per channel (integer, >= 2). (N,C,H,W) -> (N,C,H,W)."""
    steps = (values[:, 0].round() - 1.0).clamp_min(1.0).reshape(-1, 1, 1, 1)
    return torch.round(images * steps) / steps


def mean_luminance(images: Tensor) -> Tensor:
    """Per-image mean luminance (N,): BT.601 luma of RGB averaged over pixels, or the mean of 1 channel."""
    if images.shape[1] == 3:
        w = torch.tensor(LUMA, dtype=images.dtype, device=images.device).reshape(1, 3, 1, 1)
        lum = (images * w).sum(dim=1)
    else:
        lum = images[:, 0]
    return lum.mean(dim=(1, 2))


def contrast_ref(images: Tensor, values: Tensor, seed: Tensor) -> Tensor:
    """values[:, 0] = a, blend factor with the grey image (0 = unchanged, 1 = flat grey)."""
    a = values[:, 0].to(images.dtype).reshape(-1, 1, 1, 1)
    g = mean_luminance(images).reshape(-1, 1, 1, 1)
    return (1.0 - a) * images + a * g


SPECS = (
    DistortionSpec(
        name="quantization",
        parameters=(Parameter("levels", 2.0, 256.0, doc="grey levels per channel", integer=True),),
        reference=quantization_ref,
        levels=(LevelSet("ahn", (16.0, 8.0, 4.0), source="our choice (Ahn et al. give no values)"),),
        default_levels="ahn",
        description="uniform quantization to L grey levels per channel",
        source=AHN,
        severity="decreasing",
        identity=None,
        native_code=NATIVE_CODES["quantization"],
    ),
    DistortionSpec(
        name="contrast",
        parameters=(Parameter("amount", 0.0, 1.0, doc="blend factor with the mean-luminance grey image"),),
        reference=contrast_ref,
        levels=(LevelSet("dodge", tuple(round(0.1 * i, 1) for i in range(11)), source=DODGE),),
        default_levels="dodge",
        description="contrast reduction by blending with a grey image of the mean luminance",
        source=DODGE,
        identity=0.0,
        native_code=NATIVE_CODES["contrast"],
    ),
)

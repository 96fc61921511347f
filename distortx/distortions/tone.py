"""Tone family: uniform quantization (Ahn) and contrast reduction (Dodge).

Images are float N,C,H,W in [0, 1]; both distortions are deterministic (no seed).

* ``quantization`` (Ahn's "quantization noise"), as Ahn's generator computes it: the 8-bit value
  v = round(255 x) (round half to even, clamped to 0..255, as scikit-image's ``img_as_ubyte``) falls in one
  of ``L`` equal bins of 0..255 and becomes the bin's lower edge,
  out = floor(floor(v * L / 256) * 256 / L) / 255  (= ``T[np.digitize(v, T) - 1]`` with
  ``T = np.arange(0, 255, 256 / L)``, truncated to uint8). The lower edge, not the centre, because that is
  what the paper's data holds: distortx images then equal Ahn's bit for bit on 8-bit inputs, so a model
  trained on either recognises the other (the lower edge also darkens by half a bin on average, part of the
  distortion's look). L = 256 is the identity on 8-bit images (Ahn's code maps 255 to 254 there, a quirk we
  do not copy); a float image is rounded to 8 bits first (|out - x| <= 1/510 at L = 256). The paper names
  the distortion but gives no values: the level set "ahn" = (16, 8, 4) is our choice (mild -> severe,
  "decreasing" severity; Ahn's published generator draws L between 16 and 8).
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

from .spec import DistortionSpec, LevelSet, Parameter
from .papers import AHN, DODGE


#: ITU-R BT.601 luma weights used for the grey image of ``contrast``
LUMA = (0.299, 0.587, 0.114)


def quantization_ref(images: Tensor, values: Tensor, seed: Tensor) -> Tensor:
    """values[:, 0] = L bins per channel (integer, 2..256); each 8-bit value becomes its bin's lower edge.
    (N,C,H,W) -> (N,C,H,W), float32 arithmetic as the native kernel (exact: integers below 2^24)."""
    levels = values[:, 0].round().clamp(2.0, 256.0).reshape(-1, 1, 1, 1)
    v = torch.round(images * 255.0).clamp_(0.0, 255.0)
    q = torch.floor(v * levels / 256.0)
    return torch.floor(q * 256.0 / levels) / 255.0


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
        parameters=(Parameter("levels", 2.0, 256.0, doc="bins of 0..255 per channel (value -> bin's lower edge)", integer=True),),
        reference=quantization_ref,
        levels=(LevelSet("ahn", (16.0, 8.0, 4.0), source="our choice (Ahn et al. give no values)"),),
        default_levels="ahn",
        description="uniform quantization of 8-bit values to L bins per channel, each value mapped to its "
                    "bin's lower edge (Ahn's generator)",
        source=AHN,
        severity="decreasing",
        identity=None,
        native=True,
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
        native=True,
    ),
)

"""Noise of any spectrum (a camera's) read from the flattest patches of a photo, without a network.

The patch statistic of :mod:`distortx.estimation.noise_pca` and the CNN read *white* noise: they look at the finest
scale, where white noise has as much power as anywhere else. A camera's noise is not white: demosaicking, in-camera
denoising and chroma subsampling move its power to coarser scales, and both read it at a third to a half of its
RMS (docs/endo.md). This reading makes no assumption about the spectrum: it measures the variance itself where the
photo has no content.

Every 8 x 8 patch (stride 4) loses its best-fitting plane per channel (a smooth shading is content, not noise);
what is left, per value, is the patch's residual variance, averaged over the channels. Patches touching 0 or 255
(<= 2, >= 253: clipped noise) are left out. Noise adds its variance to every patch and content only adds, so
the flattest patches are noise alone: the ``QUANTILE`` (0.2 %) of the residual variances is read. A low quantile of
noisy variances lies below their mean, and the surface fit takes some of the noise with it, the more so the more
the noise is correlated between neighbouring pixels (fewer independent values per patch; one channel has fewer
than three). So the reading is multiplied by a gain that depends on that correlation, measured as the lag-1
correlation of the flattest 2 % of patches' residuals, and on the channel count (:data:`CORRELATION_GAIN`: fitted
on flat grey fields with camera noise of known RMS, white to correlated over ~3 px), and by
:data:`TEXTURE_FACTOR` (< 1: even the flattest patches of a photo hold some content), fitted on the val photos'
camera noise. Both by ``experiments/estimator_v2/flat_noise.py fit``.

What it cannot do: tell fine texture from noise where a photo has no flat part at all (a crop of foliage or
gravel); there it reads the texture's floor (the val photos as stored: a median of ~1.6 on 256-px crops, more on
smaller ones), so it is an upper bound on such photos. Colour noise whose channels are more alike than distortx's camera noise
draws them (correlation above 0.6) is read up to ~10 % low. It needs a side of ``MIN_SIDE`` (64) px; below ~128 px it
finds few flat patches and reads high.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import ImageError

#: patch side and stride
PATCH, STRIDE = 8, 4
#: the quantile of the patches' residual variances that is read as the noise's (the flattest 0.2 %)
QUANTILE = 0.002
#: the share of the flattest patches whose residuals' lag-1 correlation says how correlated the noise is
CORRELATION_SHARE = 0.02
#: per channel count (3: colour, 1: grey), (lag-1 correlation, gain) points, linear in between and constant past the
#: ends: sigma / sqrt(quantile) for noise alone (flat grey fields; colour noise with the channel correlation
#: distortx's camera noise draws, U[0, 0.6])
CORRELATION_GAIN = {
    3: ((-0.045, 1.186), (0.267, 1.321), (0.274, 1.321), (0.458, 1.512), (0.479, 1.512), (0.548, 1.718), (0.553, 1.765),
        (0.597, 1.951), (0.613, 2.053), (0.638, 2.615), (0.639, 2.683)),
    1: ((-0.045, 1.331), (0.219, 1.535), (0.222, 1.535), (0.399, 1.852), (0.421, 1.852), (0.491, 2.144), (0.494, 2.298),
        (0.534, 2.562), (0.552, 2.769), (0.565, 3.983), (0.568, 3.983)),
}
#: even the flattest patches of a photo hold some content: the gain times this (fitted on the val photos)
TEXTURE_FACTOR = 0.860
#: patches with a value at or below the first or at or above the second are left out (clipped noise)
CLIP_LOW, CLIP_HIGH = 2.0, 253.0
#: the smallest side read, and the centre window read of larger photos
MIN_SIDE, MAX_WINDOW = 64, 1024


@dataclass(frozen=True)
class FlatNoiseReading:
    """sigma: the noise S.D. on 0..255 (RMS over the channels); quantile_sigma: the square root of the flattest
    patches' residual variance (QUANTILE, averaged over the channels) before the gain; correlation: the lag-1
    correlation of the flattest patches' residuals (0: white noise); gain: sigma / quantile_sigma; patches: how
    many patches were read."""

    sigma: float
    quantile_sigma: float
    correlation: float
    gain: float
    patches: int


@lru_cache(maxsize=4)
def _plane_residual(side: int) -> Tensor:
    """Tensor[side^2, side^2]: the projection of a row-major patch onto what a fitted plane a + b y + c x leaves."""
    u = torch.arange(side, dtype=torch.float64) - (side - 1) / 2
    design = torch.stack([torch.ones(side * side, dtype=torch.float64), u.repeat_interleave(side), u.repeat(side)], 1)
    return (torch.eye(side * side, dtype=torch.float64) - design @ torch.linalg.pinv(design)).float()


def _piecewise(points: Tuple[Tuple[float, float], ...], x: float) -> float:
    if x <= points[0][0]:
        return points[0][1]
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        if x <= x1:
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return points[-1][1]


def correlation_gain(correlation: float, channels: int = 3) -> float:
    """The gain of :data:`CORRELATION_GAIN` at a lag-1 correlation, for an image of ``channels`` (1 or 3)."""
    return _piecewise(CORRELATION_GAIN[1 if channels == 1 else 3], correlation)


def flat_patch_statistics(x: Tensor) -> Tuple[float, float, int]:
    """(the QUANTILE of the patches' residual variances, averaged over the channels; the lag-1 correlation of the
    flattest patches' residuals; patches read) of float Tensor[C, H, W] on 0..255: the raw numbers behind
    :func:`read_flat_noise`."""
    c = x.shape[0]
    patches = F.unfold(x[:, None], PATCH, stride=STRIDE)  # [C, side^2, n]
    residual = torch.einsum("ij,cjn->cin", _plane_residual(PATCH), patches)
    variance = (residual.square().sum(1) / (PATCH * PATCH - 3)).mean(0)      # 3 degrees of freedom go to the plane
    unclipped = ((patches.amin(1) > CLIP_LOW) & (patches.amax(1) < CLIP_HIGH)).all(0)
    # a photo almost all clipped: read what there is
    usable = unclipped.nonzero().flatten() if int(unclipped.sum()) >= 10 else torch.arange(variance.numel())
    q = float(torch.quantile(variance[usable].double(), QUANTILE))
    flattest = usable[torch.argsort(variance[usable])[:max(5, int(CORRELATION_SHARE * usable.numel()))]]
    r = residual[:, :, flattest].reshape(c, PATCH, PATCH, -1)
    energy = float(r.square().sum())
    lag1 = float((r[:, :, 1:] * r[:, :, :-1]).sum() + (r[:, 1:] * r[:, :-1]).sum())
    correlation = 0.5 * lag1 / energy * PATCH / (PATCH - 1) if energy > 0 else 0.0
    return max(q, 0.0), correlation, int(usable.numel())


def read_flat_noise(image: Tensor) -> FlatNoiseReading:
    """The noise sigma (0..255, any spectrum) of one image Tensor[C, H, W] (uint8, or float in [0, 1]; C = 1 or 3;
    grey images given as three equal channels are read as one), from its centre window of at most 1024 px."""
    if not isinstance(image, Tensor) or image.dim() != 3 or image.shape[0] not in (1, 3):
        shape = tuple(image.shape) if isinstance(image, Tensor) else type(image).__name__
        raise ImageError(f"read_flat_noise needs an image Tensor[C, H, W] with 1 or 3 channels, got {shape}")
    _, h, w = image.shape
    if min(h, w) < MIN_SIDE:
        raise ImageError(f"read_flat_noise needs an image of at least {MIN_SIDE} px a side, got {h}x{w}")
    y0, x0 = max(0, (h - MAX_WINDOW) // 2), max(0, (w - MAX_WINDOW) // 2)
    x = image[:, y0:y0 + MAX_WINDOW, x0:x0 + MAX_WINDOW].float().cpu()
    if image.is_floating_point():
        x = x * 255.0
    if x.shape[0] == 3 and bool((x[0] == x[1]).all()) and bool((x[0] == x[2]).all()):
        x = x[:1]
    q, correlation, patches = flat_patch_statistics(x)
    gain = TEXTURE_FACTOR * correlation_gain(correlation, x.shape[0])
    return FlatNoiseReading(gain * math.sqrt(q), math.sqrt(q), correlation, gain, patches)

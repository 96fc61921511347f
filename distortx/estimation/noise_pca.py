"""White Gaussian noise sigma read from the pixels by patch statistics, without a network.

The noise of an image adds sigma^2 to every direction of its patch space; the photo's own content lives in a few
directions. So the smallest eigenvalues of the covariance of all r x r x C patches are noise alone, and the largest
tail of the sorted eigenvalues whose mean does not exceed its median is taken for sigma^2 (Chen, Zhu & Heng, "An
efficient statistical method for image noise level estimation", ICCV 2015). Two corrections make it hold on 8-bit
photos:

* **Clipping.** Noise pushed past 0 or 255 is cut, which shrinks its variance where the photo is dark or bright.
  Every pixel's noise-free level is the median of its 3 x 3 neighbourhood (clipping leaves a median where it
  was, and a median keeps edges), the variance a censored normal keeps at that level is computed
  (:func:`censored_normal`), patches that keep less than half are left out, and the eigenvalue is divided by the
  mean factor of the patches used. Iterated with sigma.
* **Texture.** On a textured crop content leaks into the smallest eigenvalues and the reading is too high. At low
  noise the patches are restricted to weak texture: those whose gradient energy is below what noise of the sigma
  read from all patches alone exceeds one time in a thousand (after Liu, Tanaka & Okutomi 2013). That selection
  reads a little low at strong noise, so it is used below sigma 5 and faded out by sigma 10.

Measured on 128-px crops of held-out photos (docs/endo.md, "Noise sigma: patch statistics and the CNN"): best
below sigma ~20; above, the CNN
estimator reads better, and ``distortx.estimate(..., method="auto")`` blends the two.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import ImageError

#: patch side r; the neighbourhood whose median is a pixel's noise-free level; the largest window read
PATCH, LEVEL_WINDOW, MAX_WINDOW = 6, 3, 256
#: patches keeping less than this share of the noise variance (clipping) are left out
MIN_KEPT_VARIANCE = 0.5
#: weak texture: gradient energy below its (1 - this) quantile under noise alone
TEXTURE_FALSE_ALARM = 1e-3
#: the weak-texture reading is used below the first sigma and faded out by the second
TEXTURE_RANGE = (5.0, 10.0)
#: the smallest image side read
MIN_SIDE = 3 * PATCH
#: the smallest side whose reading ``distortx.estimate`` blends in: with fewer patches the eigenvalue tail reads low
#: (embedded photos: -0.3 / -0.6 / -1.7 at sigma 5 / 20 / 45 on 64-px crops, -0.04 / -0.2 / -0.8 at 96 px)
BLEND_MIN_SIDE = 96


@dataclass(frozen=True)
class NoiseReading:
    """sigma: the noise S.D. on 0..255 (the blend of the two readings below); sigma_all: from all patches that
    clipping leaves usable; sigma_flat: from the weak-texture ones; patches: how many patches the reading used;
    kept_variance: the mean share of the noise variance that clipping left in them (1: no clipping)."""

    sigma: float
    sigma_all: float
    sigma_flat: float
    patches: int
    kept_variance: float


def _phi(z: Tensor) -> Tensor:
    return torch.exp(-0.5 * z * z) * (1.0 / math.sqrt(2.0 * math.pi))


def _cdf(z: Tensor) -> Tensor:
    return 0.5 * (1.0 + torch.erf(z * (1.0 / math.sqrt(2.0))))


def censored_normal(a: Tensor, b: Tensor) -> Tuple[Tensor, Tensor]:
    """Mean and variance of clip(z, -a, b) for z ~ N(0, 1), elementwise (a, b: distances to the two clip points
    in units of sigma)."""
    a, b = a.clamp(-10.0, 40.0), b.clamp(-10.0, 40.0)
    mean = _phi(a) - _phi(b) - a * _cdf(-a) + b * _cdf(-b)
    second = _cdf(b) - _cdf(-a) - b * _phi(b) - a * _phi(a) + a * a * _cdf(-a) + b * b * _cdf(-b)
    return mean, (second - mean * mean).clamp_min(1e-6)


def _noise_eigenvalue(patches: Tensor) -> float:
    """Chen et al.'s noise variance of patches Tensor[D, n]: the mean of the longest tail of the ascending-sorted
    covariance eigenvalues whose mean is not above its median."""
    p = patches - patches.mean(dim=1, keepdim=True)
    lam = torch.linalg.eigvalsh((p @ p.T).double() / p.shape[1]).flip(0)  # descending
    d = lam.numel()
    # tails lam[i:] for every i at once: their means, and their (lower) medians, as torch.median takes them
    count = torch.arange(d, 0, -1, dtype=torch.float64)
    means = lam.flip(0).cumsum(0).flip(0) / count
    medians = lam[torch.arange(d) + (d - torch.arange(d) - 1) // 2 + ((d - torch.arange(d) - 1) % 2)]
    ok = (means <= medians).nonzero()
    value = means[int(ok[0])] if ok.numel() else lam[-1]
    return max(float(value), 0.0)


def _chi2_quantile_over_dof(q_upper: float, dof: float) -> float:
    """The (1 - q_upper) quantile of chi^2(dof) / dof (Wilson-Hilferty)."""
    z = math.sqrt(2.0) * torch.special.erfinv(torch.tensor(1.0 - 2.0 * q_upper)).item()
    c = 2.0 / (9.0 * dof)
    return (1.0 - c + z * math.sqrt(c)) ** 3


def _levels(x: Tensor) -> Tensor:
    """Per pixel, its noise-free level: the median of its LEVEL_WINDOW^2 neighbourhood (edges reflected). Clipping
    leaves the median of clip(level + noise) at the level, and the median keeps edges where a mean would blur
    a dark side into a bright one."""
    r = LEVEL_WINDOW // 2
    padded = F.pad(x[None], (r, r, r, r), mode="reflect")
    return F.unfold(padded, LEVEL_WINDOW).view(x.shape[0], LEVEL_WINDOW ** 2, -1).median(dim=1).values.view(x.shape)


def _kept_variance(levels: Tensor, sigma: float) -> Tensor:
    """Per pixel, the share of sigma^2 that clipping to 0..255 leaves at its noise-free level."""
    return censored_normal(levels / sigma, (255.0 - levels) / sigma)[1]


def _gradient_energy(x: Tensor, r: int) -> Tensor:
    """Per r x r patch (row-major, as unfold): the sum of squared horizontal and vertical neighbour differences."""
    dh = (x[:, :-1, 1:] - x[:, :-1, :-1]).square()
    dv = (x[:, 1:, :-1] - x[:, :-1, :-1]).square()
    return F.avg_pool2d((dh + dv).sum(0)[None, None], r - 1, 1)[0, 0].flatten() * (r - 1) ** 2


def _read(x: Tensor, patches: Tensor, iterations: int = 3) -> Tuple[float, Tensor, Tensor]:
    """sigma from the patches that clipping leaves usable, iterated with the clipping factors; returns it, the
    patches used (Tensor[n] bool) and every patch's kept share of the variance (Tensor[n])."""
    eigenvalue = _noise_eigenvalue(patches)
    sigma = math.sqrt(eigenvalue)
    levels = _levels(x)
    keep = torch.ones(patches.shape[1], dtype=torch.bool)
    factor = torch.ones(patches.shape[1])
    for _ in range(iterations):
        if sigma < 0.5:
            break
        f = F.unfold(_kept_variance(levels, sigma)[None], PATCH)[0].mean(0)
        k = f >= MIN_KEPT_VARIANCE
        if int(k.sum()) < 100:
            break
        if not torch.equal(k, keep):   # the same patches have the same eigenvalue (most photos: all of them, always)
            eigenvalue = _noise_eigenvalue(patches if bool(k.all()) else patches[:, k])
        keep, factor = k, f
        sigma = math.sqrt(eigenvalue / float(factor[keep].mean()))
    return sigma, keep, factor


def _read_flat(x: Tensor, patches: Tensor, sigma: float, keep: Tensor, factor: Tensor) -> float:
    """sigma from the weak-texture patches among ``keep``: gradient energy below what noise of ``sigma`` (the
    reading of all patches, which texture can only raise) exceeds once in 1 / TEXTURE_FALSE_ALARM patches. One
    pass: a threshold that followed its own reading would spiral down on fine texture."""
    n_diff = 2 * x.shape[0] * (PATCH - 1) ** 2
    # neighbouring differences share pixels: about half as many degrees of freedom as differences
    limit = _chi2_quantile_over_dof(TEXTURE_FALSE_ALARM, n_diff / 2) * n_diff * 2.0
    weak = keep & (_gradient_energy(x, PATCH) <= limit * max(sigma, 0.5) ** 2 * factor)
    if int(weak.sum()) < 200:
        return sigma
    return math.sqrt(_noise_eigenvalue(patches[:, weak]) / float(factor[weak].mean()))


def read_noise_level(image: Tensor) -> NoiseReading:
    """The white Gaussian noise sigma (0..255) of one image Tensor[C, H, W] (uint8, or float in [0, 1]; C = 1 or 3;
    grey images given as three equal channels are read as one), from its centre window of at most 256 px."""
    if not isinstance(image, Tensor) or image.dim() != 3 or image.shape[0] not in (1, 3):
        shape = tuple(image.shape) if isinstance(image, Tensor) else type(image).__name__
        raise ImageError(f"read_noise_level needs an image Tensor[C, H, W] with 1 or 3 channels, got {shape}")
    _, h, w = image.shape
    if min(h, w) < MIN_SIDE:
        raise ImageError(f"read_noise_level needs an image of at least {MIN_SIDE} px a side, got {h}x{w}")
    y0, x0 = max(0, (h - MAX_WINDOW) // 2), max(0, (w - MAX_WINDOW) // 2)
    x = image[:, y0:y0 + MAX_WINDOW, x0:x0 + MAX_WINDOW].float().cpu()
    if image.is_floating_point():
        x = x * 255.0
    if x.shape[0] == 3 and bool((x[0] == x[1]).all()) and bool((x[0] == x[2]).all()):
        x = x[:1]
    patches = F.unfold(x[None], PATCH)[0]  # [C r r, n]
    sigma_all, keep, factor = _read(x, patches)
    sigma_flat = _read_flat(x, patches, sigma_all, keep, factor)
    used, kept = int(keep.sum()), float(factor[keep].mean())
    lo, hi = TEXTURE_RANGE
    w_flat = min(1.0, max(0.0, (hi - sigma_all) / (hi - lo)))
    sigma = w_flat * sigma_flat + (1.0 - w_flat) * sigma_all
    return NoiseReading(sigma, sigma_all, sigma_flat, used, kept)

"""Full-reference image quality of a distorted input against its clean original: SSIM and PSNR, batched.

Used by the robustness sweep for Hsieh et al.'s "accuracy vs SSIM of the input" analysis. Both functions
take float Tensor[N, C, H, W] in [0, 1] on any device and return one value per image, Tensor[N] (float32).

SSIM (Wang, Bovik, Sheikh, Simoncelli, *Image Quality Assessment: From Error Visibility to Structural
Similarity*, IEEE TIP 2004), with the paper's constants: a Gaussian window of sigma 1.5 truncated to 11x11
(radius 5, normalised), K1 = 0.01, K2 = 0.03, data range L = 1, population (not sample) covariances.
The SSIM map is computed only where the window lies inside the image ("valid" filtering) and averaged over
positions, then over channels. This is exactly what scikit-image's
``structural_similarity(a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1,
channel_axis=0)`` returns (it filters the whole image, then crops the 5-pixel border before averaging);
``tests/test_robustness_quality.py`` checks the two agree within 1e-3. Images smaller than 11 pixels
use the largest odd window that fits (scikit-image refuses them).

PSNR = 10 log10(1 / MSE) in dB over all pixels and channels, capped at ``PSNR_CAP`` (100 dB) so that an
identical pair (MSE = 0, e.g. the clean row or contrast level 0) stays a finite number in JSON.
"""
from __future__ import annotations

import torch
from torch import Tensor

from ...distortions.spec import check_images
from ...errors import ImageError

SSIM_SIGMA = 1.5
SSIM_RADIUS = 5  # window 11 x 11, as scikit-image's truncate=3.5 gives for sigma 1.5
SSIM_K1, SSIM_K2 = 0.01, 0.03
PSNR_CAP = 100.0


def _gaussian_taps(radius: int, sigma: float, device, dtype) -> Tensor:
    x = torch.arange(-radius, radius + 1, device=device, dtype=torch.float64)
    w = torch.exp(-(x * x) / (2.0 * sigma * sigma))
    return (w / w.sum()).to(dtype)


def _band(n: int, taps: Tensor) -> Tensor:
    """Tensor[n, n - k + 1]: column j holds ``taps`` at rows j..j+k-1 ('valid' correlation as a matmul)."""
    k = taps.numel()
    m = n - k + 1
    band = torch.zeros(n, m, device=taps.device, dtype=taps.dtype)
    rows = torch.arange(m, device=taps.device).view(1, m) + torch.arange(k, device=taps.device).view(k, 1)
    band[rows, torch.arange(m, device=taps.device).expand(k, m)] = taps.view(k, 1).expand(k, m)
    return band


def _valid_filter(x: Tensor, taps: Tensor) -> Tensor:
    """Separable 'valid' filtering of Tensor[M, H, W] -> Tensor[M, H-2r, W-2r]. Small images: two band
    matmuls (an order of magnitude faster than a 1-channel conv2d on the CPU); from 64 pixels on, k shifted
    multiply-adds per axis (the band matrix grows with the side, the taps do not)."""
    _, H, W = x.shape
    if max(H, W) <= 64:
        return _band(H, taps).t() @ (x @ _band(W, taps))
    k = taps.numel()
    t = taps.tolist()
    y = x[..., : W - k + 1] * t[0]
    for i in range(1, k):
        y.add_(x[..., i:i + W - k + 1], alpha=t[i])
    z = y[:, : H - k + 1] * t[0]
    for i in range(1, k):
        z.add_(y[:, i:i + H - k + 1], alpha=t[i])
    return z


def _check_pair(a: Tensor, b: Tensor) -> None:
    check_images(a, "reference images")
    check_images(b, "distorted images")
    if a.shape != b.shape:
        raise ImageError(f"reference and distorted images must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")


def ssim(reference: Tensor, distorted: Tensor) -> Tensor:
    """Mean SSIM per image: Tensor[N, C, H, W] x 2 (float in [0, 1]) -> Tensor[N] float32 (1 = identical)."""
    _check_pair(reference, distorted)
    N, C, H, W = reference.shape
    radius = min(SSIM_RADIUS, (min(H, W) - 1) // 2)
    dtype = torch.float64 if reference.dtype == torch.float64 else torch.float32
    x = reference.to(dtype).reshape(N * C, H, W)
    y = distorted.to(dtype).reshape(N * C, H, W)
    taps = _gaussian_taps(radius, SSIM_SIGMA, x.device, dtype)
    stacked = torch.cat([x, y, x * x, y * y, x * y])  # one filtering pass for the five moments
    mu_x, mu_y, xx, yy, xy = _valid_filter(stacked, taps).chunk(5)
    var_x = xx - mu_x * mu_x
    var_y = yy - mu_y * mu_y
    cov = xy - mu_x * mu_y
    c1, c2 = SSIM_K1 ** 2, SSIM_K2 ** 2
    smap = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x * mu_x + mu_y * mu_y + c1) * (var_x + var_y + c2))
    return smap.reshape(N, C, -1).mean(dim=2).mean(dim=1).float()


def psnr(reference: Tensor, distorted: Tensor) -> Tensor:
    """PSNR in dB per image (data range 1), capped at ``PSNR_CAP``: Tensor[N, C, H, W] x 2 -> Tensor[N]."""
    _check_pair(reference, distorted)
    mse = (reference.double() - distorted.double()).pow(2).flatten(1).mean(dim=1)
    floor = 10.0 ** (-PSNR_CAP / 10.0)
    return (10.0 * torch.log10(1.0 / mse.clamp_min(floor))).float()


__all__ = ["PSNR_CAP", "psnr", "ssim"]

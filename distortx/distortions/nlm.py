"""Non-local means denoising (Ahn's "denoising" distortion), with scikit-image's semantics.

Ahn et al. "implemented denoising with non-local means algorithm [Buades et al.] using factors
{0.04, 0.06, 0.08}, ... patch size and patch distance of 7 and 11" with scikit-image. This module reproduces
``skimage.restoration.denoise_nl_means(image, patch_size=7, patch_distance=11, h=h, fast_mode=True,
sigma=0.0, channel_axis=-1)`` (scikit-image 0.19..0.26, ``_fast_nl_means_denoising_2d``, the integral-image
algorithm of Darbon et al. / Froment) to ~1e-10 in float64, including its quirks:

Exact math (per image, C channels, float64, s = 7, d = 11, o = s // 2 = 3):

1. J = the image padded by numpy's ``reflect`` mode (mirror without repeating the edge sample:
   index -1 -> 1, n -> n - 2; periodic with period 2(n-1) for large pads; n = 1 -> always 0).
   This is skimage's border convention, not the project's usual "replicate".
2. For every pixel p = (y, x) and every offset t = (ty, tx) in [-d, d]^2 (all 529 of them, including 0):
   D(p, t) = sum over a, b in [-o+1, o] (a 6x6 window: skimage's integral-image box
             ``I[r+o, c+o] - I[r-o, c+o] - I[r+o, c-o] + I[r-o, c-o]`` covers rows r-o+1..r+o)
             of sum_c (J[c, y+a, x+b] - J[c, y+ty+a, x+tx+b])^2
   dist = max(D, 0) / (C * h^2 * s^2)             (normalised by s^2 = 49 although 36 terms are summed)
   w    = 0 if dist > 5 (skimage's DISTANCE_CUTOFF) else fast_exp(-dist)
3. out[c, p] = sum_t w(p, t) * J[c, p + t] / sum_t w(p, t)   (t = 0 always gives w = 1).

``fast_exp`` is skimage's Schraudolph approximation of exp (``skimage/_shared/fast_exp.h``; relative error
up to ~4 %, which is why a plain ``exp`` misses skimage by ~2e-3): with k = trunc(1512775.3951951856938 * y)
+ 1072632447 (a C ``int``), the result is the IEEE double whose high 32 bits are k and low 32 bits 0, i.e.
2^((k >> 20) - 1023) * (1 + (k & 0xFFFFF) / 2^20). See :func:`fast_exp`.

Parameter ``h`` (cut-off distance in [0, 1] intensity units, per sample). h = 0 is the identity: the output is
a copy of the input (skimage itself would produce NaN there). ``sigma`` = 0 always (Ahn's setting), so
skimage's noise-variance correction vanishes. Deterministic (no seed).

Cost: 529 offsets x (a difference, a box sum, an exp) per pixel. This reference loops over ty and handles
the 23 tx offsets at once (~0.4 s for a 96x96 RGB image, ~4 s for 256x256, one CPU core); the native kernel
(op code ``nlm_denoise``) ports the per-pixel formula above.

Sources: Ahn, Kang, Sohn, *Image Distortion Detection using CNN* (levels 0.04, 0.06, 0.08); Buades, Coll,
Morel, *A non-local algorithm for image denoising* (CVPR 2005); Darbon et al. 2008 and Froment 2014 (fast
algorithm); scikit-image ``restoration/_nl_means_denoising.pyx``.
"""
from __future__ import annotations

import torch
from torch import Tensor

from .spec import DistortionSpec, LevelSet, Parameter
from .papers import AHN


PATCH_SIZE = 7
PATCH_DISTANCE = 11
DISTANCE_CUTOFF = 5.0
FAST_EXP_A = 1512775.3951951856938  # 2^20 / ln 2
FAST_EXP_BC = 1072632447  # 1023 * 2^20 - 60801


def fast_exp(y: Tensor) -> Tensor:
    """skimage's ``fast_exp`` (Schraudolph 1999) of float64 ``y`` (use for -5 <= y <= 0): the double whose high
    word is k = trunc(A*y) + BC, i.e. 2^((k >> 20) - 1023) * (1 + (k & 0xFFFFF) / 2^20)."""
    k = torch.trunc(FAST_EXP_A * y).to(torch.int64) + FAST_EXP_BC
    mantissa = 1.0 + (k & 0xFFFFF).to(torch.float64) / float(1 << 20)
    return torch.ldexp(mantissa, ((k >> 20) - 1023).to(torch.float64))


def reflect_index(n: int, pad: int, device=None) -> Tensor:
    """Source indices of numpy's ``np.pad(mode="reflect")`` for an axis of length n padded by ``pad`` each side:
    Tensor[n + 2*pad] int64."""
    i = torch.arange(-pad, n + pad, device=device)
    if n == 1:
        return torch.zeros_like(i)
    period = 2 * (n - 1)
    i = torch.remainder(i, period)
    return torch.where(i >= n, period - i, i)


def nlm_fast(images: Tensor, h: Tensor, patch_size: int = PATCH_SIZE, patch_distance: int = PATCH_DISTANCE) -> Tensor:
    """skimage-compatible fast NL-means of ``images`` (N,C,H,W) with per-sample ``h`` (N,) > 0.
    Computed in float64; returns float64 (N,C,H,W)."""
    n, c, height, width = images.shape
    s, d = patch_size | 1, patch_distance
    o = s // 2
    pad = o + d
    x = images.to(torch.float64)
    ri = reflect_index(height, pad, images.device)
    ci = reflect_index(width, pad, images.device)
    j = x.index_select(2, ri).index_select(3, ci)  # (N, C, H + 2 pad, W + 2 pad); pixel (y, x) at (y + pad, x + pad)
    norm = (c * h.to(torch.float64) ** 2 * (s * s)).reshape(n, 1, 1)
    acc = torch.zeros_like(x)
    wsum = torch.zeros(n, 1, height, width, dtype=torch.float64, device=images.device)
    k = 2 * o  # box side (6 for s = 7): window rows y - o + 1 .. y + o
    hr, wr = height + k - 1, width + k - 1  # rows / columns of J covered by the windows of all pixels
    r0, c0 = pad - o + 1, pad - o + 1
    ref = j[:, :, r0:r0 + hr, c0:c0 + wr].unsqueeze(3)  # (N, C, hr, 1, wr)
    for ty in range(-d, d + 1):
        # all column offsets tx = -d..d at once: moved[:, :, :, tx + d] = J shifted by (ty, tx)
        moved = j[:, :, r0 + ty:r0 + ty + hr, c0 - d:c0 + d + wr].unfold(3, wr, 1)  # (N, C, hr, nt, wr)
        sq = (ref - moved).square_().sum(dim=1).transpose(1, 2)  # (N, nt, hr, wr)
        integral = torch.nn.functional.pad(sq.cumsum(2).cumsum(3), (1, 0, 1, 0))
        box = integral[..., k:, k:] - integral[..., :-k, k:] - integral[..., k:, :-k] + integral[..., :-k, :-k]
        dist = box.clamp_min(0.0) / norm.unsqueeze(1)  # (N, nt, H, W)
        w = torch.where(dist > DISTANCE_CUTOFF, torch.zeros_like(dist), fast_exp(-dist.clamp(max=DISTANCE_CUTOFF)))
        src = j[:, :, pad + ty:pad + ty + height, pad - d:pad + d + width].unfold(3, width, 1)  # (N, C, H, nt, W)
        acc += (w.transpose(1, 2).unsqueeze(1) * src).sum(dim=3)
        wsum += w.sum(dim=1, keepdim=True)
    return acc / wsum


def nlm_denoise_ref(images: Tensor, values: Tensor, seed: Tensor) -> Tensor:
    """values[:, 0] = h (per sample; h = 0 copies the image). (N,C,H,W) -> (N,C,H,W), same dtype/device."""
    h = values[:, 0].to(images.device)
    out = images.clone()
    active = (h > 0).nonzero().flatten()
    if active.numel() > 0:
        den = nlm_fast(images.index_select(0, active), h.index_select(0, active))
        out.index_copy_(0, active, den.to(images.dtype))
    return out


SPECS = (
    DistortionSpec(
        name="nlm_denoise",
        parameters=(Parameter("h", 0.0, 1.0, doc="NL-means cut-off distance (skimage's h, intensity units)"),),
        reference=nlm_denoise_ref,
        levels=(LevelSet("ahn", (0.04, 0.06, 0.08), source=AHN),),
        default_levels="ahn",
        description="non-local means denoising (skimage denoise_nl_means, patch 7, distance 11, fast mode)",
        source=AHN,
        identity=0.0,
        native=True,
    ),
)

"""ImageNet-C's noise corruptions: gaussian, shot (Poisson), impulse (salt and pepper per value), speckle.
images float Tensor[N, C, H, W] in [0, 1]; values[:, 0] = severity 1..5; seed int64 Tensor[N]."""
from __future__ import annotations

import math

import torch
from torch import Tensor

from .common import NOISE, SALT, FLIP, by_severity, per_sample
from .constants import IMAGENET_C


def _c(name: str, s: int) -> tuple:
    return IMAGENET_C[name][s - 1]


def gaussian_noise(images: Tensor, values: Tensor, seed: Tensor) -> Tensor:
    """x + N(0, c^2), clipped."""
    def one(x, s, idx):
        return (x + _c("gaussian_noise", s)[0] * per_sample(seed[idx], x.shape[1:], NOISE, "normal")).clamp(0, 1)
    return by_severity(values[:, 0], images, one)


def poisson(lam: Tensor, u: Tensor) -> Tensor:
    """Poisson draws of rate ``lam`` by inverting the CDF at the uniforms ``u`` (same shape; float64 inside)."""
    lam, u = lam.double(), u.double()
    top = float(lam.max()) if lam.numel() else 0.0
    k = torch.zeros_like(lam)
    p = torch.exp(-lam)
    cdf = p.clone()
    for j in range(1, int(top + 12 * math.sqrt(top + 1) + 12)):
        more = u > cdf
        if not bool(more.any()):
            break
        k += more.double()
        p = p * lam / j
        cdf = cdf + p
    return k


def shot_noise(images: Tensor, values: Tensor, seed: Tensor) -> Tensor:
    """Poisson(x c) / c: photon noise with c photons at white, clipped."""
    def one(x, s, idx):
        c = float(_c("shot_noise", s)[0])
        return (poisson(x * c, per_sample(seed[idx], x.shape[1:], NOISE)) / c).to(x.dtype).clamp(0, 1)
    return by_severity(values[:, 0], images, one)


def impulse_noise(images: Tensor, values: Tensor, seed: Tensor) -> Tensor:
    """scikit-image's salt & pepper: each value flipped with probability c, to 1 or 0 with equal odds."""
    def one(x, s, idx):
        flip = per_sample(seed[idx], x.shape[1:], FLIP) < _c("impulse_noise", s)[0]
        salt = per_sample(seed[idx], x.shape[1:], SALT) < 0.5
        return torch.where(flip, salt.to(x.dtype), x)
    return by_severity(values[:, 0], images, one)


def speckle_noise(images: Tensor, values: Tensor, seed: Tensor) -> Tensor:
    """x + x N(0, c^2), clipped."""
    def one(x, s, idx):
        return (x + x * _c("speckle_noise", s)[0] * per_sample(seed[idx], x.shape[1:], NOISE, "normal")).clamp(0, 1)
    return by_severity(values[:, 0], images, one)

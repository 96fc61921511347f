"""ImageNet-C's noise corruptions: gaussian, shot (Poisson), impulse (salt and pepper per value), speckle.
images float Tensor[N, C, H, W] in [0, 1]; values[:, 0] = severity 1..5; seed int64 Tensor[N]. Each also has a
uint8 form (``*_u8``: uint8 in, the float form's values truncated as corrupt() truncates them out), one C++ pass on
the CPU (csrc/corruptions/noise_u8_cpu.cpp, shot_u8_cpu.cpp)."""
from __future__ import annotations

import math

import torch
from torch import Tensor

from .common import NOISE, SALT, FLIP, by_severity, native_op, per_sample
from .constants import IMAGENET_C


def _c(name: str, s: int) -> tuple:
    return IMAGENET_C[name][s - 1]


#: the ``kind`` argument of torch.ops.distortx.noise_u8
_U8_GAUSSIAN, _U8_SPECKLE, _U8_IMPULSE = 0, 1, 2


def gaussian_noise(images: Tensor, values: Tensor, seed: Tensor) -> Tensor:
    """x + N(0, c^2), clipped."""
    def one(x, s, idx):
        return (x + _c("gaussian_noise", s)[0] * per_sample(seed[idx], x.shape[1:], NOISE, "normal")).clamp(0, 1)
    return by_severity(values[:, 0], images, one)


def poisson(lam: Tensor, u: Tensor, native: bool = True) -> Tensor:
    """Poisson draws of rate ``lam`` by inverting the CDF at the uniforms ``u`` (same shape; float64 inside).

    k = the number of CDF values P(K <= m), m = 0, 1, ..., below u (the sum truncated 12 S.D. above the largest
    rate). The CDF is tabulated once per distinct rate (an image has at most 256 for uint8 input) and each value
    looks its k up by binary search; more than ``_MAX_RATES`` distinct rates, or rates of at most ``_SMALL_RATE``
    (few terms), take the running sum. Both give the same draws. ``native``: the same two paths in C++ where the
    extension is built (csrc/corruptions/poisson_cpu.cpp: the same draws, ~4x faster on a 224-px image)."""
    lam, u = lam.double(), u.double()
    if lam.numel() == 0:
        return torch.zeros_like(lam)
    top = float(lam.max())
    terms = max(1, int(top + 12 * math.sqrt(top + 1) + 12) - 1)      # CDF values P(K <= 0 .. terms - 1)
    if native and lam.device.type == "cpu" and native_op("poisson_inverse"):  # the same draws in C++ (no sort, no long search)
        return torch.ops.distortx.poisson_inverse(lam, u.expand_as(lam), terms, _SMALL_RATE, _MAX_RATES)
    if top <= _SMALL_RATE:               # a few terms: the running sum over the image is cheaper than the table
        return _poisson_running_sum(lam, u, terms)
    rates, which = torch.unique(lam, return_inverse=True)
    if rates.numel() > _MAX_RATES:
        return _poisson_running_sum(lam, u, terms)
    p = torch.exp(-rates)
    cdf = torch.empty(rates.numel(), terms, dtype=torch.float64, device=lam.device)
    cdf[:, 0] = p
    for j in range(1, terms):
        p = p * rates / j
        cdf[:, j] = cdf[:, j - 1] + p
    # one sorted array: row r of the table shifted by 2 r (CDF values lie in (0, 1]), the uniforms by their row's shift
    shift = 2.0 * torch.arange(rates.numel(), device=lam.device, dtype=torch.float64)
    flat = (cdf + shift.unsqueeze(1)).reshape(-1)
    pos = torch.searchsorted(flat, (u.reshape(-1) + shift[which.reshape(-1)]))
    return (pos - which.reshape(-1) * terms).to(torch.float64).view(lam.shape)


_MAX_RATES = 4096
_SMALL_RATE = 8.0   # measured at 224 x 224, one thread: running sum 5.5 / 8.5 / 27 ms at rates <= 3 / 5 / 12, table ~20


def _poisson_running_sum(lam: Tensor, u: Tensor, terms: int) -> Tensor:
    k = torch.zeros_like(lam)
    p = torch.exp(-lam)
    cdf = p.clone()
    for j in range(1, terms + 1):
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


def shot_noise_u8(images: Tensor, values: Tensor, seed: Tensor) -> Tensor:
    """:func:`shot_noise` on uint8 Tensor[N, C, H, W] -> uint8 (the float form's values truncated as corrupt() does,
    equal byte for byte); on the CPU one C++ pass (csrc/corruptions/shot_u8_cpu.cpp: a uint8 batch has at most 256
    rates, so each count comes from a guide table over its rate's CDF instead of a binary search)."""
    if images.device.type == "cpu" and native_op("shot_u8"):
        return by_severity(values[:, 0], images, lambda x, s, idx: torch.ops.distortx.shot_u8(
            x, seed[idx], NOISE, float(_c("shot_noise", s)[0]), _SMALL_RATE, _MAX_RATES))
    y = shot_noise(images.float() / 255.0, values, seed)
    return torch.floor(y.clamp(0, 1) * 255.0 + 1e-3).to(torch.uint8)


def impulse_noise(images: Tensor, values: Tensor, seed: Tensor) -> Tensor:
    """scikit-image's salt & pepper: each value flipped with probability c, to 1 or 0 with equal odds."""
    def one(x, s, idx):
        flip = per_sample(seed[idx], x.shape[1:], FLIP) < _c("impulse_noise", s)[0]
        salt = per_sample(seed[idx], x.shape[1:], SALT) < 0.5
        return torch.where(flip, salt.to(x.dtype), x)
    return by_severity(values[:, 0], images, one)


def impulse_noise_u8(images: Tensor, values: Tensor, seed: Tensor) -> Tensor:
    """:func:`impulse_noise` on uint8 Tensor[N, C, H, W] -> uint8: the same flips to 0 or 255 (the float form's
    untouched values come back as they were after corrupt()'s truncation), with no float image; on the CPU one
    C++ pass (csrc/corruptions/noise_u8_cpu.cpp)."""
    if images.device.type == "cpu" and native_op("noise_u8"):
        return by_severity(values[:, 0], images, lambda x, s, idx: torch.ops.distortx.noise_u8(
            x, seed[idx], _U8_IMPULSE, float(_c("impulse_noise", s)[0]), [FLIP, SALT]))

    def one(x, s, idx):
        flip = per_sample(seed[idx], x.shape[1:], FLIP) < _c("impulse_noise", s)[0]
        salt = (per_sample(seed[idx], x.shape[1:], SALT) < 0.5).to(torch.uint8) * 255
        return torch.where(flip, salt, x)
    return by_severity(values[:, 0], images, one)


def speckle_noise(images: Tensor, values: Tensor, seed: Tensor) -> Tensor:
    """x + x N(0, c^2), clipped."""
    def one(x, s, idx):
        return (x + x * _c("speckle_noise", s)[0] * per_sample(seed[idx], x.shape[1:], NOISE, "normal")).clamp(0, 1)
    return by_severity(values[:, 0], images, one)


def gaussian_noise_u8(images: Tensor, values: Tensor, seed: Tensor) -> Tensor:
    """:func:`gaussian_noise` on uint8 Tensor[N, C, H, W] -> uint8 (the float form's values truncated as corrupt()
    does, equal byte for byte); on the CPU one C++ pass (csrc/corruptions/noise_u8_cpu.cpp) with no float image."""
    return _noise_u8(images, values, seed, "gaussian_noise", _U8_GAUSSIAN, gaussian_noise)


def speckle_noise_u8(images: Tensor, values: Tensor, seed: Tensor) -> Tensor:
    """:func:`speckle_noise` on uint8 Tensor[N, C, H, W] -> uint8, as :func:`gaussian_noise_u8`."""
    return _noise_u8(images, values, seed, "speckle_noise", _U8_SPECKLE, speckle_noise)


def _noise_u8(images: Tensor, values: Tensor, seed: Tensor, name: str, kind: int, float_form) -> Tensor:
    if images.device.type == "cpu" and native_op("noise_u8"):
        return by_severity(values[:, 0], images, lambda x, s, idx: torch.ops.distortx.noise_u8(
            x, seed[idx], kind, float(_c(name, s)[0]), [NOISE]))
    y = float_form(images.float() / 255.0, values, seed)
    return torch.floor(y.clamp(0, 1) * 255.0 + 1e-3).to(torch.uint8)

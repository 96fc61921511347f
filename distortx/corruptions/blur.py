"""ImageNet-C's blurs: gaussian, glass (blur, local pixel shuffling, blur), defocus (anti-aliased disk),
motion (one-sided gaussian line at a random angle), zoom (mean of centre zooms).
images float Tensor[N, C, H, W] in [0, 1]; values[:, 0] = severity 1..5; seed int64 Tensor[N]."""
from __future__ import annotations

import functools

import numpy as np
import torch
from torch import Tensor

from .common import (ANGLE, SHUFFLE, by_severity, clipped_zoom, conv_same, filter_axis, float_form_u8, gaussian_filter,
                     motion_kernel, native_op, per_sample, shift_taps, tap_shifts, zoom_axes)
from .constants import IMAGENET_C


def _c(name: str, s: int) -> tuple:
    return IMAGENET_C[name][s - 1]


def gaussian_blur(images: Tensor, values: Tensor, seed: Tensor) -> Tensor:
    """scikit-image's gaussian filter (scipy kernel, truncate 4, edges repeated) with sigma = c."""
    return by_severity(values[:, 0], images, lambda x, s, idx: gaussian_filter(x, _c("gaussian_blur", s)[0]))


def shuffle_permutation(h: int, w: int, delta: int, iterations: int, seed: int, native: bool = True) -> Tensor:
    """ImageNet-C's local shuffle as a map of the H*W pixel positions: rows h = H-delta..delta+1 and columns
    w = W-delta..delta+1 (both descending), each pixel given the value of the one at a random offset in
    [-delta, delta) in both axes, ``iterations`` times. ImageNet-C writes the "swap" as ``x[a], x[b] = x[b], x[a]``
    on numpy pixel views, which copies x[b] into x[a] and leaves x[b] as it was; this map does the same (pixels
    are duplicated, not permuted). int64 Tensor[H*W]: new[p] = old[source[p]]. ``native``: the loop in C++ where
    the extension is built (the same map; ~100 -> ~3 ms for a 224-px image, draws included), else this Python loop."""
    rows = range(h - delta, delta, -1)
    cols = range(w - delta, delta, -1)
    count = len(rows) * len(cols)
    perm = list(range(h * w))
    if count == 0:
        return torch.tensor(perm)
    u = per_sample(torch.tensor([seed]), (iterations, count, 2), SHUFFLE)[0]
    offsets = torch.floor(u * (2 * delta)).to(torch.int64) - delta
    if native and native_op("glass_shuffle_map"):  # the loop in C++
        return torch.ops.distortx.glass_shuffle_map(offsets, h, w, delta)
    offsets = offsets.numpy()
    for it in range(iterations):
        k = 0
        off = offsets[it]
        for r in rows:
            base = r * w
            for col in cols:
                dx, dy = int(off[k, 0]), int(off[k, 1])
                a, b = base + col, (r + dy) * w + col + dx
                perm[a] = perm[b]
                k += 1
    return torch.tensor(perm)


def glass_blur(images: Tensor, values: Tensor, seed: Tensor) -> Tensor:
    """blur (sigma) -> 8-bit -> local pixel shuffle (max shift, iterations) -> blur (sigma)."""
    def one(x, s, idx):
        sigma, delta, iterations = _c("glass_blur", s)
        n, c, h, w = x.shape
        y = torch.floor(gaussian_filter(x, sigma) * 255.0) / 255.0
        out = torch.empty_like(y)
        for i in range(n):
            perm = shuffle_permutation(h, w, int(delta), int(iterations), int(seed[idx[i]])).to(x.device)
            out[i] = y[i].reshape(c, h * w)[:, perm].view(c, h, w)
        return gaussian_filter(out, sigma).clamp(0, 1)
    return by_severity(values[:, 0], images, one)


def _opencv_gaussian_1d(ksize: int, sigma: float) -> Tensor:
    i = np.arange(ksize) - (ksize - 1) / 2
    k = np.exp(-(i ** 2) / (2 * sigma ** 2))
    return torch.tensor(k / k.sum(), dtype=torch.float64)


@functools.lru_cache(maxsize=64)
def disk_kernel(radius: float, alias_blur: float) -> Tensor:
    """ImageNet-C's anti-aliased disk: the pixels within ``radius`` (on a grid of at least -8..8), normalised,
    then OpenCV's GaussianBlur (3x3 up to radius 8, else 5x5; sigma ``alias_blur``, REFLECT_101)."""
    half = 8 if radius <= 8 else int(radius)
    r = torch.arange(-half, half + 1, dtype=torch.float64)
    disk = ((r.view(-1, 1) ** 2 + r.view(1, -1) ** 2) <= radius ** 2).double()
    disk /= disk.sum()
    g = _opencv_gaussian_1d(3 if radius <= 8 else 5, alias_blur)
    k = filter_axis(filter_axis(disk, g, -2, "mirror"), g, -1, "mirror")
    return k.float()


def defocus_blur(images: Tensor, values: Tensor, seed: Tensor) -> Tensor:
    """Every channel correlated with the anti-aliased disk (OpenCV filter2D, REFLECT_101 borders)."""
    def one(x, s, idx):
        radius, alias = _c("defocus_blur", s)
        return conv_same(x, disk_kernel(radius, alias).to(x.device)).clamp(0, 1)
    return by_severity(values[:, 0], images, one)


def motion_blur(images: Tensor, values: Tensor, seed: Tensor) -> Tensor:
    """One-sided gaussian line blur (radius, sigma) at an angle ~ U[-45, 45] degrees per sample."""
    def one(x, s, idx):
        radius, sigma = _c("motion_blur", s)
        angle = per_sample(seed[idx], (1,), ANGLE)[:, 0] * 90.0 - 45.0
        return shift_taps(x, motion_kernel(radius, sigma).to(x.device), angle).clamp_(0, 1)
    return by_severity(values[:, 0], images, one)


def motion_blur_u8(images: Tensor, values: Tensor, seed: Tensor) -> Tensor:
    """:func:`motion_blur` on uint8 Tensor[N, C, H, W] -> uint8 truncated as corrupt() truncates the float form (the
    same bytes): on the CPU one C++ pass (``shift_taps_u8``) reads each plane as v / 255, sums the taps and writes the
    rows truncated, with no float image."""
    n, c, h, w = images.shape
    if not (images.device.type == "cpu" and native_op("shift_taps_u8")):
        return float_form_u8(motion_blur, images, values, seed)

    def one(x, s, idx):
        radius, sigma = _c("motion_blur", s)
        kernel = motion_kernel(radius, sigma)
        angle = per_sample(seed[idx], (1,), ANGLE)[:, 0] * 90.0 - 45.0
        dy, dx, alive = tap_shifts(angle, kernel.numel(), h, w)
        return torch.ops.distortx.shift_taps_u8(x, kernel.view(-1), dy, dx, alive)
    return by_severity(values[:, 0], images, one)


def zoom_factors(start: float, stop: float, step: float) -> list:
    return [float(z) for z in np.arange(start, stop, step)]


def zoom_blur(images: Tensor, values: Tensor, seed: Tensor, native: bool = True) -> Tensor:
    """(x + sum of the centre zooms of x by each factor) / (count + 1). ``native``: the sum in C++ on float32 CPU
    images (csrc/corruptions/zoom_cpu.cpp; the same bits)."""
    def one(x, s, idx):
        factors = zoom_factors(*_c("zoom_blur", s))
        if native and x.dtype == torch.float32 and x.device.type == "cpu" and native_op("zoom_blur_sum"):
            axes = [zoom_axes(x.shape[2], x.shape[3], z) for z in factors]  # the same sum in C++, the same bits
            out = torch.ops.distortx.zoom_blur_sum(x, torch.stack([a for a, _ in axes]), torch.stack([b for _, b in axes]))
        else:
            out = x.clone()
            for z in factors:
                out += clipped_zoom(x, z)
        return (out / (len(factors) + 1)).clamp(0, 1)
    return by_severity(values[:, 0], images, one)

"""Shared pieces of the ImageNet-C family: per-sample random fields from the counter RNG, scipy-style gaussian
filtering and linear resampling, greyscale, and the grouping of a batch by severity.

Images are float Tensor[N, C, H, W] in [0, 1]; ``seed`` is int64 Tensor[N]. Every random field is a pure function
of (seed, stream, element index), so a sample is the same on every device, in any batch and any order."""
from __future__ import annotations

import functools

import math
from typing import Callable, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..distortions import rng

#: streams of the counter RNG, one per random field of a corruption
NOISE, SALT, FLIP, ANGLE, FIELD_X, FIELD_Y, FLAKES, SHUFFLE = range(1, 9)
#: first stream of the plasma fractal (3 per level of the diamond-square recursion)
PLASMA = 100


def per_sample(seed: Tensor, shape: Tuple[int, ...], stream: int, kind: str = "uniform") -> Tensor:
    """Tensor[N, *shape] of U(0, 1) (kind "uniform") or N(0, 1) ("normal") draws, one field per sample: element
    i of sample n is rng.uniform / rng.normal(seed[n], i, stream) (drawn by the native kernel on the CPU)."""
    numel = 1
    for d in shape:
        numel *= int(d)
    fill = rng.uniform_fields if kind == "uniform" else rng.normal_fields
    return fill(seed, numel, stream).reshape(-1, *shape)


def by_severity(severity: Tensor, images: Tensor, fn: Callable[[Tensor, int, Tensor], Tensor]) -> Tensor:
    """Apply ``fn(images[idx], s, idx)`` to each group of samples sharing the integer severity ``s``."""
    sev = severity.round().to(torch.int64)
    levels = [int(sev)] if sev.numel() == 1 else torch.unique(sev).tolist()
    if len(levels) == 1:                      # one severity (the usual call): no gather / scatter of the batch
        return fn(images, int(levels[0]), torch.arange(images.shape[0], device=images.device))
    out = torch.empty_like(images)
    for s in levels:
        idx = (sev == s).nonzero(as_tuple=True)[0]
        out[idx] = fn(images[idx], int(s), idx)
    return out


def float_form_u8(fn: Callable[[Tensor, Tensor, Tensor], Tensor], images: Tensor, values: Tensor, seed: Tensor) -> Tensor:
    """A corruption's float form on uint8 Tensor[N, C, H, W]: v / 255 in, the result truncated as corrupt() truncates
    it (floor(clamp(y, 0, 1) * 255 + 0.001)) -> uint8. The fallback of the uint8 forms where their C++ pass is not
    built or not on this device."""
    return torch.floor(fn(images.float() / 255.0, values, seed).clamp(0, 1) * 255.0 + 1e-3).to(torch.uint8)


def gaussian_kernel(sigma: float, truncate: float = 4.0, device=None) -> Tensor:
    """scipy.ndimage's gaussian: radius int(truncate * sigma + 0.5), weights exp(-x^2 / 2 sigma^2) / sum."""
    return _gaussian_kernel(float(sigma), float(truncate)).to(device)


@functools.lru_cache(maxsize=64)
def _gaussian_kernel(sigma: float, truncate: float) -> Tensor:
    r = int(truncate * float(sigma) + 0.5)
    x = torch.arange(-r, r + 1, dtype=torch.float64)
    w = torch.exp(-0.5 * (x / float(sigma)) ** 2)
    return (w / w.sum()).to(torch.float32)


def native_op(op: str) -> bool:
    """Whether the native core is built and has torch.ops.distortx.<op> (the C++ twins of loops in this family)."""
    return _native_op(op)


@functools.lru_cache(maxsize=None)
def _native_op(op: str) -> bool:   # the extension is loaded once per process: its ops do not change
    from .._ext import native_available

    return native_available() and hasattr(torch.ops.distortx, op)


def border_index(idx: Tensor, size: int, mode: str) -> Tensor:
    """Indices outside [0, size) mapped as scipy.ndimage's modes: "nearest" (clamp), "reflect" (d c b a | a b c
    d, the edge repeated) or "mirror" (d c b | a b c d, OpenCV's REFLECT_101)."""
    if mode == "nearest" or size == 1:
        return idx.clamp(0, size - 1)
    period = 2 * size if mode == "reflect" else 2 * size - 2
    i = torch.remainder(idx, period)
    if mode == "reflect":
        return torch.where(i < size, i, period - 1 - i)
    return torch.where(i < size, i, period - i)


_MODES = {"nearest": 0, "reflect": 1, "mirror": 2}


def filter_axis(x: Tensor, weights: Tensor, dim: int, mode: str, native: bool = True) -> Tensor:
    """Correlate ``x`` with the 1-D ``weights`` (odd length, centred) along ``dim`` with the given border mode.
    ``native``: float32 / float64 CPU tensors go through the same loop in C++ (csrc/corruptions/filter_cpu.cpp: the
    same bits, one pass instead of a multiply and an add per tap)."""
    if native and x.dtype in (torch.float32, torch.float64) and x.device.type == "cpu" and native_op("filter_axis"):
        return torch.ops.distortx.filter_axis(x, weights, dim, _MODES[mode])
    r = (weights.numel() - 1) // 2
    size = x.shape[dim]
    idx = border_index(torch.arange(-r, size + r, device=x.device), size, mode)
    xp = x.index_select(dim, idx)
    out = torch.zeros_like(x)
    for k in range(weights.numel()):
        out += weights[k] * xp.narrow(dim, k, size)
    return out


def gaussian_filter(x: Tensor, sigma, mode: str = "nearest", truncate: float = 4.0) -> Tensor:
    """scipy.ndimage.gaussian_filter over the last two dims (what skimage.filters.gaussian does per channel).
    ``sigma``: a number or (sigma_y, sigma_x)."""
    sy, sx = (sigma, sigma) if not isinstance(sigma, (tuple, list)) else sigma
    x = filter_axis(x, gaussian_kernel(sy, truncate, x.device), -2, mode)
    return filter_axis(x, gaussian_kernel(sx, truncate, x.device), -1, mode)


def linear_sample(x: Tensor, ys: Tensor, xs: Tensor, mode: str = "reflect", native: bool = True) -> Tensor:
    """Bilinear sampling as scipy.ndimage.map_coordinates(order=1): x Tensor[N, C, H, W], ys / xs Tensor[N, H', W']
    (pixel coordinates) -> Tensor[N, C, H', W']; outside neighbours are mapped by ``mode`` (border_index).
    ``native``: float32 CPU tensors through the same operations in C++ (csrc/corruptions/sample_cpu.cpp)."""
    if (native and x.dtype == ys.dtype == xs.dtype == torch.float32 and x.device.type == "cpu"
            and native_op("linear_sample")):
        return torch.ops.distortx.linear_sample(x, ys, xs, _MODES[mode])
    n, c, h, w = x.shape
    y0, x0 = torch.floor(ys), torch.floor(xs)
    fy, fx = (ys - y0).unsqueeze(1), (xs - x0).unsqueeze(1)
    y0, x0 = y0.to(torch.int64), x0.to(torch.int64)
    flat = x.reshape(n, c, h * w)

    def tap(yi: Tensor, xi: Tensor) -> Tensor:
        index = (border_index(yi, h, mode) * w + border_index(xi, w, mode)).view(n, 1, -1).expand(n, c, -1)
        return flat.gather(2, index).view(n, c, *ys.shape[1:])

    top = tap(y0, x0) * (1 - fx) + tap(y0, x0 + 1) * fx
    bottom = tap(y0 + 1, x0) * (1 - fx) + tap(y0 + 1, x0 + 1) * fx
    return top * (1 - fy) + bottom * fy


def zoom_axes(h: int, w: int, factor: float, device=None) -> tuple:
    """The source coordinates of :func:`clipped_zoom`'s output rows and columns: float32 Tensor[H], Tensor[W]."""
    axes = []
    for size in (h, w):
        crop = int(math.ceil(size / factor))
        top = (size - crop) // 2
        out = int(round(crop * factor))
        trim = (out - size) // 2
        o = torch.arange(trim, trim + size, dtype=torch.float64, device=device)
        scale = (crop - 1) / (out - 1) if out > 1 else 0.0
        axes.append((o * scale + top).clamp(max=top + crop - 1).to(torch.float32))
    return axes[0], axes[1]


def clipped_zoom(x: Tensor, factor: float, native: bool = True) -> Tensor:
    """The centre 1/factor of each image magnified back to full size with scipy.ndimage.zoom(order=1)'s grid
    (corner-aligned), trimmed to H x W as ImageNet-C's clipped_zoom does. ``native``: float32 CPU images through
    csrc/corruptions/zoom_cpu.cpp (the same bits; each source row interpolated once instead of four gathers)."""
    n, c, h, w = x.shape
    axes = zoom_axes(h, w, factor, x.device)
    if native and x.dtype == torch.float32 and x.device.type == "cpu" and native_op("zoom_sample"):
        return torch.ops.distortx.zoom_sample(x, axes[0][None], axes[1][None])
    ys = axes[0].view(1, -1, 1).expand(n, h, w)
    xs = axes[1].view(1, 1, -1).expand(n, h, w)
    return linear_sample(x, ys, xs, mode="nearest")


def to_gray(x: Tensor) -> Tensor:
    """Tensor[N, 1, H, W]: OpenCV's RGB2GRAY (0.299 R + 0.587 G + 0.114 B); a grey image is itself."""
    if x.shape[1] == 1:
        return x
    return 0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]


def conv_same(x: Tensor, kernel: Tensor, mode: str = "mirror", native: bool = True) -> Tensor:
    """Correlate every channel of x Tensor[N, C, H, W] with kernel Tensor[k, k] (odd k; OpenCV's filter2D, border
    ``mode`` as :func:`border_index`): out = 0, then out += w * the padded image shifted by the tap, for every non-zero
    tap in row-major order (a fused multiply-add each, as torch's ``add_(other, alpha)`` is). ``native``: the same
    in C++ on the CPU (csrc/corruptions/correlate_cpu.cpp), bit for bit. On a GPU: one convolution of the padded
    image (the same sum up to float rounding)."""
    if native and x.device.type == "cpu" and x.dtype == torch.float32 and native_op("correlate2d"):
        return torch.ops.distortx.correlate2d(x, kernel.float(), _MODES[mode])
    n, c, h, w = x.shape
    k = kernel.shape[-1]
    r = (k - 1) // 2
    rows = border_index(torch.arange(-r, h + r, device=x.device), h, mode)
    cols = border_index(torch.arange(-r, w + r, device=x.device), w, mode)
    xp = x.index_select(2, rows).index_select(3, cols)
    if x.device.type != "cpu":   # one cuDNN convolution instead of a launch per tap (GPU floats differ in the last bits anyway)
        return F.conv2d(xp.reshape(n * c, 1, h + 2 * r, w + 2 * r), kernel.to(x).view(1, 1, k, k)).view(n, c, h, w)
    out = torch.zeros_like(x)
    for t, weight in enumerate(kernel.float().flatten().tolist()):
        if weight != 0.0:
            out.add_(xp[:, :, t // k: t // k + h, t % k: t % k + w], alpha=weight)
    return out


def tap_shifts(angle_deg: Tensor, k: int, h: int, w: int) -> Tuple[Tensor, Tensor, Tensor]:
    """The shifts of :func:`shift_taps`' k taps along each angle: dy, dx int64 Tensor[K, N] (tap i moved i pixels
    along the angle, rounded half down) and alive bool Tensor[K, N] (the tap and every one before it stay within
    the H x W image). In numpy: small arrays, where torch spends ~10 ops' overhead."""
    a = np.deg2rad(angle_deg.detach().to("cpu", torch.float64).numpy())
    i = np.arange(k, dtype=np.float64)[:, None]
    dy = -np.ceil(i * np.sin(a)[None, :] - 0.5).astype(np.int64)
    dx = -np.ceil(i * np.cos(a)[None, :] - 0.5).astype(np.int64)
    alive = np.logical_and.accumulate((np.abs(dy) < h) & (np.abs(dx) < w), axis=0)
    return torch.from_numpy(dy), torch.from_numpy(dx), torch.from_numpy(alive)


def shift_taps(x: Tensor, kernel: Tensor, angle_deg: Tensor, native: bool = True) -> Tensor:
    """ImageNet-C's motion blur: sum_i kernel[i] * x shifted by i pixels along ``angle_deg`` (per sample), edges
    repeated; taps stop where the shift leaves the image. x Tensor[N, C, H, W], angle Tensor[N].

    The image is padded once by repeating its edges (``kernel.numel()`` px a side), so every shifted copy is a
    slice of it. ``native``: float32 CPU images through the same fused multiply-adds in C++ (motion_cpu.cpp)."""
    n, c, h, w = x.shape
    k = kernel.numel()
    dy, dx, alive = tap_shifts(angle_deg, k, h, w)
    if native and x.dtype == torch.float32 and x.device.type == "cpu" and native_op("shift_taps"):
        return torch.ops.distortx.shift_taps(x, kernel.detach().to("cpu", torch.float32).view(-1), dy, dx, alive)
    weights = kernel.detach().to("cpu", torch.float64).view(-1).tolist()
    padded = F.pad(x, (k, k, k, k), mode="replicate")
    out = torch.zeros_like(x)
    for j in range(n):
        for t in range(k):
            if not bool(alive[t, j]):
                break
            y0, x0 = k - int(dy[t, j]), k - int(dx[t, j])
            out[j].add_(padded[j, :, y0:y0 + h, x0:x0 + w], alpha=weights[t])
    return out


@functools.lru_cache(maxsize=64)
def motion_kernel(radius: int, sigma: float) -> Tensor:
    """ImageNet-C's one-sided gaussian line kernel: width 2 radius + 1, w_i ~ exp(-i^2 / 2 sigma^2), sum 1."""
    i = torch.arange(2 * int(radius) + 1, dtype=torch.float64)
    k = torch.exp(-(i ** 2) / (2 * sigma ** 2))
    return (k / k.sum()).to(torch.float32)

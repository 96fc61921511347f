"""ImageNet-C's digital corruptions: brightness and saturation in HSV, contrast about the channel mean, JPEG
(Pillow's codec, bit for bit), pixelate (Pillow's BOX down, NEAREST up, bit for bit), elastic transform. Contrast,
JPEG and pixelate also have uint8 forms (``*_u8``: uint8 in, uint8 out, no float step), which ``corrupt`` takes for
uint8 input.
images float Tensor[N, C, H, W] in [0, 1]; values[:, 0] = severity 1..5; seed int64 Tensor[N]."""
from __future__ import annotations

import functools

import torch
from torch import Tensor

from .common import FIELD_X, FIELD_Y, by_severity, gaussian_filter, linear_sample, native_op, per_sample, to_gray
from .constants import IMAGENET_C


def _c(name: str, s: int) -> tuple:
    return IMAGENET_C[name][s - 1]


def _rgb(x: Tensor) -> Tensor:
    return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x


def _back(y: Tensor, channels: int) -> Tensor:
    return y[:, :1] if channels == 1 else y


def brightness(images: Tensor, values: Tensor, seed: Tensor) -> Tensor:
    """HSV value + c (clipped), hue and saturation kept: RGB scaled by V' / V (black becomes grey V')."""
    def one(x, s, idx):
        if x.shape[1] == 1:
            return (x + _c("brightness", s)[0]).clamp(0, 1)
        v = x.amax(dim=1, keepdim=True)
        v2 = (v + _c("brightness", s)[0]).clamp(0, 1)
        return torch.where(v > 0, x * v2 / v.clamp_min(1e-12), v2.expand_as(x)).clamp(0, 1)
    return by_severity(values[:, 0], images, one)


def saturate(images: Tensor, values: Tensor, seed: Tensor) -> Tensor:
    """HSV saturation * gain + offset (clipped), hue and value kept. A grey pixel has hue 0 (red), as in
    scikit-image's rgb2hsv."""
    def one(x, s, idx):
        gain, offset = _c("saturate", s)
        y = _rgb(x)
        v = y.amax(dim=1, keepdim=True)
        lo = y.amin(dim=1, keepdim=True)
        sat = torch.where(v > 0, (v - lo) / v.clamp_min(1e-12), torch.zeros_like(v))
        sat2 = (sat * gain + offset).clamp(0, 1)
        coloured = v - (v - y) * sat2 / sat.clamp_min(1e-12)
        red = torch.cat([v, v * (1 - sat2), v * (1 - sat2)], dim=1)
        return _back(torch.where(sat > 0, coloured, red).clamp(0, 1), x.shape[1])
    return by_severity(values[:, 0], images, one)


def contrast(images: Tensor, values: Tensor, seed: Tensor) -> Tensor:
    """(x - channel mean) * c + channel mean."""
    def one(x, s, idx):
        mean = x.mean(dim=(2, 3), keepdim=True)
        return ((x - mean) * _c("contrast", s)[0] + mean).clamp(0, 1)
    return by_severity(values[:, 0], images, one)


def contrast_u8(images: Tensor, values: Tensor, seed: Tensor, native: bool = True) -> Tensor:
    """:func:`contrast` on uint8 Tensor[N, C, H, W] -> uint8, as ``corrupt`` returns it (truncated): each channel's
    mean from its exact integer sum (the float form's float32 mean can differ from it by an ulp, so a value in a
    million may differ by one level), then a 256-entry table per image and channel built with the float form's
    float32 expression, looked up. ``native``: the same in C++ on the CPU (csrc/corruptions/contrast_cpu.cpp)."""
    def one(x, s, idx):
        gain = _c("contrast", s)[0]
        if native and x.device.type == "cpu" and native_op("contrast_u8"):
            return torch.ops.distortx.contrast_u8(x, torch.full((x.shape[0],), gain))
        n, c, h, w = x.shape
        mean = (x.sum(dim=(2, 3), dtype=torch.int64).double() / (h * w) / 255.0).float()[..., None]   # [n, c, 1]
        v = torch.arange(256, dtype=torch.float32, device=x.device) / 255.0
        table = ((v - mean) * gain + mean).clamp(0, 1)                      # contrast() (corrupt clamps again: a no-op)
        table = torch.floor(table * 255.0 + 1e-3).to(torch.uint8)            # [n, c, 256]
        return torch.gather(table, 2, x.reshape(n, c, h * w).long()).reshape(n, c, h, w)
    return by_severity(values[:, 0], images, one)


def jpeg_compression(images: Tensor, values: Tensor, seed: Tensor) -> Tensor:
    """Pillow's JPEG at quality c (4:2:0): distortx's `jpeg` op, bit-exact with Pillow on every path."""
    from ..registry import get_distortion
    from ..distortions.spec import Params

    def one(x, s, idx):
        n = x.shape[0]
        q = torch.full((n, 1), float(_c("jpeg_compression", s)[0]))
        params = Params(q, torch.zeros(n, dtype=torch.int64), torch.zeros(n, dtype=torch.int64))
        u8 = torch.round(_rgb(x) * 255.0)
        if x.device.type == "cpu":  # the real codec on uint8 (libjpeg-turbo, Pillow's bits), no float round trip
            y = get_distortion("jpeg").apply(u8.to(torch.uint8), params).to(x.dtype) / 255.0
        else:
            y = get_distortion("jpeg").apply(u8 / 255.0, params)
        return to_gray(y) if x.shape[1] == 1 else y
    return by_severity(values[:, 0], images, one)


def jpeg_compression_u8(images: Tensor, values: Tensor, seed: Tensor) -> Tensor:
    """:func:`jpeg_compression` on uint8 Tensor[N, 3, H, W] -> uint8, the codec's own bytes with no float step (a
    grey batch goes through the float form: its JPEG is of the image repeated to RGB, then made grey)."""
    from ..distortions.jpeg import jpeg_turbo_u8
    from ..io import to_uint8_image

    if images.shape[1] != 3:
        return to_uint8_image(jpeg_compression(images.float() / 255.0, values, seed))
    q = torch.tensor([[float(_c("jpeg_compression", int(s))[0])] for s in values[:, 0].round().tolist()])
    return jpeg_turbo_u8(images, q).to(images.device)


PRECISION_BITS = 22  # Pillow's fixed point for 8-bit resampling: 32 - 8 - 2


@functools.lru_cache(maxsize=64)
def box_taps(size_in: int, size_out: int) -> tuple[Tensor, Tensor, Tensor]:
    """Pillow's 8-bit BOX resampling from size_in to size_out samples along an axis: per output sample the run of
    inputs it averages, [lo, hi), and their common integer weight, int64 Tensor[out] each. Output i averages the
    inputs whose centres lie in the box ((i + 0.5) s -+ s / 2, s = in / out, the upper edge included), each weighted
    round(2^22 / n) as Pillow fixes 1 / n (precompute_coeffs + normalize_coeffs_8bpc)."""
    scale = size_in / size_out
    filterscale = max(scale, 1.0)
    support = 0.5 * filterscale
    lo, hi, w = [], [], []
    for i in range(size_out):
        center = (i + 0.5) * scale
        first = max(int(center - support + 0.5), 0)
        last = min(int(center + support + 0.5), size_in)
        inside = [j for j in range(first, last) if -0.5 < (j - center + 0.5) / filterscale <= 0.5]
        lo.append(inside[0]), hi.append(inside[-1] + 1), w.append(int(0.5 + (1.0 / len(inside)) * (1 << PRECISION_BITS)))
    return torch.tensor(lo), torch.tensor(hi), torch.tensor(w)


def _box_pass(x: Tensor, size_out: int, dim: int) -> Tensor:
    """x int64 Tensor[N, C, H, W] resampled along dim (2 or 3) to size_out with Pillow's rounding and clipping to 8
    bits: a run's sum from prefix sums (every input of a run has the same weight, so w * sum is Pillow's sum of
    w * x, exactly)."""
    lo, hi, w = (t.to(x.device) for t in box_taps(x.shape[dim], size_out))
    pad = [0, 0] * (3 - dim) + [1, 0]
    prefix = torch.nn.functional.pad(x.cumsum(dim), pad)                 # prefix[k] = sum of the first k inputs
    runs = prefix.index_select(dim, hi) - prefix.index_select(dim, lo)
    shape = [1, 1, 1, 1]
    shape[dim] = size_out
    return ((runs * w.view(shape) + (1 << (PRECISION_BITS - 1))) >> PRECISION_BITS).clamp_(0, 255)


@functools.lru_cache(maxsize=64)
def nearest_sources(size_in: int, size_out: int) -> Tensor:
    """Pillow's NEAREST upscaling along an axis: output k reads int(a / 2 + k a), a = in / out, the position summed
    one step at a time in double as Pillow's scaling loop does (a plain (k + 0.5) a differs where it lands on an
    integer: 4 -> 7 samples, k = 3). int64 Tensor[out]."""
    a, pos, src = size_in / size_out, 0.5 * (size_in / size_out), []
    for _ in range(size_out):
        src.append(min(int(pos), size_in - 1))
        pos += a
    return torch.tensor(src, dtype=torch.int64)


def pixelate_u8(images: Tensor, values: Tensor, seed: Tensor, native: bool = True) -> Tensor:
    """:func:`pixelate` on uint8 Tensor[N, C, H, W] -> uint8: Pillow's BOX resize to int(W c) x int(H c) in its
    8-bit fixed point (along rows first, then columns), then NEAREST back to W x H, in integer torch ops. Equal to
    Pillow 13 on every image up to twice as tall as wide (it resamples taller ones columns first: a few values
    then differ by 1). ``native``: the same integer loops in C++ on the CPU (csrc/corruptions/pixelate_cpu.cpp)."""
    def one(x, s, idx):
        n, c, h, w = x.shape
        f = _c("pixelate", s)[0]
        h2, w2 = max(1, int(h * f)), max(1, int(w * f))
        if native and x.device.type == "cpu" and native_op("pixelate_u8"):  # the same loops in C++
            return torch.ops.distortx.pixelate_u8(x, *box_taps(w, w2), *box_taps(h, h2), nearest_sources(h2, h),
                                                  nearest_sources(w2, w))
        y = _box_pass(_box_pass(x.to(torch.int64), w2, 3), h2, 2).to(torch.uint8)
        return y.index_select(2, nearest_sources(h2, h).to(x.device)).index_select(3, nearest_sources(w2, w).to(x.device))
    return by_severity(values[:, 0], images, one)


def pixelate(images: Tensor, values: Tensor, seed: Tensor) -> Tensor:
    """Pillow's BOX resize to int(W c) x int(H c) (8-bit after each pass), then NEAREST back to W x H: the images
    rounded to 8 bits and :func:`pixelate_u8`."""
    return pixelate_u8(torch.round(images * 255.0).to(torch.uint8), values, seed).to(images.dtype) / 255.0


def elastic_transform(images: Tensor, values: Tensor, seed: Tensor) -> Tensor:
    """Pixels moved by a smooth random field: U(-H/200, H/200) per pixel, gaussian-smoothed (sigma = 1 % of the
    side, truncate 3, reflected edges), times alpha; resampled bilinearly with reflected edges."""
    def one(x, s, idx):
        n, c, h, w = x.shape
        alpha = _c("elastic_transform", s)[0]
        limit = h * 0.005
        fields = []
        for stream in (FIELD_X, FIELD_Y):   # in place: the same operations, no fresh pages per step
            u = per_sample(seed[idx], (h, w), stream).double().mul_(2).sub_(1).mul_(limit)
            fields.append(gaussian_filter(u, (h * 0.01, w * 0.01), mode="reflect", truncate=3.0).mul_(alpha))
        dx, dy = fields
        ys = dy.add_(torch.arange(h, device=x.device, dtype=torch.float64).view(1, h, 1)).float()
        xs = dx.add_(torch.arange(w, device=x.device, dtype=torch.float64).view(1, 1, w)).float()
        return linear_sample(x, ys, xs, mode="reflect").clamp_(0, 1)
    return by_severity(values[:, 0], images, one)

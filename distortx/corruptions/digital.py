"""ImageNet-C's digital corruptions: brightness and saturation in HSV, contrast about the channel mean, JPEG
(Pillow's codec, bit for bit), pixelate (Pillow's BOX down, NEAREST up), elastic transform.
images float Tensor[N, C, H, W] in [0, 1]; values[:, 0] = severity 1..5; seed int64 Tensor[N]."""
from __future__ import annotations

import functools

import torch
from torch import Tensor

from .common import FIELD_X, FIELD_Y, by_severity, gaussian_filter, linear_sample, per_sample, to_gray
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


@functools.lru_cache(maxsize=64)
def box_weights(size_in: int, size_out: int) -> Tensor:
    """Pillow's BOX resampling as a matrix Tensor[out, in]: output pixel i averages the input pixels whose centres
    fall in [i, i + 1) * in / out (at least one)."""
    scale = size_in / size_out
    support = 0.5 * max(scale, 1.0)
    w = torch.zeros(size_out, size_in, dtype=torch.float64)
    for i in range(size_out):
        center = (i + 0.5) * scale
        lo = max(int(center - support + 0.5), 0)
        hi = min(int(center + support + 0.5), size_in)
        for j in range(lo, hi):
            t = (j - center + 0.5) / max(scale, 1.0)
            if -0.5 <= t < 0.5:
                w[i, j] = 1.0
        w[i] /= w[i].sum()
    return w.float()


def pixelate(images: Tensor, values: Tensor, seed: Tensor) -> Tensor:
    """Pillow's BOX resize to int(W c) x int(H c) (8-bit after each pass), then NEAREST back to W x H."""
    def one(x, s, idx):
        n, c, h, w = x.shape
        f = _c("pixelate", s)[0]
        h2, w2 = max(1, int(h * f)), max(1, int(w * f))
        y = torch.round(torch.einsum("nchw,vw->nchv", x * 255.0, box_weights(w, w2).to(x.device)))
        y = torch.round(torch.einsum("nchv,uh->ncuv", y, box_weights(h, h2).to(x.device))) / 255.0
        rows = torch.floor((torch.arange(h, device=x.device) + 0.5) * (h2 / h)).long().clamp(max=h2 - 1)
        cols = torch.floor((torch.arange(w, device=x.device) + 0.5) * (w2 / w)).long().clamp(max=w2 - 1)
        return y[:, :, rows][:, :, :, cols]
    return by_severity(values[:, 0], images, one)


def elastic_transform(images: Tensor, values: Tensor, seed: Tensor) -> Tensor:
    """Pixels moved by a smooth random field: U(-H/200, H/200) per pixel, gaussian-smoothed (sigma = 1 % of the
    side, truncate 3, reflected edges), times alpha; resampled bilinearly with reflected edges."""
    def one(x, s, idx):
        n, c, h, w = x.shape
        alpha = _c("elastic_transform", s)[0]
        limit = h * 0.005
        fields = []
        for stream in (FIELD_X, FIELD_Y):
            u = (per_sample(seed[idx], (h, w), stream).double() * 2 - 1) * limit
            fields.append(gaussian_filter(u, (h * 0.01, w * 0.01), mode="reflect", truncate=3.0) * alpha)
        dx, dy = fields
        ys = torch.arange(h, device=x.device, dtype=torch.float64).view(1, h, 1) + dy
        xs = torch.arange(w, device=x.device, dtype=torch.float64).view(1, 1, w) + dx
        return linear_sample(x, ys.float(), xs.float(), mode="reflect").clamp(0, 1)
    return by_severity(values[:, 0], images, one)

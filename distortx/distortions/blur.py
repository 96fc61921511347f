"""Blur family: Gaussian blur (Ahn, Hsieh, Dodge), motion blur (Hsieh), low-pass resampling (Ahn).

All filters use the replicate border (coordinates clamped to the image) and pixel-centre coordinates
(pixel i has centre i). The native kernels implement these formulas per pixel, in float32.

* ``gaussian_blur``: separable Gaussian with radius r = max(1, ceil(2 sigma)) ("window 4 sigma", Dodge & Karam),
  weights exp(-k^2 / (2 sigma^2)), k = -r..r, normalised to sum 1; horizontal pass, then vertical pass.
* ``motion_blur``: mean of n bilinear samples along a centred line of length L at angle a (JH Labs
  MotionBlurFilter-like line kernel, Hsieh et al.).
* ``lowpass``: Ahn's "low-pass noise": area-average down to h x w = floor(s*H + 0.5) x floor(s*W + 0.5)
  (at least 1), bilinear (half-pixel centres) back up.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from .native_codes import NATIVE_CODES
from .spec import DistortionSpec, LevelSet, Parameter
from .warp import bilinear, pixel_grid
from .papers import AHN, DODGE, HSIEH

#: sigma below this is the identity
SIGMA_EPS = 1e-6


def _by_value(images: Tensor, column: Tensor, fn) -> Tensor:
    """Apply ``fn(images_subset, value: float)`` to each group of samples sharing one value of ``column``."""
    out = torch.empty_like(images)
    for val in torch.unique(column).tolist():
        idx = (column == val).nonzero().view(-1)
        out[idx] = fn(images[idx], float(val))
    return out


# -- gaussian blur ------------------------------------------------------------------------------------------
def gaussian_radius(sigma: float) -> int:
    """r = max(1, ceil(2 * sigma)) (sigma the float32 parameter value, 2*sigma evaluated exactly)."""
    return max(1, math.ceil(2.0 * sigma))


def gaussian_kernel1d(sigma: float, device=None) -> Tensor:
    """Normalised float32 weights Tensor[2r+1]: w_k = exp(-k^2 / (2 sigma^2)) / sum_j exp(-j^2 / (2 sigma^2)),
    k = -r..r (computed in float64, then rounded to float32)."""
    r = gaussian_radius(sigma)
    k = torch.arange(-r, r + 1, dtype=torch.float64)
    w = torch.exp(-(k * k) / (2.0 * sigma * sigma))
    return (w / w.sum()).to(device=device, dtype=torch.float32)


def _conv_replicate(x: Tensor, w: Tensor, dim: int) -> Tensor:
    """out[..., i, ...] = sum_{k=-r..r} w[k+r] * x[..., clamp(i + k, 0, L-1), ...] along ``dim`` (-1 or -2),
    accumulated in float32 in the order k = -r..r (no conv2d: cuDNN could use TF32 on GPUs)."""
    r = (w.numel() - 1) // 2
    L = x.shape[dim]
    idx = torch.arange(-r, L + r, device=x.device).clamp_(0, L - 1)
    xp = x.index_select(dim, idx)
    taps = w.tolist()
    out = xp.narrow(dim, 0, L) * taps[0]
    for k in range(1, 2 * r + 1):
        out.add_(xp.narrow(dim, k, L), alpha=taps[k])
    return out


def gaussian_blur_one(images: Tensor, sigma: float) -> Tensor:
    """Blur Tensor[N, C, H, W] with one sigma: horizontal pass, then vertical pass (float32 accumulation).

    tmp(x, y) = sum_{k=-r..r} w_k * in(clamp(x + k, 0, W-1), y)
    out(x, y) = sum_{k=-r..r} w_k * tmp(x, clamp(y + k, 0, H-1));   sigma < 1e-6: out = in
    """
    if sigma < SIGMA_EPS:
        return images.clone()
    w = gaussian_kernel1d(sigma)  # on the CPU: its taps are read as Python floats
    return _conv_replicate(_conv_replicate(images, w, -1), w, -2)


def gaussian_blur(images: Tensor, values: Tensor, seed: Tensor) -> Tensor:
    """Per-sample Gaussian blur; values[:, 0] = sigma. See :func:`gaussian_blur_one`."""
    return _by_value(images, values[:, 0], gaussian_blur_one)


# -- motion blur --------------------------------------------------------------------------------------------
def motion_blur(images: Tensor, values: Tensor, seed: Tensor) -> Tensor:
    """Line-kernel motion blur; values[:, 0:2] = (length L [px], angle [deg, counter-clockwise from +x]).

    n = max(1, ceil(L)) + 1,  t_i = -L/2 + L * i / (n-1)  (i = 0..n-1),  a = angle * pi / 180
    out(x, y) = (1/n) * sum_i bilinear(x + t_i * cos(a), y - t_i * sin(a))   (image y points down)
    L == 0: out = in (exact copy). Images Tensor[N, C, H, W].
    """
    N, C, H, W = images.shape
    xs, ys = pixel_grid(H, W, images.device)
    L = values[:, 0].view(N, 1, 1)
    a = values[:, 1].view(N, 1, 1) * (math.pi / 180.0)
    n = torch.clamp(torch.ceil(L), min=1.0) + 1.0
    ca, sa = torch.cos(a), torch.sin(a)
    acc = torch.zeros_like(images)
    for i in range(int(n.max())):
        t = -0.5 * L + L * float(i) / (n - 1.0)
        smp = bilinear(images, xs + t * ca, ys - t * sa)
        acc += torch.where((i < n).unsqueeze(1), smp, torch.zeros((), device=images.device))
    out = acc / n.unsqueeze(1)
    return torch.where((L == 0).unsqueeze(1), images, out)


# -- low-pass (downscale + upscale) -------------------------------------------------------------------------
def lowpass_size(size: int, scale: float) -> int:
    """max(1, floor(size * scale + 0.5)), evaluated in float64 from the float32 ``scale``."""
    return max(1, int(math.floor(size * scale + 0.5)))


def lowpass_one(images: Tensor, scale: float) -> Tensor:
    """Down- then up-sample Tensor[N, C, H, W] with one scale s (s >= 1: copy).

    h = lowpass_size(H, s), w = lowpass_size(W, s)
    down[i, j] = mean of in[y, x] over rows floor(i*H/h) <= y < ceil((i+1)*H/h) and
                 columns floor(j*W/w) <= x < ceil((j+1)*W/w)           (adaptive average pooling)
    up: for output row y: sy = max(0, (y + 0.5) * (h / H) - 0.5), y0 = floor(sy), y1 = min(y0 + 1, h-1),
        fy = sy - y0; columns likewise with (w / W); h/H and w/W are float32 quotients;
        out = (1-fy) * ((1-fx) * down[y0, x0] + fx * down[y0, x1]) + fy * ((1-fx) * down[y1, x0] + fx * down[y1, x1])
    (= F.adaptive_avg_pool2d then F.interpolate(mode="bilinear", align_corners=False, antialias=False))
    """
    N, C, H, W = images.shape
    if scale >= 1.0:
        return images.clone()
    h, w = lowpass_size(H, scale), lowpass_size(W, scale)
    down = F.adaptive_avg_pool2d(images, (h, w))
    return F.interpolate(down, size=(H, W), mode="bilinear", align_corners=False, antialias=False)


def lowpass(images: Tensor, values: Tensor, seed: Tensor) -> Tensor:
    """Per-sample low-pass; values[:, 0] = scale. See :func:`lowpass_one`."""
    return _by_value(images, values[:, 0], lowpass_one)


SPECS = (
    DistortionSpec(
        name="gaussian_blur",
        parameters=(Parameter("sigma", 0.0, 20.0, doc="standard deviation in pixels (radius ceil(2 sigma))"),),
        reference=gaussian_blur,
        levels=(
            LevelSet("ahn", (1.5, 3.0, 6.0), source=AHN),
            LevelSet("dodge", tuple(range(1, 10)), source=DODGE),
            LevelSet("hsieh_constant", (3.0,), source=HSIEH),
            LevelSet("hsieh_variable", (1.0, 6.0), source=HSIEH, continuous=True),
        ),
        default_levels="ahn",
        description="separable Gaussian blur, window 4 sigma, replicate border",
        source="Ahn, Hsieh, Dodge",
        identity=0.0,
        native_code=NATIVE_CODES["gaussian_blur"],
    ),
    DistortionSpec(
        name="motion_blur",
        parameters=(
            Parameter("length", 0.0, 100.0, doc="blur length in pixels"),
            Parameter("angle", 0.0, 180.0, doc="degrees, counter-clockwise from +x", sampling=(0.0, 180.0)),
        ),
        reference=motion_blur,
        levels=(
            LevelSet("hsieh_constant", (15.0,), source=HSIEH),
            LevelSet("hsieh_variable", (5.0, 30.0), source=HSIEH, continuous=True),
        ),
        default_levels="hsieh_variable",
        description="linear motion blur: mean of bilinear samples along a centred line",
        source="Hsieh (JH Labs MotionBlurFilter)",
        identity=0.0,
        native_code=NATIVE_CODES["motion_blur"],
    ),
    DistortionSpec(
        name="lowpass",
        parameters=(Parameter("scale", 0.01, 1.0, doc="downscale ratio before upscaling back"),),
        reference=lowpass,
        levels=(LevelSet("ahn", (0.3, 0.1, 0.03), source=AHN),),
        default_levels="ahn",
        description="low-pass noise: area downscale by `scale`, bilinear upscale to the original size",
        source=AHN,
        severity="decreasing",
        identity=1.0,
        native_code=NATIVE_CODES["lowpass"],
    ),
)

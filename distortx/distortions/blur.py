"""Blur family: Gaussian blur (Ahn, Hsieh, Dodge), motion blur (Hsieh), low-pass resampling (Ahn).

All filters use the replicate border (coordinates clamped to the image) and pixel-centre coordinates
(pixel i has centre i). The native kernels implement these formulas per pixel, in float32.

* ``gaussian_blur``: separable Gaussian with radius r = max(1, ceil(2 sigma)) ("window 4 sigma", Dodge & Karam),
  weights exp(-k^2 / (2 sigma^2)), k = -r..r, normalised to sum 1; horizontal pass, then vertical pass.
* ``motion_blur``: mean of n bilinear samples along a centred line of length L at angle a (JH Labs
  MotionBlurFilter-like line kernel, Hsieh et al.).
* ``lowpass``: Ahn's "low-pass noise", computed as Ahn's generator does with scikit-image (>= 0.19):
  ``resize(rescale(x, s, channel_axis=-1), (H, W))``: an anti-aliased downscale to h x w = round(s*H) x
  round(s*W) (half to even, at least 1), then bilinear back up; mirror borders throughout (see
  :func:`lowpass_one`). Older scikit-image (< 0.15) did not anti-alias the downscale (aliased, blockier).
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

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
    """max(1, round(size * scale)) with round half to even (numpy's ``np.round``, as scikit-image's
    ``rescale``), evaluated in float64 from the float32 ``scale``."""
    return max(1, round(size * float(scale)))


def mirror_index(i: Tensor, n: int) -> Tensor:
    """Index ``i`` folded into 0..n-1 by mirroring about the end samples (scipy.ndimage's "mirror",
    numpy's "reflect": ... 2 1 | 0 1 2 | 1 0 ...), any distance out."""
    if n == 1:
        return torch.zeros_like(i)
    period = 2 * (n - 1)
    i = torch.remainder(i, period)
    return torch.where(i >= n, period - i, i)


def antialias_taps(n_in: int, n_out: int) -> tuple[Tensor, Tensor]:
    """Downsampling ``n_in`` -> ``n_out`` samples as scikit-image's anti-aliased ``resize`` does it:
    out[i] = sum_t weight[i, t] * in[index[i, t]]  (int64 / float64 Tensors[n_out, 2r + 2]).

    It is a Gaussian prefilter (scipy.ndimage.gaussian_filter: sigma = max(0, (n_in/n_out - 1) / 2),
    radius r = int(4 sigma + 0.5), weights exp(-d^2 / (2 sigma^2)) normalised) followed by linear
    interpolation at c = (i + 0.5) * n_in/n_out - 0.5 (scipy.ndimage.zoom, grid_mode=True), both folded
    into one set of weights; taps beyond the border are mirrored (:func:`mirror_index`).
    """
    factor = n_in / n_out
    sigma = max(0.0, (factor - 1.0) / 2.0)
    r = int(4.0 * sigma + 0.5) if sigma > 1e-15 else 0
    d = torch.arange(-r, r + 1, dtype=torch.float64)
    g = torch.exp(-0.5 / (sigma * sigma) * d * d) if r > 0 else torch.ones(1, dtype=torch.float64)
    g = g / g.sum()
    c = (torch.arange(n_out, dtype=torch.float64) + 0.5) * factor - 0.5
    i0 = torch.floor(c)
    t = (c - i0).unsqueeze(1)
    g0 = torch.cat([g, torch.zeros(1, dtype=torch.float64)])  # tap i0 + d, d = -r..r+1: the Gaussian at i0
    g1 = torch.cat([torch.zeros(1, dtype=torch.float64), g])  # ... and at i0 + 1
    weight = (1.0 - t) * g0 + t * g1
    index = i0.long().unsqueeze(1) + torch.arange(-r, r + 2).unsqueeze(0)
    return mirror_index(index, n_in), weight


def resample_matrix(n_in: int, n_out: int, device=None) -> Tensor:
    """The taps of :func:`antialias_taps` as a dense float64 Tensor[n_out, n_in] (mirrored taps summed)."""
    index, weight = antialias_taps(n_in, n_out)
    m = torch.zeros(n_out, n_in, dtype=torch.float64)
    m.scatter_add_(1, index, weight)
    return m.to(device)


def upsample_taps(n_in: int, n_out: int, device=None) -> tuple[Tensor, Tensor, Tensor]:
    """Linear upsampling ``n_in`` -> ``n_out`` (float32, as the native kernel): for output index d,
    src = s * (d + 0.5) - 0.5 with s = float32(n_in) / float32(n_out), mirrored into [0, n_in - 1]
    (0 when n_in = 1); returns (i0, i1, f): out[d] = (1 - f) * in[i0] + f * in[i1], i1 = min(i0 + 1, n_in - 1)."""
    s = torch.tensor(float(n_in), dtype=torch.float32) / torch.tensor(float(n_out), dtype=torch.float32)
    src = s * (torch.arange(n_out, dtype=torch.float32) + 0.5) - 0.5
    if n_in == 1:
        src = torch.zeros_like(src)
    else:
        top = float(n_in - 1)
        src = torch.where(src < 0, -src, src)
        src = torch.where(src > top, (top + top) - src, src)
    i0 = src.long().clamp_(max=n_in - 1)
    i1 = (i0 + 1).clamp_(max=n_in - 1)
    f = src - i0.float()
    return i0.to(device), i1.to(device), f.to(device)


def lowpass_one(images: Tensor, scale: float) -> Tensor:
    """Down- then up-sample Tensor[N, C, H, W] with one scale s (s >= 1: copy), as Ahn's generator does with
    scikit-image: ``resize(rescale(x, s, channel_axis=-1), (H, W))`` (order 1, mode "reflect", anti-aliased).

    h = lowpass_size(H, s), w = lowpass_size(W, s)
    down = R_h @ in @ R_w^T, the anti-aliased downscale (:func:`resample_matrix`; float64, then float32)
    up: out[y, x] = (1-fy) * ((1-fx) * down[y0, x0] + fx * down[y0, x1]) + fy * ((1-fx) * down[y1, x0]
        + fx * down[y1, x1]) with (y0, y1, fy), (x0, x1, fx) from :func:`upsample_taps` (float32)
    """
    N, C, H, W = images.shape
    if scale >= 1.0:
        return images.clone()
    h, w = lowpass_size(H, scale), lowpass_size(W, scale)
    dev = images.device
    down = (resample_matrix(H, h, dev) @ images.double() @ resample_matrix(W, w, dev).T).float()  # (N, C, h, w)
    y0, y1, fy = upsample_taps(h, H, dev)
    x0, x1, fx = upsample_taps(w, W, dev)
    fy, fx = fy.view(-1, 1), fx.view(1, -1)
    top = down[:, :, y0, :]
    bot = down[:, :, y1, :]
    t = (1.0 - fx) * top[..., x0] + fx * top[..., x1]
    b = (1.0 - fx) * bot[..., x0] + fx * bot[..., x1]
    return (1.0 - fy) * t + fy * b


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
        native=True,
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
        native=True,
    ),
    DistortionSpec(
        name="lowpass",
        parameters=(Parameter("scale", 0.01, 1.0, doc="downscale ratio before upscaling back"),),
        reference=lowpass,
        levels=(LevelSet("ahn", (0.3, 0.1, 0.03), source=AHN),),
        default_levels="ahn",
        description="low-pass noise: anti-aliased downscale by `scale`, bilinear upscale to the original size "
                    "(scikit-image rescale + resize, as Ahn's generator)",
        source=AHN,
        severity="decreasing",
        identity=1.0,
        native=True,
    ),
)

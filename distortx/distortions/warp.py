"""Geometric warps of Hsieh et al. (JH Labs TwirlFilter, MarbleFilter), and the shared bilinear sampler.

Every warp is an *inverse* mapping: output pixel ``(x, y)`` (integer pixel centres, x = column, y = row,
y pointing down) reads the input at a real-valued source position ``(sx, sy)`` through :func:`bilinear`.
The C++/CUDA kernels implement the same formulas per pixel, in float32.

Bilinear sampling, replicate border (``bilinear``)::

    x0 = floor(sx), y0 = floor(sy), fx = sx - x0, fy = sy - y0
    xa = clamp(x0, 0, W-1), xb = clamp(x0 + 1, 0, W-1)   (ya, yb likewise with H)
    out = (1-fy) * ((1-fx) * I[ya, xa] + fx * I[ya, xb]) + fy * ((1-fx) * I[yb, xa] + fx * I[yb, xb])

Twirl (JH Labs TwirlFilter): a rotation by ``angle`` at the centre that falls off linearly to 0 at radius R.
Marble (JH Labs MarbleFilter): each pixel is displaced by a vector of length ``amount * scale`` whose
direction is set by 2-D Perlin gradient noise of feature size ``scale``; the noise lattice comes from the
counter RNG (:mod:`distortx.distortions.rng`) with the sample's seed, so the warp is reproducible.
Source: Hsieh, Duffau, He, *Distortion Classifier Using Deep CNNs* (Java program using JH Labs filters).
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from . import rng
from .spec import DistortionSpec, LevelSet, Parameter
from .papers import HSIEH

#: counter-RNG stream of the marble gradient lattice
MARBLE_STREAM = 2
#: lattice indices are taken modulo this before hashing: index = (j mod 65536) * 65536 + (i mod 65536)
LATTICE_PERIOD = 65536


# -- shared sampling ----------------------------------------------------------------------------------------
def pixel_grid(height: int, width: int, device=None) -> tuple[Tensor, Tensor]:
    """Pixel-centre coordinates: (xs, ys), each float32 Tensor[H, W] (xs = column index, ys = row index)."""
    ys = torch.arange(height, dtype=torch.float32, device=device).view(height, 1).expand(height, width)
    xs = torch.arange(width, dtype=torch.float32, device=device).view(1, width).expand(height, width)
    return xs, ys


def bilinear(images: Tensor, sx: Tensor, sy: Tensor) -> Tensor:
    """Sample ``images`` Tensor[N, C, H, W] at source positions ``sx, sy`` Tensor[N, Ho, Wo] (pixel-centre
    coordinates, replicate border); returns Tensor[N, C, Ho, Wo]. Formula in the module docstring."""
    N, C, H, W = images.shape
    Ho, Wo = sx.shape[-2:]
    x0f = torch.floor(sx)
    y0f = torch.floor(sy)
    fx = (sx - x0f).unsqueeze(1)
    fy = (sy - y0f).unsqueeze(1)
    x0 = x0f.long()
    y0 = y0f.long()
    xa, xb = x0.clamp(0, W - 1), (x0 + 1).clamp(0, W - 1)
    ya, yb = y0.clamp(0, H - 1), (y0 + 1).clamp(0, H - 1)
    flat = images.reshape(N, C, H * W)

    def tap(yi: Tensor, xi: Tensor) -> Tensor:
        idx = (yi * W + xi).reshape(N, 1, Ho * Wo).expand(N, C, Ho * Wo)
        return flat.gather(2, idx).reshape(N, C, Ho, Wo)

    top = (1 - fx) * tap(ya, xa) + fx * tap(ya, xb)
    bottom = (1 - fx) * tap(yb, xa) + fx * tap(yb, xb)
    return (1 - fy) * top + fy * bottom


# -- twirl --------------------------------------------------------------------------------------------------
def twirl(images: Tensor, values: Tensor, seed: Tensor) -> Tensor:
    """JH Labs TwirlFilter. values[:, 0:4] = (angle [deg], radius, cx, cy); images Tensor[N, C, H, W].

    centre (ox, oy) = (cx * (W-1), cy * (H-1)),  R = radius * min(H, W) / 2,  A = angle * pi / 180
    for output pixel (x, y): dx = x - ox, dy = y - oy, d = sqrt(dx^2 + dy^2)
        if d >= R or R == 0 or A == 0:  out = in[y, x]               (exact copy)
        else: a = atan2(dy, dx) + A * (R - d) / R
              out = bilinear(ox + d * cos(a), oy + d * sin(a))
    """
    N, C, H, W = images.shape
    xs, ys = pixel_grid(H, W, images.device)
    v = values.view(N, -1, 1, 1)
    ang = v[:, 0] * (math.pi / 180.0)
    R = v[:, 1] * (min(H, W) / 2.0)
    ox = v[:, 2] * (W - 1)
    oy = v[:, 3] * (H - 1)
    dx = xs - ox
    dy = ys - oy
    d = torch.sqrt(dx * dx + dy * dy)
    inside = (d < R) & (R > 0) & (ang != 0)
    a = torch.atan2(dy, dx) + ang * (R - d) / torch.where(R > 0, R, torch.ones_like(R))
    out = bilinear(images, ox + d * torch.cos(a), oy + d * torch.sin(a))
    return torch.where(inside.unsqueeze(1), out, images)


# -- marble -------------------------------------------------------------------------------------------------
def fade(t: Tensor) -> Tensor:
    """Perlin's quintic fade 6t^5 - 15t^4 + 10t^3, evaluated as t*t*t*(t*(t*6 - 15) + 10)."""
    return t * t * t * (t * (t * 6.0 - 15.0) + 10.0)


def lattice_angle(seed: Tensor, i: Tensor, j: Tensor) -> Tensor:
    """Gradient angle 2*pi*u at lattice corner (i, j): u = rng.uniform(seed, (j mod 65536) * 65536 +
    (i mod 65536), stream 2). ``seed`` broadcasts against the integer tensors ``i, j``; returns float32."""
    idx = torch.remainder(j, LATTICE_PERIOD) * LATTICE_PERIOD + torch.remainder(i, LATTICE_PERIOD)
    return (2.0 * math.pi) * rng.uniform(seed, idx, MARBLE_STREAM)


def perlin(u: Tensor, v: Tensor, seed: Tensor) -> Tensor:
    """2-D Perlin gradient noise at (u, v) Tensor[N, H, W] for per-sample ``seed`` Tensor[N]; Tensor[N, H, W].

    i0 = floor(u), j0 = floor(v), fu = u - i0, fv = v - j0; corner (i, j) has gradient g = (cos t, sin t),
    t = lattice_angle(seed, i, j);  n_ab = dot(g(i0+a, j0+b), (fu - a, fv - b)) for a, b in {0, 1};
    su = fade(fu), sv = fade(fv), lerp(p, q, s) = p + s * (q - p);
    noise = lerp(lerp(n00, n10, su), lerp(n01, n11, su), sv)   (0 at lattice points, |noise| <~ 0.7)
    """
    N = u.shape[0]
    i0f, j0f = torch.floor(u), torch.floor(v)
    fu, fv = u - i0f, v - j0f
    i0, j0 = i0f.long(), j0f.long()
    # gradients on the lattice box that covers the grid (one hash per lattice corner, then gathered)
    ilo, jlo = int(i0.min()), int(j0.min())
    Li, Lj = int(i0.max()) - ilo + 2, int(j0.max()) - jlo + 2
    li = torch.arange(ilo, ilo + Li, device=u.device).view(1, 1, Li)
    lj = torch.arange(jlo, jlo + Lj, device=u.device).view(1, Lj, 1)
    theta = lattice_angle(seed.view(N, 1, 1), li, lj).reshape(N, Lj * Li)
    gx, gy = torch.cos(theta), torch.sin(theta)
    base = ((j0 - jlo) * Li + (i0 - ilo)).reshape(N, -1)

    def corner(a: int, b: int) -> Tensor:
        idx = base + (b * Li + a)
        cx = gx.gather(1, idx).view_as(u)
        cy = gy.gather(1, idx).view_as(u)
        return cx * (fu - a) + cy * (fv - b)

    su, sv = fade(fu), fade(fv)
    n00, n10, n01, n11 = corner(0, 0), corner(1, 0), corner(0, 1), corner(1, 1)
    nx0 = n00 + su * (n10 - n00)
    nx1 = n01 + su * (n11 - n01)
    return nx0 + sv * (nx1 - nx0)


def marble_displacement(values: Tensor, seed: Tensor, height: int, width: int) -> tuple[Tensor, Tensor]:
    """Displacement field (dx, dy), each Tensor[N, H, W], of marble for values[:, 0:2] = (amount, scale).

    n = perlin(x / scale, y / scale, seed), phi = pi * (1 + n), m = amount * scale,
    dx = -m * sin(phi), dy = m * cos(phi)   (JH Labs: sinTable = -yScale sin, cosTable = yScale cos)
    """
    N = values.shape[0]
    xs, ys = pixel_grid(height, width, values.device)
    amount = values[:, 0].view(N, 1, 1)
    scale = values[:, 1].view(N, 1, 1)
    n = perlin(xs / scale, ys / scale, seed)
    phi = math.pi * (1.0 + n)
    m = amount * scale
    return -m * torch.sin(phi), m * torch.cos(phi)


def marble(images: Tensor, values: Tensor, seed: Tensor) -> Tensor:
    """JH Labs MarbleFilter. values[:, 0:2] = (amount, scale); images Tensor[N, C, H, W].

    out(x, y) = bilinear(x + dx(x, y), y + dy(x, y)) with (dx, dy) from :func:`marble_displacement`.
    """
    N, C, H, W = images.shape
    dx, dy = marble_displacement(values, seed, H, W)
    xs, ys = pixel_grid(H, W, images.device)
    return bilinear(images, xs + dx, ys + dy)


SPECS = (
    DistortionSpec(
        name="twirl",
        parameters=(
            Parameter("angle", 0.0, 720.0, doc="degrees of rotation at the centre"),
            Parameter("radius", 0.05, 1.0, doc="fraction of min(H,W)/2", sampling=(0.5, 1.0)),
            Parameter("cx", 0.0, 1.0, doc="centre x as a fraction of W-1", sampling=(0.4, 0.6)),
            Parameter("cy", 0.0, 1.0, doc="centre y as a fraction of H-1", sampling=(0.4, 0.6)),
        ),
        reference=twirl,
        levels=(
            LevelSet("hsieh_constant", (180.0,), source=HSIEH),
            LevelSet("hsieh_variable", (45.0, 360.0), source=HSIEH, continuous=True),
        ),
        default_levels="hsieh_variable",
        description="swirl: rotation by `angle` at the centre falling off linearly to 0 at the radius",
        source="Hsieh (JH Labs TwirlFilter)",
        identity=0.0,
        native=True,
    ),
    DistortionSpec(
        name="marble",
        parameters=(
            Parameter("amount", 0.0, 4.0, doc="displacement in units of scale"),
            Parameter("scale", 1.0, 64.0, doc="noise feature size in pixels", sampling=(4.0, 16.0)),
        ),
        reference=marble,
        levels=(
            LevelSet("hsieh_constant", (1.0,), source=HSIEH),
            LevelSet("hsieh_variable", (0.25, 2.0), source=HSIEH, continuous=True),
        ),
        default_levels="hsieh_variable",
        description="marble: resampling displaced along directions given by Perlin noise (seeded)",
        source="Hsieh (JH Labs MarbleFilter)",
        identity=0.0,
        native=True,
        stochastic=True,
    ),
)

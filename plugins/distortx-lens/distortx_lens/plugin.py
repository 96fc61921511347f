"""Lens distortions, registered through distortx's ``distortx_distortions`` hook.

Both are pure PyTorch, batched with per-sample parameters, on any device: all a third-party distortion needs.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from distortx import DistortionSpec, LevelSet, Parameter, hookimpl


def _radius(h: int, w: int, device) -> Tensor:
    """Tensor[H, W]: distance to the image centre divided by the centre-to-corner distance (0..1)."""
    ys = torch.arange(h, device=device, dtype=torch.float32) - (h - 1) / 2
    xs = torch.arange(w, device=device, dtype=torch.float32) - (w - 1) / 2
    r = torch.sqrt(ys.view(-1, 1) ** 2 + xs.view(1, -1) ** 2)
    corner = max(((h - 1) / 2) ** 2 + ((w - 1) / 2) ** 2, 1e-12) ** 0.5
    return r / corner


def vignette(images: Tensor, values: Tensor, seed: Tensor) -> Tensor:
    """images Tensor[N, C, H, W]; values[:, 0] = strength: out = x * (1 - strength * r^2)."""
    n, _, h, w = images.shape
    gain = 1.0 - values[:, 0].view(n, 1, 1, 1) * _radius(h, w, images.device).pow(2)
    return images * gain


def chromatic_aberration(images: Tensor, values: Tensor, seed: Tensor) -> Tensor:
    """Lateral chromatic aberration: red magnified, blue shrunk, by ``shift`` pixels at the corners."""
    n, c, h, w = images.shape
    if c != 3:
        return images.clone()
    ys = torch.linspace(-1, 1, h, device=images.device)
    xs = torch.linspace(-1, 1, w, device=images.device)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    base = torch.stack([gx, gy], dim=-1).unsqueeze(0).expand(n, h, w, 2)
    half = torch.tensor([max(w - 1, 1) / 2, max(h - 1, 1) / 2], device=images.device)
    corner = float(torch.linalg.vector_norm(half))
    scale = values[:, 0].view(n, 1, 1, 1) / corner  # relative magnification giving `shift` px at the corners
    out = images.clone()
    for ch, sign in ((0, -1.0), (2, 1.0)):  # sample red from closer in (magnify), blue from further out
        grid = base * (1.0 + sign * scale)
        out[:, ch : ch + 1] = F.grid_sample(images[:, ch : ch + 1], grid, mode="bilinear", padding_mode="border", align_corners=True)
    return out


@hookimpl
def distortx_distortions():
    return [
        DistortionSpec(
            name="vignette",
            parameters=(Parameter("strength", 0.0, 1.0, doc="darkening at the corners"),),
            reference=vignette,
            levels=(LevelSet("lens", (0.2, 0.4, 0.7), source="distortx-lens"),),
            default_levels="lens",
            identity=0.0,
            description="radial darkening towards the corners",
            source="distortx-lens example plugin",
        ),
        DistortionSpec(
            name="chromatic_aberration",
            parameters=(Parameter("shift", 0.0, 8.0, doc="red/blue misregistration at the corners, pixels"),),
            reference=chromatic_aberration,
            levels=(LevelSet("lens", (0.5, 1.5, 3.0), source="distortx-lens"),),
            default_levels="lens",
            identity=0.0,
            description="lateral chromatic aberration (red magnified, blue shrunk)",
            source="distortx-lens example plugin",
        ),
    ]

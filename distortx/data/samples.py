"""Images that ship with distortx: a few photos (no download) and a procedural dead-leaves generator.

Dead-leaves images (occluding discs with power-law radii) share the scale invariance and the 1/f spectrum of
natural images, so they make an unlimited, license-free supply of test and dataset images.
"""
from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import List, Tuple

import numpy as np
import torch
from torch import Tensor

from ..errors import UnknownNameError

SAMPLE_PHOTOS = ("astronaut", "coffee", "chelsea")


def sample_names() -> Tuple[str, ...]:
    """Names of the embedded photos."""
    return SAMPLE_PHOTOS


@lru_cache(maxsize=None)
def _load(name: str) -> Tensor:
    from ..io import read_image

    with resources.as_file(resources.files("distortx") / "assets" / f"{name}.png") as p:
        return read_image(p)


def load_sample(name: str) -> Tensor:
    """An embedded photo as uint8 Tensor[3, H, W] (a fresh copy)."""
    if name not in SAMPLE_PHOTOS:
        raise UnknownNameError("sample image", name, SAMPLE_PHOTOS)
    return _load(name).clone()


def sample_images() -> List[Tuple[str, Tensor]]:
    """Every embedded photo as (name, uint8 Tensor[3, H, W])."""
    return [(n, load_sample(n)) for n in SAMPLE_PHOTOS]


def dead_leaves(
    size: int = 256,
    seed: int = 0,
    n_discs: int = 4000,
    r_min: float = 3.0,
    r_max: float = 100.0,
    alpha: float = 3.0,
) -> Tensor:
    """A dead-leaves image, uint8 Tensor[3, size, size].

    Discs fall one after another and a pixel shows the *first* disc that covers it (front-to-back order);
    radii follow r^-alpha on [r_min, r_max] (alpha=3: scale invariance); each disc has a random colour with
    a gentle linear shading. Pixels no disc reaches keep a random background colour. Deterministic in ``seed``.
    """
    g = torch.Generator().manual_seed(int(seed))
    u = torch.rand(n_discs, generator=g)
    a1 = 1.0 - alpha
    radii = (r_min**a1 + u * (r_max**a1 - r_min**a1)) ** (1.0 / a1)
    centres = torch.rand(n_discs, 2, generator=g) * (size + 2 * r_max) - r_max
    colours = torch.rand(n_discs, 3, generator=g)
    shades = (torch.rand(n_discs, 2, generator=g) - 0.5) * 0.3
    background = torch.rand(3, generator=g)
    cx, cy, rr = centres[:, 0].numpy(), centres[:, 1].numpy(), radii.numpy()
    first = np.full((size, size), n_discs, dtype=np.int64)  # index of the first disc covering each pixel
    grid = np.arange(size, dtype=np.float32)
    for i in range(n_discs):
        x0, x1 = max(0, int(cx[i] - rr[i])), min(size, int(cx[i] + rr[i]) + 2)
        y0, y1 = max(0, int(cy[i] - rr[i])), min(size, int(cy[i] + rr[i]) + 2)
        if x0 >= x1 or y0 >= y1:
            continue
        d2 = (grid[x0:x1][None, :] - cx[i]) ** 2 + (grid[y0:y1][:, None] - cy[i]) ** 2
        view = first[y0:y1, x0:x1]
        view[(d2 <= rr[i] * rr[i]) & (view == n_discs)] = i
    first = torch.from_numpy(first)
    coords = torch.arange(size, dtype=torch.float32)
    covered = first < n_discs
    k = first.clamp(max=n_discs - 1)
    ys, xs = torch.meshgrid(coords, coords, indexing="ij")
    dx = (xs - centres[k, 0]) / radii[k]
    dy = (ys - centres[k, 1]) / radii[k]
    shade = 1.0 + shades[k, 0] * dx + shades[k, 1] * dy
    img = (colours[k].permute(2, 0, 1) * shade).clamp(0, 1)
    img = torch.where(covered, img, background.view(3, 1, 1))
    return (img * 255.0).round().to(torch.uint8)

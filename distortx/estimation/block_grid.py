"""Where an image's JPEG block grid lies: the (row, column) offset that puts its 8x8 block boundaries where the
estimator's ``grid`` channels mark them. A decoded JPEG has its grid at (0, 0); a crop of one at (y, x) has
it shifted, and the boundaries show as the column (row) phase with the largest mean step across it. (The
quantisation-lattice reading, :mod:`distortx.estimation.jpeg_lattice`, finds the grid its own way, by which
offset puts the DCT coefficients on integers: exact also at high quality, where blocking steps are too faint.)"""
from __future__ import annotations

from typing import Tuple

import torch
from torch import Tensor

#: how much stronger (ratio of mean absolute steps) the best phase must be than phase 0 to move the grid
MIN_CONTRAST = 1.1
#: ... and by at least this many luma levels (flat images have no steps at all)
MIN_STEP = 0.1


def _phase_steps(luma: Tensor, dim: int, grid: int) -> Tensor:
    """Mean |step| between neighbours along ``dim`` of luma Tensor[H, W], per phase: Tensor[grid], where
    entry p is the step after position c with c % grid == p (p = grid - 1: a boundary of a grid at 0)."""
    d = luma.diff(dim=dim).abs()
    d = d.mean(dim=1 - dim)
    n = d.shape[0]
    phase = torch.arange(n, device=d.device) % grid
    return torch.zeros(grid, dtype=d.dtype, device=d.device).index_add_(0, phase, d) / torch.bincount(
        phase, minlength=grid).clamp(min=1).to(d.dtype)


def block_grid_origin(image: Tensor, grid: int = 8) -> Tuple[int, int]:
    """(oy, ox) with 0 <= o < grid: the estimator's ``origin`` for float ``image`` Tensor[3, H, W] in [0, 1]
    (pixel (y, x) lies at grid phase ((y + oy) % grid, (x + ox) % grid)). (0, 0) unless one phase carries
    clearly (``MIN_CONTRAST``, ``MIN_STEP``) larger steps than the aligned one, so unblocked images keep the default."""
    if image.dim() != 3 or min(image.shape[1:]) < 2 * grid:
        return (0, 0)
    x = image.float()
    luma = (0.299 * x[0] + 0.587 * x[1] + 0.114 * x[2]) * 255.0 if x.shape[0] == 3 else x[0] * 255.0
    origin = []
    for dim in (0, 1):
        steps = _phase_steps(luma, dim, grid)
        best = int(steps.argmax())
        margin = float(steps[best] - max(MIN_CONTRAST * steps[grid - 1], steps[grid - 1] + MIN_STEP))
        if best == grid - 1 or margin <= 0:
            origin.append(0)
        else:
            # boundary after position best: blocks start at best + 1, which must land on phase 0
            origin.append((grid - (best + 1) % grid) % grid)
    return (origin[0], origin[1])

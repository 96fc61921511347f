"""JPEG history measured from decoded pixels: the quantisation lattice of the luma DCT coefficients.

A JPEG decoder outputs, per 8 x 8 block of luma, the inverse DCT of integer multiples k * Q[f] of each
frequency's quantiser step Q[f]. Taking the blocks' DCT again (orthonormal 8 x 8 DCT-II of Y - 128, Y from the
decoded RGB by the JPEG luma weights) gives back k * Q[f] plus a small error: the decoder's rounding of Y and of
R, G, B to integers. So the coefficients of each frequency sit on a lattice whose spacing is that frequency's
step, and the IJG tables make the steps a function of the quality q (``jpeg_set_quality``:
:func:`distortx.distortions.jpeg.quant_tables`). This module scores every q = 1..100 by the likelihood of the
coefficients under its lattice and returns the posterior median over q (uniform prior): the value that minimises
the expected absolute error when several q share the steps the image can reveal.

Model per frequency f with step Q: c = k Q + e. The error e is a mixture of two centred normals (S.D. 0.4, and
1.5 for the correlated rounding of smooth blocks) with a small uniform outlier share; k has a Laplacian prior of
scale lam_f (from the coefficients' second moment less the error's) integrated over the quantiser's bins. The DC
of a flat block is 8 floor((k Q + 4) / 8) (libjpeg's DC-only inverse DCT rounds all 64 pixels alike). Blocks with
a pixel at 0 or 255 in any channel are left out (clipping breaks their lattice). "No JPEG" is a share of zeros
plus a Laplacian; the log-likelihood ratio of the best q against it, per block, says whether the pixels show a
JPEG history at all (:attr:`LatticeReading.is_jpeg`). The grid offset (a crop after decoding) is the one whose
coefficients lie closest to integers (:func:`_grid_offset`).

Only the luma lattice is read: 4:2:0 chroma is upsampled by a filter and cannot be re-blocked. Flat images reveal
little but their DC steps. After a re-save the pixels show the last compression's lattice when it moved the
earlier values (a coarser re-save); a finer re-save whose steps divide the earlier values leaves those where they
were, and the coarser, earlier lattice is then the one read (a JPEG file's own tables still say the last). Measured on held-out photos (docs/endo.md, experiments/estimator_v2/eval_jpeg_lattice.py).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Optional, Tuple

import numpy as np
import torch
from torch import Tensor

#: error of a re-measured coefficient (orthonormal DCT units): rounding of Y (1/12) and of R, G, B seen through
#: the luma weights (0.458 / 12), plus libjpeg's integer IDCT: S.D. ~0.4 where the 64 rounding errors are
#: independent; in smooth blocks they are correlated along rows or columns (a ramp rounds the same way on every
#: row), which widens the low frequencies' errors: a second, wider component (share WIDE, S.D. SIGMA_WIDE).
#: OUTLIER: the share of coefficients no lattice explains (clipping the RGB check missed)
SIGMA, SIGMA_WIDE, WIDE = 0.4, 1.5, 0.2
OUTLIER = 0.01
#: evidence per block above which the pixels show a JPEG history. Chosen on the validation photos
#: (experiments/estimator_v2/eval_jpeg_lattice.py): 0 of 62 crops without one above it (photos reduced 4x), 94 % of
#: 124 JPEG crops at q ~ U{1..100} (97 % at q <= 95; q 99-100 lattices are all ones, hard to tell from none)
EVIDENCE = 2.0
#: below 64 blocks (images under ~64 x 64) the per-block evidence varies more: 6.0 there (32-px crops of the same
#: photos: 2 % of those without a history above it, 62 % of the JPEG ones; at 2.0 it would be 16 % and 82 %)
EVIDENCE_SMALL, SMALL_BLOCKS = 6.0, 64
#: evidence above which the lattice's quality is the better *value* for ``distortx.estimate`` (the CNN's below):
#: lower than EVIDENCE because a weak lattice still reads its quality right, and an image without a history reads
#: ~100 here (no quantisation) where the CNN says 90-96. Chosen on the validation photos: estimate's MAE 0.35 ->
#: 0.21 at 128 px, 1.01 -> 0.70 at 64 px, 3.61 -> 3.05 at 32 px against the EVIDENCE gate.
EVIDENCE_VALUE = 0.0
#: blocks used at most (evenly spread over the image): enough for every lattice, bounded time on large photos
MAX_BLOCKS = 512
#: the side of the centre window read in large photos
WINDOW = 1024


@dataclass(frozen=True)
class LatticeReading:
    """One image's JPEG history read from its pixels.

    quality: posterior median of the IJG quality (1..100); spread: the posterior's interquartile half-range
    (how many quality steps the image cannot tell apart); evidence: log-likelihood ratio per block of the best
    lattice against "never a JPEG" (above EVIDENCE: a JPEG history, :attr:`is_jpeg`); offset: (dy, dx) of the
    8 x 8 grid in the image (0, 0 when the image was not cropped after decoding); blocks: how many were read.
    """

    quality: float
    spread: float
    evidence: float
    offset: Tuple[int, int]
    blocks: int = 0

    @property
    def is_jpeg(self) -> bool:
        return self.evidence > (EVIDENCE if self.blocks >= SMALL_BLOCKS else EVIDENCE_SMALL)

    @property
    def is_value(self) -> bool:
        """Whether ``quality`` is the better estimate of the image's JPEG quality than the CNN's."""
        return self.evidence > EVIDENCE_VALUE


@lru_cache(maxsize=1)
def _dct_matrix() -> Tensor:
    """Orthonormal 8-point DCT-II matrix (float64): row u, column x."""
    x = torch.arange(8, dtype=torch.float64)
    d = torch.cos((2 * x[None, :] + 1) * x[:, None] * math.pi / 16) * math.sqrt(2 / 8)
    d[0] /= math.sqrt(2)
    return d


@lru_cache(maxsize=1)
def _luma_steps() -> np.ndarray:
    """int64 [100, 64]: the luma step of every frequency (natural order) at quality 1..100."""
    from ..distortions.jpeg import quant_tables

    return quant_tables(torch.arange(1, 101))[0].reshape(100, 64).numpy()


def luma(image: Tensor) -> Tuple[Tensor, Tensor]:
    """uint8 or float ([0, 1]) Tensor[C, H, W] (C = 1 or 3) -> (float64 Tensor[H, W] on the 0..255 scale, bool
    Tensor[H, W]: a channel of the pixel is 0 or 255, so the decoder may have clipped it)."""
    x = image.detach().cpu().double()
    if image.dtype != torch.uint8:
        x = (x.clamp(0, 1) * 255).round()
    clipped = ((x == 0) | (x == 255)).any(dim=0)
    if x.shape[0] == 1:
        return x[0], clipped
    return 0.299 * x[0] + 0.587 * x[1] + 0.114 * x[2], clipped


def block_coefficients(y: Tensor, offset: Tuple[int, int] = (0, 0), max_blocks: int = MAX_BLOCKS,
                       clipped: Optional[Tensor] = None) -> Tensor:
    """The orthonormal DCT of the whole 8 x 8 blocks of y - 128 (float64 Tensor[H, W]) on the grid starting at
    offset (dy, dx): float64 Tensor[B, 64] (natural order), at most ``max_blocks`` blocks evenly spread. Blocks
    with a ``clipped`` pixel are left out (their lattice is broken) unless fewer than 16 blocks would remain."""
    dy, dx = offset
    h, w = (y.shape[0] - dy) // 8, (y.shape[1] - dx) // 8
    if h <= 0 or w <= 0:
        return torch.zeros(0, 64, dtype=torch.float64)

    def tiles(a: Tensor) -> Tensor:
        return a[dy:dy + 8 * h, dx:dx + 8 * w].reshape(h, 8, w, 8).permute(0, 2, 1, 3).reshape(-1, 8, 8)

    blocks = tiles(y) - 128.0
    if clipped is not None:
        keep = ~tiles(clipped).flatten(1).any(dim=1)
        if int(keep.sum()) >= 16:
            blocks = blocks[keep]
    if blocks.shape[0] > max_blocks:
        blocks = blocks[torch.linspace(0, blocks.shape[0] - 1, max_blocks).round().long()]
    d = _dct_matrix()
    return (d @ blocks @ d.T).reshape(-1, 64)


def _error(d: np.ndarray) -> np.ndarray:
    """The density of a measurement error d (orthonormal DCT units): two centred normals (SIGMA, SIGMA_WIDE)."""
    return ((1 - WIDE) * np.exp(-0.5 * (d / SIGMA) ** 2) / SIGMA
            + WIDE * np.exp(-0.5 * (d / SIGMA_WIDE) ** 2) / SIGMA_WIDE) / math.sqrt(2 * math.pi)


def _log_lik(c: np.ndarray, steps: np.ndarray, lam: float, dc: bool = False) -> np.ndarray:
    """Sum over the coefficients c [B] of log p(c | step) for each step of ``steps`` [S] -> [S]; lam: the
    Laplacian scale of this frequency. The lattice points within two steps of c count (within one for steps of 4
    and more: the next ones lie 4 wide S.D. away). For the DC coefficient a flat block decodes to one value for
    all its 64 pixels, 128 + floor((k Q + 4) / 8) (libjpeg's DC-only IDCT), so its rounding errors add up: its DC
    reads 8 floor((k Q + 4) / 8), not k Q; both centres are allowed (an equal mixture)."""
    out = np.empty(len(steps))
    small = steps < 4
    for part, near in ((small, (-2.0, -1.0, 0.0, 1.0, 2.0)), (~small, (-1.0, 0.0, 1.0))):
        if not part.any():
            continue
        q = steps[part].astype(np.float64)[:, None]
        k0 = np.round(c[None, :] / q)
        lik = np.zeros((q.shape[0], c.shape[0]))
        e1 = np.exp(-q / lam)
        for dk in near:
            k = k0 + dk
            tail = 0.5 * np.exp(-np.maximum(np.abs(k) - 0.5, 0.0) * q / lam) * (1.0 - e1)
            prior = np.where(k == 0, 1.0 - np.exp(-q / (2 * lam)), tail)
            fit = _error(c[None, :] - k * q)
            if dc:
                fit = 0.5 * (fit + _error(c[None, :] - 8.0 * np.floor((k * q + 4.0) / 8.0)))
            lik += prior * fit
        out[part] = np.log((1 - OUTLIER) * lik + OUTLIER / 512.0).sum(axis=1)
    return out


def _log_lik_continuous(c: np.ndarray, lam: float) -> float:
    """Sum of log p(c) under "never quantised": a share of zeros (flat areas give zero AC coefficients on any grid,
    blurred by the measurement error) and a Laplacian of scale lam for the rest (lam floored at SIGMA)."""
    lam = max(lam, SIGMA)
    zeros = min(max(float(np.mean(np.abs(c) < 1.0)), 0.01), 0.99)
    dens = zeros * _error(c) + (1 - zeros) * np.exp(-np.abs(c) / lam) / (2 * lam)
    return float(np.log((1 - OUTLIER) * dens + OUTLIER / 512.0).sum())


def _scores(coef: np.ndarray, freqs) -> Tuple[np.ndarray, float]:
    """(log-likelihood of every quality 1..100 [100], log-likelihood of "no JPEG") over the given frequencies."""
    table = _luma_steps()
    total = np.zeros(100)
    none = 0.0
    for f in freqs:
        c = coef[:, f]
        # the Laplacian's scale from the second moment less the measurement error's (var = 2 lam^2): with the raw
        # mean |c|, all-zero frequencies would look spread by the error and small steps be penalised
        lam = max(math.sqrt(max(float((c * c).mean()) - SIGMA**2, 0.0) / 2), 1e-2)
        if lam <= 1e-2 and f:  # all zero up to the error: every step explains it alike (k = 0), a constant
            continue
        steps, inverse = np.unique(table[:, f], return_inverse=True)
        total += _log_lik(c, steps, lam, dc=f == 0)[inverse]
        none += _log_lik_continuous(c, lam)
    return total, none


def _grid_offset(y: Tensor) -> Tuple[int, int]:
    """The grid offset (dy, dx) of y (float64 Tensor[H, W]): the one whose AC coefficients lie closest to
    integers. Every JPEG lattice k Q is made of integers, so on the last compression's grid cos(2 pi c) averages
    about exp(-2 pi^2 SIGMA^2) ~ 0.04 or more over the coefficients, and about 0 where a grid cuts textured blocks
    (an earlier compression's grid, moved by a crop, is blurred by the last one's rounding). (0, 0), an image not
    cropped after decoding, is kept unless another grid beats it by 3 standard errors (S.D. of a cosine ~0.7): a
    32-pixel image has too few coefficients to move the grid on weak evidence. (The DC of a flat block carries its
    64 pixels' correlated rounding, up to +-4, so it is left out.) The CNN's grid
    (:func:`distortx.estimation.block_grid.block_grid_origin`) is found by blocking steps, which fade at high quality."""
    y = y[:512, :512]  # 4,096 blocks per grid at most (the window starts on the grid: offsets unchanged)
    scores = {}
    for dy in range(8):
        for dx in range(8):
            coef = block_coefficients(y, (dy, dx), max_blocks=1024)[:, 1:]
            if coef.numel():
                scores[(dy, dx)] = (float(torch.cos(2 * math.pi * coef).mean()), coef.numel())
    if not scores:
        return (0, 0)
    best = max(scores, key=lambda off: scores[off][0])
    if (0, 0) in scores and scores[best][0] - scores[(0, 0)][0] <= 3 * 0.7 / math.sqrt(scores[(0, 0)][1]):
        return (0, 0)
    return best


def read_jpeg_history(image: Tensor, offset: Optional[Tuple[int, int]] = None) -> Optional[LatticeReading]:
    """The JPEG quality an image's pixels show (uint8 or float [0, 1] Tensor[C, H, W], C = 1 or 3), or None when
    it has no whole 8 x 8 block. ``offset`` fixes the grid (dy, dx); by default the 64 offsets are searched
    (:func:`_grid_offset`)."""
    y, clipped = luma(image)
    if y.shape[0] < 8 or y.shape[1] < 8:
        return None
    # a large photo is read in its centre, WINDOW x WINDOW pixels starting on a multiple of 8 (the grid's offset
    # stays that of the whole image): plenty of blocks, bounded time and memory
    cy, cx = (max(0, (n - WINDOW) // 2) // 8 * 8 for n in y.shape)
    y, clipped = y[cy:cy + WINDOW, cx:cx + WINDOW], clipped[cy:cy + WINDOW, cx:cx + WINDOW]
    if offset is None:
        offset = _grid_offset(y)
    coef = block_coefficients(y, offset, clipped=clipped).numpy()
    if coef.shape[0] == 0:
        return None
    s, none = _scores(coef, range(64))
    post = np.exp(s - s.max())
    post /= post.sum()
    cdf = np.cumsum(post)
    qs = np.arange(1, 101)
    median = float(qs[np.searchsorted(cdf, 0.5)])
    q25, q75 = float(qs[np.searchsorted(cdf, 0.25)]), float(qs[np.searchsorted(cdf, 0.75)])
    return LatticeReading(quality=median, spread=(q75 - q25) / 2, evidence=float((s.max() - none) / coef.shape[0]),
                          offset=tuple(int(v) for v in offset), blocks=int(coef.shape[0]))

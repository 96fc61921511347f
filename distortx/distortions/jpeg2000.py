"""JPEG 2000 compression to a target PSNR (Dodge & Karam), through Pillow's OpenJPEG.

Dodge & Karam "vary the PSNR from 20 to 40 in steps of 2" with OpenJPEG. Parameter: ``psnr``, the target in
dB (15..60, "decreasing" severity: a lower target is a stronger distortion). No identity and no native
kernel: the codec itself is the reference (CPU; CUDA tensors go to the CPU and back).

Per image (float [0,1] -> uint8 u as :func:`distortx.io.to_uint8_image`, PIL "RGB" or "L"):

* encode = Pillow ``format="JPEG2000"``, one quality layer, ``quality_mode="dB"``, ``irreversible=True``
  (CDF 9/7 wavelet), ``mct=1`` for RGB (irreversible colour transform), OpenJPEG defaults otherwise;
  decode; achieved PSNR = 10 log10(255^2 / MSE(decoded uint8, u)) over all channels.
* OpenJPEG's dB target is only approximate (it stops its rate allocation on an estimate of the
  distortion), so the layer's dB request r is searched (:func:`jpeg2000_to_target`): r_0 = target. After
  each encode the pair (r, achieved) updates a bracket [r_lo, r_hi] (achieved below / above the target).
  With both ends known, the next r is the secant (regula falsi) guess, kept inside the middle 80 % of the
  bracket; with one end only, r moves 4 dB towards the target, doubling the step each time, and the search
  stops if a step changes the achieved PSNR by < 0.05 dB (the codec's floor or ceiling). It stops as soon
  as |achieved - target| <= TOLERANCE_DB (0.25 dB), or after MAX_ENCODES (8) encodes, and returns the
  closest decode seen. Measured on 16 photo crops (67..128 px) for targets 20..46 dB: 1-4 encodes usually
  (3.4 on average over 15..60 dB, a few ms each at 128 px), all within 0.75 dB of the target.
* Targets beyond the codec's reach give the closest achievable image: the irreversible 9/7 path tops out
  around 48-53 dB on 8-bit photos; below ~15 dB OpenJPEG cannot drop more bits from a small image.
  A constant image is returned unchanged without encoding (its PSNR would be near-infinite at any rate).

Source: Dodge, Karam, *Understanding How Image Quality Affects Deep Neural Networks* (QoMEX 2016).
"""
from __future__ import annotations

import io
import math
from typing import Tuple

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from ..io import to_uint8_image
from .spec import DistortionSpec, LevelSet, Parameter
from .papers import DODGE


TOLERANCE_DB = 0.25
MAX_ENCODES = 8
REQUEST_RANGE = (1.0, 120.0)  # requests to OpenJPEG are kept in this range (dB)


def psnr_u8(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of two uint8 arrays (inf when identical)."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0.0 else 10.0 * math.log10(255.0 ** 2 / mse)


def encode_decode(arr: np.ndarray, request_db: float) -> np.ndarray:
    """One OpenJPEG round trip of a uint8 array (H, W) or (H, W, 3) with one layer at ``request_db`` dB."""
    mode = "L" if arr.ndim == 2 else "RGB"
    buf = io.BytesIO()
    Image.fromarray(arr, mode).save(
        buf, format="JPEG2000", quality_mode="dB", quality_layers=[float(request_db)],
        irreversible=True, mct=1 if mode == "RGB" else 0,
    )
    with Image.open(io.BytesIO(buf.getvalue())) as dec:
        return np.array(dec.convert(mode), dtype=np.uint8)


def jpeg2000_to_target(arr: np.ndarray, target: float) -> Tuple[np.ndarray, float, int]:
    """Search the dB request so the decode of ``arr`` (uint8 (H, W) or (H, W, 3)) has PSNR close to ``target``.
    Returns (decoded uint8 array, achieved PSNR, number of encodes)."""
    if arr.size == 0 or int(arr.max()) == int(arr.min()):
        return arr.copy(), math.inf, 0  # constant image: nothing for the codec to lose
    lo_r, hi_r = REQUEST_RANGE
    below = None  # (request, achieved) with achieved < target, the highest such request
    above = None  # (request, achieved) with achieved > target, the lowest such request
    best, best_err, best_p = arr, math.inf, math.inf
    r, step = min(max(float(target), lo_r), hi_r), 4.0
    count = 0
    while count < MAX_ENCODES:
        count += 1
        dec = encode_decode(arr, r)
        p = psnr_u8(dec, arr)
        err = abs(p - target)
        if count == 1 or err < best_err:
            best, best_err, best_p = dec, err, p
        if err <= TOLERANCE_DB:
            return best, best_p, count
        one_sided = above is None or below is None
        if p < target:
            plateau = below is not None and abs(p - below[1]) < 0.05
            below = (r, p) if below is None or r > below[0] else below
        else:
            plateau = above is not None and abs(p - above[1]) < 0.05
            above = (r, p) if above is None or r < above[0] else above
        if one_sided and plateau and (above is None or below is None):
            break  # the codec's floor / ceiling: a further request changes nothing
        if below is not None and above is not None:
            (r0, p0), (r1, p1) = below, above
            if r1 - r0 < 1e-3:
                break
            guess = r0 + (target - p0) * (r1 - r0) / (p1 - p0) if math.isfinite(p1) else 0.5 * (r0 + r1)
            margin = 0.1 * (r1 - r0)
            r = min(max(guess, r0 + margin), r1 - margin)
        elif below is not None:  # still too distorted: ask for more dB
            if below[0] >= hi_r:
                break
            r, step = min(below[0] + step, hi_r), 2 * step
        else:  # too good: ask for fewer dB
            if above[0] <= lo_r:
                break
            r, step = max(above[0] - step, lo_r), 2 * step
    return best, best_p, count


def jpeg2000_ref(images: Tensor, values: Tensor, seed: Tensor) -> Tensor:
    """values[:, 0] = target PSNR (dB). (N,C,H,W) float -> (N,C,H,W) float (multiples of 1/255)."""
    u8 = to_uint8_image(images).cpu().permute(0, 2, 3, 1).numpy()
    targets = values[:, 0].tolist()
    out = []
    for i in range(images.shape[0]):
        arr = np.ascontiguousarray(u8[i, :, :, 0] if u8.shape[3] == 1 else u8[i])
        dec, _, _ = jpeg2000_to_target(arr, float(targets[i]))
        out.append(torch.from_numpy(dec.reshape(arr.shape[0], arr.shape[1], -1)).permute(2, 0, 1))
    return torch.stack(out).to(device=images.device, dtype=images.dtype).div_(255.0)


SPECS = (
    DistortionSpec(
        name="jpeg2000",
        parameters=(Parameter("psnr", 15.0, 60.0, doc="target PSNR in dB"),),
        reference=jpeg2000_ref,
        levels=(LevelSet("dodge", tuple(float(v) for v in range(40, 18, -2)), source=DODGE),),
        default_levels="dodge",
        description="JPEG 2000 (OpenJPEG via Pillow, 9/7 irreversible) at a target PSNR",
        source=DODGE,
        severity="decreasing",
        identity=None,
    ),
)

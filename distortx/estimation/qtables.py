"""JPEG quality read back from a JPEG file's own quantisation tables (the baseline Endo's estimator is
compared against). Exact for files written by libjpeg-based encoders with ``quality=q`` (Pillow, IJG cjpeg,
ImageMagick...), because their tables are the IJG tables scaled by q (``jpeg_set_quality``, force_baseline;
the same formula as :func:`distortx.distortions.jpeg.quant_tables`). Tables of other encoders (cameras,
Photoshop) match no IJG quality: the nearest one is returned with ``exact=False``. Once a JPEG is decoded and
re-saved (PNG, a screenshot, a crop re-encoded), the tables are gone and only the estimator can tell.
"""
from __future__ import annotations

import io
import os
from dataclasses import dataclass
from functools import lru_cache
from typing import Mapping, Sequence, Union

import numpy as np

from ..errors import ImageError

#: position in natural (row-major) order of the k-th zig-zag coefficient
ZIGZAG = np.array([
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21,
    28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61,
    54, 47, 55, 62, 63])


@dataclass(frozen=True)
class TableQuality:
    """Quality recovered from quantisation tables.

    quality: IJG quality 1..100 whose tables are closest; exact: the tables equal that quality's exactly;
    error: mean absolute difference between the file's tables and that quality's tables (0 when exact).
    """

    quality: int
    exact: bool
    error: float


@lru_cache(maxsize=1)
def ijg_tables() -> np.ndarray:
    """int64 array [100, 2, 64]: luma and chroma tables (natural order) of every quality 1..100."""
    import torch

    from ..distortions.jpeg import quant_tables

    luma, chroma = quant_tables(torch.arange(1, 101))
    return torch.stack([luma.reshape(100, 64), chroma.reshape(100, 64)], dim=1).numpy()


def quality_from_tables(tables: Mapping[int, Sequence[int]]) -> TableQuality:
    """Quality from a table dict as Pillow's ``Image.quantization`` gives it ({0: luma 64, 1: chroma 64, ...}),
    natural order (Pillow >= 8.3) or zig-zag order (older Pillow) both accepted."""
    if 0 not in tables or len(tables[0]) != 64:
        raise ImageError("the JPEG carries no 64-entry luminance quantisation table")
    ref = ijg_tables()
    have = [np.asarray(tables[k], dtype=np.int64) for k in (0, 1) if k in tables and len(tables[k]) == 64]
    best = None
    for order in ("natural", "zigzag"):
        t = have if order == "natural" else [h[np.argsort(ZIGZAG)] for h in have]
        err = np.mean([np.abs(ref[:, k, :] - t[k][None, :]).mean(axis=1) for k in range(len(t))], axis=0)
        i = int(np.argmin(err))
        if best is None or err[i] < best[1]:
            best = (i + 1, float(err[i]))
        if best[1] == 0:
            break
    return TableQuality(best[0], best[1] == 0.0, best[1])


def quality_from_jpeg(source: Union[str, os.PathLike, bytes]) -> TableQuality:
    """Quality of a JPEG file (path or bytes) from its quantisation tables; ImageError if it is no JPEG."""
    from PIL import Image, UnidentifiedImageError

    try:
        fp = io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else open(source, "rb")
    except OSError as exc:
        raise ImageError(f"cannot read {source}: {exc.strerror or exc}") from exc
    with fp:
        try:
            with Image.open(fp) as img:
                if img.format != "JPEG":
                    raise ImageError(f"{_name(source)} is a {img.format} file, not a JPEG: it has no quantisation "
                                     f"tables (estimate the quality from pixels instead)")
                tables = dict(img.quantization or {})
        except UnidentifiedImageError as exc:
            raise ImageError(f"{_name(source)} is not an image file Pillow can read") from exc
    return quality_from_tables(tables)


def _name(source) -> str:
    return "the given bytes" if isinstance(source, (bytes, bytearray)) else str(source)

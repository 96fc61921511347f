"""JPEG quality read from decoded pixels (distortx.estimation.jpeg_lattice): the quantisation lattice of the luma
DCT. Pillow writes the JPEGs (libjpeg-turbo, the IJG tables scaled by quality); the reading must give the quality
back, find the grid after a crop, and see no history in an image that never was a JPEG. A wrong DCT scaling, a
table read in the wrong order, a wrong luma weight or a grid off by a pixel breaks these."""
from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from distortx.estimation.jpeg_lattice import luma, read_jpeg_history
from distortx.io import read_image


def photo(name: str = "astronaut", size: int = 128, at=(40, 100)) -> np.ndarray:
    img = read_image(f"distortx/assets/{name}.png")  # uint8 Tensor[3, H, W]
    y, x = at
    return np.ascontiguousarray(img[:, y:y + size, x:x + size].permute(1, 2, 0).numpy())


def jpeg(a: np.ndarray, q: int, subsampling: str = "4:2:0") -> np.ndarray:
    buf = io.BytesIO()
    im = Image.fromarray(a)
    if im.mode == "RGB":
        im.save(buf, format="JPEG", quality=q, subsampling=subsampling)
    else:
        im.save(buf, format="JPEG", quality=q)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())))


def tensor(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.array(a[..., None] if a.ndim == 2 else a)).permute(2, 0, 1)


@pytest.mark.parametrize("name", ["astronaut", "coffee"])
@pytest.mark.parametrize("q", [4, 23, 50, 77, 92])
def test_quality_read_back(name, q):
    r = read_jpeg_history(tensor(jpeg(photo(name), q)))
    assert r.offset == (0, 0) and r.is_jpeg
    assert r.quality == q, r


def test_grid_found_after_a_crop_and_colour_layouts():
    a = photo(size=144)
    for q, (dy, dx) in [(35, (3, 5)), (80, (7, 1))]:
        d = jpeg(a, q)[dy:dy + 128, dx:dx + 128]
        r = read_jpeg_history(tensor(d))
        assert r.offset == ((8 - dy) % 8, (8 - dx) % 8) and r.quality == q, r
    assert read_jpeg_history(tensor(jpeg(a[:128, :128], 60, "4:4:4"))).quality == 60
    grey = np.ascontiguousarray(np.asarray(Image.fromarray(a[:128, :128]).convert("L")))
    assert read_jpeg_history(tensor(jpeg(grey, 45))).quality == 45
    assert read_jpeg_history(tensor(jpeg(a[:128, :128], 70)).float() / 255).quality == 70  # float [0, 1] too


def test_no_history_in_an_image_that_never_was_a_jpeg():
    img = read_image("distortx/assets/chelsea.png")
    small = np.asarray(Image.fromarray(img.permute(1, 2, 0).numpy()).reduce(2))  # box average: the lattice is gone
    r = read_jpeg_history(tensor(small[:128, :128]))
    assert not r.is_jpeg and r.evidence < 0, r
    jp = read_jpeg_history(tensor(jpeg(np.ascontiguousarray(small[:128, :128]), 85)))
    assert jp.is_jpeg and jp.quality == 85


def test_luma_weights_and_small_inputs():
    x = torch.tensor([[[255]], [[0]], [[0]]], dtype=torch.uint8)
    y, clipped = luma(x)
    assert y.item() == pytest.approx(0.299 * 255) and bool(clipped.item())
    assert read_jpeg_history(torch.zeros(3, 7, 30, dtype=torch.uint8)) is None

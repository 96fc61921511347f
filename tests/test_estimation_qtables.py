"""The JPEG quality read back from a file's quantisation tables: exact on Pillow files at every quality."""
import io

import numpy as np
import pytest
from PIL import Image

from distortx.errors import ImageError
from distortx.estimation import quality_from_jpeg, quality_from_tables
from distortx.estimation.qtables import ZIGZAG, ijg_tables


@pytest.fixture(scope="module")
def rgb():
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 256, (24, 40, 3), dtype=np.uint8))


def _jpeg(img, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", **kw)
    return buf.getvalue()


@pytest.mark.parametrize("mode,kw", [("RGB", {"subsampling": "4:2:0"}), ("RGB", {"subsampling": "4:4:4"}), ("L", {})])
def test_exact_on_pillow_files_at_every_quality(rgb, mode, kw):
    for q in range(1, 101):
        got = quality_from_jpeg(_jpeg(rgb.convert(mode), quality=q, **kw))
        assert (got.quality, got.exact, got.error) == (q, True, 0.0), q


def test_reads_files_from_disk(rgb, tmp_path):
    path = tmp_path / "a.jpg"
    rgb.save(path, quality=37)
    assert quality_from_jpeg(path).quality == 37


def test_ijg_tables_follow_the_scaling_formula():
    t = ijg_tables()
    assert t.shape == (100, 2, 64)
    assert t[49, 0, 0] == 16 and t[49, 1, 0] == 17  # q = 50: the base tables
    assert (t[99] == 1).all()                        # q = 100: all ones
    assert t[0].max() == 255                         # q = 1: clamped to baseline's 255


def test_zigzag_order_is_accepted():
    t = ijg_tables()[74]  # q = 75
    zig = {0: t[0][ZIGZAG].tolist(), 1: t[1][ZIGZAG].tolist()}
    assert quality_from_tables(zig).quality == 75 and quality_from_tables(zig).exact


def test_foreign_tables_give_the_nearest_quality_not_exact():
    t = ijg_tables()[89].copy()  # q = 90, then perturbed like a camera's own table
    t[0, 5] += 3
    got = quality_from_tables({0: t[0].tolist(), 1: t[1].tolist()})
    assert got.quality == 90 and not got.exact and got.error > 0


def test_non_jpeg_inputs_raise_image_error(rgb, tmp_path):
    png = tmp_path / "a.png"
    rgb.save(png)
    with pytest.raises(ImageError, match="not a JPEG"):
        quality_from_jpeg(png)
    with pytest.raises(ImageError, match="cannot read"):
        quality_from_jpeg(tmp_path / "missing.jpg")
    with pytest.raises(ImageError, match="not an image"):
        quality_from_jpeg(b"hello")
    with pytest.raises(ImageError, match="luminance"):
        quality_from_tables({1: [1] * 64})

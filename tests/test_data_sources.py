"""Image sources: folders (recursive, every mode converted, broken files), embedded samples, tensors; crops."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from distortx.data.samples import SAMPLE_PHOTOS, dead_leaves, load_sample
from distortx.data.sources import EmbeddedSource, FolderSource, TensorSource, open_source, prepare_reference
from distortx.errors import DatasetError, ImageError


def _rgb(h: int, w: int, seed: int = 0) -> np.ndarray:
    g = np.random.default_rng(seed)
    return g.integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_folder_source_lists_recursively_sorted_and_converts_modes(tmp_path):
    root = tmp_path / "imgs"
    (root / "b" / "deep").mkdir(parents=True)
    (root / ".hidden").mkdir()
    rgb = _rgb(12, 16)
    Image.fromarray(rgb).save(root / "z.png")
    Image.fromarray(rgb).convert("L").save(root / "b" / "grey.JPG", quality=95)
    Image.fromarray(rgb).convert("RGBA").save(root / "b" / "deep" / "rgba.png")
    Image.fromarray(rgb).convert("P").save(root / "pal.bmp")
    Image.fromarray((rgb[..., 0].astype(np.uint16) * 257)).save(root / "b" / "sixteen.tif")
    Image.fromarray(rgb).save(root / "w.webp", lossless=True)
    Image.fromarray(rgb).save(root / ".hidden" / "x.png")
    (root / "notes.txt").write_text("not an image")
    src = FolderSource(root)
    assert src.files == ("b/deep/rgba.png", "b/grey.JPG", "b/sixteen.tif", "pal.bmp", "w.webp", "z.png")
    for i in range(len(src)):
        x = src.load(i)
        assert x.dtype == torch.uint8 and x.shape == (3, 12, 16)
    assert torch.equal(src.load(5), torch.from_numpy(rgb).permute(2, 0, 1))
    assert torch.equal(src.load(4), src.load(5))                       # lossless WebP
    assert torch.equal(src.load(0), src.load(5))                       # opaque RGBA -> RGB
    sixteen = src.load(2)
    assert torch.equal(sixteen[0], sixteen[1]) and torch.equal(sixteen[0], torch.from_numpy(rgb[..., 0]))  # 16-bit -> 8-bit
    grey = src.load(1)
    assert torch.equal(grey[0], grey[2])
    h = src.fingerprint()
    assert len(h) == 64 and FolderSource(root).fingerprint() == h
    Image.fromarray(_rgb(12, 16, 1)).save(root / "z.png")
    assert FolderSource(root).fingerprint() != h                       # content, not names, is hashed


def test_exif_orientation_is_applied(tmp_path):
    a = np.zeros((10, 20, 3), dtype=np.uint8)
    a[:, :10] = 255  # left half white: after a 90-degree clockwise turn it is the top half
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    Image.fromarray(a).save(tmp_path / "r.jpg", exif=exif, quality=95)
    x = FolderSource(tmp_path).load(0)
    assert x.shape == (3, 20, 10)
    assert x[:, :10].float().mean() > 200 and x[:, 10:].float().mean() < 50


def test_unreadable_files_raise_image_error_with_relative_path(tmp_path):
    Image.fromarray(_rgb(40, 40)).save(tmp_path / "ok.png")
    data = (tmp_path / "ok.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 3])
    src = FolderSource(tmp_path)
    with pytest.raises(ImageError) as exc:
        src.load(src.files.index("cut.png"))
    assert "cut.png" in str(exc.value) and str(tmp_path) not in str(exc.value)


def test_folder_errors(tmp_path):
    with pytest.raises(DatasetError, match="no images found"):
        FolderSource(tmp_path)
    with pytest.raises(DatasetError, match="not a folder"):
        FolderSource(tmp_path / "missing")


def test_embedded_source_photos_then_dead_leaves():
    src = EmbeddedSource(5, size=40)
    assert [src.name(i) for i in range(5)] == [*SAMPLE_PHOTOS, "dead_leaves_00000", "dead_leaves_00001"]
    assert torch.equal(src.load(0), load_sample(SAMPLE_PHOTOS[0]))
    assert torch.equal(src.load(4), dead_leaves(40, seed=1)) and src.load(4).shape == (3, 40, 40)
    assert not torch.equal(src.load(3), src.load(4))
    assert src.fingerprint() == EmbeddedSource(5, size=40).fingerprint() != EmbeddedSource(6, size=40).fingerprint()
    assert isinstance(open_source(None, 7, 32), EmbeddedSource) and len(open_source(None, 7, 32)) == 7


def test_tensor_source():
    x = torch.rand(2, 1, 8, 9)
    src = TensorSource(x)
    assert len(src) == 2 and src.name(1) == "tensor_00001"
    y = src.load(0)
    assert y.dtype == torch.uint8 and y.shape == (3, 8, 9) and torch.equal(y[0], y[2])
    assert torch.equal(y[0], (x[0, 0] * 255).round().to(torch.uint8))
    assert src.fingerprint() == TensorSource(x).fingerprint() != TensorSource(x.flip(-1)).fingerprint()
    with pytest.raises(ImageError):
        TensorSource([torch.rand(4, 8, 8)])
    with pytest.raises(DatasetError):
        TensorSource([])


def test_prepare_reference_crops_resizes_and_upscales():
    ys, xs = torch.meshgrid(torch.arange(50), torch.arange(80), indexing="ij")
    img = torch.stack([ys, xs, ys + xs]).to(torch.uint8)
    crop, up = prepare_reference(img, 40, resize=False)   # plain centre crop
    assert not up and torch.equal(crop, img[:, 5:45, 20:60])
    crop, up = prepare_reference(img, 25, resize=True)    # shorter side 50 -> 25, then centre crop
    assert not up and crop.shape == (3, 25, 25)
    assert abs(int(crop[0, 12, 12]) - 25) <= 2 and abs(int(crop[1, 12, 12]) - 40) <= 2   # the centre stays the centre
    crop, up = prepare_reference(img, 64, resize=False)   # smaller than the crop: upscaled, reported
    assert up and crop.shape == (3, 64, 64)
    same, up = prepare_reference(img[:, :40, :40], 40, resize=True)
    assert not up and torch.equal(same, img[:, :40, :40])

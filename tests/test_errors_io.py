"""Bad input gets one clear DistortxError; odd image modes are converted, not refused."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import distortx
from distortx import DistortxError, ImageError, ParameterError, UnknownNameError
from distortx.io import read_image, save_image, to_float_image


def test_unknown_distortion_lists_close_matches():
    with pytest.raises(UnknownNameError) as err:
        distortx.get_distortion("gausian_blur")
    assert "did you mean gaussian_blur" in str(err.value)
    assert isinstance(err.value, DistortxError) and "\n" not in str(err.value)


def test_unknown_level_set_and_level_index():
    spec = distortx.get_distortion("gaussian_blur")
    with pytest.raises(UnknownNameError, match="did you mean ahn"):
        spec.sample(1, levels="ahm")
    with pytest.raises(ParameterError, match=r"level 7 does not exist .* \(levels 0..2\)"):
        spec.sample(1, levels="ahn", level=7)


@pytest.mark.parametrize("bad, message", [(float("nan"), "must be finite"), (25.0, "outside its range"), (-1.0, "outside its range")])
def test_parameter_out_of_range_or_nan(bad, message):
    spec = distortx.get_distortion("gaussian_blur")
    p = spec.params(1.0)
    p.values[0, 0] = bad
    with pytest.raises(ParameterError, match=message):
        spec.apply(torch.rand(1, 3, 8, 8), p)


def test_params_of_the_wrong_shape():
    spec = distortx.get_distortion("gaussian_blur")
    with pytest.raises(ParameterError, match=r"must have shape \(2, 1\)"):
        spec.apply(torch.rand(2, 3, 8, 8), spec.params(1.0))


@pytest.mark.parametrize(
    "images, message",
    [
        (torch.rand(2, 1, 3, 8, 8), "shape"),
        (torch.rand(1, 4, 8, 8), "1 or 3 channels"),
        (torch.randint(0, 255, (1, 3, 8, 8), dtype=torch.int32), "float in"),
        (np.zeros((1, 3, 8, 8), dtype=np.float32), "1 or 3 channels"),
        ([[0.5]], "torch.Tensor"),
    ],
)
def test_wrong_tensor_shape_or_dtype(images, message):
    spec = distortx.get_distortion("gaussian_blur")
    with pytest.raises(ImageError, match=message):
        spec.apply(images, spec.params(1.0))


def test_unreadable_and_truncated_files(tmp_path):
    missing = tmp_path / "nope.png"
    with pytest.raises(ImageError, match="no such image file"):
        read_image(missing)
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"this is not an image")
    with pytest.raises(ImageError, match="cannot read image"):
        read_image(junk)
    good = tmp_path / "good.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(good)
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(good.read_bytes()[:300])
    with pytest.raises(ImageError, match="truncated.jpg: cannot read image"):
        read_image(truncated)


def test_grey_rgba_palette_and_16bit_images_are_converted(tmp_path):
    rng = np.random.default_rng(1)
    grey = rng.integers(0, 256, (5, 7), dtype=np.uint8)
    Image.fromarray(grey, mode="L").save(tmp_path / "grey.png")
    x = read_image(tmp_path / "grey.png")
    assert x.shape == (3, 5, 7) and x.dtype == torch.uint8
    assert torch.equal(x[0], torch.from_numpy(grey)) and torch.equal(x[0], x[2])

    rgba = np.zeros((4, 4, 4), dtype=np.uint8)
    rgba[..., 0] = 200
    rgba[..., 3] = 0  # fully transparent: composited over white
    rgba[0, 0, 3] = 255
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "rgba.png")
    y = read_image(tmp_path / "rgba.png")
    assert y[:, 0, 0].tolist() == [200, 0, 0] and y[:, 1, 1].tolist() == [255, 255, 255]

    deep = (np.arange(12, dtype=np.uint16).reshape(3, 4) * 5000).astype(np.uint16)
    Image.fromarray(deep).save(tmp_path / "deep.png")
    z = read_image(tmp_path / "deep.png")
    expected = np.round(deep.astype(np.float64) / 65535 * 255).astype(np.uint8)
    assert torch.equal(z[1], torch.from_numpy(expected))

    pal = Image.fromarray(rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)).convert("P", palette=Image.ADAPTIVE, colors=8)
    pal.save(tmp_path / "pal.png")
    p = read_image(tmp_path / "pal.png")
    assert p.shape == (3, 6, 6) and len(torch.unique(p.reshape(3, -1), dim=1).T) <= 8


def test_exif_orientation_is_applied(tmp_path):
    a = np.zeros((4, 8, 3), dtype=np.uint8)
    a[:, :4] = 255  # left half white
    img = Image.fromarray(a)
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90 CW on display
    img.save(tmp_path / "rot.jpg", exif=exif, quality=100)
    x = read_image(tmp_path / "rot.jpg")
    assert x.shape == (3, 8, 4)
    assert x[:, :4].float().mean() > 200 and x[:, 4:].float().mean() < 50  # the white half is now on top


def test_save_is_lossless_and_atomic(tmp_path):
    x = torch.randint(0, 256, (3, 9, 11), dtype=torch.uint8)
    save_image(tmp_path / "a.png", x)
    assert torch.equal(read_image(tmp_path / "a.png"), x)
    assert [p.name for p in tmp_path.iterdir()] == ["a.png"]  # no temp files left
    assert torch.allclose(to_float_image(x), x.float() / 255)


def test_distort_convenience_matches_spec_api(photo):
    spec = distortx.get_distortion("gaussian_blur")
    a = distortx.distort(photo, "gaussian_blur", level=2, levels="ahn")
    b = spec.apply(photo, spec.params(6.0))
    assert torch.equal(a, b)
    c = distortx.distort(photo[0], "gaussian_blur", value=6.0)
    assert torch.equal(c, b[0])
    with pytest.raises(ParameterError, match="either level or value"):
        distortx.distort(photo, "gaussian_blur", level=0, value=1.0)

"""The Python API as users of albumentations / imagecorruptions / kornia / torchvision call it: numpy and uint8
images in, the same type out; CHW as well as NCHW; corrupt(severity); RandomDistortion as an nn.Module."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import distortx
from distortx import ImageError, ParameterError, Region


@pytest.fixture(scope="module")
def img_u8() -> np.ndarray:
    """uint8 H x W x 3 (a crop of the embedded coffee photo)."""
    from distortx.data.samples import load_sample

    return np.ascontiguousarray(load_sample("coffee")[:, 100:148, 200:264].permute(1, 2, 0).numpy())


def as_tensor(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(a).permute(2, 0, 1).unsqueeze(0).float() / 255


def to_u8(x: torch.Tensor) -> np.ndarray:
    return (x[0].clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()


# -- numpy and uint8 at the edges ------------------------------------------------------------------------
def test_distort_numpy_uint8_hwc_returns_the_same_type(img_u8):
    out = distortx.distort(img_u8, "jpeg", level=0)
    assert isinstance(out, np.ndarray) and out.dtype == np.uint8 and out.shape == img_u8.shape
    np.testing.assert_array_equal(out, to_u8(distortx.distort(as_tensor(img_u8), "jpeg", level=0)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_numpy_float_grey_and_batches(img_u8, dtype):
    grey = (img_u8[..., 0] / 255).astype(dtype)  # H x W
    out = distortx.distort(grey, "gaussian_blur", value=2.0)
    assert isinstance(out, np.ndarray) and out.dtype == dtype and out.shape == grey.shape
    ref = distortx.distort(torch.from_numpy(grey.astype(np.float32))[None, None], "gaussian_blur", value=2.0)
    np.testing.assert_allclose(out, ref[0, 0].numpy(), atol=1e-6)
    batch = np.stack([img_u8, img_u8[::-1]]).astype(dtype) / 255  # N x H x W x C
    out = distortx.get_distortion("contrast").apply(batch, distortx.get_distortion("contrast").params(0.5, n=2))
    assert out.shape == batch.shape and out.dtype == dtype
    # the values, not only the layout: each image equals its NCHW float32 result, in its own place
    nchw = torch.from_numpy(batch.astype(np.float32)).permute(0, 3, 1, 2)
    ref = distortx.get_distortion("contrast").apply(nchw, distortx.get_distortion("contrast").params(0.5, n=2))
    np.testing.assert_allclose(out, ref.permute(0, 2, 3, 1).numpy(), atol=1e-6)


def test_uint8_tensors_chw_and_nchw(img_u8):
    spec = distortx.get_distortion("gaussian_noise")
    chw = torch.from_numpy(img_u8).permute(2, 0, 1).contiguous()
    out = spec.apply(chw, spec.params(0.01, seed=3))
    assert out.dtype == torch.uint8 and out.shape == chw.shape
    ref = spec.apply(chw.float().unsqueeze(0) / 255, spec.params(0.01, seed=3))
    assert torch.equal(out, (ref[0] * 255).round().to(torch.uint8))
    nchw = chw.unsqueeze(0).repeat(2, 1, 1, 1)
    out2 = spec.apply(nchw, spec.params(0.01, n=2, seed=3))
    ref2 = spec.apply(nchw.float() / 255, spec.params(0.01, n=2, seed=3))
    assert out2.shape == nchw.shape and torch.equal(out2, (ref2 * 255).round().to(torch.uint8))
    assert distortx.distort(chw, "jpeg", level=1).dtype == torch.uint8


def test_float_chw_in_spec_apply(photo):
    spec = distortx.get_distortion("gaussian_blur")
    assert torch.equal(spec.apply(photo[0], spec.params(3.0)), spec.apply(photo, spec.params(3.0))[0])
    half = photo.half()
    assert spec.apply(half, spec.params(3.0)).dtype == torch.float16


def test_apply_regions_numpy_keeps_outside_pixels(img_u8):
    regions = [Region("salt_pepper", (0.3,), box=(5, 6, 30, 20), seed=2)]
    out = distortx.apply_regions(img_u8, regions)
    assert isinstance(out, np.ndarray) and out.dtype == np.uint8
    mask = np.ones(img_u8.shape[:2], bool)
    mask[6:20, 5:30] = False
    np.testing.assert_array_equal(out[mask], img_u8[mask])
    assert (out[~mask] != img_u8[~mask]).any()


def test_tv_tensors_image_comes_back_as_one():
    tv_tensors = pytest.importorskip("torchvision.tv_tensors")
    img = tv_tensors.Image(torch.rand(3, 20, 24))
    out = distortx.distort(img, "gaussian_blur", value=1.0)
    assert isinstance(out, tv_tensors.Image) and out.shape == img.shape


@pytest.mark.parametrize("images, message", [
    (torch.zeros(1, 3, 8, 8, dtype=torch.int32), "float in [0, 1] or uint8"),
    (torch.zeros(8, 9, 3), "use x.permute(2, 0, 1)"),
    (np.zeros((3, 8, 9), np.uint8), "a.transpose(1, 2, 0)"),
    (np.zeros((8, 8, 4), np.uint8), "1 or 3 channels"),
    (np.zeros((8, 8), np.int64), "uint8 or float"),
    ([[0.5]], "torch.Tensor"),
])
def test_bad_images_name_what_to_do(images, message):
    with pytest.raises(ImageError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")) as err:
        distortx.distort(images, "jpeg")
    assert "to_float_image" not in str(err.value)


# -- levels of continuous sets, seeds --------------------------------------------------------------------
def test_a_level_of_a_continuous_set_is_refused(photo):
    with pytest.raises(ParameterError, match=r"continuous.*uniformly in \[5, 30\].*level 3 means nothing.*hsieh_constant"):
        distortx.distort(photo, "motion_blur", level=3)
    with pytest.raises(ParameterError, match="level 0 means nothing"):
        distortx.get_distortion("gaussian_blur").sample(2, levels="ahn", level=0, variable=True)
    # neither level nor value: level 0 of a discrete set, a seeded draw in a continuous one
    assert torch.equal(distortx.distort(photo, "gaussian_blur"), distortx.distort(photo, "gaussian_blur", level=0))
    a, b = (distortx.distort(photo, "motion_blur", seed=s) for s in (1, 2))
    assert torch.equal(a, distortx.distort(photo, "motion_blur", seed=1)) and not torch.equal(a, b)


@pytest.mark.parametrize("seed", [2**70, -1, 1.5, True])
def test_seeds_must_be_63_bit_integers(photo, seed):
    with pytest.raises(ParameterError, match=r"seed must be an integer in \[0, 2\^63 - 1\]"):
        distortx.distort(photo, "jpeg", seed=seed)


# -- corrupt(severity) -------------------------------------------------------------------------------------
def test_severities_map_onto_the_paper_levels():
    sv = distortx.severity_value
    assert [sv("gaussian_blur", s) for s in range(1, 6)] == [1.5, 2.25, 3.0, 4.5, 6.0]
    assert [sv("jpeg", s) for s in range(1, 6)] == [20, 15, 10, 8, 5]  # integer quality
    assert [sv("quantization", s) for s in range(1, 6)] == [16, 12, 8, 6, 4]
    assert [sv("motion_blur", s) for s in range(1, 6)] == [5.0, 11.25, 17.5, 23.75, 30.0]  # continuous set
    assert sv("contrast", 1) == pytest.approx(0.1) and sv("contrast", 5) == 1.0  # 0.0 (identity) skipped
    assert sv("gaussian_noise_sigma", 1, levels="endo") == pytest.approx(10.0)  # U[0, 50] from the identity: s / 5
    assert sv("jpeg", 1, levels="dodge") == 20 and sv("jpeg", 5, levels="dodge") == 2
    for name in distortx.list_distortions():
        spec = distortx.get_distortion(name)
        if spec.levels:
            vals = [sv(name, s) for s in range(1, 6)]
            assert vals == sorted(vals, reverse=spec.severity == "decreasing"), name


def test_corrupt_is_an_imagecorruptions_style_one_liner(img_u8):
    out = distortx.corrupt(img_u8, "gaussian_blur", severity=3)
    assert out.dtype == np.uint8 and out.shape == img_u8.shape
    np.testing.assert_array_equal(out, distortx.distort(img_u8, "gaussian_blur", value=3.0))
    mild, severe = (distortx.corrupt(img_u8, "jpeg", severity=s).astype(float) for s in (1, 5))
    assert np.abs(severe - img_u8).mean() > np.abs(mild - img_u8).mean()
    for bad in (0, 6, 2.5):
        with pytest.raises(ParameterError, match="severity must be an integer from 1"):
            distortx.corrupt(img_u8, "jpeg", severity=bad)


# -- RandomDistortion --------------------------------------------------------------------------------------
def test_random_distortion_draws_per_sample_and_replays(photos):
    batch = photos.repeat(4, 1, 1, 1)  # 12 images
    aug = distortx.RandomDistortion(p=0.75, generator=torch.Generator().manual_seed(1))
    out = aug(batch)
    prm = aug.last_params
    assert out.shape == batch.shape and set(prm) == {"label", "values", "level", "seed"}
    label = prm["label"]
    assert label.shape == (12,) and len(set(label.tolist())) > 2 and (label == 0).any()
    for i, lab in enumerate(label.tolist()):
        if lab == 0:
            assert torch.equal(out[i], batch[i]) and prm["values"][i].isnan().all()
            continue
        name = aug.types[lab - 1]
        spec = distortx.get_distortion(name)
        v = prm["values"][i]
        assert v[0].item() in [pytest.approx(x) for x in spec.level_set("ahn").values]
        assert prm["level"][i] >= 0
        # equals the functional call with the recorded parameters (native path: float rounding apart)
        region = Region(name, tuple(v[: spec.num_params].tolist()), None, int(prm["seed"][i]))
        ref = distortx.apply_regions(batch[i], [region], impl="python")
        assert (out[i] - ref).abs().max().item() <= 1e-5, name
    assert torch.equal(aug(batch, params=prm), out)  # replay
    again = distortx.RandomDistortion(p=0.75, generator=torch.Generator().manual_seed(1))(batch)
    assert torch.equal(again, out)  # same generator state, same draws


def test_random_distortion_in_sequential_and_transforms_v2():
    v2 = pytest.importorskip("torchvision.transforms.v2")
    tv_tensors = pytest.importorskip("torchvision.tv_tensors")
    torch.manual_seed(0)
    model = nn.Sequential(distortx.RandomDistortion(types=["gaussian_blur", "jpeg"], variable=True),
                          nn.Conv2d(3, 4, 3))
    assert model(torch.rand(2, 3, 16, 16)).shape == (2, 4, 14, 14)
    aug = model[0]
    assert aug.last_params["level"].tolist() == [-1, -1]  # variable: continuous draws
    pipe = v2.Compose([v2.ToImage(), v2.ToDtype(torch.float32, scale=True), distortx.RandomDistortion(p=1.0)])
    img = np.random.default_rng(0).integers(0, 256, (24, 20, 3), dtype=np.uint8)
    out, target = pipe(img, {"label": 7})
    assert isinstance(out, tv_tensors.Image) and out.shape == (3, 24, 20) and target == {"label": 7}
    u8 = distortx.RandomDistortion(p=0.0)(torch.from_numpy(img).permute(2, 0, 1))
    assert u8.dtype == torch.uint8 and torch.equal(u8, torch.from_numpy(img).permute(2, 0, 1))


def test_random_distortion_rejects_bad_arguments():
    with pytest.raises(ParameterError, match="probability"):
        distortx.RandomDistortion(p=1.5)
    with pytest.raises(distortx.UnknownNameError, match="did you mean gaussian_blur"):
        distortx.RandomDistortion(types=["gausian_blur"])
    with pytest.raises(distortx.UnknownNameError):
        distortx.RandomDistortion(types=["jpeg"], levels={"jpeg": "nope"})


def test_every_entry_point_takes_pil_numpy_and_tensors_in_input_order(img_u8, tmp_path):
    """One normaliser (distortions.edges): distort / estimate / predict take PIL, numpy and tensors alike, give
    an image back as the kind they were given, and keep the input order (files and tensors mixed)."""
    from PIL import Image

    pil = Image.fromarray(img_u8)
    out = distortx.distort(pil, "gaussian_blur", value=2.0)
    assert isinstance(out, Image.Image) and out.size == pil.size
    ref = distortx.distort(img_u8, "gaussian_blur", value=2.0)
    np.testing.assert_array_equal(np.asarray(out), ref)
    q = distortx.estimate([pil, img_u8, torch.from_numpy(img_u8).permute(2, 0, 1)], what="jpeg_quality")
    assert q.shape == (3,) and q[0] == q[1] == q[2]
    pil.save(tmp_path / "a.png")
    preds = distortx.predict([torch.rand(3, 64, 64), tmp_path / "a.png", img_u8, str(tmp_path / "*.png")], verdict=False)
    assert [p.file for p in preds] == ["image_0", str(tmp_path / "a.png"), "image_2", str(tmp_path / "a.png")]
    with pytest.raises(distortx.ImageError, match="matches no image"):
        distortx.predict(str(tmp_path / "*.jpg"))

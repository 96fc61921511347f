"""``distortx.estimate``: inputs, tiling, clamping, user weights."""
import pytest
import torch

import distortx
from distortx.errors import DistortxError, ImageError, UnknownNameError
from distortx.estimation import ParamEstimator, save_estimator
from distortx.estimation.api import get_estimator, pixel_map


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("w") / "noise.pt"
    save_estimator(ParamEstimator("noise_sigma", width=4), path)
    return str(path)


def test_tiled_map_equals_one_pass(weights):
    model = get_estimator("noise_sigma", weights)
    img = torch.rand(3, 70, 45)
    with torch.no_grad():
        whole = model.pixel_map(img.unsqueeze(0))[0]
        tiled = pixel_map(model, img, tile=16)
    assert torch.allclose(whole, tiled, atol=1e-5)


def test_estimate_accepts_batches_lists_uint8_and_single_images(weights):
    x = torch.rand(2, 3, 24, 24)
    a = distortx.estimate(x, what="noise_sigma", weights=weights)
    assert a.shape == (2,)
    b = distortx.estimate([x[0], x[1, :, :20, :]], what="noise_sigma", weights=weights)
    assert b[0] == pytest.approx(a[0].item(), abs=1e-4)
    u8 = (x * 255).round().to(torch.uint8)
    c = distortx.estimate(u8[0], what="noise_sigma", weights=weights)
    d = distortx.estimate(u8[0].float() / 255, what="noise_sigma", weights=weights)
    assert c.shape == (1,) and torch.allclose(c, d)


def test_estimate_returns_clamped_maps(weights):
    values, maps = distortx.estimate(torch.rand(1, 3, 20, 30), what="noise_sigma", weights=weights, return_map=True)
    assert maps[0].shape == (20, 30)
    assert maps[0].min() >= 0
    assert values[0] == pytest.approx(maps[0].mean().item(), abs=1e-4)


def test_estimate_errors(weights):
    with pytest.raises(UnknownNameError, match="estimation target"):
        distortx.estimate(torch.rand(1, 3, 8, 8), what="blur")
    with pytest.raises(ImageError):
        distortx.estimate(torch.rand(3, 8), what="noise_sigma", weights=weights)
    with pytest.raises(ImageError):
        distortx.estimate(torch.zeros(1, 3, 8, 8, dtype=torch.int32), what="noise_sigma", weights=weights)
    with pytest.raises(DistortxError):
        distortx.estimate(torch.rand(1, 3, 8, 8), what="noise_sigma", weights="/nonexistent.pt")

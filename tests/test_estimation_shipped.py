"""The estimators shipped in distortx/estimation/weights/ on the embedded photos (never seen in training):
JPEG quality within +-10 at q = 10, 50, 90; noise sigma within +-3 at sigma = 5, 25, 45."""
import pytest
import torch

import distortx
from distortx.data.samples import sample_images
from distortx.distortions.jpeg import jpeg_pillow
from distortx.estimation import read_checkpoint_meta, shipped_weights
from distortx.estimation.degrade import degrade


@pytest.fixture(scope="module")
def crops():
    """float Tensor[3, 3, 128, 128]: centre crops of the three embedded photos."""
    out = []
    for _, img in sample_images():
        h, w = img.shape[1:]
        out.append(img[:, (h - 128) // 2: (h + 128) // 2, (w - 128) // 2: (w + 128) // 2].float() / 255)
    return torch.stack(out)


@pytest.mark.parametrize("what", ["jpeg_quality", "noise_sigma"])
def test_shipped_weights_load_with_weights_only(what):
    ck = torch.load(shipped_weights(what), weights_only=True)
    assert ck["format"] == "distortx-checkpoint" and ck["model_config"]["arch"] == "param_estimator"
    assert ck["model_config"]["what"] == what
    assert read_checkpoint_meta(what)["steps"] > 0


@pytest.mark.parametrize("quality", [10, 50, 90])
def test_shipped_jpeg_estimator_within_10(crops, quality):
    x = jpeg_pillow(crops, torch.full((3, 1), float(quality)), torch.zeros(3, dtype=torch.long))
    est = distortx.estimate(x, what="jpeg_quality")
    assert (est - quality).abs().max().item() <= 10, est.tolist()


@pytest.mark.parametrize("sigma", [5, 25, 45])
def test_shipped_noise_estimator_within_3(crops, sigma):
    x = degrade(crops, "gaussian_noise_sigma", torch.full((3,), float(sigma)), torch.tensor([11, 12, 13]))
    est = distortx.estimate(x, what="noise_sigma")
    assert (est - sigma).abs().max().item() <= 3, est.tolist()

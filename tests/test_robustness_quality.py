"""SSIM and PSNR of distorted inputs (distortx.engine.robustness.image_quality), checked against scikit-image."""
import math

import numpy as np
import pytest
import torch

import distortx
from distortx.engine.robustness.image_quality import PSNR_CAP, psnr, ssim
from distortx.errors import ImageError

skimage_metrics = pytest.importorskip("skimage.metrics")


def _skimage_ssim(a: torch.Tensor, b: torch.Tensor) -> float:
    """scikit-image's SSIM with Wang et al.'s settings, on one image Tensor[C, H, W]."""
    return float(skimage_metrics.structural_similarity(
        a.double().numpy(), b.double().numpy(), gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
        data_range=1.0, channel_axis=0))


@pytest.mark.parametrize("name,level", [("gaussian_blur", 2), ("gaussian_noise_sigma", 4), ("jpeg", 6),
                                        ("contrast", 5), ("jpeg2000", 8)])
def test_ssim_matches_scikit_image_on_distorted_photos(photos, name, level):
    distorted = distortx.distort(photos, name, level=level, levels="dodge", seed=3)
    ours = ssim(photos, distorted)
    ref = [_skimage_ssim(photos[i], distorted[i]) for i in range(photos.shape[0])]
    assert ours.shape == (photos.shape[0],) and ours.dtype == torch.float32
    assert np.allclose(ours.numpy(), ref, atol=1e-3)
    assert (ours < 0.999).all()  # every one of these levels changes the photo


def test_ssim_matches_scikit_image_on_odd_sizes_and_grey_images():
    g = torch.Generator().manual_seed(1)
    a = torch.rand(2, 1, 23, 37, generator=g)
    b = (a + 0.2 * torch.randn(a.shape, generator=g)).clamp(0, 1)
    ours = ssim(a, b)
    ref = [float(skimage_metrics.structural_similarity(a[i, 0].double().numpy(), b[i, 0].double().numpy(),
                                                      gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                                      data_range=1.0)) for i in range(2)]
    assert np.allclose(ours.numpy(), ref, atol=1e-3)


def test_ssim_matches_scikit_image_on_large_images():
    g = torch.Generator().manual_seed(4)
    a = torch.rand(1, 3, 80, 97, generator=g)
    b = (a + 0.05 * torch.randn(a.shape, generator=g)).clamp(0, 1)
    assert abs(float(ssim(a, b)[0]) - _skimage_ssim(a[0], b[0])) < 1e-3


def test_ssim_of_identical_images_is_one_and_of_a_flat_image_is_small():
    x = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    assert torch.allclose(ssim(x, x), torch.ones(3), atol=1e-6)
    flat = torch.full_like(x, 0.5)
    assert (ssim(x, flat) < 0.05).all()


def test_ssim_uses_a_smaller_window_on_tiny_images():
    x = torch.rand(1, 3, 7, 9, generator=torch.Generator().manual_seed(3))
    y = (x * 0.5).clamp(0, 1)
    v = float(ssim(x, y)[0])
    assert math.isfinite(v) and 0.0 < v < 1.0


def test_psnr_by_hand_and_capped_for_identical_images():
    a = torch.zeros(2, 3, 4, 4)
    b = torch.zeros(2, 3, 4, 4)
    b[0] += 0.1  # MSE 0.01 -> 20 dB
    b[1, 0, 0, 0] = 1.0  # MSE 1/48 -> 10 log10(48)
    assert torch.allclose(psnr(a, b), torch.tensor([20.0, 10 * math.log10(48.0)]), atol=1e-4)
    assert torch.equal(psnr(a, a), torch.full((2,), PSNR_CAP))


def test_quality_rejects_mismatched_shapes():
    with pytest.raises(ImageError, match="same shape"):
        ssim(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 9))
    with pytest.raises(ImageError, match="same shape"):
        psnr(torch.rand(2, 3, 8, 8), torch.rand(1, 3, 8, 8))

"""Endo's training data through distortx's synthesis: preset sampling, Pillow-exact JPEG."""
import pytest
import torch

from distortx._ext import native_available
from distortx.distortions.jpeg import jpeg_pillow
from distortx.estimation.degrade import degrade, quantize8, sample_params

IMPLS = ["python"] + (["native"] if native_available() else [])


@pytest.mark.parametrize("impl", IMPLS)
def test_jpeg_degradation_is_bit_exact_with_pillow(photos, impl):
    x = photos.repeat(4, 1, 1, 1)[:, :, :40, :56]  # 12 images, a size that is not a multiple of 16
    q = torch.tensor([1.0, 5, 10, 20, 33, 50, 64, 75, 85, 90, 97, 100])
    got = degrade(x, "jpeg", q, impl=impl)
    want = jpeg_pillow(x, q[:, None], torch.zeros(12, dtype=torch.long))
    assert torch.equal(got, want)


def test_noise_degradation_adds_sigma_and_is_8bit(photos):
    x = torch.full((2, 3, 64, 64), 128 / 255)
    out = degrade(x, "gaussian_noise_sigma", torch.tensor([0.0, 20.0]), torch.tensor([3, 4]))
    assert torch.equal(out[0], x[0])
    assert (out[1] - 128 / 255).std().item() * 255 == pytest.approx(20.0, rel=0.05)
    assert torch.equal(out, quantize8(out))
    again = degrade(x, "gaussian_noise_sigma", torch.tensor([0.0, 20.0]), torch.tensor([3, 4]))
    assert torch.equal(out, again)  # the seed fixes the noise


def test_presets_draw_endos_parameter_ranges():
    g = torch.Generator().manual_seed(0)
    q = sample_params("endo-jpeg", 4000, g).values[:, 0]
    assert q.min() == 1 and q.max() == 100 and torch.equal(q, q.round())
    assert len(torch.unique(q)) == 100
    s = sample_params("endo-noise", 4000, g).values[:, 0]
    assert 0 <= s.min() < 0.5 and 49.5 < s.max() <= 50 and not torch.equal(s, s.round())

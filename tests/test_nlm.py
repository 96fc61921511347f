"""Non-local means denoising: scikit-image's fast-mode semantics, identity at h = 0, noise reduction."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import distortx
from distortx.distortions import nlm
from distortx.distortions.native_codes import NATIVE_CODES
from distortx.distortions.spec import Params

skimage_restoration = pytest.importorskip("skimage.restoration")

AHN_H = (0.04, 0.06, 0.08)
#: measured max |ours - skimage| is ~6e-8 (float32 rounding of the float64 result) on these images
TOLERANCE = 1e-6


def params(vals) -> Params:
    v = torch.tensor(vals, dtype=torch.float32).reshape(-1, 1)
    return Params(v, torch.arange(v.shape[0]), torch.full((v.shape[0],), -1))


def clean_and_noisy(h: int = 40, w: int = 48, sigma: float = 0.05, seed: int = 0):
    """A (1, 3, h, w) crop of an embedded photo and a noisy copy (clipped Gaussian noise)."""
    from distortx.data.samples import load_sample

    img = load_sample("astronaut")[:, 100:100 + h, 200:200 + w].float().div(255.0).unsqueeze(0)
    g = torch.Generator().manual_seed(seed)
    noisy = (img + sigma * torch.randn(img.shape, generator=g)).clamp(0, 1)
    return img, noisy


def skimage_nlm(img: torch.Tensor, h: float) -> torch.Tensor:
    """skimage.restoration.denoise_nl_means exactly as Ahn et al. call it, on one (C, H, W) float32 image."""
    a = img.permute(1, 2, 0).numpy().astype(np.float32)
    kw = dict(patch_size=7, patch_distance=11, h=h, fast_mode=True, sigma=0.0)
    if a.shape[2] == 1:
        out = skimage_restoration.denoise_nl_means(a[..., 0], channel_axis=None, **kw)
    else:
        out = skimage_restoration.denoise_nl_means(a, channel_axis=-1, **kw)
    out = np.ascontiguousarray(out, dtype=np.float32).reshape(a.shape)  # skimage squeezes size-1 axes
    return torch.from_numpy(out).permute(2, 0, 1)


def test_nlm_spec():
    spec = distortx.get_distortion("nlm_denoise")
    assert spec.level_set().values == AHN_H and spec.identity == 0.0
    assert spec.native_code == NATIVE_CODES["nlm_denoise"] and not spec.stochastic
    assert (spec.parameters[0].low, spec.parameters[0].high) == (0.0, 1.0)


def test_matches_skimage_rgb_grey_and_batch():
    """40x48 RGB, its grey channel and a second photo crop, the three Ahn h values in one batch each."""
    spec = distortx.get_distortion("nlm_denoise")
    _, noisy = clean_and_noisy()
    from distortx.data.samples import load_sample

    coffee = load_sample("coffee")[:, 60:96, 300:352].float().div(255.0).unsqueeze(0)  # 36x52, no noise
    worst = 0.0
    for img in (noisy, noisy[:, 1:2], coffee):
        batch = img.expand(len(AHN_H), -1, -1, -1)
        out = spec.apply(batch, params(AHN_H))
        for k, h in enumerate(AHN_H):
            ref = skimage_nlm(img[0], h)
            err = (out[k] - ref).abs().max().item()
            worst = max(worst, err)
            assert err < TOLERANCE, (tuple(img.shape), h, err)
            assert (out[k] - img[0]).abs().max() > 0.01  # it did something
    assert worst < TOLERANCE


@pytest.mark.parametrize("shape", [(3, 5, 7), (1, 1, 8), (3, 2, 2), (1, 13, 9)])
def test_matches_skimage_tiny_images(shape):
    """Images smaller than the 35x35 search window: numpy 'reflect' padding repeated over several periods."""
    g = torch.Generator().manual_seed(1)
    img = torch.rand((1,) + shape, generator=g)
    for h in (0.04, 0.3):
        out = nlm.nlm_denoise_ref(img, torch.tensor([[h]]), torch.zeros(1, dtype=torch.long))
        assert (out[0] - skimage_nlm(img[0], h)).abs().max().item() < TOLERANCE


def test_identity_at_zero_and_per_sample_h():
    spec = distortx.get_distortion("nlm_denoise")
    _, noisy = clean_and_noisy(24, 20)
    batch = noisy.expand(3, -1, -1, -1).contiguous()
    out = spec.apply(batch, params([0.0, 0.08, 0.0]))
    assert torch.equal(out[0], noisy[0]) and torch.equal(out[2], noisy[0])  # h = 0: an exact copy
    assert torch.equal(out[1:2], spec.apply(noisy, params([0.08])))  # per-sample h == separate call
    assert (out[1] - noisy[0]).abs().max() > 0.01


def test_denoising_reduces_noise_and_h_orders_smoothing():
    """Gaussian noise of sigma = h (skimage's rule of thumb): PSNR to the clean image rises by > 2 dB
    (measured +3.1, +4.0, +3.7 dB); on one noisy input a larger h moves the output further from it."""
    spec = distortx.get_distortion("nlm_denoise")

    def psnr(a, b):
        return 10 * math.log10(1.0 / (a.double() - b.double()).pow(2).mean().item())

    for k, h in enumerate(AHN_H):
        clean, noisy = clean_and_noisy(48, 48, sigma=h, seed=k)
        out = spec.apply(noisy, params([h]))
        assert psnr(out, clean) > psnr(noisy, clean) + 2.0, h
    _, noisy = clean_and_noisy(48, 48, sigma=0.05)
    out = spec.apply(noisy.expand(3, -1, -1, -1), params(AHN_H))
    moved = [(out[k] - noisy[0]).pow(2).mean().item() for k in range(3)]
    assert moved[0] < moved[1] < moved[2]


def test_fast_exp_is_skimage_schraudolph():
    """The C++ port's exp: exact value at 0, relative error <= ~4% on [-5, 0] (skimage's fast_exp)."""
    y = torch.linspace(-5, 0, 2001, dtype=torch.float64)
    approx = nlm.fast_exp(y)
    assert approx[-1].item() == 1.0 - 60801 / 2**21  # high word 1072632447, low word 0
    rel = (approx / torch.exp(y) - 1).abs().max().item()
    assert 0.01 < rel < 0.045
    assert nlm.reflect_index(3, 5).tolist() == [1, 0, 1, 2, 1, 0, 1, 2, 1, 0, 1, 2, 1]  # np.pad "reflect"


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_nlm_on_cuda_matches_cpu():
    _, noisy = clean_and_noisy()
    batch = torch.cat([noisy, noisy.flip(-1), noisy.flip(-2)])
    p = params([0.04, 0.0, 0.08])
    spec = distortx.get_distortion("nlm_denoise")
    out = spec.apply(batch.cuda(), p)
    assert out.is_cuda and (out.cpu() - spec.apply(batch, p)).abs().max().item() < TOLERANCE

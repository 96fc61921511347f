"""Ahn et al.'s distortions as their published generator (github.com/nmhkahn/distortion) computes them.

Each test rebuilds the generator's computation with scikit-image / numpy on an embedded photo (256x256, the
scale of the paper's crops) and compares distortx's output with it: a model trained on distortx data must
recognise the same distortion made with the paper's code. Gaussian noise, blur, JPEG and NL-means are
compared elsewhere (tests/test_noise_tone.py, test_blur_warp.py, test_codecs.py, test_nlm.py).
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

import distortx
from distortx.data.samples import load_sample

skimage = pytest.importorskip("skimage")
from skimage import transform, util  # noqa: E402

SIDE = 256


@pytest.fixture(scope="module")
def photo_u8() -> np.ndarray:
    """uint8 H x W x 3: a 256x256 crop of the embedded astronaut photo."""
    img = load_sample("astronaut").permute(1, 2, 0).numpy()
    return np.ascontiguousarray(img[40:40 + SIDE, 130:130 + SIDE])


def as_batch(img: np.ndarray) -> torch.Tensor:
    """H x W x 3 (uint8 or float in [0, 1]) -> float32 Tensor[1, 3, H, W]."""
    x = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).unsqueeze(0)
    return x.float() / 255 if x.dtype == torch.uint8 else x.float()


def as_hwc(x: torch.Tensor) -> np.ndarray:
    return x[0].permute(1, 2, 0).double().numpy()


def apply(name: str, img: np.ndarray, value: float, seed: int = 0, impl: str = "auto") -> np.ndarray:
    """distortx's output (float64 H x W x 3) through the fused op (native kernel when built) or the reference."""
    spec = distortx.get_distortion(name)
    x = as_batch(img)
    if impl == "python":   # the reference implementation itself, not the kernel
        return as_hwc(spec.apply(x, spec.params(value, seed=seed), impl="python"))
    from distortx.distortions.regions import Region
    from distortx.ops.fused import distort_batch

    return as_hwc(distort_batch(x, [[Region(name, (float(np.float32(value)),), None, seed)]], impl=impl))


def unit(img_u8: np.ndarray) -> np.ndarray:
    """uint8 -> float64 values of the float32 image distortx computes on (x / 255 in float32)."""
    return (img_u8.astype(np.float32) / 255).astype(np.float64)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2)))


# -- salt & pepper: each channel value on its own (coloured specks) ----------------------------------------
def partly_hit(out: np.ndarray, clean: np.ndarray) -> float:
    """Fraction of pixels where some, but not all, channels were replaced (0 for per-pixel specks)."""
    hit = (out != clean).sum(axis=2)
    return float(np.mean((hit > 0) & (hit < 3)))


@pytest.mark.parametrize("impl", ["python", "auto"])
@pytest.mark.parametrize("amount", [0.0125, 0.05])
def test_salt_pepper_hits_channels_independently_like_skimage(photo_u8, amount, impl):
    clean = unit(photo_u8)
    ours, theirs = [], []
    for seed in range(4):
        ours.append(apply("salt_pepper", photo_u8, amount, seed, impl))
        theirs.append(util.random_noise(clean, mode="s&p", amount=amount, rng=seed))
    # the same fraction of replaced channel values and of partly hit (coloured) pixels, the same PSNR
    frac = lambda outs: np.mean([np.mean(o != clean) for o in outs])  # noqa: E731
    assert frac(ours) == pytest.approx(frac(theirs), rel=0.08)
    part_ours, part_theirs = np.mean([partly_hit(o, clean) for o in ours]), np.mean([partly_hit(o, clean) for o in theirs])
    assert part_ours == pytest.approx(part_theirs, rel=0.08) and part_ours > 2 * amount
    assert np.mean([psnr(o, clean) for o in ours]) == pytest.approx(np.mean([psnr(o, clean) for o in theirs]), abs=0.15)


def test_mono_salt_pepper_keeps_the_per_pixel_form(photo_u8):
    out = apply("mono_salt_pepper", photo_u8, 0.05, seed=1)
    changed = (out != unit(photo_u8)).any(axis=2)
    vals = out[changed]
    assert ((vals == 0).all(axis=1) | (vals == 1).all(axis=1)).all()  # whole pixels black or white
    assert np.mean(changed) == pytest.approx(0.05, rel=0.1)


# -- fnoise: Ahn's strength ------------------------------------------------------------------------------------
def ahn_fnoise(img: np.ndarray, f: float, rng: np.random.Generator) -> np.ndarray:
    """Ahn's f_noise: per channel, x + f * real(ifft2(sqrt(S) * exp(2 pi i phi))), S = 1 / (u^2 + v^2 + 1e-5)."""
    H, W = img.shape[:2]
    u = np.fft.fftfreq(H)[:, None]
    v = np.fft.fftfreq(W)[None, :]
    amp = np.sqrt(np.power(u * u + v * v + 1e-5, -1.0))
    out = img.astype(np.float64).copy()
    for c in range(img.shape[2]):
        phi = rng.uniform(size=(H, W))
        out[..., c] += f * np.real(np.fft.ifft2(amp * (np.cos(2 * np.pi * phi) + 1j * np.sin(2 * np.pi * phi))))
    return np.clip(out, 0.0, 1.0)


@pytest.mark.parametrize("impl", ["python", "auto"])
def test_fnoise_strength_matches_ahn_at_every_level(photo_u8, impl):
    clean = unit(photo_u8)
    rng = np.random.default_rng(0)
    for f in (2.5, 5.0, 10.0):
        ours = np.mean([psnr(apply("fnoise", photo_u8, f, seed, impl), clean) for seed in range(6)])
        theirs = np.mean([psnr(ahn_fnoise(clean, f, rng), clean) for _ in range(6)])
        assert ours == pytest.approx(theirs, abs=0.4), f


def test_fnoise_spectrum_has_ahn_shape():
    """The noise's radially averaged power, normalised, follows Ahn's 1 / (f^2 + 1e-5) (on mid-grey: no clipping)."""
    grey = np.full((SIDE, SIDE, 3), 0.5)
    ours = np.mean([np.abs(np.fft.fft2(apply("fnoise", grey, 2.5, s)[..., 0] - 0.5)) ** 2 for s in range(8)], axis=0)
    rng = np.random.default_rng(1)
    theirs = np.mean([np.abs(np.fft.fft2(ahn_fnoise(grey, 2.5, rng)[..., 0] - 0.5)) ** 2 for _ in range(8)], axis=0)
    k = np.hypot(np.fft.fftfreq(SIDE)[:, None], np.fft.fftfreq(SIDE)[None, :])
    bands = [(0.003, 0.01), (0.01, 0.03), (0.03, 0.1), (0.1, 0.3), (0.3, 0.71)]
    share = lambda p: np.array([p[(k > lo) & (k <= hi)].sum() for lo, hi in bands]) / p[k > 0].sum()  # noqa: E731
    np.testing.assert_allclose(share(ours), share(theirs), rtol=0.15)


# -- quantization: Ahn's bins, bit for bit ---------------------------------------------------------------------
def ahn_quantization(img_u8: np.ndarray, levels: int) -> np.ndarray:
    T = np.arange(0, 255, 256 / levels)
    return T[np.digitize(img_u8.flat, T) - 1].reshape(img_u8.shape).astype(np.uint8)


@pytest.mark.parametrize("impl", ["python", "auto"])
@pytest.mark.parametrize("levels", [16, 8, 4, 2, 3, 5, 7, 12, 100, 255])
def test_quantization_equals_ahn_bit_for_bit(photo_u8, levels, impl):
    ours = np.round(apply("quantization", photo_u8, levels, impl=impl) * 255).astype(np.uint8)
    np.testing.assert_array_equal(ours, ahn_quantization(photo_u8, levels))


# -- lowpass: scikit-image's rescale + resize --------------------------------------------------------------
@pytest.mark.parametrize("impl", ["python", "auto"])
@pytest.mark.parametrize("scale", [0.3, 0.1, 0.03, 0.5])
def test_lowpass_equals_skimage_rescale_resize(photo_u8, scale, impl):
    s = float(np.float32(scale))  # the value distortx stores (float32)
    clean = unit(photo_u8)
    theirs = transform.resize(transform.rescale(clean, s, channel_axis=-1), clean.shape[:2])
    ours = apply("lowpass", photo_u8, scale, impl=impl)
    assert np.abs(ours - theirs).max() < 2e-6


@pytest.mark.parametrize("shape,scale", [((37, 53), 0.3), ((19, 7), 0.1), ((5, 64), 0.5), ((3, 3), 0.9)])
def test_lowpass_equals_skimage_on_odd_shapes(photo_u8, shape, scale):
    clean = photo_u8[: shape[0], : shape[1]] / 255.0
    s = float(np.float32(scale))
    theirs = transform.resize(transform.rescale(clean, s, channel_axis=-1), shape)
    for impl in ("python", "auto"):
        assert np.abs(apply("lowpass", np.ascontiguousarray(clean), scale, impl=impl) - theirs).max() < 2e-6, impl

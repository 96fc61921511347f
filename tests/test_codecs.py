"""Codec family: JPEG (Pillow reference and its integer torch simulation) and JPEG 2000 at a target PSNR."""
from __future__ import annotations

import glob
import io
import math

import numpy as np
import pytest
import torch
from PIL import Image, features

import distortx
from distortx._ext import native_available
from distortx.distortions import jpeg, jpeg2000
from distortx.distortions.native_codes import NATIVE_CODES
from distortx.distortions.spec import Params

PHOTOS = sorted(glob.glob("/work/shared/data/photos/*.png"))
LIBJPEG_TURBO = bool(features.check_feature("libjpeg_turbo"))


def centre_crop(img: torch.Tensor, h: int, w: int) -> torch.Tensor:
    H, W = img.shape[-2:]
    y0, x0 = (H - h) // 2, (W - w) // 2
    return img[..., y0:y0 + h, x0:x0 + w]


def photo_crops(n: int, h: int, w: int) -> torch.Tensor:
    """(n, 3, h, w) float centre crops of real photos: /work/shared when present, else distortx's samples."""
    if PHOTOS:
        arrs = [np.asarray(Image.open(f).convert("RGB")) for f in PHOTOS[:n]]
        imgs = [torch.from_numpy(a.copy()).permute(2, 0, 1) for a in arrs]
    else:
        from distortx.data.samples import load_sample, sample_names

        names = sample_names()
        imgs = [load_sample(names[i % len(names)]) for i in range(n)]
    return torch.stack([centre_crop(im, h, w) for im in imgs]).float().div(255.0)


def params(vals) -> Params:
    v = torch.tensor(vals, dtype=torch.float32).reshape(-1, 1)
    return Params(v, torch.arange(v.shape[0]), torch.full((v.shape[0],), -1))


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR (dB) over a whole batch of images in [0, 1]."""
    mse = (a.double() - b.double()).pow(2).mean().item()
    return math.inf if mse == 0 else 10 * math.log10(1.0 / mse)


def pil_jpeg_direct(img: torch.Tensor, q: int) -> torch.Tensor:
    """A plain PIL call, written independently of the module: Tensor[C, H, W] -> JPEG round trip."""
    a = (img.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    buf = io.BytesIO()
    if a.shape[2] == 3:
        Image.fromarray(a, "RGB").save(buf, format="JPEG", quality=q, subsampling="4:2:0")
    else:
        Image.fromarray(a[..., 0], "L").save(buf, format="JPEG", quality=q)
    d = np.asarray(Image.open(io.BytesIO(buf.getvalue())))
    d = d[..., None] if d.ndim == 2 else d
    return torch.from_numpy(d.copy()).permute(2, 0, 1).float() / 255.0


# -- JPEG -----------------------------------------------------------------------------------------------------
def test_jpeg_spec():
    spec = distortx.get_distortion("jpeg")
    assert spec.severity == "decreasing" and spec.identity is None
    assert spec.native_code == NATIVE_CODES["jpeg"] and spec.simulation is jpeg.jpeg_simulate
    assert spec.parameters[0].integer and (spec.parameters[0].low, spec.parameters[0].high) == (1, 100)
    assert spec.level_set().values == (20.0, 10.0, 5.0)
    assert spec.level_set("endo").values == tuple(float(q) for q in range(100, 0, -1))
    assert spec.level_set("dodge").values == (20.0, 18.0, 16.0, 14.0, 12.0, 10.0, 8.0, 6.0, 4.0, 2.0)


def test_quant_tables():
    luma, chroma = jpeg.quant_tables(torch.tensor([50, 100, 1, 10, 75]))
    assert luma[0].flatten().tolist() == list(jpeg.LUMA_TABLE)  # q = 50: the base tables
    assert chroma[0].flatten().tolist() == list(jpeg.CHROMA_TABLE)
    assert (luma[1] == 1).all() and (chroma[1] == 1).all()  # q = 100
    assert (chroma[2] == 255).all() and luma[2, 0, 0] == 255  # q = 1: 5000% clamped (force_baseline)
    assert luma[3, 0, 0] == 80 and luma[4, 0, 0] == 8  # q = 10: 16*500/100; q = 75: (16*50+50)//100


def test_jpeg_reference_is_direct_pil_call():
    spec = distortx.get_distortion("jpeg")
    img = photo_crops(2, 40, 56)
    for q in (10, 75):
        out = spec.apply(img, params([q, q]))
        for i in range(2):
            assert torch.equal(out[i], pil_jpeg_direct(img[i], q))
        grey = spec.apply(img[:, :1], params([q, q]))
        assert grey.shape == (2, 1, 40, 56)
        assert torch.equal(grey[0], pil_jpeg_direct(img[0, :1], q))


def test_jpeg_on_uint8_is_pillows_round_trip_through_either_codec(monkeypatch):
    """impl="auto" on uint8 CPU images takes our libjpeg op (or torchvision's ops, or Pillow, where a route is
    missing or gives other bits): the decoded pixels equal Pillow's, per image quality, for colour and grey, odd
    sizes, NCHW and channels-last input; a quality or channel mixed up between images breaks it."""
    spec = distortx.get_distortion("jpeg")
    rng = np.random.default_rng(3)
    for shape in [(5, 3, 37, 53), (3, 1, 17, 9), (2, 3, 1, 1), (2, 3, 64, 48)]:
        x8 = torch.from_numpy(rng.integers(0, 256, shape, dtype=np.uint8))
        x8[:, :, : shape[2] // 2] //= 3  # some smooth-ish structure beside the noise
        q = [float(v) for v in rng.integers(1, 101, shape[0])]
        want = torch.stack([(pil_jpeg_direct(x8[i].float() / 255, int(q[i])) * 255).round().to(torch.uint8) for i in range(shape[0])])
        for fmt in (torch.contiguous_format, torch.channels_last):
            out = spec.apply_batch(x8.contiguous(memory_format=fmt), params(q), "auto")
            assert out.dtype == torch.uint8 and torch.equal(out, want), (shape, fmt)
            assert torch.equal(jpeg.jpeg_pillow_u8(x8.contiguous(memory_format=fmt), params(q).values), want)
    # every fallback route gives the same bytes: torchvision's ops without our op, Pillow without either
    x8 = torch.from_numpy(rng.integers(0, 256, (3, 3, 20, 30), dtype=np.uint8))
    want = jpeg.jpeg_pillow_u8(x8, params([7, 50, 100]).values)
    monkeypatch.setattr(jpeg, "native_codec", lambda: None)
    assert torch.equal(jpeg.jpeg_turbo_u8(x8, params([7, 50, 100]).values), want)
    monkeypatch.setattr(jpeg, "turbo_codec", lambda: None)
    assert torch.equal(jpeg.jpeg_turbo_u8(x8, params([7, 50, 100]).values), want)


def test_native_jpeg_codec_op():
    """torch.ops.distortx.jpeg_codec (builds with libjpeg): Pillow's bits per image quality for NCHW, channels-last
    and strided-then-copied input, colour and grey, 1x1 and odd sizes; channels-last output; one-line errors."""
    if jpeg.native_codec() is None:
        pytest.skip("this build has no libjpeg codec op (no jpeglib.h at build time) or another libjpeg")
    op = torch.ops.distortx.jpeg_codec
    rng = np.random.default_rng(11)
    for shape in [(4, 3, 31, 45), (2, 1, 13, 7), (1, 3, 1, 1), (3, 3, 16, 16)]:
        x8 = torch.from_numpy(rng.integers(0, 256, shape, dtype=np.uint8))
        q = torch.from_numpy(rng.integers(1, 101, shape[0]))
        want = jpeg.jpeg_pillow_u8(x8, q.float()[:, None])
        for x in (x8, x8.contiguous(memory_format=torch.channels_last)):
            out = op(x, q)
            assert out.is_contiguous(memory_format=torch.channels_last) and torch.equal(out, want), shape
    x8 = torch.from_numpy(rng.integers(0, 256, (2, 3, 8, 8), dtype=np.uint8))
    for bad, msg in [((x8, torch.tensor([0, 50])), "quality must be in 1..100"),
                     ((x8, torch.tensor([50])), "quality must be Tensor"),
                     ((x8[:, :2].contiguous(), torch.tensor([50, 50])), "1 or 3 channels"),
                     ((x8.float(), torch.tensor([50, 50])), "uint8 CPU"),
                     ((x8[:, :, ::2], torch.tensor([50, 50])), "contiguous")]:
        with pytest.raises(RuntimeError, match=msg):
            op(*bad)


QUALITIES = (5, 10, 20, 35, 50, 75, 95)


@pytest.mark.parametrize("size", [(128, 128), (67, 93)])
def test_jpeg_simulation_matches_pillow(size):
    """PSNR(simulation, Pillow) >= 40 dB at every quality, RGB and grey; measured: identical (inf dB) with
    Pillow's libjpeg-turbo, so that is asserted too. All qualities go through one batched call. The reference
    side is Pillow itself (impl="python"), the other the torch simulation (spec.simulate); the native kernel,
    which mirrors the simulation, is compared with it where it is built."""
    spec = distortx.get_distortion("jpeg")
    img = photo_crops(4, *size)
    batch = img.repeat(len(QUALITIES), 1, 1, 1)  # sample i has quality QUALITIES[i // 4]
    p = params([q for q in QUALITIES for _ in range(4)])
    for x in (batch, batch[:, 1:2]):
        ref, sim = spec.apply(x, p, impl="python"), spec.simulate(x, p)
        for k, q in enumerate(QUALITIES):
            rows = slice(4 * k, 4 * k + 4)
            assert psnr(sim[rows], ref[rows]) >= 40.0, (q, psnr(sim[rows], ref[rows]))
        if LIBJPEG_TURBO:  # Pillow's bundled codec: the simulation is bit-exact
            assert torch.equal(sim, ref)
        if native_available():
            assert torch.equal(spec.apply(x, p, impl="native"), sim)


@pytest.mark.skipif(not LIBJPEG_TURBO, reason="bit-exactness is against libjpeg-turbo's integer DCT")
def test_jpeg_simulation_bit_exact_edge_cases():
    """Tiny and odd sizes (edge replication, chroma width <= 2 without fancy upsampling), noise and
    saturated content (clipping), q from 1 to 100, RGB and grey, per-sample qualities in one batch."""
    spec = distortx.get_distortion("jpeg")
    g = torch.Generator().manual_seed(0)
    qs = [1, 3, 25, 60, 90, 100]
    for h, w in [(1, 1), (2, 3), (3, 4), (4, 5), (5, 6), (9, 17), (17, 9), (16, 16), (40, 3)]:
        noise = torch.rand(len(qs), 3, h, w, generator=g)
        sat = (torch.rand(len(qs), 3, h, w, generator=g) > 0.5).float()
        yy, xx = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
        smooth = torch.stack([yy, xx, (yy + xx) / 2]).expand(len(qs), 3, h, w)
        for img in (noise, sat, smooth, noise[:, :1]):
            p = params(qs)
            assert torch.equal(spec.simulate(img, p), spec.apply(img, p, impl="python")), (h, w)


def test_jpeg_quality_monotone_and_per_sample():
    spec = distortx.get_distortion("jpeg")
    img = photo_crops(1, 96, 96)
    qs = [95, 75, 50, 20, 5]
    batch = img.expand(len(qs), -1, -1, -1)
    runs = {"pillow": lambda b, p: spec.apply(b, p, impl="python"), "simulation": spec.simulate}
    for impl, run in runs.items():
        out = run(batch, params(qs))
        scores = [psnr(out[i:i + 1], img) for i in range(len(qs))]
        assert all(a > b for a, b in zip(scores, scores[1:])), scores
        assert scores[0] > 35 and scores[-1] < 30
        # per-sample qualities in one batch == one call per quality
        single = run(img, params([qs[3]]))
        assert torch.equal(out[3:4], single)
        assert out.dtype == torch.float32 and torch.equal(out, (out * 255).round() / 255)


# -- JPEG 2000 ------------------------------------------------------------------------------------------------
def test_jpeg2000_spec():
    spec = distortx.get_distortion("jpeg2000")
    assert spec.native_code is None and spec.simulation is None and spec.severity == "decreasing"
    assert spec.level_set().values == tuple(float(v) for v in range(40, 18, -2))
    assert (spec.parameters[0].low, spec.parameters[0].high) == (15, 60)


def test_jpeg2000_reaches_target_psnr():
    """Achieved PSNR (8-bit output vs 8-bit input) within 1 dB of the target for 20, 30, 40 dB."""
    spec = distortx.get_distortion("jpeg2000")
    img = photo_crops(2, 128, 128)
    img8 = (img * 255).round() / 255
    targets = [20.0, 30.0, 40.0]
    for i in range(img.shape[0]):
        batch = img[i:i + 1].expand(len(targets), -1, -1, -1)
        out = spec.apply(batch, params(targets))
        achieved = [psnr(out[k:k + 1], img8[i:i + 1]) for k in range(len(targets))]
        for t, a in zip(targets, achieved):
            assert abs(a - t) <= 1.0, (i, t, a)
    grey = spec.apply(img[:1, :1], params([30.0]))
    assert grey.shape == (1, 1, 128, 128) and abs(psnr(grey, img8[:1, :1]) - 30.0) <= 1.0


def test_jpeg2000_search_is_bounded_and_constant_images_pass():
    arr = (photo_crops(1, 64, 64)[0].permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()
    for target in (15.0, 60.0):  # at / beyond the codec's reach: best effort, few encodes
        _, achieved, encodes = jpeg2000.jpeg2000_to_target(arr, target)
        assert 1 <= encodes <= jpeg2000.MAX_ENCODES and math.isfinite(achieved)
    flat = torch.full((1, 3, 20, 30), 0.4)
    assert torch.equal(distortx.get_distortion("jpeg2000").apply(flat, params([20.0])), (flat * 255).round() / 255)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_codecs_on_cuda():
    """CUDA in, CUDA out; the integer simulation gives the same bits on the GPU as on the CPU."""
    img = photo_crops(3, 40, 56)
    p = params([5, 50, 95])
    spec = distortx.get_distortion("jpeg")
    for run in (lambda x, q: spec.apply(x, q, impl="python"), spec.simulate):
        out = run(img.cuda(), p)
        assert out.is_cuda and torch.equal(out.cpu(), run(img, p))
    out = distortx.get_distortion("jpeg2000").apply(img.cuda(), params([20.0, 30.0, 40.0]))
    assert out.is_cuda and out.shape == img.shape


def test_simulation_output_scaling_is_exact_on_every_device():
    """The simulation maps samples k to k / 255 through a CPU-computed table. A plain `x / 255.0` is a true
    division on the CPU but a multiplication by the reciprocal on CUDA (126 of the 256 values then differ by
    1 ulp): that made the GPU's JPEG simulation differ from the CPU's (found on the first H100 run)."""
    from distortx.distortions.jpeg import _unit

    k = torch.arange(256)
    assert torch.equal(_unit(k, torch.float32), k.float() / 255.0)
    reciprocal = k.float() * (1.0 / torch.tensor(255.0)).item()
    assert (reciprocal != k.float() / 255.0).sum() == 126  # why the table matters

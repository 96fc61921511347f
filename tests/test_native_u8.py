"""The native kernel's uint8 path (csrc/distort/u8_cpu.cpp): uint8 in, uint8 out, no float round trip.

The reference is the float op on images / 255 followed by clamp(0, 1) * 255 rounded half to even (what the float
path gives back for uint8 input). Measured contract, per code:
  quantization, gaussian_noise(_sigma) and every code the kernel converts to float inside: equal, bit for bit;
  contrast       within 1 grey level (its grey level comes from exact integer sums; the float op rounds its own);
  gaussian_blur  within 1 grey level (Q15 fixed point), and equal for most values;
  lowpass        within 1 grey level (cells summed in another order and in fixed point, Q7 upsampling);
  motion_blur    within 1 grey level (one merged 2-D filter in Q15).
A table entry off by one, a blur weight or shift changed, a channel or row stride mixed up between the NCHW and
the channels-last (numpy) layouts, or a region drawn in the wrong order breaks these tests.
"""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import torch

import distortx
from distortx._ext import native_available
from distortx.ops.fused import distort_batch, distort_codes

from native_cases import NATIVE, U8_WITHIN_ONE as WITHIN_ONE, random_case

if not native_available():
    pytest.skip("distortx._C is not built", allow_module_level=True)



def to_u8(x: torch.Tensor) -> torch.Tensor:
    return x.clamp(0, 1).mul(255).round().to(torch.uint8)


def float_reference(images_u8, codes, values, boxes, seeds):
    return to_u8(torch.ops.distortx.distort(images_u8.float().div(255).contiguous(), codes, values, boxes, seeds))


@pytest.mark.parametrize("layout", ["nchw", "nhwc"])
@pytest.mark.parametrize("name", NATIVE)
def test_each_code_against_the_float_op(name, layout):
    n, c, h, w = (2, 3, 19, 23) if name == "nlm_denoise" else (3, 3, 37, 41)
    x, codes, values, boxes, seeds = random_case([name], n, c, h, w, r=2, seed=5)
    x8 = to_u8(x)
    if layout == "nhwc":
        x8 = x8.contiguous(memory_format=torch.channels_last)
    out = torch.ops.distortx.distort(x8, codes, values, boxes, seeds)
    ref = float_reference(x8, codes, values, boxes, seeds)
    assert out.dtype == torch.uint8 and out.shape == x8.shape
    assert out.is_contiguous(memory_format=torch.channels_last) == (layout == "nhwc")
    diff = (out.int() - ref.int()).abs()
    if name in WITHIN_ONE:
        assert int(diff.max()) <= 1
        assert float((diff > 0).float().mean()) < 0.05
    else:
        assert int(diff.max()) == 0


def test_noise_rows_grey():
    """gaussian_noise's byte rows on one-channel images (the plane route whatever the memory format)."""
    x, codes, values, boxes, seeds = random_case(["gaussian_noise_sigma"], 2, 1, 29, 35, r=2, seed=9)
    for x8 in (to_u8(x), to_u8(x).contiguous(memory_format=torch.channels_last)):
        out = torch.ops.distortx.distort(x8, codes, values, boxes, seeds)
        assert torch.equal(out, float_reference(x8, codes, values, boxes, seeds))
        assert not torch.equal(out, x8)


@pytest.mark.parametrize("sigma", [0.3, 1.5, 3.0, 6.0, 20.0])
def test_blur_every_radius_within_one_level(sigma):
    x8 = to_u8(random_case(["gaussian_blur"], 2, 3, 64, 70, r=1)[0])
    x8[0, :, 10:20, :] = 255  # saturated band: the Q15 sums must not overflow
    codes = torch.full((2, 1), int(distortx.get_distortion("gaussian_blur").native_code), dtype=torch.int32)
    values = torch.tensor([[[sigma, 0, 0, 0]], [[sigma, 0, 0, 0]]], dtype=torch.float32)
    boxes = torch.tensor([[[0, 0, 70, 64]], [[5, 3, 6, 64]]], dtype=torch.int32)  # whole image; one column
    seeds = torch.zeros(2, 1, dtype=torch.int64)
    ref = float_reference(x8, codes, values, boxes, seeds)
    for img in (x8, x8.contiguous(memory_format=torch.channels_last)):
        out = torch.ops.distortx.distort(img, codes, values, boxes, seeds)
        assert int((out.int() - ref.int()).abs().max()) <= 1
    if sigma <= 1.5:  # radius <= 3: the middle of the 10-row white band stays white
        assert bool((out[0, :, 14, :] == 255).all())


def test_overlapping_regions_later_wins_and_outside_is_copied():
    q = int(distortx.get_distortion("quantization").native_code)
    b = int(distortx.get_distortion("gaussian_blur").native_code)
    x8 = torch.randint(0, 256, (1, 3, 30, 40), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    codes = torch.tensor([[q, b, q]], dtype=torch.int32)
    values = torch.tensor([[[2, 0, 0, 0], [2.0, 0, 0, 0], [4, 0, 0, 0]]], dtype=torch.float32)
    boxes = torch.tensor([[[0, 0, 20, 20], [10, 10, 30, 25], [15, 0, 35, 12]]], dtype=torch.int32)
    seeds = torch.zeros(1, 3, dtype=torch.int64)
    out = torch.ops.distortx.distort(x8, codes, values, boxes, seeds)
    assert torch.equal(out[..., 25:, :], x8[..., 25:, :]) and torch.equal(out[..., :, 35:], x8[..., :, 35:])
    assert set(out[0, :, 0:10, 0:10].unique().tolist()) <= {0, 128}  # 2 levels: 0 and 128 / 255
    third = set(out[0, :, 0:10, 15:20].unique().tolist())  # 4 levels: the third box wins over the first
    assert third <= {0, 64, 128, 192} and third & {64, 192}
    ref = float_reference(x8, codes, values, boxes, seeds)
    assert int((out.int() - ref.int()).abs().max()) <= 1


def test_simd_loops_equal_their_scalar_twins(tmp_path):
    """DISTORTX_U8_SIMD=0 runs every vector loop's scalar twin (and the normal fill's and the ImageNet-C uint8
    noises' AVX2 loops instead of their AVX-512 ones): the same bits, both layouts, tails included."""
    script = (
        "import torch, sys\n"
        "sys.path.insert(0, %r)\n"
        "from native_cases import random_case\n"
        "x, codes, values, boxes, seeds = random_case(['gaussian_blur', 'contrast', 'quantization', 'lowpass', 'motion_blur', 'gaussian_noise'], 4, 3, 45, 133, r=3, seed=2)\n"
        "x8 = x.mul(255).round().to(torch.uint8)\n"
        "outs = [torch.ops.distortx.distort(i, codes, values, boxes, seeds) for i in (x8, x8.contiguous(memory_format=torch.channels_last))]\n"
        "sp = random_case(['salt_pepper'], 2, 3, 21, 77, r=1, seed=3)\n"  # through float: the RGB split / join loops
        "outs.append(torch.ops.distortx.distort(sp[0].mul(255).round().to(torch.uint8).contiguous(memory_format=torch.channels_last), *sp[1:]))\n"
        "y8 = torch.randint(0, 256, (2, 3, 19, 37), dtype=torch.uint8, generator=torch.Generator().manual_seed(4))\n"
        "s = torch.tensor([5, 6])\n"  # the ImageNet-C uint8 noises (noise_u8's AVX-512 or AVX2 segments)
        "for y in (y8, y8.contiguous(memory_format=torch.channels_last)):\n"
        "    outs += [torch.ops.distortx.noise_u8(y, s, k, 0.3, st) for k, st in ((0, [1]), (1, [1]), (2, [3, 2]))]\n"
        "outs.append(torch.ops.distortx.normal_fill(s, 1001, 1))\n"
        "torch.save([o.contiguous() for o in outs], sys.argv[1])\n" % os.path.dirname(__file__))
    results = []
    for simd in ("1", "0"):
        path = tmp_path / f"simd{simd}.pt"
        env = dict(os.environ, DISTORTX_U8_SIMD=simd)
        subprocess.run([sys.executable, "-c", "import distortx\n" + script, str(path)], env=env, check=True, timeout=120)
        results.append(torch.load(path))
    for a, b in zip(*results):
        assert torch.equal(a, b)


def test_numpy_and_tensor_entry_points_stay_uint8():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (50, 60, 3), dtype=np.uint8)
    for name in ("quantization", "contrast", "gaussian_blur", "jpeg", "gaussian_noise"):
        out = distortx.distort(a, name, level=1)
        ref = distortx.distort(a.astype(np.float32) / 255, name, level=1)
        ref8 = np.round(np.clip(ref, 0, 1) * 255).astype(np.uint8)
        assert out.dtype == np.uint8 and out.shape == a.shape and out.flags["C_CONTIGUOUS"]
        assert int(np.abs(out.astype(int) - ref8).max()) <= (1 if name in WITHIN_ONE else 0), name
    t = torch.from_numpy(a).permute(2, 0, 1).contiguous()
    out = distortx.distort(t, "quantization", value=4)
    assert out.dtype == torch.uint8 and out.shape == t.shape
    assert torch.equal(out, distortx.distort(t, "quantization", value=4, impl="python"))  # the reference path too


def test_batch_apis_take_uint8():
    x8 = torch.randint(0, 256, (2, 3, 20, 20), dtype=torch.uint8, generator=torch.Generator().manual_seed(3))
    regions = [[distortx.Region("quantization", (3.0,), (0, 0, 10, 10))], []]
    out = distort_batch(x8, regions)
    assert out.dtype == torch.uint8 and torch.equal(out[1], x8[1]) and torch.equal(out[0, :, 10:], x8[0, :, 10:])
    assert torch.equal(out, distort_batch(x8, regions, impl="python"))
    codes = torch.tensor([[5], [0]], dtype=torch.int32)
    out2 = distort_codes(x8, codes, torch.tensor([[[3.0]], [[0.0]]]), torch.tensor([[[0, 0, 10, 10]], [[0, 0, 0, 0]]],
                         dtype=torch.int32), torch.zeros(2, 1, dtype=torch.int64))
    assert torch.equal(out2, out)


@pytest.mark.parametrize("layout", ["nchw", "nhwc"])
def test_contrast_grey_level_weighs_each_channel(layout):
    """Channels with very different means (R 200, G 60, B 10): a mixed-up channel sum moves the grey level by tens
    of levels."""
    g = torch.Generator().manual_seed(4)
    x8 = (torch.tensor([200, 60, 10]).view(1, 3, 1, 1) + torch.randint(-10, 11, (2, 3, 33, 101), generator=g)).to(torch.uint8)
    if layout == "nhwc":
        x8 = x8.contiguous(memory_format=torch.channels_last)
    codes = torch.full((2, 1), int(distortx.get_distortion("contrast").native_code), dtype=torch.int32)
    values = torch.tensor([[[0.9, 0, 0, 0]], [[0.5, 0, 0, 0]]])
    boxes = torch.tensor([[[0, 0, 101, 33]], [[7, 5, 50, 30]]], dtype=torch.int32)
    seeds = torch.zeros(2, 1, dtype=torch.int64)
    out = torch.ops.distortx.distort(x8, codes, values, boxes, seeds)
    ref = float_reference(x8, codes, values, boxes, seeds)
    assert int((out.int() - ref.int()).abs().max()) <= 1

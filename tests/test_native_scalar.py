"""The CUDA kernel's arithmetic, checked on the CPU: ``torch.ops.distortx.distort_scalar``.

The private op runs the CUDA backend's work on the CPU, element by element, through exactly the functions
the CUDA kernels call (csrc/distort/distort_scalar_cpu.cpp): the same plan and launch plan, each pre-pass
family through ``dx_prepass_t<code>``, NL-means through the tile body ``dx_nlm_tile_thread``, and every output
pixel through ``dx_output_pixel_c`` with the kernel's index maths. The fast CPU path
(csrc/distort/distort_cpu.cpp, <family>_cpu.cpp) re-implements most codes as vectorised row loops, so without this op no CPU
test would see what the GPU computes.

**Breaking a shared per-pixel body fails this file**: a changed ``dx_contrast``, ``dx_salt_pepper``,
``dx_quantization``... (csrc/distort/*.h) changes the scalar path but not the fast path's own loop, and
``test_scalar_matches_fast_path`` fails; a body both paths call (``dx_jpeg``, ``dx_twirl``'s sampler, the
pre-pass elements) moves both away from the Python reference, and ``test_scalar_matches_python`` fails.
Shown (issue 13): ``dx_salt_pepper`` in csrc/distort/noise.h writing ``1 - v`` instead of ``v``, rebuilt, fails
``test_scalar_matches_fast_path[salt_pepper]``, ``test_scalar_matches_python[salt_pepper]``,
``test_mixed_regions_winner_and_untouched_pixels``, ``test_many_regions_per_image`` (here) and
``tests/test_native_codes.py::test_table_entry_runs_end_to_end[salt_pepper]``; the fast-path tests stay green.

Tolerances (max |a - b| per pixel, images in [0, 1]):
  scalar vs fast CPU path: 0 (bit-identical) for every code but two (measured: 1.2e-7 and 6e-8):
    contrast    1e-6   the grey level: ATen's mean (what CUDA runs) vs the fast path's float64 sum
    nlm_denoise 1e-5   the tile body's float32 patch distances vs float64 ones (proved bound 8.6e-6, nlm.h);
                       the cut-off itself is decided in float64 on both (test below)
  scalar vs the Python reference: the native path's tolerances (tests/test_native_distort.py).
CUDA vs this op: the same bits (nvcc -fmad=false, no fast-math: setup.py) except ATen's device reductions and
FFT (contrast <= 1e-6, fnoise <= 1e-5) and CUDA's cosf/sinf in marble's lattice (<= 1e-4): see
``test_native_distort.py::test_cuda_matches_cpu``.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from distortx._ext import native_available
from distortx.distortions.native_codes import NATIVE_CODES

if not native_available() or not hasattr(torch.ops.distortx, "distort_scalar"):
    pytest.skip("distortx._C (with the distort_scalar op) is not built", allow_module_level=True)

from distortx.ops.fused import distort_codes, native_codes  # noqa: E402
from native_cases import NATIVE, SLOW, make_image, random_case, tol  # noqa: E402

#: max |scalar - fast CPU path| per code (0 = bit-identical)
SCALAR_VS_FAST = {"contrast": 1e-6, "nlm_denoise": 1e-5}


def scalar_vs_fast(name: str) -> float:
    return SCALAR_VS_FAST.get(name, 0.0)


def scalar_vs_python(name: str) -> float:
    """The native path's tolerances against the Python reference (test_native_distort.py)."""
    return tol(name)


def scalar(*case) -> torch.Tensor:
    return torch.ops.distortx.distort_scalar(*case)


def fast(*case) -> torch.Tensor:
    return torch.ops.distortx.distort(*case)


def max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a - b).abs().max().item()


def shapes(name):
    """(c, h, w) per case: RGB and grey, odd widths (the kernel's row/column split), a 1x1 image."""
    if name in SLOW:
        return ((3, 15, 13), (1, 9, 16), (3, 1, 1))
    return ((3, 37, 29), (1, 19, 33), (3, 2, 3), (1, 1, 1))


def test_every_native_code_is_covered():
    assert set(NATIVE_CODES.values()) == set(native_codes())


@pytest.mark.parametrize("name", NATIVE)
def test_scalar_matches_fast_path(name):
    for k, (c, h, w) in enumerate(shapes(name)):
        case = random_case([name], n=2 if name in SLOW else 3, c=c, h=h, w=w, r=2, seed=NATIVE_CODES[name] * 10 + k)
        assert max_diff(scalar(*case), fast(*case)) <= scalar_vs_fast(name), (name, c, h, w)


@pytest.mark.parametrize("name", NATIVE)
def test_scalar_matches_python(name):
    c, h, w = shapes(name)[1 if name in SLOW else 0]
    case = random_case([name], n=1 if name in SLOW else 2, c=c, h=h, w=w, r=2, seed=NATIVE_CODES[name])
    out = scalar(*case)
    assert max_diff(out, distort_codes(*case, impl="python")) <= scalar_vs_python(name)
    assert not torch.equal(out, case[0]) or name == "quantization"  # something was distorted


def test_mixed_regions_winner_and_untouched_pixels():
    """Four overlapping regions of mixed types per image: the later box wins; pixels outside every box are
    copied bit for bit."""
    from distortx.ops.fused import winner_map

    names = [n for n in NATIVE if n not in SLOW]
    images, codes, values, boxes, seeds = random_case(names, n=4, c=3, h=23, w=31, r=4, seed=5)
    out = scalar(images, codes, values, boxes, seeds)
    assert max_diff(out, fast(images, codes, values, boxes, seeds)) <= SCALAR_VS_FAST["contrast"]
    assert max_diff(out, distort_codes(images, codes, values, boxes, seeds, impl="python")) <= 1e-4
    outside = (winner_map(codes, boxes, 23, 31) < 0).unsqueeze(1).expand_as(images)
    assert outside.any() and torch.equal(out[outside], images[outside])


def test_many_regions_per_image():
    """More regions than the CUDA kernel stages in shared memory (32): the regions are read from the plan."""
    names = ["quantization", "contrast", "salt_pepper", "gaussian_blur"]
    case = random_case(names, n=2, c=3, h=20, w=24, r=40, seed=9)
    assert max_diff(scalar(*case), fast(*case)) <= SCALAR_VS_FAST["contrast"]


# -- NL-means: the CUDA tile body -----------------------------------------------------------------------------
def nlm_case(img: torch.Tensor, h: float, box=None):
    n, _, H, W = img.shape
    codes = torch.full((n, 1), NATIVE_CODES["nlm_denoise"], dtype=torch.int32)
    values = torch.zeros(n, 1, 4)
    values[:, 0, 0] = h
    box = box or (0, 0, W, H)
    boxes = torch.tensor(box, dtype=torch.int32).repeat(n, 1, 1)
    return img.contiguous(), codes, values, boxes, torch.zeros(n, 1, dtype=torch.int64)


def test_nlm_tiles_cover_boxes_of_any_shape():
    """Boxes spanning several 32 x 32 tiles, partial tiles and partial 8-row runs, touching the borders or not:
    the scalar (CUDA) tile body equals the fast path's row bands within the float32 bound."""
    from distortx.data.samples import load_sample

    photo = load_sample("astronaut")[:, 100:147, 180:250].float().div(255.0)  # 47 x 70
    g = torch.Generator().manual_seed(0)
    noisy = (photo + 0.06 * torch.randn(photo.shape, generator=g)).clamp(0, 1).unsqueeze(0)
    for img, box in ((noisy, None), (noisy, (5, 3, 69, 44)), (noisy[:, 1:2], (33, 9, 70, 47)), (noisy[:, :, :9, :40], None)):
        case = nlm_case(img, 0.06, box)
        out = scalar(*case)
        assert max_diff(out, fast(*case)) <= 1e-5, (tuple(img.shape), box)
        assert max_diff(out, case[0]) > 0.01  # it denoised


def test_nlm_offset_block_does_not_change_values(monkeypatch):
    """DISTORTX_CUDA_NLM_BLOCK=2 (the GPU tuning knob) computes the same patch distances in the same order."""
    case = nlm_case(make_image(1, 3, 21, 35, seed=3), 0.08)
    four = scalar(*case)
    monkeypatch.setenv("DISTORTX_CUDA_NLM_BLOCK", "2")
    assert torch.equal(scalar(*case), four)


def test_nlm_cutoff_is_decided_in_float64():
    """Stripes of 0.25 / 0.75: every offset with an odd column shift has the patch distance 36 x 0.5^2 = 9, and h
    is chosen so that 9 / (49 h^2) is 5 to within float rounding, i.e. exactly at the cut-off (weight fast_exp(-5)
    or 0). float32 distances cannot tell the sides apart; the tile body recomputes such distances in float64,
    so it decides as the float64 paths do for h a few ulps either side."""
    W, H = 24, 13
    stripes = torch.tensor([0.25, 0.75]).repeat(W // 2).expand(1, 1, H, W).contiguous()
    h0 = np.array([np.sqrt(9.0 / 5.0 / 49.0)], dtype=np.float32).view(np.int32)
    for ulps in range(-3, 4):
        h = float((h0 + ulps).view(np.float32)[0])
        case = nlm_case(stripes, h)
        out = scalar(*case)
        assert max_diff(out, fast(*case)) <= 1e-6, h
        if ulps == 0:
            assert max_diff(out, distort_codes(*case, impl="python")) <= 1e-6

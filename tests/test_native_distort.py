"""The fused native distortion op (csrc/distort/) against its pure-PyTorch path (= apply_regions).

Tolerances (max |native - python| per pixel, images in [0, 1]):
  exact (0):      quantization, salt_pepper, mono_salt_pepper, jpeg (integer pipeline, bit-exact with the torch simulation),
                  gaussian_noise(_sigma), mono_gaussian_noise (one normal expression: rng.box_muller's torch twin of
                  the kernels' Cephes log / cos), identities (sigma 0, L 0, scale 1, h 0, ...), pixels outside every
                  box (bit-identical)
  1e-5:           fnoise (the counter RNG's normals, then real vs complex FFT), contrast (mean luminance summed in double vs
                  torch's float32), gaussian_blur, motion_blur, lowpass (float32 sums, same order; torch may fuse
                  multiply-adds; lowpass's cells in double), nlm_denoise (float64 maths, box sums in another order, float32 result)
  1e-4:           twirl, marble (source positions carry sin/cos/atan2 rounding times a displacement of up to
                  hundreds of pixels, ~1e-5 px, times the image gradient)
CUDA tests (``-m gpu``) compare the CUDA kernel with the CPU kernel. Floating-point policy: nvcc -fmad=false and
no fast-math (setup.py), so the shared bodies round exactly as on the CPU and the GPU computes the bits of the
scalar CPU op (tests/test_native_scalar.py), which equals this fast CPU path bit for bit except where stated in
CUDA_VS_CPU: contrast and fnoise (ATen's device reductions and cuFFT), marble (CUDA's cosf/sinf for the lattice
gradients), nlm_denoise (float32 patch distances on the GPU, bound 1e-5 in csrc/distort/nlm.h).
"""
from __future__ import annotations

import pytest
import torch

import distortx
from distortx import Region, apply_regions
from distortx._ext import native_available
from distortx.distortions.native_codes import NATIVE_CODES
from distortx.errors import ParameterError

if not native_available() or not hasattr(torch.ops.distortx, "distort"):
    pytest.skip("distortx._C (with the distort op) is not built", allow_module_level=True)

from distortx.ops.fused import distort_codes, distort_batch  # noqa: E402
from native_cases import NATIVE, SLOW, make_image, random_case, tol  # noqa: E402

def reference(images, codes, values, boxes, seeds):
    """apply_regions image by image (the semantics the op implements), with the simulation paths."""
    by_code = {spec.native_code: spec for spec in map(distortx.get_distortion, distortx.list_distortions())}
    outs = []
    for i in range(images.shape[0]):
        regs = []
        for k in range(codes.shape[1]):
            code = int(codes[i, k])
            if code == 0:
                continue
            spec = by_code[code]
            regs.append(Region(spec.name, tuple(values[i, k, : spec.num_params].tolist()),
                               tuple(boxes[i, k].tolist()), seed=int(seeds[i, k])))
        outs.append(apply_regions(images[i : i + 1], regs, impl="python"))
    return torch.cat(outs)


def outside_mask(codes, boxes, h, w):
    """Bool (N, 1, H, W): True outside every non-empty region."""
    from distortx.ops.fused import winner_map

    return (winner_map(codes, boxes, h, w) < 0).unsqueeze(1)


# -- native CPU vs the python path, per type ----------------------------------------------------------------
@pytest.mark.parametrize("name", NATIVE)
def test_native_matches_python_rgb(name):
    h, w = (15, 13) if name in SLOW else (37, 29)
    case = random_case([name], n=2 if name in SLOW else 3, c=3, h=h, w=w, r=2, seed=NATIVE_CODES[name])
    nat = distort_codes(*case, impl="native")
    py = distort_codes(*case, impl="python")
    assert (nat - py).abs().max().item() <= tol(name)
    images, codes, _, boxes, _ = case
    out = outside_mask(codes, boxes, h, w).expand_as(images)
    assert torch.equal(nat[out], images[out])  # untouched pixels are bit-identical
    assert not torch.equal(nat, images) or name in ("quantization",)  # something was distorted


@pytest.mark.parametrize("name", NATIVE)
def test_native_matches_python_grey_odd_sizes(name):
    for (h, w) in ((1, 1), (2, 3), (9, 16) if name in SLOW else (19, 33)):
        case = random_case([name], n=2, c=1, h=h, w=w, r=2, seed=h * 100 + w)
        nat = distort_codes(*case, impl="native")
        py = distort_codes(*case, impl="python")
        assert (nat - py).abs().max().item() <= tol(name), (h, w)


def test_python_path_equals_apply_regions():
    names = [n for n in NATIVE if n not in SLOW]
    case = random_case(names, n=4, c=3, h=24, w=30, r=4, seed=7)
    ref = reference(*case)
    torch.testing.assert_close(distort_codes(*case, impl="python"), ref, atol=1e-6, rtol=0)
    assert (distort_codes(*case, impl="native") - ref).abs().max().item() <= 1e-4


def test_mixed_types_full_image_and_1x1():
    names = list(NATIVE)
    case = random_case(names, n=len(names), c=3, h=1, w=1, r=3, seed=3)
    assert (distort_codes(*case, impl="native") - distort_codes(*case, impl="python")).abs().max().item() <= 1e-4


# -- semantics: empty, overlaps, borders ---------------------------------------------------------------------
def test_no_regions_is_a_bitwise_copy():
    images = make_image(2, 3, 11, 13)
    for r in (0, 3):
        codes = torch.zeros(2, r, dtype=torch.int32)
        out = distort_codes(images, codes, torch.zeros(2, r, 4), torch.zeros(2, r, 4, dtype=torch.int32),
                      torch.zeros(2, r, dtype=torch.int64), impl="native")
        assert torch.equal(out, images) and out.data_ptr() != images.data_ptr()
    # empty and fully outside boxes with a real code change nothing either
    codes = torch.full((2, 2), NATIVE_CODES["gaussian_noise"], dtype=torch.int32)
    values = torch.full((2, 2, 4), 0.2)
    boxes = torch.tensor([[[3, 3, 3, 9], [20, 0, 30, 5]], [[5, 6, 2, 9], [-9, -9, 0, 0]]], dtype=torch.int32)
    out = torch.ops.distortx.distort(images, codes, values, boxes, torch.zeros(2, 2, dtype=torch.int64))
    assert torch.equal(out, images)


def test_later_region_wins_on_overlap():
    images = make_image(1, 3, 20, 24)
    q, c = NATIVE_CODES["quantization"], NATIVE_CODES["contrast"]
    codes = torch.tensor([[q, c]], dtype=torch.int32)
    values = torch.tensor([[[2.0, 0, 0, 0], [1.0, 0, 0, 0]]])  # 2 levels, then flat grey
    boxes = torch.tensor([[[0, 0, 16, 16], [8, 8, 24, 20]]], dtype=torch.int32)
    seeds = torch.zeros(1, 2, dtype=torch.int64)
    out = distort_codes(images, codes, values, boxes, seeds, impl="native")
    two_bins = {0.0, torch.tensor(128 / 255).item()}  # the lower edges of 2 bins, float32
    grey = out[0, :, 8:, 8:]
    assert torch.allclose(grey, grey[:, :1, :1].expand_as(grey))  # the contrast box wins its whole area
    assert set(out[0, :, :8, :8].unique().tolist()) <= two_bins  # quantization where only it applies
    swapped = distort_codes(images, codes.flip(1), values.flip(1), boxes.flip(1), seeds, impl="native")
    assert set(swapped[0, :, 8:16, 8:16].unique().tolist()) <= two_bins  # order decides
    torch.testing.assert_close(out, distort_codes(images, codes, values, boxes, seeds, impl="python"), atol=1e-6, rtol=0)


def test_boxes_touching_borders_and_huge_blur():
    h, w = 16, 12
    images = make_image(2, 3, h, w)
    b = NATIVE_CODES["gaussian_blur"]
    codes = torch.tensor([[b, b], [b, 0]], dtype=torch.int32)
    values = torch.tensor([[[20.0, 0, 0, 0], [0.5, 0, 0, 0]], [[7.0, 0, 0, 0], [0, 0, 0, 0]]])
    boxes = torch.tensor([[[0, 0, 12, 3], [11, 0, 99, 16]], [[-5, 10, 4, 40], [0, 0, 0, 0]]], dtype=torch.int32)
    seeds = torch.zeros(2, 2, dtype=torch.int64)
    nat = distort_codes(images, codes, values, boxes, seeds, impl="native")
    assert (nat - distort_codes(images, codes, values, boxes, seeds, impl="python")).abs().max() <= 1e-5
    # sigma 20 on a 16 px image: radius 40 >> size, replicate border -> close to the per-column mean blur
    assert nat[0, :, :3].std() < images[0, :, :3].std()


def test_identities():
    images = make_image(1, 3, 15, 14)
    for name, value in (("gaussian_blur", 0.0), ("motion_blur", 0.0), ("lowpass", 1.0), ("twirl", 0.0),
                        ("marble", 0.0), ("gaussian_noise", 0.0), ("contrast", 0.0), ("nlm_denoise", 0.0)):
        spec = distortx.get_distortion(name)
        vals = torch.zeros(1, 1, 4)
        vals[0, 0, : spec.num_params] = torch.tensor([0.5 * sum(p.sample_range) for p in spec.parameters])
        vals[0, 0, 0] = value
        codes = torch.tensor([[spec.native_code]], dtype=torch.int32)
        boxes = torch.tensor([[[2, 3, 12, 14]]], dtype=torch.int32)
        out = distort_codes(images, codes, vals, boxes, torch.zeros(1, 1, dtype=torch.int64), impl="native")
        assert torch.equal(out, images), name


def test_nlm_cuda_body_on_cpu(monkeypatch):
    """DISTORTX_NLM_DIRECT=1 makes the CPU run the direct per-pixel NL-means body (dx_nlm_direct, the definition
    in float64) instead of its row bands. (The CUDA tile body is checked by tests/test_native_scalar.py.)"""
    case = random_case(["nlm_denoise"], n=1, c=3, h=14, w=13, r=1, seed=5)
    band = distort_codes(*case, impl="native")
    monkeypatch.setenv("DISTORTX_NLM_DIRECT", "1")
    direct = distort_codes(*case, impl="native")
    assert (band - direct).abs().max() <= 1e-6
    assert (direct - distort_codes(*case, impl="python")).abs().max() <= 1e-5


def test_lowpass_cuda_body_on_cpu(monkeypatch):
    """DISTORTX_LOWPASS_CELLS=1 makes the CPU run the per-cell lowpass body that the CUDA kernel runs: the same
    sums as the separable CPU path, bit for bit (boxes at the borders exercise the mirrored taps)."""
    for seed, (h, w) in enumerate(((37, 29), (9, 40), (1, 5))):
        case = random_case(["lowpass"], n=3, c=3, h=h, w=w, r=2, seed=seed)
        separable = distort_codes(*case, impl="native")
        monkeypatch.setenv("DISTORTX_LOWPASS_CELLS", "1")
        cells = distort_codes(*case, impl="native")
        monkeypatch.delenv("DISTORTX_LOWPASS_CELLS")
        assert torch.equal(separable, cells)
        assert (cells - distort_codes(*case, impl="python")).abs().max() <= 1e-5


def test_jpeg_native_matches_pillow():
    images = make_image(1, 3, 27, 35)
    codes = torch.tensor([[NATIVE_CODES["jpeg"]]], dtype=torch.int32)
    boxes = torch.tensor([[[0, 0, 35, 27]]], dtype=torch.int32)
    for q in (5.0, 50.0, 95.0):
        vals = torch.tensor([[[q, 0, 0, 0]]])
        nat = distort_codes(images, codes, vals, boxes, torch.zeros(1, 1, dtype=torch.int64), impl="native")
        pil = distortx.get_distortion("jpeg").apply(images, distortx.get_distortion("jpeg").params(q))
        assert (nat - pil).abs().max() <= 1.0 / 255 + 1e-6  # the simulation claims bit-exactness


# -- distort_batch: Regions, python-only types mixed in -------------------------------------------------------
def test_distort_batch_mixed_with_python_only_types():
    images = make_image(2, 3, 24, 20)
    regions = [
        [Region("gaussian_blur", (2.0,), (0, 0, 12, 12)), Region("jpeg2000", (30.0,), (6, 6, 20, 24), seed=1),
         Region("salt_pepper", (0.3,), (10, 10, 20, 20), seed=4)],
        [Region("twirl", (200.0, 0.8, 0.5, 0.5), None), Region("jpeg", (10.0,), (3, 5, 15, 22))],
    ]
    nat = distort_batch(images, regions, impl="native")
    ref = torch.cat([apply_regions(images[i : i + 1], regions[i], impl="python") for i in range(2)])
    assert (nat - ref).abs().max() <= 1e-4
    torch.testing.assert_close(distort_batch(images, regions, impl="python"), ref, atol=1e-6, rtol=0)


# -- errors and op registration ------------------------------------------------------------------------------
def test_bad_inputs_raise_clear_errors():
    images = make_image(1, 3, 8, 8)
    codes = torch.tensor([[NATIVE_CODES["gaussian_noise"]]], dtype=torch.int32)
    boxes = torch.tensor([[[0, 0, 8, 8]]], dtype=torch.int32)
    seeds = torch.zeros(1, 1, dtype=torch.int64)
    with pytest.raises(ParameterError, match="variance"):
        distort_codes(images, codes, torch.tensor([[[0.9, 0, 0, 0]]]), boxes, seeds)
    with pytest.raises(ParameterError, match="unknown distortion code"):
        distort_codes(images, torch.tensor([[77]], dtype=torch.int32), torch.zeros(1, 1, 4), boxes, seeds)
    with pytest.raises(ParameterError, match="boxes"):
        distort_codes(images, codes, torch.zeros(1, 1, 4), boxes[:, :, :3], seeds)
    with pytest.raises(RuntimeError, match="codes must be int32"):
        torch.ops.distortx.distort(images, codes.long(), torch.zeros(1, 1, 4), boxes, seeds)
    with pytest.raises(RuntimeError, match="unknown distortion code"):
        torch.ops.distortx.distort(images, torch.tensor([[99]], dtype=torch.int32), torch.zeros(1, 1, 4), boxes, seeds)


def test_opcheck():
    for seed, names in ((0, ["gaussian_noise", "gaussian_blur", "jpeg"]), (1, ["fnoise", "twirl", "lowpass"])):
        case = random_case(names, n=2, c=3, h=12, w=10, r=3, seed=seed)
        torch.library.opcheck(torch.ops.distortx.distort.default, case)


# -- CUDA vs CPU ---------------------------------------------------------------------------------------------
#: max |CUDA - CPU| per code where the two may differ (every other code: bit-identical, see the module docstring)
CUDA_VS_CPU = {"contrast": 1e-6, "fnoise": 1e-5, "marble": 1e-4, "nlm_denoise": 1e-5}


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name", NATIVE)
def test_cuda_matches_cpu(name):
    for c, (h, w) in ((3, (45, 37)), (1, (17, 9)), (3, (1, 1))):
        images, codes, values, boxes, seeds = random_case([name], n=3, c=c, h=h, w=w, r=3, seed=11)
        cpu = torch.ops.distortx.distort(images, codes, values, boxes, seeds)
        gpu = torch.ops.distortx.distort(images.cuda(), codes, values, boxes, seeds).cpu()
        assert (cpu - gpu).abs().max() <= CUDA_VS_CPU.get(name, 0.0), (name, c, h, w)

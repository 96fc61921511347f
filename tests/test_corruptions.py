"""The ImageNet-C family (distortx.corruptions): imagecorruptions' names and face; the deterministic corruptions
equal the published algorithms (written here again with numpy / scipy / scikit-image / Pillow) within 1 grey
level; the random ones have the statistics they should and the PSNR imagecorruptions 1.1.2 gives, corruption by
corruption and severity by severity (tests/data/imagenet_c_reference.json, made by
experiments/imagenet_c/fidelity.py); and, where imagecorruptions runs, equal outputs beside it live."""
from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import distortx
from distortx.corruptions import NAMES, corrupt, get_corruption_names
from distortx.data.samples import sample_images
from distortx.errors import ParameterError, UnknownNameError

REFERENCE = json.loads((Path(__file__).parent / "data" / "imagenet_c_reference.json").read_text())
COMMON = ["gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur", "motion_blur", "zoom_blur",
          "snow", "frost", "fog", "brightness", "contrast", "elastic_transform", "pixelate", "jpeg_compression"]
VALIDATION = ["speckle_noise", "gaussian_blur", "spatter", "saturate"]


def crops(size: int = 128):
    """The fidelity script's crops: 128 x 128 of the embedded astronaut and coffee, uint8 H x W x 3."""
    out = []
    for name, img in sample_images():
        if name in ("astronaut", "coffee"):
            out.append(np.ascontiguousarray(img.permute(1, 2, 0).numpy()[100: 100 + size, 150: 150 + size]))
    return out


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return crops()[0]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(255.0 ** 2 / max(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2), 1e-10)))


# -- the face -----------------------------------------------------------------------------------------------------
def test_names_and_subsets_are_imagecorruptions():
    assert get_corruption_names() == COMMON
    assert get_corruption_names("validation") == VALIDATION
    assert get_corruption_names("all") == COMMON + VALIDATION
    assert get_corruption_names("noise") == COMMON[:3] and get_corruption_names("blur") == COMMON[3:7]
    assert get_corruption_names("weather") == COMMON[7:10] and get_corruption_names("digital") == COMMON[10:]
    with pytest.raises(UnknownNameError):
        get_corruption_names("colour")


def test_the_catalogue_has_them_namespaced_beside_ahns_types():
    names = set(distortx.list_distortions())
    assert {f"imagenet_c_{n}" for n in NAMES} <= names
    assert {"gaussian_noise", "gaussian_blur", "motion_blur", "contrast", "jpeg"} <= names  # Ahn's keep their names
    spec = distortx.get_distortion("imagenet_c_fog")
    assert spec.level_set().values == (1.0, 2.0, 3.0, 4.0, 5.0) and spec.stochastic
    assert not distortx.get_distortion("imagenet_c_contrast").stochastic


def test_numpy_in_numpy_out_with_the_callers_layout(photo):
    out = corrupt(photo, corruption_name="contrast", severity=2)
    assert isinstance(out, np.ndarray) and out.dtype == np.uint8 and out.shape == photo.shape
    grey = corrupt(photo[..., 0], corruption_name="contrast", severity=2)
    assert grey.shape == photo.shape  # as imagecorruptions: a grey image comes back H x W x 3
    assert np.array_equal(grey[..., 0], grey[..., 2])
    by_number = corrupt(photo, corruption_number=NAMES.index("contrast"), severity=2)
    assert np.array_equal(by_number, out)


def test_tensors_and_batches_keep_their_type_and_each_sample_its_seed(photo):
    x = torch.from_numpy(photo).permute(2, 0, 1).float() / 255
    one = corrupt(x, corruption_name="gaussian_noise", severity=3, seed=7)
    assert one.shape == x.shape and one.dtype == torch.float32
    batch = corrupt(torch.stack([x, x, x]), corruption_name="gaussian_noise", severity=3, seed=6)
    assert torch.equal(batch[1], one)                    # sample i of a batch uses seed + i
    assert not torch.equal(batch[0], batch[1])
    again = corrupt(x, corruption_name="gaussian_noise", severity=3, seed=7)
    assert torch.equal(one, again)                       # seeded: the same every run


@pytest.mark.parametrize("name", NAMES)
def test_every_corruption_runs_on_32_px_and_changes_the_image(name):
    x = crops(32)[1]
    out = corrupt(x, corruption_name=name, severity=5, seed=1)
    assert out.shape == x.shape and out.dtype == np.uint8
    assert np.abs(out.astype(int) - x).mean() > 0.5, name


@pytest.mark.parametrize("name", NAMES)
def test_every_corruption_takes_tiny_and_thin_images_in_every_layout(name):
    """Below imagecorruptions' 32 px too (it fails there): 1 x 1, 2 x 3, 40 x 1 and 7 x 5 images, numpy colour and grey,
    a channels-last uint8 batch (the C++ conversions and uint8 forms) and a float tensor keep their shape and kind."""
    rng = np.random.default_rng(8)
    for h, w in [(1, 1), (2, 3), (40, 1), (7, 5)]:
        colour = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        grey = rng.integers(0, 256, (h, w), dtype=np.uint8)
        batch = torch.from_numpy(rng.integers(0, 256, (2, 3, h, w), dtype=np.uint8)).contiguous(
            memory_format=torch.channels_last)
        floats = torch.rand(3, h, w, generator=torch.Generator().manual_seed(h * w))
        for x, shape in [(colour, (h, w, 3)), (grey, (h, w, 3)), (batch, (2, 3, h, w)), (floats, (3, h, w))]:
            out = corrupt(x, corruption_name=name, severity=5, seed=2)
            assert tuple(out.shape) == shape and type(out) is type(x), (name, h, w)
            assert out.dtype == (np.uint8 if isinstance(x, np.ndarray) else x.dtype)


@pytest.mark.parametrize("bad, error, match", [
    (dict(corruption_name="rain", severity=1), UnknownNameError, "rain"),
    (dict(corruption_name="fog", severity=0), ParameterError, "severity must be an integer in 1..5"),
    (dict(corruption_name="fog", severity=2.5), ParameterError, "severity"),
    (dict(severity=1), ParameterError, "corruption_name or a corruption_number"),
])
def test_bad_arguments_are_one_line_errors(photo, bad, error, match):
    with pytest.raises(error, match=match):
        corrupt(photo, **bad)


# -- deterministic corruptions: the published algorithms, written again here -------------------------------------
def reference_deterministic(name: str, x: np.ndarray, s: int) -> np.ndarray:
    from scipy import ndimage
    from skimage import color

    f = x / 255.0
    if name == "brightness":
        hsv = color.rgb2hsv(f)
        hsv[..., 2] = np.clip(hsv[..., 2] + [0.1, 0.2, 0.3, 0.4, 0.5][s - 1], 0, 1)
        out = color.hsv2rgb(hsv)
    elif name == "saturate":
        c = [(0.3, 0), (0.1, 0), (2, 0), (5, 0.1), (20, 0.2)][s - 1]
        hsv = color.rgb2hsv(f)
        hsv[..., 1] = np.clip(hsv[..., 1] * c[0] + c[1], 0, 1)
        out = color.hsv2rgb(hsv)
    elif name == "contrast":
        mean = f.mean(axis=(0, 1), keepdims=True)
        out = (f - mean) * [0.4, 0.3, 0.2, 0.1, 0.05][s - 1] + mean
    elif name == "gaussian_blur":
        out = np.stack([ndimage.gaussian_filter(f[..., k], [1, 2, 3, 4, 6][s - 1], mode="nearest") for k in range(3)], -1)
    elif name == "jpeg_compression":
        buf = io.BytesIO()
        Image.fromarray(x).save(buf, "JPEG", quality=[25, 18, 15, 10, 7][s - 1])
        return np.asarray(Image.open(buf))
    elif name == "pixelate":
        c = [0.6, 0.5, 0.4, 0.3, 0.25][s - 1]
        h, w = x.shape[:2]
        small = Image.fromarray(x).resize((int(w * c), int(h * c)), Image.BOX)
        return np.asarray(small.resize((w, h), Image.NEAREST))
    elif name == "zoom_blur":
        factors = [np.arange(1, 1.11, 0.01), np.arange(1, 1.16, 0.01), np.arange(1, 1.21, 0.02),
                   np.arange(1, 1.26, 0.02), np.arange(1, 1.31, 0.03)][s - 1]
        h = f.shape[0]
        acc = f.copy()
        for z in factors:
            ch = int(np.ceil(h / z))
            top = (h - ch) // 2
            zoomed = ndimage.zoom(f[top: top + ch, top: top + ch], (z, z, 1), order=1)
            trim = (zoomed.shape[0] - h) // 2
            acc += zoomed[trim: trim + h, trim: trim + h]
        out = acc / (len(factors) + 1)
    else:
        raise KeyError(name)
    return np.uint8(np.clip(out, 0, 1) * 255)


@pytest.mark.parametrize("severity", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("name", ["brightness", "saturate", "contrast", "gaussian_blur", "jpeg_compression",
                                  "pixelate", "zoom_blur"])
def test_deterministic_corruptions_equal_the_published_algorithm(photo, name, severity):
    want = reference_deterministic(name, photo, severity)
    got = corrupt(photo, corruption_name=name, severity=severity)
    diff = np.abs(got.astype(int) - want.astype(int))
    limit = 0 if name in ("jpeg_compression", "pixelate") else 1   # Pillow's codec and resampling, bit for bit
    assert diff.max() <= limit, (name, severity, diff.max())
    assert diff.mean() < 0.5


# -- random corruptions: their statistics ------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(37, 53), (53, 37), (7, 4), (1, 1), (32, 32), (150, 299)])
def test_pixelate_is_pillows_resampling_bit_for_bit_at_any_size(shape):
    """Pillow's BOX down (8-bit fixed point) and NEAREST up, equal on uint8 and float input at odd sizes where a
    plain (k + 0.5) * in / out nearest mapping lands on integers and picks the neighbouring cell (4 -> 7 samples),
    and on images with one pixel; a tall image (rows resampled first by Pillow) within 1."""
    rng = np.random.default_rng(sum(shape))
    h, w = shape
    for s, c in enumerate([0.6, 0.5, 0.4, 0.3, 0.25], 1):
        x = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        small = Image.fromarray(x).resize((max(1, int(w * c)), max(1, int(h * c))), Image.BOX)
        want = np.asarray(small.resize((w, h), Image.NEAREST))
        assert np.array_equal(corrupt(x, corruption_name="pixelate", severity=s), want), (shape, s)
        got = corrupt(x.astype(np.float32) / 255, corruption_name="pixelate", severity=s)
        assert np.array_equal(np.round(got * 255).astype(np.uint8), want), (shape, s)
    x = rng.integers(0, 256, (100, 7, 3), dtype=np.uint8)
    want = np.asarray(Image.fromarray(x).resize((4, 60), Image.BOX).resize((7, 100), Image.NEAREST))
    assert np.abs(corrupt(x, corruption_name="pixelate", severity=1).astype(int) - want).max() <= 1


def test_pixelate_native_loops_equal_the_torch_ops():
    """torch.ops.distortx.pixelate_u8 (the C++ loops over Python's runs and sources): the torch path's bytes for
    NCHW and channels-last batches, grey, 1-pixel and tall images, every severity."""
    from distortx.corruptions.common import native_op
    from distortx.corruptions.digital import pixelate_u8

    if not native_op("pixelate_u8"):
        pytest.skip("native core not built")
    rng = np.random.default_rng(2)
    for shape in [(2, 3, 37, 53), (1, 1, 7, 4), (1, 3, 1, 1), (2, 3, 100, 7)]:
        x = torch.from_numpy(rng.integers(0, 256, shape, dtype=np.uint8))
        for xx in (x, x.contiguous(memory_format=torch.channels_last)):
            for s in range(1, 6):
                sev = torch.full((shape[0], 1), float(s))
                assert torch.equal(pixelate_u8(xx, sev, None), pixelate_u8(xx, sev, None, native=False)), (shape, s)


def test_contrast_uint8_form_equals_the_float_form_and_its_native_twin():
    """contrast_u8 (exact channel sums, a 256-entry table per channel) against the float form as corrupt() truncates
    it: equal but where the float32 mean's last ulp tips a value across a level (at most one level, rarely); the C++
    twin gives the torch form's bytes for NCHW and channels-last batches, grey, 1-pixel and odd sizes."""
    from distortx.corruptions.common import native_op
    from distortx.corruptions.digital import contrast, contrast_u8

    rng = np.random.default_rng(4)
    differing = total = 0
    for shape in [(2, 3, 37, 53), (1, 1, 7, 4), (1, 3, 1, 1), (3, 3, 64, 64)]:
        x = torch.from_numpy(rng.integers(0, 256, shape, dtype=np.uint8))
        x[0, :, : shape[2] // 2] = 255                     # extremes and a mean far from mid-grey
        for s in range(1, 6):
            sev = torch.full((shape[0], 1), float(s))
            want = torch.floor(contrast(x.float() / 255.0, sev, None).clamp(0, 1) * 255.0 + 1e-3).to(torch.uint8)
            got = contrast_u8(x, sev, None, native=False)
            diff = (got.int() - want.int()).abs()
            assert diff.max() <= 1, (shape, s)
            differing, total = differing + int((diff > 0).sum()), total + diff.numel()
            if native_op("contrast_u8"):
                for xx in (x, x.contiguous(memory_format=torch.channels_last)):
                    native = contrast_u8(xx, sev, None)
                    assert torch.equal(native, got), (shape, s)
                    last = xx.is_contiguous(memory_format=torch.channels_last)
                    assert native.is_contiguous(memory_format=torch.channels_last if last else torch.contiguous_format)
    assert differing <= total // 10000, (differing, total)


@pytest.mark.parametrize("name", NAMES)
def test_uint8_conversions_in_cpp_give_the_torch_bytes(name, monkeypatch):
    """corrupt() on uint8 input converts with u8_to_unit / unit_to_u8 (one C++ pass each): the same bytes as the torch
    expressions, for a numpy H x W x 3 image (returned channels last, so without a copy), a grey one and an NCHW
    tensor; and values outside [0, 1] are clipped before truncation."""
    import distortx.corruptions as corruptions
    from distortx.corruptions.common import native_op

    if not native_op("unit_to_u8"):
        pytest.skip("native core not built")
    rng = np.random.default_rng(5)
    inputs = [rng.integers(0, 256, (37, 53, 3), dtype=np.uint8), rng.integers(0, 256, (29, 32), dtype=np.uint8),
              torch.from_numpy(rng.integers(0, 256, (2, 3, 33, 35), dtype=np.uint8))]
    native = [corrupt(x, corruption_name=name, severity=3, seed=1) for x in inputs]
    monkeypatch.setattr(corruptions, "native_op", lambda op: False if op == "unit_to_u8" else native_op(op))
    for x, got in zip(inputs, native):
        want = corrupt(x, corruption_name=name, severity=3, seed=1)
        assert type(got) is type(want) and got.shape == want.shape
        assert (np.array_equal(got, want) if isinstance(got, np.ndarray) else torch.equal(got, want)), name
    assert native[0].flags["C_CONTIGUOUS"]
    x = torch.tensor([-0.5, 0.0, 0.5, 0.999, 1.0, 7.0, 1 / 255, 254.9999 / 255]).view(1, 1, 2, 4)
    expected = torch.floor(x.clamp(0, 1) * 255.0 + 1e-3).to(torch.uint8)
    assert torch.equal(torch.ops.distortx.unit_to_u8(x, False), expected)
    assert expected.flatten().tolist() == [0, 0, 127, 254, 255, 255, 1, 255]   # 254.9999 + 0.001 rounds up


def test_u8_to_unit_equals_torchs_division_in_every_layout():
    """torch.ops.distortx.u8_to_unit: v / 255 as torch divides, for every byte value in every channel position of a
    channels-last RGB image (its 16-pixel vector blocks and the tail), an NCHW one and a grey one."""
    from distortx.corruptions.common import native_op

    if not native_op("u8_to_unit"):
        pytest.skip("native core not built")
    values = torch.arange(256, dtype=torch.uint8)
    hwc = torch.stack([values.roll(k) for k in range(3)], -1)[None]             # 256 pixels, each value in each channel
    hwc = torch.cat([hwc, hwc[:, :37]], 1).view(1, 293, 1, 3)                    # 293 = 18 blocks of 16 + a tail of 5
    for x in (hwc.permute(0, 3, 1, 2), hwc.permute(0, 3, 1, 2).contiguous(), hwc.permute(0, 3, 1, 2)[:, :1]):
        assert torch.equal(torch.ops.distortx.u8_to_unit(x), x.float() / 255.0)


def test_unit_to_u8_channels_last_equals_the_torch_expression():
    """torch.ops.distortx.unit_to_u8 written channels last (RGB interleaved, 16-pixel vector blocks and a tail):
    floor(clamp(x, 0, 1) * 255 + 0.001) of every value, out-of-range ones included, at its pixel and channel."""
    from distortx.corruptions.common import native_op

    if not native_op("unit_to_u8"):
        pytest.skip("native core not built")
    g = torch.Generator().manual_seed(3)
    x = torch.rand(2, 3, 7, 45, generator=g) * 1.4 - 0.2                      # 315 pixels: 19 blocks + 11
    x[0, :, 0, :3] = torch.tensor([[0.0, 1.0, 254.9999 / 255], [1 / 255, 0.5, 7.0], [-1.0, 0.999, 0.25]])
    want = torch.floor(x.clamp(0, 1) * 255.0 + 1e-3).to(torch.uint8)
    got = torch.ops.distortx.unit_to_u8(x, True)
    assert got.is_contiguous(memory_format=torch.channels_last) and torch.equal(got, want)


@pytest.mark.parametrize("name", ["impulse_noise", "gaussian_noise", "speckle_noise", "shot_noise"])
@pytest.mark.parametrize("native", [True, False])
def test_noise_uint8_forms_equal_the_float_form(name, native, monkeypatch):
    """The uint8 forms of the noises (on the CPU one C++ pass, noise_u8; else the torch code) give the float form's
    values truncated as corrupt() truncates them, byte for byte: NCHW and channels-last batches (the layout kept),
    four channels, 1 x 1 and one-column images, every severity, and a batch mixing severities. A planted fault
    (another seed) differs."""
    from distortx.corruptions import noise
    from distortx.corruptions.common import native_op

    if native and not native_op("noise_u8"):
        pytest.skip("native core not built")
    if not native:
        monkeypatch.setattr(noise, "native_op", lambda op: False)
    float_form, u8_form = getattr(noise, name), getattr(noise, name + "_u8")
    rng = np.random.default_rng(6)
    for shape in ((2, 3, 41, 37), (2, 4, 9, 13), (2, 3, 1, 1), (2, 3, 40, 1)):
        x = torch.from_numpy(rng.integers(0, 256, shape, dtype=np.uint8))
        for xx in (x, x.contiguous(memory_format=torch.channels_last)):
            for s in (1, 2, 3, 4, 5, None):
                sev = torch.tensor([[2.0], [5.0]]) if s is None else torch.full((2, 1), float(s))
                seed = torch.tensor([3, 4])
                want = torch.floor(float_form(xx.float() / 255.0, sev, seed).clamp(0, 1) * 255.0 + 1e-3).to(torch.uint8)
                got = u8_form(xx, sev, seed)
                assert torch.equal(got, want), (shape, s)
                last = xx.is_contiguous(memory_format=torch.channels_last) and not xx.is_contiguous()
                assert not native or got.is_contiguous(memory_format=torch.channels_last if last else torch.contiguous_format)
    x = torch.from_numpy(rng.integers(0, 256, (2, 3, 41, 37), dtype=np.uint8))
    got = u8_form(x, sev, seed)
    assert 0 < int((got != x).sum())
    assert not torch.equal(got, u8_form(x, sev, seed + 1))
    assert torch.equal(got[1:], u8_form(x[1:], sev[1:], seed[1:]))   # a sample is its own, in any batch


def test_filter2d_native_tap_sum_equals_the_torch_code():
    """torch.ops.distortx.correlate2d (every output's taps chained in one register, AVX-512 / AVX2 / scalar by the
    CPU) gives the torch code's bits: Sobel, box and disk kernels, an all-zero kernel, three border modes, widths
    around the 64- and 16-lane blocks, 1 pixel; and the disk kernel is a real correlation (a planted transposed
    kernel differs)."""
    from distortx.corruptions.blur import disk_kernel
    from distortx.corruptions.common import conv_same, native_op

    if not native_op("correlate2d"):
        pytest.skip("native core not built")
    g = torch.Generator().manual_seed(0)
    sobel = torch.tensor([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]])
    kernels = [sobel, torch.full((3, 3), 1 / 9.0), disk_kernel(3, 0.1), disk_kernel(10, 0.5), torch.zeros(3, 3)]
    for shape in [(2, 3, 37, 53), (1, 1, 1, 1), (1, 3, 5, 300), (1, 1, 17, 64), (1, 1, 9, 79), (1, 2, 4, 15)]:
        x = torch.rand(shape, generator=g)
        for kernel in kernels:
            for mode in ("mirror", "reflect", "nearest"):
                got = conv_same(x, kernel, mode)
                assert torch.equal(got, conv_same(x, kernel, mode, native=False)), (shape, kernel.shape, mode)
    x = torch.rand(1, 1, 20, 20, generator=g)
    assert not torch.equal(conv_same(x, sobel), conv_same(x, sobel.t()))
    flat = torch.full((1, 1, 9, 9), 0.25)
    assert torch.allclose(conv_same(flat, disk_kernel(3, 0.1)), flat, atol=1e-6)   # the kernel sums to 1


def test_canny_is_opencvs_edge_for_edge():
    """spatter's Canny equals cv2.Canny(image, 50, 150) pixel for pixel (native and torch paths) on its liquid
    layers, on noise and on smoothed noise at odd sizes; the previous rule (angle sectors, mirrored borders, 32
    hysteresis steps) differed on ~1 % of pixels."""
    cv2 = pytest.importorskip("cv2")
    from scipy import ndimage

    from distortx.corruptions.weather import canny

    rng = np.random.default_rng(0)
    for k in range(5):
        h, w = 37 + 19 * k, 61 + 11 * k
        liquid = ndimage.gaussian_filter(rng.normal(0.65, 0.3, (h, w)), 1.0)
        liquid[liquid < 0.69] = 0
        images = [(np.clip(liquid, 0, None) * 255).astype(np.uint8), rng.integers(0, 256, (h, w), dtype=np.uint8),
                  ndimage.uniform_filter(rng.integers(0, 256, (h, w)).astype(float), 5).astype(np.uint8)]
        for image in images:
            want = cv2.Canny(image, 50, 150) > 0
            v = torch.from_numpy(image).float()[None]
            assert np.array_equal(canny(v)[0].numpy(), want), (h, w)
            assert np.array_equal(canny(v, native=False)[0].numpy(), want), (h, w)
    assert not np.array_equal(canny(v, low=60)[0].numpy(), want)          # a planted fault shows


def test_spatter_edge_loops_native_equal_the_torch_code():
    """torch.ops.distortx.hysteresis (a breadth-first search) and edge_distance: the same edges and distances as the
    torch code's dilations and shifted minima, for Canny maps of smoothed noise, sparse edges, no edges, 1 pixel and
    a strip, at limits 1, 5 and 20 (the square root taken by ATen, as there)."""
    from distortx.corruptions.common import native_op
    from distortx.corruptions.weather import canny, distance_to

    if not native_op("hysteresis"):
        pytest.skip("native core not built")
    g = torch.Generator().manual_seed(0)
    for shape in [(2, 64, 80), (1, 1, 1), (3, 5, 300)]:
        v = (torch.rand(shape, generator=g) * 255).floor()
        v = torch.nn.functional.avg_pool2d(v[:, None], 3, 1, 1)[:, 0].floor()
        edges = canny(v)
        assert torch.equal(edges, canny(v, native=False)), shape
        for e in (edges, torch.rand(shape, generator=g) > 0.999, torch.rand(shape, generator=g) > 0.97,
                  torch.zeros(shape, dtype=torch.bool)):
            for limit in (1, 5, 20):
                assert torch.equal(distance_to(e, limit), distance_to(e, limit, native=False)), (shape, limit)
    v = torch.nn.functional.avg_pool2d((torch.rand(1, 1, 60, 60, generator=g) * 255).floor(), 3, 1, 1)[:, 0].floor()
    for steps in (0, 1, 3):                                           # a depth limit the search must keep
        assert torch.equal(canny(v, hysteresis_steps=steps), canny(v, hysteresis_steps=steps, native=False)), steps
    assert not torch.equal(canny(v, hysteresis_steps=0), canny(v, hysteresis_steps=32))


def test_zoom_blur_native_sum_equals_the_torch_zooms():
    """torch.ops.distortx.zoom_blur_sum (x + the bilinear centre zooms, rows interpolated once per zoom): the torch
    code's bits at ImageNet and CIFAR sizes, odd and 1-pixel images, every severity."""
    from distortx.corruptions.blur import zoom_blur
    from distortx.corruptions.common import native_op

    if not native_op("zoom_blur_sum"):
        pytest.skip("native core not built")
    g = torch.Generator().manual_seed(0)
    for shape in [(2, 3, 64, 64), (1, 1, 32, 32), (2, 3, 37, 53), (1, 3, 1, 1), (1, 3, 2, 9)]:
        x = torch.rand(shape, generator=g)
        for s in range(1, 6):
            sev = torch.full((shape[0], 1), float(s))
            assert torch.equal(zoom_blur(x, sev, None), zoom_blur(x, sev, None, native=False)), (shape, s)


def test_shift_taps_native_equals_torchs_fused_adds():
    """torch.ops.distortx.shift_taps (motion blur, snow): torch's add_(alpha) is a float32 fused multiply-add; the
    C++ taps give its bits for angles all round, long and short kernels, shifts leaving the image, 1-pixel and strip
    images."""
    from distortx.corruptions.common import motion_kernel, native_op, shift_taps

    if not native_op("shift_taps"):
        pytest.skip("native core not built")
    g = torch.Generator().manual_seed(0)
    for shape in [(3, 3, 64, 64), (2, 3, 37, 53), (1, 1, 1, 1), (2, 3, 5, 300)]:
        x = torch.rand(shape, generator=g)
        for radius, sigma in [(10, 3.0), (15, 5.0), (3, 1.0)]:
            angle = torch.rand(shape[0], generator=g) * 360 - 180
            kernel = motion_kernel(radius, sigma)
            assert torch.equal(shift_taps(x, kernel, angle), shift_taps(x, kernel, angle, native=False)), (shape, radius)


def test_uint8_forms_equal_the_float_forms_truncated():
    """corrupt() takes the uint8 forms of jpeg_compression and pixelate for uint8 input (no float step): the same
    bytes as the float forms on the same pixels, per sample severity in a batch, colour and grey tensors."""
    from distortx.corruptions.plugin import spec_of
    from distortx.io import to_uint8_image

    rng = np.random.default_rng(4)
    x8 = torch.from_numpy(rng.integers(0, 256, (4, 3, 33, 47), dtype=np.uint8))
    sev = torch.tensor([[1.0], [3.0], [5.0], [2.0]])
    seeds = torch.arange(4)
    for name in ("jpeg_compression", "pixelate"):
        spec = spec_of(name)
        for x in (x8, x8[:, :1].contiguous()):
            want = to_uint8_image(spec.reference(x.float() / 255, sev, seeds))
            assert torch.equal(spec.reference_uint8(x, sev, seeds), want), (name, x.shape)
        assert torch.equal(corrupt(x8, corruption_name=name, severity=4), spec.reference_uint8(x8, torch.full((4, 1), 4.0), seeds))


def test_batches_run_in_chunks_with_each_samples_own_result(monkeypatch):
    """corrupt() splits a batch into chunks of ~CHUNK_BYTES: every corruption gives each sample the result it gets
    alone (seed + i), whatever the chunking: equal bytes for uint8, float within an ulp (torch's conv picks its
    algorithm by batch size)."""
    import distortx.corruptions as corruptions

    rng = np.random.default_rng(0)
    x8 = torch.from_numpy(rng.integers(0, 256, (5, 3, 20, 22), dtype=np.uint8))
    xf = x8.float() / 255
    for name in NAMES:
        whole8, wholef = corrupt(x8, corruption_name=name, severity=3, seed=7), corrupt(xf, corruption_name=name, severity=3, seed=7)
        monkeypatch.setattr(corruptions, "CHUNK_BYTES", 2 * x8[0].numel() * 4)  # chunks of 2, 2, 1 images
        assert torch.equal(corrupt(x8, corruption_name=name, severity=3, seed=7), whole8), name
        assert torch.allclose(corrupt(xf, corruption_name=name, severity=3, seed=7), wholef, atol=1e-6, rtol=0), name
        monkeypatch.undo()
        alone = torch.stack([corrupt(x8[i], corruption_name=name, severity=3, seed=7 + i) for i in range(5)])
        assert torch.equal(alone, whole8), name


@pytest.mark.parametrize("size, decay", [(256, 1.7), (256, 3.0), (32, 2.0), (64, 1.5), (2, 1.5), (1, 2.0)])
def test_plasma_fractal_native_maps_equal_the_torch_code(size, decay):
    """torch.ops.distortx.plasma_fractal (fog, frost's haze): the same diamond-square maps as the torch code, bit
    for bit, per sample seed (negative and > 2^32 too); the map spans [0, 1]."""
    from distortx._ext import native_available
    from distortx.corruptions.weather import plasma_fractal

    if not native_available():
        pytest.skip("native core not built")
    seeds = torch.tensor([0, 5, -3, 2**40])
    native = plasma_fractal(seeds, size, decay)
    assert torch.equal(native, plasma_fractal(seeds, size, decay, native=False))
    if size >= 32:
        assert float(native.amin()) == 0.0 and float(native.amax()) == 1.0
        assert not torch.equal(native[0], native[1])


@pytest.mark.parametrize("mode", ["nearest", "reflect", "mirror"])
def test_filter_axis_native_equals_the_torch_loop(mode):
    """torch.ops.distortx.filter_axis (every gaussian_filter of the family): the torch loop's bits along either
    axis, for kernels longer than the image (borders folded more than once), a 1-pixel axis and a 2-D tensor."""
    from distortx._ext import native_available
    from distortx.corruptions.common import filter_axis, gaussian_kernel

    if not native_available():
        pytest.skip("native core not built")
    g = torch.Generator().manual_seed(0)
    for shape in [(2, 3, 37, 53), (1, 1, 5, 1), (3, 7), (1, 3, 1, 9)]:
        for dtype in (torch.float32, torch.float64):                 # elastic's fields are float64
            x = torch.rand(shape, generator=g, dtype=dtype)
            for sigma in (0.7, 3.0, 6.0):
                for dim in (-1, -2):
                    want = filter_axis(x, gaussian_kernel(sigma), dim, mode, native=False)
                    got = filter_axis(x, gaussian_kernel(sigma), dim, mode)
                    assert got.dtype == dtype and torch.equal(got, want), (shape, dtype, sigma, dim)


@pytest.mark.parametrize("mode", ["nearest", "reflect", "mirror"])
def test_linear_sample_native_equals_the_torch_gathers(mode):
    """torch.ops.distortx.linear_sample (elastic transform's resampling): the torch code's bits for points inside,
    on and far outside the image (borders folded), a 1-pixel image and an output of another size."""
    from distortx.corruptions.common import linear_sample, native_op

    if not native_op("linear_sample"):
        pytest.skip("native core not built")
    g = torch.Generator().manual_seed(1)
    for shape in [(2, 3, 40, 50), (1, 1, 1, 1), (1, 3, 5, 300)]:
        n, c, h, w = shape
        x = torch.rand(shape, generator=g)
        ys = torch.rand(n, h + 3, w, generator=g) * (3 * h + 10) - (h + 5)
        xs = torch.rand(n, h + 3, w, generator=g) * (3 * w + 10) - (w + 5)
        assert torch.equal(linear_sample(x, ys, xs, mode), linear_sample(x, ys, xs, mode, native=False)), shape
    # elastic transform's points: each pixel moved by a few px, so most blocks of 16 lie inside (the vector path),
    # and rows of 37 points leave a tail; a point far outside and points on the last row / column fall back per block
    n, c, h, w = 2, 3, 45, 37
    x = torch.rand(n, c, h, w, generator=g)
    ys = torch.arange(h, dtype=torch.float32).view(1, h, 1) + torch.randn(n, h, w, generator=g) * 2
    xs = torch.arange(w, dtype=torch.float32).view(1, 1, w) + torch.randn(n, h, w, generator=g) * 2
    ys[0, 5, 3], xs[1, 7, 20], ys[1, 9, 2] = -30.5, float(w - 1), float(h - 1)
    assert torch.equal(linear_sample(x, ys, xs, mode), linear_sample(x, ys, xs, mode, native=False))


def test_noise_statistics_on_flat_grey():
    grey = np.full((96, 96, 3), 128, np.uint8)
    g = corrupt(grey, corruption_name="gaussian_noise", severity=3).astype(float)
    assert g.std() / 255 == pytest.approx(0.18, rel=0.04)
    shot = corrupt(grey, corruption_name="shot_noise", severity=2).astype(float) / 255
    assert shot.var() == pytest.approx((128 / 255) / 25, rel=0.08)        # Poisson: var(k / c) = x / c
    assert shot.mean() == pytest.approx(128 / 255, abs=0.01)
    imp = corrupt(grey, corruption_name="impulse_noise", severity=4)
    flipped = imp != 128
    assert flipped.mean() == pytest.approx(0.17, abs=0.01)
    assert (imp[flipped] == 255).mean() == pytest.approx(0.5, abs=0.03) and set(np.unique(imp[flipped])) == {0, 255}
    sp = corrupt(grey, corruption_name="speckle_noise", severity=1).astype(float)
    assert sp.std() / 255 == pytest.approx(0.15 * 128 / 255, rel=0.05)


def test_drawn_frost_is_a_seeded_crop_of_one_of_five_pictures(monkeypatch, tmp_path):
    """Frost (drawn) blends a seeded crop of one of the bank's five pictures, as ImageNet-C crops its photographs:
    every sample's layer is a window of a bank picture at the image size rounded up to a power of two; a cached
    and a freshly drawn bank give the same bytes; a sample is its own in any batch; with DISTORTX_FROST_DIR the
    crops come from those files instead."""
    from distortx.corruptions import frost_source, weather

    seed = torch.arange(40, dtype=torch.int64) * 7 + 3
    layer = weather.frost_drawn(seed, 60, 100)
    bank = [weather.frost_bank_texture(k, 128) for k in range(weather.FROST_BANK)]
    used = set()
    for i in range(seed.shape[0]):
        hits = [k for k, pic in enumerate(bank)
                if any(torch.equal(layer[i], pic[:, t: t + 60, left: left + 100])
                       for t in range(0, 69) for left in range(0, 29))]
        assert len(hits) == 1, i
        used.add(hits[0])
    assert used == set(range(weather.FROST_BANK))                     # the seed picks among all five
    assert torch.equal(weather.frost_drawn(seed[5:6], 60, 100)[0], layer[5])
    monkeypatch.setattr(weather, "_BANK_CACHED_SIDE", 0)              # drawn per call: the same pictures
    assert torch.equal(weather.frost_drawn(seed, 60, 100), layer)
    assert frost_source() == "drawn"
    x = torch.rand(2, 3, 60, 100) * 0.4                                # no clipping at 1
    for k in range(2):
        Image.fromarray(np.full((80, 120, 3), 40 + 100 * k, np.uint8)).save(tmp_path / f"frost{k}.png")
    monkeypatch.setenv("DISTORTX_FROST_DIR", str(tmp_path))
    assert frost_source().startswith("photographs in")
    out = weather.frost(x, torch.full((2, 1), 1.0), seed[:2])
    keep, amount = weather._c("frost", 1)
    layers = (out - keep * x) / amount
    assert all(float(layers[i].std()) < 1e-5 for i in range(2))       # flat photographs: flat frost layers


ROWS = sorted(REFERENCE["rows"])


@pytest.mark.parametrize("key", ROWS)
def test_psnr_is_imagecorruptions_within_the_stated_band(key):
    """Mean PSNR over the fidelity script's draws within 1 dB + 1 S.D. of imagecorruptions' draws."""
    name, severity = key.split("/")
    row = REFERENCE["rows"][key]
    images = crops()
    ours = [psnr(corrupt(images[k % 2], corruption_name=name, severity=int(severity), seed=k), images[k % 2])
            for k in range(REFERENCE["draws"])]
    assert abs(np.mean(ours) - row["ref_psnr"]) <= 1.0 + row["ref_psnr_sd"], (key, np.mean(ours), row)


# -- beside imagecorruptions itself, where it runs -----------------------------------------------------------------
@pytest.fixture(scope="module")
def imagecorruptions():
    pytest.importorskip("cv2")
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "experiments" / "imagenet_c"))
    try:
        from fidelity import imagecorruptions_with_shim

        return imagecorruptions_with_shim()
    except ImportError as exc:
        pytest.skip(f"imagecorruptions does not import here: {exc}")
    finally:
        sys.path.pop(0)


@pytest.mark.parametrize("name", ["defocus_blur", "zoom_blur", "brightness", "contrast", "pixelate",
                                  "jpeg_compression", "gaussian_blur", "saturate"])
def test_deterministic_corruptions_equal_imagecorruptions(imagecorruptions, photo, name):
    for s in range(1, 6):
        want = imagecorruptions.corrupt(photo, corruption_name=name, severity=s)
        got = corrupt(photo, corruption_name=name, severity=s)
        assert np.abs(got.astype(int) - want.astype(int)).max() <= 1, (name, s)


def test_glass_blur_shuffle_is_numpys_swap_statement_on_pixel_views():
    """ImageNet-C's ``x[h, w], x[h', w'] = x[h', w'], x[h, w]`` on numpy pixel views copies x[h', w'] into x[h, w]
    and leaves x[h', w'] as it was; the position map must be that statement run with the same offsets."""
    from distortx.corruptions.blur import shuffle_permutation
    from distortx.corruptions.common import SHUFFLE, per_sample

    h, w, delta, iterations, seed = 11, 13, 2, 2, 5
    rows, cols = range(h - delta, delta, -1), range(w - delta, delta, -1)
    u = per_sample(torch.tensor([seed]), (iterations, len(rows) * len(cols), 2), SHUFFLE)[0]
    offsets = (torch.floor(u * (2 * delta)).long() - delta).numpy()
    x = np.arange(h * w).reshape(h, w, 1).repeat(3, axis=2)          # each pixel holds its own position
    for it in range(iterations):
        k = 0
        for r in rows:
            for c in cols:
                dx, dy = offsets[it, k]
                x[r, c], x[r + dy, c + dx] = x[r + dy, c + dx], x[r, c]
                k += 1
                assert x[r, c, 0] == x[r + dy, c + dx, 0]           # numpy copied: both hold the same pixel
    for native in (True, False):                                      # the C++ loop and the Python one
        source = shuffle_permutation(h, w, delta, iterations, seed, native=native)
        assert np.array_equal(source.numpy(), x[..., 0].reshape(-1)), native
    assert len(np.unique(x[..., 0])) < h * w                          # pixels were duplicated, not permuted


@pytest.mark.parametrize("h, w, delta, iterations", [(224, 224, 1, 2), (37, 53, 3, 2), (5, 5, 2, 1), (32, 32, 2, 1)])
def test_glass_shuffle_native_map_equals_the_python_loop(h, w, delta, iterations):
    """torch.ops.distortx.glass_shuffle_map runs the sequential loop in C++: the same map as the Python loop at
    ImageNet-C and CIFAR sizes and odd ones; offsets out of [-delta, delta) are a one-line error."""
    from distortx._ext import native_available
    from distortx.corruptions.blur import shuffle_permutation

    if not native_available():
        pytest.skip("native core not built")
    for seed in (0, 9):
        assert torch.equal(shuffle_permutation(h, w, delta, iterations, seed, native=True),
                           shuffle_permutation(h, w, delta, iterations, seed, native=False))
    bad = torch.full((1, (h - 2 * delta) * (w - 2 * delta), 2), delta, dtype=torch.int64)
    with pytest.raises(RuntimeError, match=r"offsets must lie in \[-delta, delta\)"):
        torch.ops.distortx.glass_shuffle_map(bad, h, w, delta)


# -- the benchmark: presets and mCE against AlexNet's published errors ---------------------------------------------
SUITE_MODEL = '''
import torch
from torch import nn


def build(num_classes=3):
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(4, num_classes))
'''


def test_presets_sweep_the_family_at_every_severity():
    for name, count in (("imagenet-c", 15), ("imagenet-c-validation", 4), ("imagenet-c-all", 19)):
        preset = distortx.get_preset(name)
        assert len(preset.distortions) == count and preset.level_mode == "grid"
        assert all(ls == "imagenet_c" for _, ls in preset.level_sets)
    assert distortx.get_preset("imagenet-c").distortions == tuple("imagenet_c_" + n for n in COMMON)


@pytest.fixture()
def suite_files(tmp_path):
    g = np.random.default_rng(0)
    np.savez(tmp_path / "data.npz", x=g.integers(0, 256, (6, 32, 32, 3), dtype=np.uint8), y=np.arange(6) % 3)
    (tmp_path / "model.py").write_text(SUITE_MODEL)
    return tmp_path


def test_suite_reports_ce_and_mce_against_alexnets_published_errors(suite_files):
    from click.testing import CliRunner

    from distortx.cli import main
    from distortx.corruptions.benchmark import ALEXNET_CLEAN_ERROR, ALEXNET_ERRORS

    t = suite_files
    r = CliRunner().invoke(main, ["robustness", "--suite", "imagenet-c", "--data", str(t / "data.npz"),
                                  "--model", f"{t / 'model.py'}:build", "--distortions",
                                  "imagenet_c_contrast,imagenet_c_fog", "--out", str(t / "run"), "--json",
                                  "--no-plots", "--quiet", "--batch-size", "3"])
    assert r.exit_code == 0, r.output
    summary = json.loads(r.output)["summary"]
    rows = json.loads((t / "run" / "results.json").read_text())["rows"]
    clean_err = 1 - next(x["top1"] for x in rows if x["distortion"] == "clean")
    ces, rces = [], []
    for name in ("contrast", "fog"):
        err = [1 - x["top1"] for x in rows if x["distortion"] == f"imagenet_c_{name}"]
        assert len(err) == 5
        ce = sum(err) / (5 * ALEXNET_ERRORS[name])
        rce = sum(e - clean_err for e in err) / (5 * (ALEXNET_ERRORS[name] - ALEXNET_CLEAN_ERROR))
        assert summary["distortions"][f"imagenet_c_{name}"]["ce"] == pytest.approx(ce)
        assert summary["distortions"][f"imagenet_c_{name}"]["relative_ce"] == pytest.approx(rce)
        ces.append(ce)
        rces.append(rce)
    assert summary["mce"] == pytest.approx(sum(ces) / 2) and summary["relative_mce"] == pytest.approx(sum(rces) / 2)
    assert summary["baseline"].startswith("AlexNet")


@pytest.mark.parametrize("args, message", [
    (["--suite", "imagenet-c", "--preset", "ahn-classification"], "give --suite or --preset, not both"),
    (["--baseline", "alexnet", "--distortions", "contrast"], "published errors for the 15 common ImageNet-C"),
    (["--baseline", "no/such/results.json"], "no such results file"),
])
def test_suite_mistakes_are_one_line_errors(suite_files, args, message):
    from click.testing import CliRunner

    from distortx.cli import main

    t = suite_files
    r = CliRunner().invoke(main, ["robustness", "--data", str(t / "data.npz"), "--model", f"{t / 'model.py'}:build",
                                  "--out", str(t / "run"), "--quiet", *args])
    assert r.exit_code != 0 and message in r.output, r.output
    assert len(r.output.strip().splitlines()) == 1


# -- the folder layout ---------------------------------------------------------------------------------------------
@pytest.fixture()
def class_folders(tmp_path):
    for cls, name, k in (("cat", "a.png", 0), ("dog", "b.jpg", 1), ("dog", "c.png", 1)):
        (tmp_path / "in" / cls).mkdir(parents=True, exist_ok=True)
        Image.fromarray(crops(96)[k]).resize((120, 96)).save(tmp_path / "in" / cls / name)
    return tmp_path


def _tree(root: Path) -> dict:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*.png"))}


def test_generate_writes_imagenet_c_layout_the_same_whatever_the_batch_and_resumes(class_folders):
    from click.testing import CliRunner

    from distortx.cli import main
    from distortx.corruptions.folders import imagenet_c_geometry, sample_seed, write_corruption_folders

    t = class_folders
    r = CliRunner().invoke(main, ["generate", "--preset", "imagenet-c-validation", "--images", str(t / "in"),
                                  "--out", str(t / "out"), "--quiet"])
    assert r.exit_code == 0, r.output
    tree = _tree(t / "out")
    assert len(tree) == 4 * 5 * 3 and "spatter/5/dog/b.png" in tree and "gaussian_blur/1/cat/a.png" in tree
    # each file is the corruption of the 256 -> 224 geometry, with the sample's own seed
    with Image.open(t / "in" / "dog" / "c.png") as im:
        x = imagenet_c_geometry(im, 224)
    want = corrupt(x, corruption_name="speckle_noise", severity=2, seed=sample_seed(0, "dog/c.png", "speckle_noise", 2))
    got = torch.from_numpy(np.array(Image.open(t / "out" / "speckle_noise" / "2" / "dog" / "c.png"))).permute(2, 0, 1)
    assert torch.equal(got, want)
    # another batch size: the same bytes; a deleted file comes back identical, the others are kept
    again = write_corruption_folders(distortx.get_preset("imagenet-c-validation"), t / "in", t / "out1", batch_size=1,
                                     progress=False)
    assert _tree(t / "out1") == tree and again.written == 60
    (t / "out" / "spatter" / "3" / "cat" / "a.png").unlink()
    rerun = write_corruption_folders(distortx.get_preset("imagenet-c-validation"), t / "in", t / "out", progress=False)
    assert rerun.written == 1 and rerun.kept == 59 and _tree(t / "out") == tree


def test_poisson_table_and_running_sum_draw_the_same_counts():
    """Shot noise's Poisson counts: the tabulated inversion (rates > 8), the running sum and the C++ op
    (torch.ops.distortx.poisson_inverse, both paths) give the same draws, also with more distinct rates than the
    table takes (float input) and with -0 beside +0."""
    import math

    from distortx.corruptions import noise

    g = torch.Generator().manual_seed(0)
    for c in (60.0, 25.0, 12.0, 3.0):
        lam = torch.randint(0, 256, (3, 40, 50), generator=g).float() / 255 * c
        u = torch.rand(3, 40, 50, generator=g, dtype=torch.float64)
        top = float(lam.max())
        terms = int(top + 12 * math.sqrt(top + 1) + 12) - 1
        expected = noise._poisson_running_sum(lam.double(), u, terms)
        assert torch.equal(noise.poisson(lam, u, native=False), expected)
        assert torch.equal(noise.poisson(lam, u), expected)     # the C++ op where it is built: the same draws
        if c > noise._SMALL_RATE:     # the table path above; its mean is the rate's
            assert abs(float(expected.mean() - lam.double().mean())) < 0.05 * c
    lam = torch.rand(3, 60, 70, generator=g, dtype=torch.float64) * 30        # ~12,600 distinct rates: running sum
    lam[0, 0, :5] = torch.tensor([0.0, -0.0, 0.0, 20.0, 20.0], dtype=torch.float64)
    u = torch.rand(3, 60, 70, generator=g, dtype=torch.float64)
    assert torch.equal(noise.poisson(lam, u), noise.poisson(lam, u, native=False))
    lam = (torch.randint(0, 256, (2, 30, 30), generator=g).double() / 255 * 40)
    lam[0, 0, :2] = torch.tensor([0.0, -0.0], dtype=torch.float64)                # one row for both zeros
    u = torch.rand(2, 30, 30, generator=g, dtype=torch.float64)
    assert torch.equal(noise.poisson(lam, u), noise.poisson(lam, u, native=False))


def test_clipped_zoom_native_equals_the_torch_gathers():
    """torch.ops.distortx.zoom_sample (clipped_zoom: each source row interpolated once, then one lerp of two rows per
    output row): linear_sample's bits at every snow zoom, odd, strip and 1-pixel images, values outside [0, 1]."""
    from distortx.corruptions.common import clipped_zoom, native_op

    if not native_op("zoom_sample"):
        pytest.skip("native core not built")
    g = torch.Generator().manual_seed(0)
    for shape in [(2, 1, 64, 64), (1, 3, 37, 53), (1, 1, 1, 1), (2, 1, 3, 200)]:
        x = torch.randn(shape, generator=g) * 0.3 + 0.1
        for factor in (1.0, 1.5, 2.5, 3.0, 4.5):
            ref = clipped_zoom(x, factor, native=False)
            assert torch.equal(clipped_zoom(x, factor), ref), (shape, factor)
    assert not torch.equal(clipped_zoom(x, 2.5), clipped_zoom(x, 3.0))


def test_snow_native_blend_equals_the_torch_steps():
    """snow with zoom_sample and snow_blend in C++ gives the torch steps' bits: colour and grey, odd sizes, every
    severity, and the flakes really are there (the image changes by more than the brightening alone)."""
    from distortx.corruptions.common import native_op
    from distortx.corruptions.weather import snow

    if not (native_op("snow_blend") and native_op("zoom_sample")):
        pytest.skip("native core not built")
    g = torch.Generator().manual_seed(0)
    for shape in [(2, 3, 64, 64), (1, 1, 48, 40), (2, 3, 37, 53), (1, 3, 1, 1)]:
        x = torch.rand(shape, generator=g)
        seed = torch.arange(shape[0]) + 7
        for s in range(1, 6):
            sev = torch.full((shape[0], 1), float(s))
            out = snow(x, sev, seed)
            assert torch.equal(out, snow(x, sev, seed, native=False)), (shape, s)
    from distortx.corruptions.constants import IMAGENET_C

    keep = IMAGENET_C["snow"][4][-1]                       # severity 5 on a flat 0.2 grey: brightened to 0.47
    out = snow(torch.full((1, 3, 64, 64), 0.2), torch.full((1, 1), 5.0), torch.tensor([3]))
    assert (out > keep * 0.2 + (1 - keep) * 0.8 + 2 / 255).float().mean() > 0.3 and out.max() == 1.0   # the flakes


def test_snow_u8_gives_the_float_forms_bytes_in_both_layouts():
    """snow's uint8 form (the flakes as in the float form, the image read and written by snow_blend_u8) gives the
    bytes corrupt() made from the float form: NCHW and channels-last input, colour and grey, odd sizes, every
    severity; the result keeps the input's layout."""
    from distortx.corruptions import corrupt
    from distortx.corruptions.common import native_op
    from distortx.corruptions.weather import snow, snow_u8

    if not native_op("snow_blend_u8"):
        pytest.skip("native core not built")
    g = torch.Generator().manual_seed(0)
    for shape in [(2, 3, 64, 64), (1, 1, 48, 40), (2, 3, 37, 53), (1, 3, 1, 1)]:
        x8 = (torch.rand(shape, generator=g) * 256).floor().to(torch.uint8)
        seed = torch.arange(shape[0]) + 7
        for s in range(1, 6):
            sev = torch.full((shape[0], 1), float(s))
            expected = torch.floor(snow(x8.float() / 255.0, sev, seed).clamp(0, 1) * 255.0 + 1e-3).to(torch.uint8)
            assert torch.equal(snow_u8(x8, sev, seed), expected), (shape, s)
            last = snow_u8(x8.contiguous(memory_format=torch.channels_last), sev, seed)
            assert torch.equal(last, expected), (shape, s)
            if shape[1] == 3:
                assert last.is_contiguous(memory_format=torch.channels_last)
    img = (torch.rand(40, 50, 3, generator=g) * 256).floor().to(torch.uint8).numpy()
    out = corrupt(img, corruption_name="snow", severity=4, seed=3)
    x = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255.0
    want = torch.floor(snow(x, torch.full((1, 1), 4.0), torch.tensor([3])).clamp(0, 1) * 255.0 + 1e-3)
    assert out.shape == img.shape and (out != img).mean() > 0.5
    assert np.array_equal(out, want[0].permute(1, 2, 0).to(torch.uint8).numpy())


def test_motion_blur_u8_gives_the_float_forms_bytes_in_both_layouts():
    """motion blur's uint8 form (shift_taps_u8: planes read as v / 255, the taps as shift_taps sums them, rows written
    truncated) gives the bytes corrupt() made from the float form: NCHW and channels last, colour and grey, widths
    across the 128-wide blocks and their tails, 1-pixel images, every severity; the result keeps the layout."""
    from distortx.corruptions import corrupt
    from distortx.corruptions.blur import motion_blur, motion_blur_u8
    from distortx.corruptions.common import native_op

    if not native_op("shift_taps_u8"):
        pytest.skip("native core not built")
    g = torch.Generator().manual_seed(0)
    for shape in [(2, 3, 64, 64), (1, 1, 48, 40), (2, 3, 37, 131), (1, 3, 1, 1), (1, 3, 20, 300)]:
        x8 = (torch.rand(shape, generator=g) * 256).floor().to(torch.uint8)
        seed = torch.arange(shape[0]) + 5
        for s in range(1, 6):
            sev = torch.full((shape[0], 1), float(s))
            expected = torch.floor(motion_blur(x8.float() / 255.0, sev, seed).clamp(0, 1) * 255.0 + 1e-3).to(torch.uint8)
            assert torch.equal(motion_blur_u8(x8, sev, seed), expected), (shape, s)
            last = motion_blur_u8(x8.contiguous(memory_format=torch.channels_last), sev, seed)
            assert torch.equal(last, expected), (shape, s)
            if shape[1] == 3 and shape[2] > 1:
                assert last.is_contiguous(memory_format=torch.channels_last)
    img = (torch.rand(40, 50, 3, generator=g) * 256).floor().to(torch.uint8).numpy()
    out = corrupt(img, corruption_name="motion_blur", severity=5, seed=2)
    x = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255.0
    want = torch.floor(motion_blur(x, torch.full((1, 1), 5.0), torch.tensor([2])).clamp(0, 1) * 255.0 + 1e-3)
    assert (out != img).mean() > 0.5 and np.array_equal(out, want[0].permute(1, 2, 0).to(torch.uint8).numpy())


def test_frost_u8_gives_the_float_forms_bytes_in_both_layouts(monkeypatch):
    """frost's uint8 form (frost_blend_u8: each image blended with its bank crop read in place) gives the bytes
    corrupt() made from the float form: NCHW and channels last, odd sizes, every severity; grey images and
    photographs of frost take the float form."""
    from distortx.corruptions import corrupt
    from distortx.corruptions.common import native_op
    from distortx.corruptions.weather import frost, frost_u8

    if not native_op("frost_blend_u8"):
        pytest.skip("native core not built")
    monkeypatch.delenv("DISTORTX_FROST_DIR", raising=False)
    g = torch.Generator().manual_seed(0)
    for shape in [(2, 3, 64, 64), (1, 1, 48, 40), (2, 3, 37, 53), (1, 3, 1, 1)]:
        x8 = (torch.rand(shape, generator=g) * 256).floor().to(torch.uint8)
        seed = torch.arange(shape[0]) + 11
        for s in range(1, 6):
            sev = torch.full((shape[0], 1), float(s))
            expected = torch.floor(frost(x8.float() / 255.0, sev, seed).clamp(0, 1) * 255.0 + 1e-3).to(torch.uint8)
            assert torch.equal(frost_u8(x8, sev, seed), expected), (shape, s)
            assert torch.equal(frost_u8(x8.contiguous(memory_format=torch.channels_last), sev, seed), expected)
    img = (torch.rand(40, 50, 3, generator=g) * 256).floor().to(torch.uint8).numpy()
    out = corrupt(img, corruption_name="frost", severity=3, seed=4)
    x = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255.0
    want = torch.floor(frost(x, torch.full((1, 1), 3.0), torch.tensor([4])).clamp(0, 1) * 255.0 + 1e-3)
    assert (out != img).mean() > 0.5 and np.array_equal(out, want[0].permute(1, 2, 0).to(torch.uint8).numpy())

"""Blur and warp families: the documented per-pixel formulas (re-implemented here in float64 NumPy, the
reference a native kernel is held to), identities, severity ordering, batching and edge shapes."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from distortx import get_distortion
from distortx.distortions import rng
from distortx.distortions.blur import gaussian_kernel1d, gaussian_radius, lowpass_size
from distortx.distortions.warp import marble_displacement, perlin

NAMES = ("gaussian_blur", "motion_blur", "lowpass", "twirl", "marble")


# -- helpers ------------------------------------------------------------------------------------------------
def _natural_image(size: int = 96) -> torch.Tensor:
    """skimage's astronaut (bundled with scikit-image, a test extra) resized to size x size."""
    import skimage.data
    import skimage.transform

    a = skimage.transform.resize(skimage.data.astronaut(), (size, size), anti_aliasing=True)
    return torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1)[None].float().clamp(0, 1)


IMG = _natural_image()


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return 10 * math.log10(1.0 / ((a.double() - b.double()) ** 2).mean().item())


def apply(name: str, images: torch.Tensor, *values: float, seed: int = 0, **named: float) -> torch.Tensor:
    spec = get_distortion(name)
    return spec.apply(images, spec.params(*values, n=images.shape[0], seed=seed, **named))


def np_bilinear(img: np.ndarray, sx: np.ndarray, sy: np.ndarray) -> np.ndarray:
    """Documented bilinear sampler in float64; img (C, H, W), sx/sy (Ho, Wo) -> (C, Ho, Wo)."""
    C, H, W = img.shape
    x0, y0 = np.floor(sx), np.floor(sy)
    fx, fy = sx - x0, sy - y0
    xa, xb = np.clip(x0, 0, W - 1).astype(int), np.clip(x0 + 1, 0, W - 1).astype(int)
    ya, yb = np.clip(y0, 0, H - 1).astype(int), np.clip(y0 + 1, 0, H - 1).astype(int)
    top = (1 - fx) * img[:, ya, xa] + fx * img[:, ya, xb]
    bot = (1 - fx) * img[:, yb, xa] + fx * img[:, yb, xb]
    return (1 - fy) * top + fy * bot


def np_img(t: torch.Tensor) -> np.ndarray:
    return t[0].double().numpy()


# -- common properties --------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_identity_value_is_exact_copy(name):
    spec = get_distortion(name)
    out = spec.apply(IMG, spec.params(spec.identity, seed=5))
    assert torch.equal(out, IMG)


@pytest.mark.parametrize("name", NAMES)
def test_psnr_falls_over_every_level_set(name):
    spec = get_distortion(name)
    secondary = {"motion_blur": dict(angle=30.0), "twirl": dict(radius=0.9, cx=0.5, cy=0.5),
                 "marble": dict(scale=8.0)}.get(name, {})
    for ls in spec.levels:
        if len(ls.values) < 2:
            continue
        values = sorted(ls.values, reverse=spec.severity == "decreasing") if ls.continuous else ls.values
        if ls.continuous:
            assert min(ls.values) < max(ls.values)
        p = [psnr(apply(name, IMG, v, seed=3, **secondary), IMG) for v in values]
        assert all(a > b for a, b in zip(p, p[1:])), (ls.name, values, p)


@pytest.mark.parametrize("name", NAMES)
def test_per_sample_params_in_one_batch_equal_separate_application(name):
    spec = get_distortion(name)
    batch = IMG[:, :, :48, :56].repeat(4, 1, 1, 1)
    params = spec.sample(4, torch.Generator().manual_seed(11), variable=True)
    params.values[1, 0] = spec.identity  # an identity sample mixed into the batch
    together = spec.apply(batch, params)
    for i in range(4):
        alone = spec.apply(batch[i : i + 1], params[i])
        torch.testing.assert_close(together[i : i + 1], alone, atol=1e-6, rtol=0)
    assert torch.equal(together[1], batch[1])
    assert not torch.allclose(together[0], batch[0], atol=1e-3)


@pytest.mark.parametrize("name", NAMES)
def test_shape_dtype_device_preserved(name):
    spec = get_distortion(name)
    x = IMG[:, :, :20, :30].double().repeat(2, 1, 1, 1)
    out = spec.apply(x, spec.sample(2, torch.Generator().manual_seed(1)))
    assert out.shape == x.shape and out.dtype == torch.float64 and out.device == x.device
    assert 0.0 <= out.min().item() and out.max().item() <= 1.0
    grey = IMG[:, :1, :20, :30]
    assert spec.apply(grey, spec.sample(1, torch.Generator().manual_seed(2))).shape == grey.shape


@pytest.mark.parametrize("name", NAMES)
def test_tiny_images(name):
    spec = get_distortion(name)
    values = spec.level_set().values
    params = spec.params(min(values) if spec.severity == "decreasing" else max(values), seed=1)
    pixel = torch.tensor([0.2, 0.5, 0.9]).view(1, 3, 1, 1)
    torch.testing.assert_close(spec.apply(pixel, params), pixel, atol=1e-6, rtol=0)  # 1x1: nothing to mix
    for shape in ((1, 1, 1, 7), (1, 3, 5, 1)):
        const = torch.full(shape, 0.375)
        torch.testing.assert_close(spec.apply(const, params), const, atol=1e-6, rtol=0)
        ramp = torch.linspace(0, 1, const.numel()).view(shape)
        out = spec.apply(ramp, params)
        assert out.shape == shape and torch.isfinite(out).all()


def test_catalogue_entries():
    from distortx.distortions.native_codes import NATIVE_CODES

    specs = {n: get_distortion(n) for n in NAMES}
    assert specs["gaussian_blur"].level_set("ahn").values == (1.5, 3.0, 6.0)
    assert specs["gaussian_blur"].level_set("dodge").values == tuple(float(v) for v in range(1, 10))
    assert specs["gaussian_blur"].level_set("hsieh_variable").continuous
    assert specs["lowpass"].level_set().values == (0.3, 0.1, 0.03) and specs["lowpass"].severity == "decreasing"
    assert specs["motion_blur"].level_set().values == (5.0, 30.0) and specs["motion_blur"].level_set().continuous
    assert [p.name for p in specs["twirl"].parameters] == ["angle", "radius", "cx", "cy"]
    assert [p.name for p in specs["marble"].parameters] == ["amount", "scale"]
    assert [n for n in NAMES if specs[n].stochastic] == ["marble"]
    assert all(specs[n].native_code == NATIVE_CODES[n] for n in NAMES)
    assert [specs[n].identity for n in NAMES] == [0.0, 0.0, 1.0, 0.0, 0.0]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", NAMES)
def test_cuda_tensors_match_cpu(name):
    spec = get_distortion(name)
    x = IMG[:, :, :40, :52].repeat(3, 1, 1, 1)
    params = spec.sample(3, torch.Generator().manual_seed(4), variable=True)
    out = spec.apply(x.cuda(), params)
    assert out.device.type == "cuda"
    torch.testing.assert_close(out.cpu(), spec.apply(x, params), atol=1e-4, rtol=0)


# -- gaussian blur ------------------------------------------------------------------------------------------
def np_gaussian(img: np.ndarray, sigma: float) -> np.ndarray:
    """Direct 2-D convolution (float64) with the normalised separable kernel, replicate padding."""
    r = gaussian_radius(sigma)
    k = np.arange(-r, r + 1)
    w = np.exp(-(k**2) / (2 * sigma**2))
    w /= w.sum()
    w2 = np.outer(w, w)
    C, H, W = img.shape
    pad = np.pad(img, ((0, 0), (r, r), (r, r)), mode="edge")
    out = np.zeros_like(img)
    for dy in range(2 * r + 1):
        for dx in range(2 * r + 1):
            out += w2[dy, dx] * pad[:, dy : dy + H, dx : dx + W]
    return out


@pytest.mark.parametrize("sigma", [0.3, 1.5, 2.7, 6.0])
def test_gaussian_blur_equals_direct_2d_convolution(sigma):
    x = IMG[:, :, 10:50, 20:67]
    out = apply("gaussian_blur", x, sigma)
    assert np.abs(np_img(out) - np_gaussian(np_img(x), float(np.float32(sigma)))).max() < 1e-5


def test_gaussian_kernel_radius_and_impulse_response():
    assert [gaussian_radius(s) for s in (0.2, 0.5, 1.0, 1.5, 2.7, 6.0, 20.0)] == [1, 1, 2, 3, 6, 12, 40]
    w = gaussian_kernel1d(1.5)
    assert w.numel() == 7 and abs(w.sum().item() - 1) < 1e-6
    assert abs(w[3].item() / w[0].item() - math.exp(9 / (2 * 1.5**2))) < 1e-3
    x = torch.zeros(1, 1, 15, 15)
    x[0, 0, 7, 7] = 1.0
    out = get_distortion("gaussian_blur").reference(x, torch.tensor([[1.5]]), torch.zeros(1, dtype=torch.long))
    torch.testing.assert_close(out[0, 0, 4:11, 4:11], torch.outer(w, w), atol=1e-7, rtol=0)
    assert out[0, 0].sum().item() == pytest.approx(1.0, abs=1e-5)
    assert (out[0, 0, :4] == 0).all() and (out[0, 0, :, 11:] == 0).all()  # support is exactly 2r+1


def test_gaussian_blur_preserves_constant_and_mass():
    const = torch.full((1, 3, 24, 31), 0.6)
    torch.testing.assert_close(apply("gaussian_blur", const, 4.3), const, atol=1e-6, rtol=0)
    blob = torch.zeros(1, 1, 64, 64)
    blob[0, 0, 28:36, 25:40] = 0.8
    out = apply("gaussian_blur", blob, 3.0)  # r = 6 keeps the mass away from the border
    assert out.sum().item() == pytest.approx(blob.sum().item(), rel=1e-5)
    assert out.max().item() < 0.8


@pytest.mark.parametrize("sigma", [1.5, 3.0, 4.2])
def test_gaussian_blur_matches_skimage(sigma):
    from skimage.filters import gaussian

    x = IMG[:, :, :64, :64]
    r = gaussian_radius(sigma)
    ref = gaussian(x[0].permute(1, 2, 0).double().numpy(), sigma=sigma, truncate=r / sigma, mode="nearest",
                   channel_axis=-1, preserve_range=True)
    out = apply("gaussian_blur", x, sigma)[0].permute(1, 2, 0).double().numpy()
    assert np.abs(out - ref).max() < 1e-4


# -- motion blur --------------------------------------------------------------------------------------------
def np_motion(img: np.ndarray, length: float, angle: float) -> np.ndarray:
    C, H, W = img.shape
    n = max(1, math.ceil(length)) + 1
    a = math.radians(angle)
    ys, xs = np.mgrid[0:H, 0:W].astype(np.float64)
    acc = np.zeros_like(img)
    for i in range(n):
        t = -length / 2 + length * i / (n - 1)
        acc += np_bilinear(img, xs + t * math.cos(a), ys - t * math.sin(a))
    return acc / n


@pytest.mark.parametrize("length,angle", [(7.3, 33.0), (4.0, 135.0), (0.4, 70.0)])
def test_motion_blur_equals_documented_formula(length, angle):
    x = IMG[:, :, 30:41, 40:53]
    out = apply("motion_blur", x, length, angle)
    assert np.abs(np_img(out) - np_motion(np_img(x), float(np.float32(length)), float(np.float32(angle)))).max() < 1e-5


def test_motion_blur_at_angle_zero_acts_along_x_only():
    hline = torch.zeros(1, 1, 15, 21)
    hline[0, 0, 7, :] = 1.0
    assert torch.equal(apply("motion_blur", hline, 6.0, 0.0), hline)
    vline = torch.zeros(1, 1, 15, 21)
    vline[0, 0, :, 10] = 1.0
    out = apply("motion_blur", vline, 6.0, 0.0)  # n = 7 samples at t = -3..3
    row = torch.zeros(21)
    row[7:14] = 1 / 7
    for y in range(15):
        torch.testing.assert_close(out[0, 0, y], row, atol=1e-7, rtol=0)
    # 90 degrees: along y, so the vertical line is kept (up to cos(pi/2) rounding)
    torch.testing.assert_close(apply("motion_blur", vline, 6.0, 90.0), vline, atol=1e-5, rtol=0)
    const = torch.full((1, 3, 12, 12), 0.3)
    torch.testing.assert_close(apply("motion_blur", const, 17.5, 61.0), const, atol=1e-6, rtol=0)


# -- low-pass -----------------------------------------------------------------------------------------------
def np_lowpass(img: np.ndarray, s: float) -> np.ndarray:
    """The formulas of lowpass_one's docstring (scipy.ndimage's gaussian_filter + zoom, as scikit-image's
    rescale + resize), with explicit loops."""
    C, H, W = img.shape
    h, w = max(1, round(H * s)), max(1, round(W * s))

    def mirror(i, n):
        if n == 1:
            return 0
        i %= 2 * (n - 1)
        return 2 * (n - 1) - i if i >= n else i

    def down_weights(n_in, n_out):  # dense [n_out, n_in]: Gaussian prefilter, then linear interpolation
        factor = n_in / n_out
        sigma = max(0.0, (factor - 1) / 2)
        r = int(4 * sigma + 0.5) if sigma > 0 else 0
        g = np.exp(-0.5 * np.arange(-r, r + 1) ** 2 / sigma**2) if r > 0 else np.ones(1)
        g /= g.sum()
        m = np.zeros((n_out, n_in))
        for i in range(n_out):
            c = (i + 0.5) * factor - 0.5
            i0, t = math.floor(c), c - math.floor(c)
            for k, wk in ((i0, 1 - t), (i0 + 1, t)):  # the filtered image at k: sum_d g[d] in[mirror(k + d)]
                for d in range(-r, r + 1):
                    m[i, mirror(k + d, n_in)] += wk * g[d + r]
        return m

    down = np.einsum("ih,chw,jw->cij", down_weights(H, h), img, down_weights(W, w)).astype(np.float32)

    def taps(n_out, n_in):
        src = (np.arange(n_out) + 0.5) * float(np.float32(n_in) / np.float32(n_out)) - 0.5
        src = np.zeros(n_out) if n_in == 1 else np.where(src < 0, -src, src)
        src = np.where(src > n_in - 1, 2 * (n_in - 1) - src, src)
        i0 = np.floor(src).astype(int)
        return i0, np.minimum(i0 + 1, n_in - 1), src - i0

    y0, y1, fy = taps(H, h)
    x0, x1, fx = taps(W, w)
    fy, fx = fy[:, None], fx[None, :]
    top = (1 - fx) * down[:, y0][:, :, x0] + fx * down[:, y0][:, :, x1]
    bot = (1 - fx) * down[:, y1][:, :, x0] + fx * down[:, y1][:, :, x1]
    return (1 - fy) * top + fy * bot


@pytest.mark.parametrize("shape,scale", [((7, 9), 0.3), ((13, 10), 0.45), ((31, 17), 0.1), ((5, 6), 0.01)])
def test_lowpass_equals_written_formula(shape, scale):
    x = IMG[:, :, : shape[0], : shape[1]]
    out = apply("lowpass", x, scale)
    assert np.abs(np_img(out) - np_lowpass(np_img(x), float(np.float32(scale)))).max() < 1e-6


def test_lowpass_sizes_and_smoothness():
    assert [lowpass_size(96, s) for s in (1.0, 0.3, 0.1, 0.03, 0.01)] == [96, 29, 10, 3, 1]
    assert lowpass_size(7, 0.5) == 4 and lowpass_size(5, 0.5) == 2 and lowpass_size(9, 0.3) == 3  # halves to even
    assert torch.equal(apply("lowpass", IMG, 1.0), IMG)

    def hf_energy(t):  # energy of the discrete Laplacian
        lap = 4 * t[..., 1:-1, 1:-1] - t[..., :-2, 1:-1] - t[..., 2:, 1:-1] - t[..., 1:-1, :-2] - t[..., 1:-1, 2:]
        return (lap**2).mean().item()

    e = [hf_energy(apply("lowpass", IMG, s)) for s in (1.0, 0.3, 0.1)]
    assert e[1] < 0.2 * e[0] and e[2] < 0.2 * e[1], e


# -- twirl --------------------------------------------------------------------------------------------------
def np_twirl(img, angle, radius, cx, cy):
    C, H, W = img.shape
    ox, oy, R, A = cx * (W - 1), cy * (H - 1), radius * min(H, W) / 2, math.radians(angle)
    ys, xs = np.mgrid[0:H, 0:W].astype(np.float64)
    dx, dy = xs - ox, ys - oy
    d = np.sqrt(dx**2 + dy**2)
    a = np.arctan2(dy, dx) + A * (R - d) / R
    out = np_bilinear(img, ox + d * np.cos(a), oy + d * np.sin(a))
    return np.where(d < R, out, img), d, R


def test_twirl_equals_documented_formula_and_keeps_outside():
    x = IMG[:, :, 20:61, 25:70]
    p = (250.0, 0.8, 0.45, 0.55)
    out = apply("twirl", x, *p)
    ref, d, R = np_twirl(np_img(x), *[float(np.float32(v)) for v in p])
    assert np.abs(np_img(out) - ref).max() < 1e-4
    outside = torch.from_numpy(d >= R)
    assert outside.sum() > 500 and torch.equal(out[0][:, outside], x[0][:, outside])
    assert (out - x).abs().max() > 0.1


def test_twirl_centre_fixed_and_small_angle_continuity():
    x = IMG[:, :, :33, :33]
    out = apply("twirl", x, 360.0, 1.0, 0.5, 0.5)
    assert torch.equal(out[..., 16, 16], x[..., 16, 16])  # d = 0 maps to the centre itself
    assert apply("twirl", x, 1e-3, 1.0, 0.5, 0.5).sub(x).abs().max() < 1e-3


# -- marble -------------------------------------------------------------------------------------------------
def np_perlin(u: float, v: float, seed: int) -> float:
    """The documented Perlin noise at one point, float64, gradients from rng.uniform (stream 2)."""
    i0, j0 = math.floor(u), math.floor(v)
    fu, fv = u - i0, v - j0

    def grad_dot(a, b):
        idx = ((j0 + b) % 65536) * 65536 + (i0 + a) % 65536
        t = 2 * math.pi * rng.uniform(torch.tensor(seed), torch.tensor(idx), 2).item()
        return math.cos(t) * (fu - a) + math.sin(t) * (fv - b)

    fade = lambda t: 6 * t**5 - 15 * t**4 + 10 * t**3  # noqa: E731
    su, sv = fade(fu), fade(fv)
    lerp = lambda p, q, s: p + s * (q - p)  # noqa: E731
    return lerp(lerp(grad_dot(0, 0), grad_dot(1, 0), su), lerp(grad_dot(0, 1), grad_dot(1, 1), su), sv)


def test_perlin_noise_equals_documented_formula():
    g = np.random.default_rng(0)
    pts = g.uniform(0, 40, size=(40, 2))
    u = torch.tensor(pts[:, 0], dtype=torch.float32).view(1, 8, 5)
    v = torch.tensor(pts[:, 1], dtype=torch.float32).view(1, 8, 5)
    got = perlin(u, v, torch.tensor([1234])).view(-1)
    want = [np_perlin(float(a), float(b), 1234) for a, b in zip(u.view(-1).tolist(), v.view(-1).tolist())]
    assert np.abs(got.double().numpy() - np.array(want)).max() < 1e-5
    # lattice points are zeros of the noise; the field has a sensible spread
    grid = perlin(torch.arange(0, 60.0).view(1, 1, 60).expand(1, 60, 60) / 6,
                  torch.arange(0, 60.0).view(1, 60, 1).expand(1, 60, 60) / 6, torch.tensor([7]))
    assert grid[0, ::6, ::6].abs().max() < 1e-6
    assert grid.abs().max() < 1.0 and 0.1 < grid.std().item() < 0.4


def test_marble_seed_determinism():
    x = IMG[:, :, :40, :40]
    a, b = apply("marble", x, 1.0, 8.0, seed=4), apply("marble", x, 1.0, 8.0, seed=4)
    assert torch.equal(a, b)
    assert (a - apply("marble", x, 1.0, 8.0, seed=5)).abs().mean() > 0.01
    assert torch.equal(apply("marble", x, 0.0, 8.0, seed=4), x)


def test_marble_displacement_read_from_a_ramp_scales_with_amount():
    H = W = 64
    ramp = torch.linspace(0, 1, W).view(1, 1, 1, W).expand(1, 1, H, W).contiguous()  # I = x / (W-1)
    scale = 6.0
    measured = []
    for amount in (0.5, 1.0, 2.0):
        v = torch.tensor([[amount, scale]])
        dx, dy = marble_displacement(v, torch.tensor([9]), H, W)
        out = apply("marble", ramp, amount, scale, seed=9)
        xs = torch.arange(W, dtype=torch.float32)
        ys = torch.arange(H, dtype=torch.float32).view(H, 1)
        valid = ((xs + dx[0]) >= 0) & ((xs + dx[0]) <= W - 1) & ((ys + dy[0]) >= 0) & ((ys + dy[0]) <= H - 1)
        got = (out[0, 0] - ramp[0, 0]) * (W - 1)  # bilinear is exact on a linear ramp: equals dx
        assert valid.float().mean() > 0.5
        assert (got - dx[0])[valid].abs().max() < 1e-3
        torch.testing.assert_close(torch.hypot(dx, dy), torch.full_like(dx, amount * scale), atol=1e-4, rtol=0)
        # on the lattice the noise is 0: phi = pi, displacement (0, -amount * scale)
        assert dy[0, ::6, ::6].sub(-amount * scale).abs().max() < 1e-4
        measured.append(got[valid].abs().mean().item())
    assert measured[1] / measured[0] == pytest.approx(2.0, rel=0.2)
    assert measured[2] / measured[1] == pytest.approx(2.0, rel=0.2)

"""Noise and tone families: exact identities, seeding, statistics, per-sample parameters (the generic
properties every distortion meets, monotone PSNR and tiny images among them, are in test_catalogue_contract)."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import distortx
from distortx.distortions import noise, rng
from distortx.distortions.native_codes import NATIVE_CODES
from distortx.distortions.spec import Params

NOISE = ("gaussian_noise", "gaussian_noise_sigma", "mono_gaussian_noise", "salt_pepper", "mono_salt_pepper", "fnoise")
TONE = ("quantization", "contrast")
ALL = NOISE + TONE
STOCHASTIC = NOISE


def natural_image(size: int = 96) -> torch.Tensor:
    """A natural RGB test image (1, 3, size, size): skimage's astronaut (scikit-image is a test extra)."""
    from skimage import data

    img = torch.from_numpy(data.astronaut()).permute(2, 0, 1).float().div(255.0).unsqueeze(0)
    return F.interpolate(img, size=(size, size), mode="area")


def grey(n: int = 1, c: int = 3, size: int = 128, value: float = 0.5) -> torch.Tensor:
    return torch.full((n, c, size, size), value)


def params(spec, vals, seeds=None) -> Params:
    """Params with first-parameter values ``vals`` (one row each) and seeds (default 0, 1, ...)."""
    v = torch.tensor(vals, dtype=torch.float32).reshape(-1, 1)
    n = v.shape[0]
    s = torch.arange(n, dtype=torch.long) if seeds is None else torch.tensor(seeds, dtype=torch.long)
    return Params(v, s, torch.full((n,), -1, dtype=torch.long))


# -- registry and specs ---------------------------------------------------------------------------------
def test_registered_with_metadata():
    names = distortx.list_distortions()
    for name in ALL:
        assert name in names
        spec = distortx.get_distortion(name)
        assert spec.native_code == NATIVE_CODES[name]
        assert spec.description and spec.source and spec.levels
        assert spec.level_set().name == spec.default_levels
        assert spec.stochastic == (name in STOCHASTIC)
    assert distortx.get_distortion("quantization").severity == "decreasing"
    assert distortx.get_distortion("quantization").identity is None
    assert distortx.get_distortion("gaussian_noise").level_set("ahn").values == (0.0125, 0.025, 0.05)
    assert distortx.get_distortion("gaussian_noise_sigma").level_set("dodge").values == tuple(
        float(v) for v in range(10, 101, 10))
    assert distortx.get_distortion("contrast").level_set().values == tuple(i / 10 for i in range(11))
    assert distortx.get_distortion("fnoise").level_set().values == (2.5, 5.0, 10.0)
    assert distortx.get_distortion("gaussian_noise_sigma").level_set("endo").continuous


@pytest.mark.parametrize("name", [n for n in ALL if n != "quantization"])
def test_identity_is_exact(name):
    spec = distortx.get_distortion(name)
    assert spec.identity == 0.0
    x = torch.rand(3, 3, 17, 23, generator=torch.Generator().manual_seed(1))
    out = spec.apply(x, params(spec, [spec.identity] * 3, seeds=[5, 6, 7]))
    assert torch.equal(out, x)
    x1 = x[:, :1]
    assert torch.equal(spec.apply(x1, params(spec, [spec.identity] * 3)), x1)


def test_quantization_256_is_near_identity():
    spec = distortx.get_distortion("quantization")
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    out = spec.apply(x, params(spec, [256, 256]))
    assert (out - x).abs().max().item() <= 1 / 510 + 1e-7
    x8 = torch.randint(0, 256, (1, 3, 16, 16), generator=torch.Generator().manual_seed(3)).float() / 255
    assert torch.allclose(spec.apply(x8, params(spec, [256])), x8, atol=1e-7)


# -- seeding, shapes, dtypes ------------------------------------------------------------------------------
@pytest.mark.parametrize("name", STOCHASTIC)
def test_seed_determines_output(name):
    spec = distortx.get_distortion(name)
    x = natural_image(48)
    v = spec.level_set("ahn" if name in ("gaussian_noise", "salt_pepper", "mono_salt_pepper", "fnoise") else None).values[-1]
    a = spec.apply(x, params(spec, [v], seeds=[123]))
    b = spec.apply(x, params(spec, [v], seeds=[123]))
    c = spec.apply(x, params(spec, [v], seeds=[124]))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert (a - c).abs().mean().item() > 1e-3


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("channels", [1, 3])
def test_shape_dtype_device_kept(name, dtype, channels):
    spec = distortx.get_distortion(name)
    x = torch.rand(2, channels, 19, 13, generator=torch.Generator().manual_seed(4), dtype=torch.float64).to(dtype)
    p = spec.sample(2, generator=torch.Generator().manual_seed(0))
    out = spec.apply(x, p)
    assert out.shape == x.shape and out.dtype == dtype and out.device == x.device
    assert out.min().item() >= 0.0 and out.max().item() <= 1.0
    assert not torch.equal(out, x) or p.values[:, 0].tolist() == [0.0, 0.0]


def test_fnoise_leaves_a_1x1_image_unchanged():
    """A 1x1 image has no 1/f component (the generic tiny-image checks are in test_catalogue_contract)."""
    spec = distortx.get_distortion("fnoise")
    x = torch.full((1, 3, 1, 1), 0.4)
    assert torch.equal(spec.apply(x, params(spec, [10.0])), x)


# -- per-sample parameters --------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ALL)
def test_batch_equals_separate(name):
    spec = distortx.get_distortion(name)
    p0 = spec.parameters[0]
    vals = [p0.low + 0.1 * (p0.high - p0.low), p0.low + 0.3 * (p0.high - p0.low)]
    if p0.integer:
        vals = [round(v) for v in vals]
    x = torch.cat([natural_image(40), natural_image(40).flip(-1)])
    batch = spec.apply(x, params(spec, vals, seeds=[7, 8]))
    one = spec.apply(x[:1], params(spec, vals[:1], seeds=[7]))
    two = spec.apply(x[1:], params(spec, vals[1:], seeds=[8]))
    assert torch.equal(batch, torch.cat([one, two]))
    assert not torch.equal(batch[0], spec.apply(x[:1], params(spec, vals[1:], seeds=[7]))[0])


# -- statistics -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("variance", [0.0125, 0.025])
def test_gaussian_noise_variance(variance):
    spec = distortx.get_distortion("gaussian_noise")
    x = grey()
    d = spec.apply(x, params(spec, [variance], seeds=[3])) - x
    assert abs(d.var().item() / variance - 1) < 0.05
    assert abs(d.mean().item()) < 0.005
    # independent per channel: channel correlation ~ 0
    corr = torch.corrcoef(d[0].reshape(3, -1))
    assert corr[0, 1].abs().item() < 0.03 and corr[1, 2].abs().item() < 0.03


def test_sigma_and_variance_parametrisations_agree():
    var = distortx.get_distortion("gaussian_noise")
    sig = distortx.get_distortion("gaussian_noise_sigma")
    x = natural_image(64).expand(3, -1, -1, -1)
    v = [0.0625, 0.01, 0.25]  # sqrt exactly representable pairs: sigma 63.75, 25.5, 127.5
    a = var.apply(x, params(var, v, seeds=[1, 2, 3]))
    b = sig.apply(x, params(sig, [255 * math.sqrt(t) for t in v], seeds=[1, 2, 3]))
    assert torch.equal(a, b)
    a = var.apply(x, params(var, [0.0125, 0.05, 0.03], seeds=[4, 5, 6]))
    b = sig.apply(x, params(sig, [255 * math.sqrt(t) for t in (0.0125, 0.05, 0.03)], seeds=[4, 5, 6]))
    assert torch.allclose(a, b, atol=1e-6)
    # sigma on the 0..255 scale: std of the added noise is sigma/255
    g = grey()
    d = sig.apply(g, params(sig, [25.0], seeds=[9])) - g
    assert abs(d.std().item() / (25 / 255) - 1) < 0.03


def test_mono_noise_shared_by_channels():
    spec = distortx.get_distortion("mono_gaussian_noise")
    x = grey()
    d = spec.apply(x, params(spec, [5.0], seeds=[2])) - x
    assert torch.equal(d[:, 0], d[:, 1]) and torch.equal(d[:, 1], d[:, 2])
    assert abs(d.std().item() / (5 / 255) - 1) < 0.03
    # colour noise, by contrast, differs between channels
    colour = distortx.get_distortion("gaussian_noise_sigma")
    dc = colour.apply(x, params(colour, [5.0], seeds=[2])) - x
    assert not torch.equal(dc[:, 0], dc[:, 1])


def test_salt_pepper_statistics():
    spec = distortx.get_distortion("salt_pepper")
    x = grey()
    amount = 0.05
    out = spec.apply(x, params(spec, [amount], seeds=[4]))
    changed = out != x  # (N, C, H, W): each channel value on its own
    assert abs(changed.float().mean().item() / amount - 1) < 0.1
    vals = out[changed]
    assert ((vals == 0) | (vals == 1)).all()
    assert 0.4 < (vals == 0).float().mean().item() < 0.6
    # channels decide independently: P(exactly one of 3 channels hit) = 3 a (1 - a)^2
    hits = changed.sum(dim=1)
    assert abs((hits == 1).float().mean().item() / (3 * amount * (1 - amount) ** 2) - 1) < 0.1
    # formula: u < a/2 -> 0, a/2 <= u < a -> 1, with u indexed over (C, H, W)
    u = rng.uniform(torch.tensor(4), rng.element_index((3, 128, 128)), noise.STREAM_SALT_PEPPER).unsqueeze(0)
    assert torch.equal(u < amount, changed)
    assert torch.equal(u < amount / 2, changed & (out == 0))
    # nested: a larger amount changes a superset of values (same seed)
    more = spec.apply(x, params(spec, [0.1], seeds=[4])) != x
    assert (more | ~changed).all()


def test_mono_salt_pepper_statistics():
    spec = distortx.get_distortion("mono_salt_pepper")
    x = grey()
    amount = 0.05
    out = spec.apply(x, params(spec, [amount], seeds=[4]))
    changed = (out != x).any(dim=1)  # (N, H, W)
    assert abs(changed.float().mean().item() / amount - 1) < 0.15
    # whole pixels: every channel is replaced together, by 0 or by 1
    vals = out.permute(0, 2, 3, 1)[changed]
    assert ((vals == 0).all(dim=1) | (vals == 1).all(dim=1)).all()
    assert 0.4 < (vals[:, 0] == 0).float().mean().item() < 0.6
    u = noise.pixel_uniform(torch.tensor([4]), 128, 128, "cpu")
    assert torch.equal((u < amount)[:, 0], changed)
    assert torch.equal((u < amount / 2)[:, 0], changed & (out[:, 0] == 0))


def test_fnoise_std_and_spectrum():
    spec = distortx.get_distortion("fnoise")
    x = grey(size=128)
    f = 2.5
    d = (spec.apply(x, params(spec, [f], seeds=[6])) - x).double()
    std = d.std(dim=(2, 3), unbiased=False)
    assert torch.allclose(std, torch.full_like(std, f * noise.FNOISE_STD_PER_F), rtol=0.01)
    assert d.mean(dim=(2, 3)).abs().max().item() < 1e-5
    # power falls with frequency: mean power at |k| <= 0.05 vs at |k| >= 0.3 (cycles/pixel)
    power = torch.fft.fft2(d).abs().pow(2).mean(dim=(0, 1))
    k = torch.sqrt(torch.fft.fftfreq(128).reshape(-1, 1) ** 2 + torch.fft.fftfreq(128).reshape(1, -1) ** 2)
    low = power[(k > 0) & (k <= 0.05)].mean()
    high = power[k >= 0.3].mean()
    assert low / high > 20
    # unlike white noise, neighbouring pixels are strongly correlated
    lag1 = torch.corrcoef(torch.stack([d[0, 0, :, :-1].flatten(), d[0, 0, :, 1:].flatten()]))[0, 1]
    assert lag1.item() > 0.5
    # the white source uses stream 1, channels are independent
    assert not torch.equal(d[0, 0], d[0, 1])


@pytest.mark.parametrize("size", [32, 96, 300])
def test_fnoise_strength_does_not_depend_on_the_image_size(size):
    spec = distortx.get_distortion("fnoise")
    x = grey(size=size)
    d = (spec.apply(x, params(spec, [5.0], seeds=[1])) - x).double()
    std = d.std(dim=(2, 3), unbiased=False)
    assert torch.allclose(std, torch.full_like(std, 5.0 * 0.0154), rtol=0.01)


def test_quantization_formula_and_levels():
    spec = distortx.get_distortion("quantization")
    x = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(5))
    levels = [16, 8, 4]
    out = spec.apply(x, params(spec, levels))
    v = torch.round(x * 255)
    for i, L in enumerate(levels):
        edges = torch.arange(L) * (256 // L) / 255.0  # the L bins' lower edges
        assert set(out[i].unique().tolist()) <= set(edges.tolist())
        assert torch.equal(out[i], torch.floor(v[i] / (256 // L)) * (256 // L) / 255)
        assert (x[i] - out[i]).min().item() >= -0.5 / 255 - 1e-7  # never brighter (lower edge)
        assert (x[i] - out[i]).max().item() <= (256 // L - 0.5) / 255 + 1e-6
    two = spec.apply(x[:1], params(spec, [2]))
    assert set((two * 255).round().unique().tolist()) <= {0.0, 128.0}


def test_contrast_values():
    spec = distortx.get_distortion("contrast")
    x = natural_image(48)
    g = (0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]).mean()
    flat = spec.apply(x, params(spec, [1.0]))
    assert torch.allclose(flat, torch.full_like(flat, g.item()), atol=1e-6)
    assert flat.unique().numel() == 1
    half = spec.apply(x, params(spec, [0.5]))
    assert torch.allclose(half, 0.5 * x + 0.5 * g, atol=1e-6)
    # the mean luminance is kept at every level; the spread shrinks by (1 - a)
    lum = (0.299 * half[:, 0] + 0.587 * half[:, 1] + 0.114 * half[:, 2]).mean()
    assert abs(lum.item() - g.item()) < 1e-5
    assert abs(half.std().item() / x.std().item() - 0.5) < 1e-4
    # one channel: grey = the plain mean
    y = x[:, :1]
    assert torch.allclose(spec.apply(y, params(spec, [1.0])), y.mean().expand_as(y), atol=1e-6)


# -- the counter RNG ---------------------------------------------------------------------------------------
def test_counter_rng_moments():
    idx = torch.arange(100_000)
    seed = torch.tensor(42)
    u = rng.uniform(seed, idx, 0)
    assert u.dtype == torch.float32
    assert u.min().item() > 0.0 and u.max().item() < 1.0
    assert abs(u.mean().item() - 0.5) < 0.005
    assert abs(u.var().item() - 1 / 12) < 0.002
    z = rng.normal(seed, idx, 0)
    assert abs(z.mean().item()) < 0.02 and abs(z.std().item() - 1) < 0.02
    # streams and seeds are decorrelated; the function is pure
    assert torch.corrcoef(torch.stack([z, rng.normal(seed, idx, 1)]))[0, 1].abs().item() < 0.02
    assert torch.corrcoef(torch.stack([z, rng.normal(torch.tensor(43), idx, 0)]))[0, 1].abs().item() < 0.02
    assert torch.equal(z, rng.normal(seed, idx, 0))


@pytest.mark.skipif(not distortx._ext.native_available(), reason="needs the native extension")
def test_native_uniform_fields_are_the_counter_rngs_bits():
    """torch.ops.distortx.uniform_fill (what the ImageNet-C family draws its fields with on the CPU) gives the
    python counter RNG's uniforms bit for bit, for any seed (negative, 2^62, -2^63) and stream; the normal fields
    through Box-Muller equal rng.normal. A hash constant, a word order or the float conversion changed breaks it."""
    seeds = torch.tensor([0, 1, -5, 2**62, -2**63, 123456789012], dtype=torch.int64)
    idx = torch.arange(5003)[None]
    for stream in (0, 1, 7, 2**31 + 5):
        assert torch.equal(torch.ops.distortx.uniform_fill(seeds, 5003, stream), rng.uniform(seeds[:, None], idx, stream))
        assert torch.equal(rng.uniform_fields(seeds, 5003, stream), rng.uniform(seeds[:, None], idx, stream))
    assert torch.equal(rng.normal_fields(seeds, 5003, 3), rng.normal(seeds[:, None], idx, 3))
    # the native normal fill against the torch twin of the expression (no native code on that side)
    twin = rng.box_muller(rng.uniform(seeds[:, None], idx, 6), rng.uniform(seeds[:, None], idx, 7))
    assert torch.equal(torch.ops.distortx.normal_fill(seeds, 5003, 3), twin)
    assert torch.ops.distortx.normal_fill(seeds, 0, 0).shape == (6, 0)
    assert torch.ops.distortx.uniform_fill(seeds[:0], 7, 0).shape == (0, 7)
    assert torch.ops.distortx.uniform_fill(seeds, 0, 0).shape == (6, 0)


def _every_uniform() -> torch.Tensor:
    """All 2^24 float32 values rng.uniform can return, ascending."""
    return (torch.arange(2**24, dtype=torch.int64).to(torch.float32) + 0.5) * (1.0 / 16777216.0)


def test_normal_pieces_are_within_two_ulp_of_log_and_cos():
    """rng.log_unit over every uniform the RNG gives and rng.cos_small over 2 pi times them: Cephes' accuracy
    against float64 (<= 2 ulp of the result for the log; <= 2^-23 absolute for the cosine, whose values reach 0)."""
    u = _every_uniform()
    log = rng.log_unit(u).double()
    exact = torch.log(u.double())
    ulp = torch.abs(exact.float()).double() * 2.0**-23
    assert ((log - exact).abs() <= 2 * ulp).all()
    x = rng._F["two_pi"] * u
    assert (rng.cos_small(x).double() - torch.cos(x.double())).abs().max().item() <= 2.0**-23


@pytest.mark.skipif(not distortx._ext.native_available(), reason="needs the native extension")
def test_native_box_muller_equals_the_torch_twin_for_every_uniform():
    """One normal expression: the C++ loop (dx_logf, dx_cosf_small, sqrtf) and rng.box_muller (torch) agree bit for
    bit on every value of u1 (with cos = 1) and of u2, so python, C++ and CUDA draw the same normals. A constant,
    an operation order or a rounding changed on either side breaks it."""
    u = _every_uniform()
    for u1, u2 in ((u, torch.full_like(u, 0.5 / 16777216.0)), (torch.full_like(u, 0.1), u), (u, u.roll(7919))):
        assert torch.equal(torch.ops.distortx.box_muller(u1, u2), rng.box_muller(u1, u2))


# -- CUDA (skipped without a device) -----------------------------------------------------------------------
@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name", ALL)
def test_cuda_matches_cpu(name):
    spec = distortx.get_distortion(name)
    x = natural_image(64).expand(2, -1, -1, -1).contiguous()
    p = spec.sample(2, generator=torch.Generator().manual_seed(3))
    cpu = spec.apply(x, p)
    gpu = spec.apply(x.cuda(), p.to("cuda"))
    assert gpu.device.type == "cuda"
    assert torch.allclose(gpu.cpu(), cpu, atol=1e-5)

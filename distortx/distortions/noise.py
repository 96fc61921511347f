"""Noise family: additive Gaussian noise (three parametrisations), salt-and-pepper (per channel or per
pixel), 1/f ("fnoise").

All noise comes from the counter-based generator :mod:`distortx.distortions.rng`, keyed by the per-sample
seed and the element's row-major index, so the reference path here and the native kernels draw the same
values. Images are float N,C,H,W in [0, 1]; :meth:`DistortionSpec.apply` clamps the result to [0, 1].

Math (x: clean image, idx: row-major index within the image, z = rng.normal, u = rng.uniform):

* ``gaussian_noise`` (Ahn):        out = x + sqrt(variance) * z(seed, idx over (C,H,W), stream 0)
* ``gaussian_noise_sigma`` (Endo, Dodge, Hsieh): out = x + sigma/255 * z(seed, idx over (C,H,W), stream 0)
  -- the same kernel on the 0..255 scale: variance v and sigma = 255*sqrt(v) give identical outputs.
* ``mono_gaussian_noise`` (Hsieh):  out = x + sigma/255 * z(seed, y*W + x, stream 0), one value per pixel
  added to every channel (luminance noise).
* ``salt_pepper`` (Ahn): every channel value decides alone (coloured specks, as scikit-image's
  ``random_noise(mode="s&p")`` on an RGB array, which Ahn's generator and ImageNet-C's impulse noise call):
  u = u(seed, idx over (C,H,W), stream 0); u < amount/2 -> 0 (pepper), amount/2 <= u < amount -> 1 (salt),
  otherwise unchanged. A fraction ``amount`` of the channel values is replaced.
* ``mono_salt_pepper``: the per-pixel form (black and white specks): u = u(seed, y*W + x, stream 0) decides
  for all channels of the pixel together; a fraction ``amount`` of the pixels is replaced.
* ``camera_noise`` (ours; what a camera sensor adds, for estimators and "clean" photo histories): per channel
  the variance is ``a x + b`` on the 0..255 scale (Poisson shot noise + Gaussian read noise, shot share s of
  the variance), channels share a component (correlation rho) and a 3x3 demosaic-like filter of strength k
  correlates neighbours (the field is renormalised to unit S.D.). sigma is the RMS S.D. of the added noise
  over the image (a = s sigma^2 / mean(x), b = (1 - s) sigma^2), so an estimate of sigma is measured against
  the S.D. of (noisy - clean), as real-noise benchmarks measure it. s ~ U[0.3, 0.9], rho ~ U[0, 0.6],
  k ~ U[0, 1] and the field are drawn from a torch.Generator seeded by the sample's seed (python only).
* ``fnoise`` (Ahn's "fnoise", 1/f or pink noise): per channel, white noise w = z(seed, idx over (C,H,W),
  stream 1) is shaped in the Fourier domain with the amplitude of Ahn's generator,
  N = real(ifft2(fft2(w) * A)), A = 1 / sqrt(fy^2 + fx^2 + 1e-5), fy = fftfreq(H), fx = fftfreq(W)
  (cycles/pixel: the power falls as 1/f^2, flattened below ~0.003 cycles/pixel), and the DC term set to 0.
  N is normalised to zero mean and unit (population) standard deviation per channel (N = 0 where the std
  is 0, e.g. a 1x1 image), and out = x + f * 0.0154 * N: the noise std is 0.0154 f at every image size.
  That is the strength of Ahn's ``f * real(ifft2(...))`` at 256x256, where its spatial std is 0.0154 f;
  Ahn's std falls roughly as 1/side on larger images (0.0078 f at 512x512), so the paper's f has a meaning
  at one size only: we calibrate at 256x256 (the scale of the paper's crops) and stay size-independent.

Sources: Ahn, Kang, Sohn, *Image Distortion Detection using Convolutional Neural Network* (variances and
S&P amounts {0.0125, 0.025, 0.05}; fnoise f in {2.5, 5, 10}); Hsieh, Duffau, He, *Distortion Classifier
Using Deep CNNs* (colour and mono Gaussian noise, constant sigma 25 / variable 5..50); Endo, Tanaka,
Okutomi, *CNN-based Classification of Degraded Images* (sigma ~ U[0, 50]); Dodge, Karam, *Understanding
How Image Quality Affects Deep Neural Networks* (sigma 10..100 step 10).
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from . import rng
from .spec import DistortionSpec, LevelSet, Parameter
from .papers import AHN, DODGE, ENDO, HSIEH


#: stream numbers of the counter RNG (rng.normal(stream=s) uses uniform streams 2s and 2s+1)
STREAM_GAUSSIAN = 0
STREAM_SALT_PEPPER = 0
STREAM_FNOISE = 1

#: fnoise: noise std per unit of f (Ahn's generator at 256x256), and the regulariser of its 1/f amplitude
FNOISE_STD_PER_F = 0.0154
FNOISE_EPS = 1e-5


def _col(values: Tensor, j: int = 0) -> Tensor:
    """Column ``j`` of values (N, P) as (N, 1, 1, 1) for broadcasting against images."""
    return values[:, j].reshape(-1, 1, 1, 1)


def channel_noise(seed: Tensor, shape: tuple[int, int, int], device, stream: int = 0) -> Tensor:
    """Standard normal noise (N, C, H, W), independent per element: index = row-major in (C, H, W)."""
    idx = rng.element_index(shape, device=device).unsqueeze(0)
    return rng.normal(rng.per_sample(seed, shape), idx, stream)


def pixel_uniform(seed: Tensor, height: int, width: int, device, stream: int = 0) -> Tensor:
    """Uniform (0, 1) per pixel (N, 1, H, W): index = y*W + x."""
    idx = rng.element_index((1, height, width), device=device).unsqueeze(0)
    return rng.uniform(rng.per_sample(seed, (1, height, width)), idx, stream)


def pixel_noise(seed: Tensor, height: int, width: int, device, stream: int = 0) -> Tensor:
    """Standard normal per pixel (N, 1, H, W): index = y*W + x (shared by all channels)."""
    idx = rng.element_index((1, height, width), device=device).unsqueeze(0)
    return rng.normal(rng.per_sample(seed, (1, height, width)), idx, stream)


def add_gaussian(images: Tensor, std: Tensor, seed: Tensor) -> Tensor:
    """images (N,C,H,W) + std (N,) * independent N(0,1) noise per channel (stream 0)."""
    _, c, h, w = images.shape
    z = channel_noise(seed, (c, h, w), images.device, STREAM_GAUSSIAN)
    return images + std.reshape(-1, 1, 1, 1) * z


def gaussian_noise_ref(images: Tensor, values: Tensor, seed: Tensor) -> Tensor:
    """values[:, 0] = variance (image in [0, 1]). (N,C,H,W) -> (N,C,H,W). The std is the correctly rounded float32
    square root (taken in float64, as the kernels' sqrtf; torch's float32 sqrt can be an ulp off)."""
    return add_gaussian(images, values[:, 0].clamp_min(0.0).double().sqrt().float(), seed)


def gaussian_noise_sigma_ref(images: Tensor, values: Tensor, seed: Tensor) -> Tensor:
    """values[:, 0] = sigma on the 0..255 scale. (N,C,H,W) -> (N,C,H,W)."""
    return add_gaussian(images, values[:, 0] / 255.0, seed)


def mono_gaussian_noise_ref(images: Tensor, values: Tensor, seed: Tensor) -> Tensor:
    """values[:, 0] = sigma (0..255 scale); one N(0,1) draw per pixel added to all channels."""
    _, _, h, w = images.shape
    z = pixel_noise(seed, h, w, images.device, STREAM_GAUSSIAN)
    return images + _col(values / 255.0) * z


def salt_pepper_ref(images: Tensor, values: Tensor, seed: Tensor) -> Tensor:
    """values[:, 0] = amount, the fraction of channel values replaced (half by 0, half by 1), each channel
    value independently. (N,C,H,W) -> (N,C,H,W)."""
    _, c, h, w = images.shape
    idx = rng.element_index((c, h, w), device=images.device).unsqueeze(0)
    u = rng.uniform(rng.per_sample(seed, (c, h, w)), idx, STREAM_SALT_PEPPER)
    return _salt_and_pepper(images, u, _col(values))


def mono_salt_pepper_ref(images: Tensor, values: Tensor, seed: Tensor) -> Tensor:
    """values[:, 0] = amount, the fraction of pixels replaced (all channels together: black or white)."""
    _, _, h, w = images.shape
    u = pixel_uniform(seed, h, w, images.device, STREAM_SALT_PEPPER)
    return _salt_and_pepper(images, u, _col(values))


def _salt_and_pepper(images: Tensor, u: Tensor, amount: Tensor) -> Tensor:
    """u < amount/2 -> 0, amount/2 <= u < amount -> 1, else unchanged; u broadcasts against images."""
    out = torch.where(u < amount, torch.ones_like(images), images)
    return torch.where(u < 0.5 * amount, torch.zeros_like(images), out)


def pink_noise(seed: Tensor, shape: tuple[int, int, int], device) -> Tensor:
    """1/f noise (N, C, H, W), amplitude 1/sqrt(f^2 + 1e-5), zero mean and unit population std per channel
    (0 where it is flat)."""
    c, h, w = shape
    white = channel_noise(seed, shape, device, STREAM_FNOISE)
    fy = torch.fft.fftfreq(h, device=device).reshape(-1, 1)
    fx = torch.fft.fftfreq(w, device=device).reshape(1, -1)
    k2 = fy * fy + fx * fx
    amp = torch.where(k2 > 0, torch.rsqrt(k2 + FNOISE_EPS), torch.zeros_like(k2))
    n = torch.fft.ifft2(torch.fft.fft2(white) * amp).real
    n = n - n.mean(dim=(2, 3), keepdim=True)
    std = n.std(dim=(2, 3), unbiased=False, keepdim=True)
    ok = std > 1e-12
    return torch.where(ok, n / torch.where(ok, std, torch.ones_like(std)), torch.zeros_like(n))


def fnoise_ref(images: Tensor, values: Tensor, seed: Tensor) -> Tensor:
    """values[:, 0] = f; adds 1/f noise of standard deviation 0.0154 f per channel (Ahn's strength at 256x256)."""
    _, c, h, w = images.shape
    n = pink_noise(seed, (c, h, w), images.device).to(images.dtype)
    return images + _col(values * FNOISE_STD_PER_F) * n


def draw_uniform(gen: torch.Generator, lo: float, hi: float) -> float:
    """One draw of U[lo, hi] from ``gen``."""
    return lo + (hi - lo) * float(torch.rand((), generator=gen))


def camera_noise(image: Tensor, sigma: float, gen: torch.Generator, shot: Optional[float] = None,
                 channel_corr: Optional[float] = None, spatial: Optional[float] = None,
                 level: Optional[float] = 127.5, blur_sd: float = 0.0) -> Tensor:
    """Sensor noise on float Tensor[C, H, W] in [0, 255]; returns the noisy image (not clamped).

    ``sigma``: the noise S.D. at grey ``level`` (0..255), or with ``level=None`` its RMS over the image. Unset
    shape parameters are drawn from ``gen``: shot U[0.3, 0.9], channel_corr U[0, 0.6], spatial U[0, 1].
    ``blur_sd`` > 0: the noise further blurred by a separable Gaussian of that S.D. (px) and brought back to its
    S.D., correlated over a few pixels as in-camera denoising leaves it (the noise readers' test fields).
    """
    shot = draw_uniform(gen, 0.3, 0.9) if shot is None else float(shot)
    rho = draw_uniform(gen, 0.0, 0.6) if channel_corr is None else float(channel_corr)
    k = draw_uniform(gen, 0.0, 1.0) if spatial is None else float(spatial)
    C, H, W = image.shape
    field = (1.0 - rho) ** 0.5 * torch.randn(C, H, W, generator=gen) + rho ** 0.5 * torch.randn(1, H, W, generator=gen)
    if k > 0:
        kernel = torch.tensor([[k * k / 4, k / 2, k * k / 4], [k / 2, 1.0, k / 2], [k * k / 4, k / 2, k * k / 4]])
        kernel = (kernel / kernel.norm()).expand(C, 1, 3, 3).contiguous()  # unit energy: unit S.D. kept
        field = torch.nn.functional.conv2d(torch.nn.functional.pad(field[None], (1, 1, 1, 1),
                                                                   mode="reflect" if min(H, W) > 1 else "replicate"),
                                           kernel, groups=C)[0]
    x = image.clamp(min=0)
    ref = float(x.mean()) if level is None else float(level)
    var = float(sigma) ** 2
    a, b = shot * var / max(ref, 1e-3), (1.0 - shot) * var
    noise = field.to(image.device) * (a * x + b).sqrt()
    return image + (blurred_field(noise, blur_sd) if blur_sd > 0 else noise)


def blurred_field(field: Tensor, sd: float) -> Tensor:
    """A noise field Tensor[C, H, W] blurred by a separable Gaussian of S.D. ``sd`` px (radius 3 sd + 1, unit-norm
    taps, reflected edges), rescaled to the field's own S.D."""
    rad = int(3 * sd) + 1
    t = torch.arange(-rad, rad + 1, dtype=field.dtype, device=field.device)
    w = torch.exp(-t * t / (2 * sd * sd))
    w = w / w.norm()
    f = torch.nn.functional.conv2d(torch.nn.functional.pad(field[:, None], (rad, rad, 0, 0), mode="reflect"),
                                   w.view(1, 1, 1, -1))
    f = torch.nn.functional.conv2d(torch.nn.functional.pad(f, (0, 0, rad, rad), mode="reflect"), w.view(1, 1, -1, 1))[:, 0]
    return f * (field.std() / f.std())


def camera_noise_ref(images: Tensor, values: Tensor, seed: Tensor) -> Tensor:
    """values[:, 0] = sigma, the RMS S.D. of the added noise on the 0..255 scale. (N,C,H,W) -> (N,C,H,W)."""
    out = torch.empty_like(images)
    for i in range(images.shape[0]):
        gen = torch.Generator().manual_seed(int(seed[i]) & ((1 << 63) - 1))
        out[i] = camera_noise(images[i].float().cpu() * 255.0, float(values[i, 0]), gen, level=None).to(
            images.device, images.dtype) / 255.0
    return out


SPECS = (
    DistortionSpec(
        name="gaussian_noise",
        parameters=(Parameter("variance", 0.0, 0.25, doc="noise variance, image in [0,1]"),),
        reference=gaussian_noise_ref,
        levels=(LevelSet("ahn", (0.0125, 0.025, 0.05), source=AHN),),
        default_levels="ahn",
        description="additive white Gaussian noise, independent per channel, given by its variance",
        source=AHN,
        identity=0.0,
        stochastic=True,
        native=True,
    ),
    DistortionSpec(
        name="gaussian_noise_sigma",
        parameters=(Parameter("sigma", 0.0, 255.0, doc="noise standard deviation on the 0..255 scale"),),
        reference=gaussian_noise_sigma_ref,
        levels=(
            LevelSet("endo", (0.0, 50.0), source=ENDO, continuous=True),
            # the noise estimator v2 trains past the range it is scored on, so that sigma 50 is no end of its prior
            LevelSet("estimator", (0.0, 60.0), continuous=True),
            LevelSet("dodge", tuple(range(10, 101, 10)), source=DODGE),
            LevelSet("hsieh_constant", (25.0,), source=HSIEH),
            LevelSet("hsieh_variable", (5.0, 50.0), source=HSIEH, continuous=True),
        ),
        default_levels="dodge",
        description="additive white Gaussian noise, independent per channel, given by sigma on 0..255",
        source=f"{ENDO}; {DODGE}; {HSIEH}",
        identity=0.0,
        stochastic=True,
        native=True,
    ),
    DistortionSpec(
        name="mono_gaussian_noise",
        parameters=(Parameter("sigma", 0.0, 255.0, doc="noise standard deviation on the 0..255 scale"),),
        reference=mono_gaussian_noise_ref,
        levels=(
            LevelSet("hsieh_constant", (25.0,), source=HSIEH),
            LevelSet("hsieh_variable", (5.0, 50.0), source=HSIEH, continuous=True),
        ),
        default_levels="hsieh_variable",
        description="additive Gaussian noise, one value per pixel shared by all channels",
        source=HSIEH,
        identity=0.0,
        stochastic=True,
        native=True,
    ),
    DistortionSpec(
        name="salt_pepper",
        parameters=(Parameter("amount", 0.0, 1.0, doc="fraction of channel values replaced by 0 or 1"),),
        reference=salt_pepper_ref,
        levels=(LevelSet("ahn", (0.0125, 0.025, 0.05), source=AHN),),
        default_levels="ahn",
        description="salt-and-pepper noise: a fraction of the channel values set to 0 or 1, each channel "
                    "independently (coloured specks, as scikit-image's random_noise 's&p')",
        source=AHN,
        identity=0.0,
        stochastic=True,
        native=True,
    ),
    DistortionSpec(
        name="mono_salt_pepper",
        parameters=(Parameter("amount", 0.0, 1.0, doc="fraction of pixels replaced by black or white"),),
        reference=mono_salt_pepper_ref,
        levels=(LevelSet("ahn", (0.0125, 0.025, 0.05), source=AHN),),
        default_levels="ahn",
        description="salt-and-pepper noise per pixel: a fraction of the pixels set to black or white (all "
                    "channels together)",
        source=AHN,
        identity=0.0,
        stochastic=True,
        native=True,
    ),
    DistortionSpec(
        name="camera_noise",
        parameters=(Parameter("sigma", 0.0, 255.0, doc="RMS S.D. of the added noise on the 0..255 scale"),),
        reference=camera_noise_ref,
        levels=(LevelSet("camera", (0.0, 12.0), continuous=True),
                LevelSet("camera_steps", (1.0, 2.0, 4.0, 8.0, 16.0))),
        default_levels="camera_steps",
        description="camera sensor noise: signal-dependent (Poisson-Gaussian) per channel, correlated across "
                    "channels and neighbouring pixels, given by its RMS sigma on 0..255",
        source="distortx (a sensor model for estimators and photo histories)",
        identity=0.0,
        stochastic=True,
    ),
    DistortionSpec(
        name="fnoise",
        parameters=(Parameter("f", 0.0, 50.0, doc="strength: noise standard deviation 0.0154 f (Ahn's f at 256x256)"),),
        reference=fnoise_ref,
        levels=(LevelSet("ahn", (2.5, 5.0, 10.0), source=AHN),),
        default_levels="ahn",
        description="additive 1/f (pink) noise per channel, standard deviation 0.0154 f at any size (Ahn's "
                    "strength at 256x256)",
        source=AHN,
        identity=0.0,
        stochastic=True,
        native=True,
    ),
)

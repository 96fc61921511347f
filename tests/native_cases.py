"""Cases shared by the native-op tests (test_native_distort.py, test_native_scalar.py): the native codes, the
per-code tolerances against the Python reference, a test image and random packed region batches."""
from __future__ import annotations

import torch

import distortx
from distortx.distortions.native_codes import NATIVE_CODES

EXACT = ("quantization", "salt_pepper", "mono_salt_pepper", "jpeg", "gaussian_noise", "gaussian_noise_sigma",
         "mono_gaussian_noise")
LOOSE = ("twirl", "marble")
NATIVE = tuple(sorted(NATIVE_CODES, key=NATIVE_CODES.get))
SLOW = ("nlm_denoise",)  # slow python reference: smaller images
# the uint8 path (csrc/distort/u8_cpu.cpp) against the float op rounded: within 1 grey level for these codes (fixed
# point, or the grey level / cells summed another way), equal for the rest
U8_WITHIN_ONE = ("contrast", "gaussian_blur", "lowpass", "motion_blur")


def tol(name: str) -> float:
    return 0.0 if name in EXACT else (1e-4 if name in LOOSE else 1e-5)


def make_image(n: int, c: int, h: int, w: int, seed: int = 0) -> torch.Tensor:
    """Texture + gradient + a saturated patch: exercises clamping, edges and flat areas."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    base = 0.5 + 0.35 * torch.sin(7 * xx + 3 * yy) * torch.cos(5 * yy)
    img = base + 0.25 * torch.rand(n, c, h, w, generator=g)
    img[..., : max(1, h // 5), : max(1, w // 6)] = 1.0
    return img.clamp(0, 1)


def random_values(spec, n: int, g: torch.Generator) -> torch.Tensor:
    """(n, 4) float32 values uniform over each parameter's full range (integers rounded), zero padded."""
    v = torch.zeros(n, 4)
    for j, p in enumerate(spec.parameters):
        col = p.low + (p.high - p.low) * torch.rand(n, generator=g, dtype=torch.float64)
        v[:, j] = (col.round() if p.integer else col).float()
    return v


def random_case(names, n, c, h, w, r, seed=0):
    """Packed (images, codes, values, boxes, seeds) with r regions per image of the given types; boxes are
    random and may stick out of the image (clipped) or be empty."""
    g = torch.Generator().manual_seed(seed)
    codes = torch.zeros(n, r, dtype=torch.int32)
    values = torch.zeros(n, r, 4)
    boxes = torch.zeros(n, r, 4, dtype=torch.int32)
    for i in range(n):
        for k in range(r):
            name = names[(i * r + k) % len(names)]
            spec = distortx.get_distortion(name)
            codes[i, k] = spec.native_code
            values[i, k] = random_values(spec, 1, g)[0]
            x0 = int(torch.randint(-w // 4, w, (1,), generator=g))
            y0 = int(torch.randint(-h // 4, h, (1,), generator=g))
            bw = int(torch.randint(1, w + 2, (1,), generator=g))
            bh = int(torch.randint(1, h + 2, (1,), generator=g))
            boxes[i, k] = torch.tensor([x0, y0, x0 + bw, y0 + bh])
    seeds = torch.randint(0, 2**40, (n, r), generator=g)
    return make_image(n, c, h, w, seed), codes, values, boxes, seeds

"""The contract every registered distortion meets — built-in or from a plugin (timm-style: tested for free).

For each: same seed -> same output, shape/dtype/device kept, output in [0, 1], identity at its identity value,
PSNR to the clean image falls as the level rises over every multi-valued level set (first to last only
where the level set is not graded), per-sample parameters
in one batch equal separate calls, tiny images (1x1, a row, a column) and an empty batch handled. These
generic properties live here only, so a plugin's distortions get all of them; the family test files keep
what is specific to a type (exact copies, formulas, statistics).
"""
from __future__ import annotations

import math

import pytest
import torch

import distortx

NAMES = distortx.list_distortions()


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = torch.mean((a.double() - b.double()) ** 2).item()
    return math.inf if mse == 0 else 10 * math.log10(1.0 / mse)


@pytest.fixture(scope="module")
def image(photos):
    return photos[:2, :, :48, :48].contiguous()


@pytest.mark.parametrize("name", NAMES)
def test_deterministic_shape_dtype_range(name, image):
    spec = distortx.get_distortion(name)
    p = spec.sample(len(image), generator=torch.Generator().manual_seed(1))
    a, b = spec.apply(image, p), spec.apply(image, p)
    assert torch.equal(a, b)
    assert a.shape == image.shape and a.dtype == image.dtype and a.device == image.device
    assert a.min() >= 0 and a.max() <= 1
    d = spec.apply(image.double(), p)
    assert d.dtype == torch.float64
    p2 = spec.sample(len(image), generator=torch.Generator().manual_seed(1))
    assert torch.equal(p.values, p2.values) and torch.equal(p.seed, p2.seed)


@pytest.mark.parametrize("name", [n for n in NAMES if distortx.get_distortion(n).identity is not None])
def test_identity_at_zero_strength(name, image):
    spec = distortx.get_distortion(name)
    p = spec.sample(len(image), generator=torch.Generator().manual_seed(2))
    p.values[:, 0] = spec.identity
    assert torch.allclose(spec.apply(image, p), image, atol=1e-6)


@pytest.mark.parametrize(
    "name, levels",
    [(n, ls.name) for n in NAMES for ls in distortx.get_distortion(n).levels if len(ls.values) > 1 and len(ls.values) <= 12],
)
def test_psnr_falls_as_the_level_rises(name, levels, image):
    spec = distortx.get_distortion(name)
    ls = spec.level_set(levels)
    values = [min(ls.values), max(ls.values)] if ls.continuous else list(ls.values)
    if not ls.graded:  # only the mildest and the strongest level are ordered (LevelSet.graded)
        values = [ls.values[0], ls.values[-1]]
    if ls.continuous and spec.severity == "decreasing":
        values.reverse()
    if spec.identity is not None:
        values = [v for v in values if v != spec.identity]
    g = torch.Generator().manual_seed(3)
    base = spec.sample(1, generator=g)
    scores = []
    for v in values:
        p = distortx.Params(base.values.repeat(len(image), 1), base.seed.repeat(len(image)), base.level.repeat(len(image)))
        p.values[:, 0] = v
        scores.append(psnr(spec.apply(image, p), image))
    assert all(a > b for a, b in zip(scores, scores[1:])), f"{name}/{levels}: PSNR {scores} for values {values}"


@pytest.mark.parametrize("name", NAMES)
def test_per_sample_parameters_in_one_batch(name, image):
    spec = distortx.get_distortion(name)
    p = spec.sample(len(image), generator=torch.Generator().manual_seed(4))
    together = spec.apply(image, p)
    for i in range(len(image)):
        alone = spec.apply(image[i : i + 1], p[i])
        assert torch.allclose(together[i : i + 1], alone, atol=1e-6), name


@pytest.mark.parametrize("name", NAMES)
def test_tiny_images_and_empty_batches(name):
    spec = distortx.get_distortion(name)
    for h, w in ((1, 1), (1, 7), (5, 1)):
        x = torch.full((2, 3, h, w), 0.4)
        out = spec.apply(x, spec.sample(2, generator=torch.Generator().manual_seed(1)))
        assert out.shape == x.shape and torch.isfinite(out).all(), (name, h, w)
        assert out.min() >= 0 and out.max() <= 1
    empty = torch.zeros(0, 3, 8, 8)
    assert spec.apply(empty, spec.sample(0, generator=torch.Generator().manual_seed(1))).shape == empty.shape

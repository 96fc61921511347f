"""The verdict's pixel measurements (distortx.estimation.value_lattice, impulses): the levels a region's 8-bit values lie
on, and the share of them salt and pepper replaced."""
from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

import distortx
from distortx.data.samples import load_sample
from distortx.estimation.value_lattice import read_levels_from_histogram, read_value_levels, region_histogram


@pytest.fixture(scope="module")
def photo():
    return load_sample("astronaut")[:, :256, :256].contiguous()


def quantized(x: torch.Tensor, levels: int) -> torch.Tensor:
    return distortx.distort(x, "quantization", value=float(levels))


@pytest.mark.parametrize("levels", [4, 5, 7, 8, 12, 16, 20])
def test_a_quantized_photo_reads_its_levels(photo, levels):
    r = read_value_levels(quantized(photo, levels))
    assert r.levels == levels and r.share == pytest.approx(1.0)


@pytest.mark.parametrize("name", ["astronaut", "coffee", "chelsea"])
def test_a_clean_photo_and_its_jpeg_read_no_lattice(name):
    x = load_sample(name)
    buf = io.BytesIO()
    Image.fromarray(x.permute(1, 2, 0).numpy()).save(buf, "JPEG", quality=90, subsampling=0)
    jpeg = torch.from_numpy(np.asarray(Image.open(buf)).copy()).permute(2, 0, 1)
    for img in (x, jpeg):
        r = read_value_levels(img)
        assert r.levels is None and r.share < 0.02


def test_a_box_reads_the_quantized_region_inside_it_and_its_share(photo):
    """A box half over a region quantized to 8 levels reads 8 levels on ~half its values; a box beside it, none."""
    x = photo.clone()
    x[:, 64:192, 64:192] = quantized(photo[:, 64:192, 64:192], 8)
    inside = read_value_levels(x, [(64, 64, 192, 192)])
    assert inside.levels == 8 and inside.share == pytest.approx(1.0)
    half = read_value_levels(x, [(0, 64, 128, 192)])      # 64 of its 128 columns quantized
    assert half.levels == 8 and 0.4 < half.share < 0.6
    assert read_value_levels(x, [(192, 0, 256, 256)]).levels is None
    assert read_value_levels(x.float() / 255, [(64, 64, 192, 192)]).levels == 8    # float images too


def test_spikes_clipping_and_flat_areas_are_no_lattice():
    """One value everywhere, a black or white clipped area and a flat area of a few values carry no lattice."""
    flat = torch.full((3, 64, 64), 128, dtype=torch.uint8)
    assert read_value_levels(flat).levels is None
    g = torch.Generator().manual_seed(0)
    noisy = (120 + torch.randint(0, 16, (3, 64, 64), generator=g)).to(torch.uint8)
    assert read_value_levels(noisy).levels is None
    clipped = noisy.clone()
    clipped[:, :40] = 0
    clipped[:, 40:50] = 255
    assert read_value_levels(clipped).levels is None
    spike = noisy.clone()
    spike[:, :20] = 8          # a border of one dark grey: a spike on the edge 8 of 32 levels, no lattice
    assert read_value_levels(spike).levels is None


def test_the_histogram_and_the_tolerance():
    h = torch.zeros(256, dtype=torch.long)
    h[[32, 64, 96, 128, 160, 192, 224]] = 100            # 8 levels
    assert read_levels_from_histogram(h).levels == 8
    spread = torch.zeros(256, dtype=torch.long)          # the same values moved by up to 1 (a mild later step)
    for e in (32, 64, 96, 128, 160, 192, 224):
        spread[e - 1:e + 2] = torch.tensor([40, 20, 40])
    assert read_levels_from_histogram(spread).levels is None
    assert read_levels_from_histogram(spread, tolerance=1).levels == 8
    x = torch.tensor([[[0, 1, 2], [3, 4, 5]]], dtype=torch.uint8)
    assert region_histogram(x, [(1, 0, 2, 2)]).tolist() == [0] + [1] + [0] * 2 + [1] + [0] * 251


# -- salt and pepper (distortx.estimation.impulses) ---------------------------------------------------------------

@pytest.mark.parametrize("amount", [0.0125, 0.025, 0.05])
def test_salt_and_pepper_reads_its_amount(photo, amount):
    from distortx.estimation import read_impulse_amount

    noisy = distortx.distort(photo, "salt_pepper", value=amount, seed=3)
    assert read_impulse_amount(noisy).amount == pytest.approx(amount, rel=0.1)
    assert read_impulse_amount(noisy.float() / 255).amount == pytest.approx(amount, rel=0.1)


def test_a_clean_photo_has_no_impulses_and_a_box_reads_only_its_inside(photo):
    """Clean photos (clipped shadows and highlights included) read ~0; a box over a noisy region reads its amount, a
    box beside it 0; a dark area has too few readable values (no amount)."""
    from distortx.estimation import read_impulse_amount

    for name in ("astronaut", "coffee", "chelsea"):
        assert read_impulse_amount(load_sample(name)).amount < 0.001
    x = photo.clone()
    x[:, 64:192, 64:192] = distortx.distort(photo, "salt_pepper", value=0.05, seed=1)[:, 64:192, 64:192]
    assert read_impulse_amount(x, [(64, 64, 192, 192)]).amount == pytest.approx(0.05, rel=0.15)
    assert read_impulse_amount(x, [(192, 0, 256, 256)]).amount == 0.0
    dark = torch.zeros(3, 64, 64, dtype=torch.uint8)
    dark[:, ::7, ::5] = 255
    r = read_impulse_amount(dark)
    assert r.amount is None and r.eligible < 500


def test_impulses_fall_anywhere_and_clipped_noise_where_the_photo_is_bright_or_dark():
    """The reading's salt bias (neighbours' median at the 255s minus at the 0s) is near 0 for salt and pepper and
    above 40 for Ahn's Gaussian noise at every level, on two embedded photos; None without both kinds of extreme."""
    import torch

    import distortx
    from distortx.data.samples import load_sample
    from distortx.estimation import read_impulse_amount

    for name in ("chelsea", "astronaut"):
        x = load_sample(name)[:, :256, :256].contiguous()
        for amount in (0.0125, 0.05):
            assert abs(read_impulse_amount(distortx.distort(x, "salt_pepper", value=amount, seed=1)).salt_bias) < 25, name
        for variance in (0.0125, 0.025, 0.05):
            assert read_impulse_amount(distortx.distort(x, "gaussian_noise", value=variance, seed=1)).salt_bias > 40, name
    assert read_impulse_amount(torch.full((3, 64, 64), 128, dtype=torch.uint8)).salt_bias is None

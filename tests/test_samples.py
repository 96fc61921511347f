"""Embedded images: the shipped photos load offline; dead-leaves images are deterministic and natural-looking."""
from __future__ import annotations

import pytest
import torch

from distortx import UnknownNameError
from distortx.data.samples import dead_leaves, load_sample, sample_images, sample_names


def test_embedded_photos_load_without_network():
    images = dict(sample_images())
    assert set(images) == set(sample_names()) == {"astronaut", "coffee", "chelsea"}
    assert images["astronaut"].shape == (3, 512, 512) and images["coffee"].shape == (3, 400, 600)
    assert all(t.dtype == torch.uint8 and min(t.shape[1:]) >= 300 for t in images.values())  # >= the 300 px detection crop
    a = load_sample("chelsea")
    a.zero_()
    assert load_sample("chelsea").float().mean() > 50  # callers get copies
    with pytest.raises(UnknownNameError, match="did you mean astronaut"):
        load_sample("astronot")


def test_dead_leaves_is_deterministic_and_has_a_falling_spectrum():
    a, b, c = dead_leaves(128, seed=5), dead_leaves(128, seed=5), dead_leaves(128, seed=6)
    assert a.shape == (3, 128, 128) and a.dtype == torch.uint8
    assert torch.equal(a, b) and not torch.equal(a, c)
    grey = a.float().mean(0)
    power = torch.fft.fftshift(torch.fft.fft2(grey - grey.mean()).abs() ** 2)
    fy = torch.fft.fftshift(torch.fft.fftfreq(128)).view(-1, 1)
    fx = torch.fft.fftshift(torch.fft.fftfreq(128)).view(1, -1)
    r = torch.sqrt(fx**2 + fy**2)
    low = power[(r > 0.01) & (r < 0.05)].mean()
    high = power[(r > 0.25) & (r < 0.45)].mean()
    assert low / high > 50  # natural-image-like 1/f^2 power falloff
    assert len(torch.unique(a.reshape(3, -1), dim=1).T) > 500  # many distinct colours (discs + shading)

"""Shared fixtures: small natural-looking test images that need nothing outside the package."""
from __future__ import annotations

import pytest
import torch


@pytest.fixture(scope="session")
def photo() -> torch.Tensor:
    """float Tensor[1, 3, 96, 96]: a downscaled crop of the embedded astronaut photo."""
    from distortx.catalogue import tile_image
    from distortx.data.samples import load_sample

    return tile_image(load_sample("astronaut"), 96)


@pytest.fixture(scope="session")
def photos() -> torch.Tensor:
    """float Tensor[3, 3, 64, 64]: the three embedded photos, centre-cropped and downscaled."""
    from distortx.catalogue import tile_image
    from distortx.data.samples import sample_images

    return torch.cat([tile_image(img, 64) for _, img in sample_images()])

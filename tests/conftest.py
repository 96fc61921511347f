"""Shared fixtures: small natural-looking test images that need nothing outside the package."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

SHARED_PHOTOS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "photos"


def cpu_and_cuda():
    """Devices to parametrize over; CUDA carries the ``gpu`` mark (deselected by default, skipped without CUDA)."""
    return ["cpu", pytest.param("cuda", marks=[pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")])]


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


@pytest.fixture(autouse=True)
def _fresh_plugin_manager(monkeypatch):
    """Tests that fiddle with plugins get a fresh manager; everyone else shares the cached one."""
    yield
    if os.environ.get("_DISTORTX_TEST_RESET"):
        from distortx.plugins import reset_plugin_manager

        reset_plugin_manager()

"""The example third-party package (plugins/distortx-lens) registers through its entry point and distorts."""
from __future__ import annotations

from importlib import metadata

import torch

import distortx


def test_lens_plugin_is_installed_through_its_entry_point():
    eps = {ep.name: ep.value for ep in metadata.entry_points(group="distortx")}
    assert eps.get("lens") == "distortx_lens.plugin"
    assert distortx.get_distortion("vignette").plugin == "lens"
    assert {"vignette", "chromatic_aberration"} <= set(distortx.list_distortions())


def test_vignette_darkens_the_corners_not_the_centre():
    x = torch.full((1, 3, 33, 33), 0.8)
    out = distortx.distort(x, "vignette", value=0.5)
    assert abs(out[0, 0, 16, 16].item() - 0.8) < 1e-6
    assert abs(out[0, 0, 0, 0].item() - 0.8 * 0.5) < 1e-6
    assert out[0, 0, 16, 0] > out[0, 0, 0, 0]


def test_chromatic_aberration_misregisters_red_and_blue_but_not_green():
    x = torch.zeros(1, 3, 41, 41)
    x[..., 30, :] = 1.0  # a horizontal white line below the centre
    out = distortx.distort(x, "chromatic_aberration", value=4.0)
    assert torch.equal(out[0, 1], x[0, 1])
    red_row = out[0, 0, :, 20].argmax().item()
    blue_row = out[0, 2, :, 20].argmax().item()
    assert red_row > 30 > blue_row  # red magnified outwards, blue pulled inwards

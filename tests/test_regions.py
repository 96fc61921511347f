"""Regional application: each box its own distortion, outside bit-identical, later boxes win."""
from __future__ import annotations

import pytest
import torch

import distortx
from distortx import Region, apply_regions
from distortx.distortions.regions import clip_box, region_mask


def test_outside_all_boxes_is_bit_identical_and_inside_matches_global(photo):
    regions = [
        Region("gaussian_blur", (3.0,), (5, 10, 40, 50)),
        Region("gaussian_noise", (0.05,), (50, 20, 90, 60), seed=3),
        Region("salt_pepper", (0.5,), (0, 70, 96, 96), seed=4),
    ]
    out = apply_regions(photo[0], regions)
    mask = region_mask([r.box for r in regions], 96, 96)
    assert torch.equal(out[:, ~mask], photo[0][:, ~mask])
    for r in regions:
        spec = distortx.get_distortion(r.name)
        full = spec.apply(photo, r.params())[0]
        x0, y0, x1, y1 = r.box
        assert torch.equal(out[:, y0:y1, x0:x1], full[:, y0:y1, x0:x1])


def test_overlapping_boxes_later_wins(photo):
    a = Region("gaussian_blur", (6.0,), (10, 10, 60, 60))
    b = Region("quantization", (4.0,), (40, 40, 90, 90))
    out = apply_regions(photo, [a, b])
    q = distortx.get_distortion("quantization").apply(photo, b.params())
    assert torch.equal(out[..., 40:60, 40:60], q[..., 40:60, 40:60])
    out2 = apply_regions(photo, [b, a])
    blur = distortx.get_distortion("gaussian_blur").apply(photo, a.params())
    assert torch.equal(out2[..., 40:60, 40:60], blur[..., 40:60, 40:60])


def test_boxes_are_clipped_and_empty_boxes_do_nothing(photo):
    assert clip_box((-5, -5, 200, 30), 96, 96) == (0, 0, 96, 30)
    assert clip_box(None, 10, 20) == (0, 0, 20, 10)
    assert clip_box((50, 50, 40, 60), 96, 96) == (50, 50, 50, 60)
    out = apply_regions(photo, [Region("gaussian_blur", (6.0,), (50, 50, 50, 90)), Region("gaussian_blur", (6.0,), (200, 200, 300, 300))])
    assert torch.equal(out, photo)
    whole = apply_regions(photo, [Region("gaussian_blur", (6.0,), None)])
    assert torch.equal(whole, distortx.get_distortion("gaussian_blur").apply(photo, distortx.get_distortion("gaussian_blur").params(6.0)))


def test_regions_with_boxes_touching_borders(photo):
    out = apply_regions(photo, [Region("contrast", (1.0,), (0, 0, 96, 1)), Region("contrast", (1.0,), (95, 0, 96, 96))])
    assert not torch.equal(out[..., 0, :], photo[..., 0, :])
    assert torch.equal(out[..., 1:, :95], photo[..., 1:, :95])


def test_bad_box_is_a_clear_error(photo):
    with pytest.raises(distortx.ParameterError, match=r"\(x0, y0, x1, y1\)"):
        apply_regions(photo, [Region("gaussian_blur", (1.0,), (1, 2, 3))])

"""Gaussian blur sigma read from the edges (distortx.estimation.blur_width) and the verdict's blur severity."""
from __future__ import annotations

import pytest
import torch

import distortx
from distortx.data.samples import load_sample
from distortx.errors import ImageError
from distortx.estimation import read_blur_sigma
from distortx.engine.inference.predict import DetectedRegion
from distortx.verdict import AHN_BLUR_SIGMA, ahn_level, make_verdict


@pytest.mark.parametrize("name", ["astronaut", "coffee", "chelsea"])
def test_reads_ahns_blur_levels_on_photo_crops(name):
    crop = load_sample(name)[:, :300, :300]
    assert read_blur_sigma(crop).sigma < 0.8                       # a sharp photo: what its lens and resizing left
    for level, sigma in enumerate(AHN_BLUR_SIGMA, start=1):
        read = read_blur_sigma(distortx.distort(crop, "gaussian_blur", value=sigma)).sigma
        assert abs(read - sigma) <= 0.2 * sigma + 0.05, (sigma, read)
        assert ahn_level(read, AHN_BLUR_SIGMA) == level


def test_reads_inside_boxes_only():
    crop = load_sample("coffee")[:, :300, :300]
    blurred = distortx.distort(crop, "gaussian_blur", value=3.0)
    mixed = crop.clone()
    mixed[:, 100:220, 80:200] = blurred[:, 100:220, 80:200]
    inside = read_blur_sigma(mixed, [(80, 100, 200, 220)])
    assert inside.sigma == pytest.approx(3.0, rel=0.2) and inside.edges >= 10
    assert read_blur_sigma(mixed).sigma < 1.0                         # most of the photo is sharp
    assert read_blur_sigma(mixed.float() / 255, [(80, 100, 200, 220)]).sigma == pytest.approx(inside.sigma, rel=1e-4)
    # in a larger photo the box is read on its surroundings only, with the same result
    large = torch.zeros(3, 900, 1200, dtype=torch.uint8)
    large[:, 400:700, 500:800] = mixed
    moved = read_blur_sigma(large, [(580, 500, 700, 620)])
    assert moved.sigma == pytest.approx(inside.sigma, rel=1e-5) and moved.edges == inside.edges


def test_flat_areas_are_not_read_and_bad_input_is_refused():
    flat = torch.full((3, 64, 64), 100, dtype=torch.uint8)
    assert read_blur_sigma(flat).sigma is None and read_blur_sigma(flat).edges == 0
    assert read_blur_sigma(torch.zeros(3, 8, 8, dtype=torch.uint8)).sigma is None
    with pytest.raises(ImageError, match=r"with 1 or 3 channels, got \(2, 64, 64\)"):
        read_blur_sigma(torch.zeros(2, 64, 64))


def test_the_verdict_grades_blur_and_drops_a_sharp_photos_candidate():
    crop = load_sample("astronaut")[:, :300, :300]
    named = [("gaussian_blur", 0.9), ("clean", 0.1)]
    blurred = distortx.distort(crop, "gaussian_blur", value=3.0)
    v = make_verdict(named, [], 300, 300, pixels=blurred)
    f = v.findings[0]
    assert (f.type, f.where, f.level) == ("gaussian_blur", "whole image", 2)
    assert f.parameter[0] == "blur_sigma" and f.parameter[1] == pytest.approx(3.0, rel=0.2)
    assert f"gaussian_blur sigma~{f.parameter[1]:.1f} (whole image, level 2" in v.text()
    assert make_verdict(named, [], 300, 300, pixels=crop).clean   # a sharp photo: no blur to report
    region = [DetectedRegion("gaussian_blur", 0.9, (90, 90, 210, 210))]   # the sharp face (its top left is out of focus)
    local = make_verdict([("clean", 0.9)], region, 300, 300, pixels=crop)
    assert local.findings[0].level == 0 and local.findings[0].severity == "below level 1"   # its box is kept
    assert make_verdict(named, [], 300, 300).findings[0].severity == "not measured"       # no pixels given

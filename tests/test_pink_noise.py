"""Ahn's 1/f noise strength read from the flattest patches (distortx.estimation.pink_noise) and the verdict's
fnoise severity."""
from __future__ import annotations

import pytest
import torch

import distortx
from distortx.data.samples import load_sample
from distortx.engine.inference.predict import DetectedRegion
from distortx.errors import ImageError
from distortx.estimation import read_fnoise_strength
from distortx.verdict import AHN_FNOISE_F, VerdictRules, ahn_level, make_verdict

BOX = (90, 90, 210, 210)


def with_region(crop: torch.Tensor, f: float) -> torch.Tensor:
    """``crop`` with Ahn's fnoise of strength ``f`` inside BOX only."""
    out = crop.clone()
    x0, y0, x1, y1 = BOX
    out[:, y0:y1, x0:x1] = distortx.distort(crop, "fnoise", value=f, seed=1)[:, y0:y1, x0:x1]
    return out


@pytest.mark.parametrize("name", ["astronaut", "coffee", "chelsea"])
def test_reads_ahns_fnoise_levels_in_a_region_and_the_photo_below_level_1(name):
    crop = load_sample(name)[:, :300, :300]
    floor = VerdictRules().fnoise_f_min
    assert read_fnoise_strength(crop) < floor and read_fnoise_strength(crop, [BOX]) < floor
    for level, f in enumerate(AHN_FNOISE_F, start=1):
        inside = read_fnoise_strength(with_region(crop, f), [BOX])
        assert ahn_level(inside, AHN_FNOISE_F) == level and abs(inside - f) <= 0.25 * f, (f, inside)
        whole = read_fnoise_strength(distortx.distort(crop, "fnoise", value=f, seed=2))
        assert ahn_level(whole, AHN_FNOISE_F) == level, (f, whole)


def test_small_boxes_are_not_read_and_bad_input_is_refused():
    crop = load_sample("coffee")[:, :300, :300]
    assert read_fnoise_strength(crop, [(0, 0, 63, 200), (10, 10, 50, 50)]) is None   # under 64 px a side
    # the median over the readable boxes; boxes past the image are clipped to it
    both = read_fnoise_strength(with_region(crop, 10.0), [BOX, (0, 0, 63, 63), (250, 250, 400, 400)])
    assert both is not None and both > 3.0
    with pytest.raises(ImageError, match="Tensor"):
        read_fnoise_strength(crop.numpy())


def test_the_verdict_grades_fnoise_and_drops_a_clean_photos_candidate():
    crop = load_sample("astronaut")[:, :300, :300]
    region = [DetectedRegion("fnoise", 0.9, BOX)]
    v = make_verdict([("clean", 0.9)], region, 300, 300, pixels=with_region(crop, 5.0))
    (finding,) = v.findings
    assert finding.type == "fnoise" and finding.severity == "level 2" and "fnoise f~" in v.text()
    named = [("fnoise", 0.9), ("clean", 0.1)]
    assert make_verdict(named, [], 300, 300, pixels=crop).clean            # the photo's grain is below level 1
    assert not make_verdict(named, [], 300, 300, pixels=distortx.distort(crop, "fnoise", value=2.5)).clean
    assert make_verdict(named, [], 300, 300).findings[0].severity == "not measured"   # no pixels given

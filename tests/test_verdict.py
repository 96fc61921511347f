"""The verdict (distortx.verdict): one answer per photo from both heads and the estimators, by one rule."""
from __future__ import annotations

import io

import pytest
import torch
from PIL import Image

import distortx
from distortx.engine.inference.predict import DetectedRegion
from distortx.verdict import AHN_NOISE_SIGMA, VerdictRules, ahn_level, make_verdict

CLEAN = [("clean", 0.9), ("jpeg", 0.05), ("gaussian_blur", 0.05)]


def flat(value, h=300, w=300):
    return torch.full((h, w), float(value))


@pytest.mark.parametrize("q, level", [(95, 0), (40, 0), (25, 1), (20, 1), (12, 2), (10, 2), (6, 3), (5, 3), (2, 3)])
def test_jpeg_levels(q, level):
    assert ahn_level(q, (20.0, 10.0, 5.0)) == level


@pytest.mark.parametrize("sigma, level", [(2, 0), (15, 0), (28.5, 1), (40, 2), (57, 3), (90, 3)])
def test_noise_levels(sigma, level):
    assert ahn_level(sigma, AHN_NOISE_SIGMA) == level


def test_boxes_make_findings_even_when_the_classifier_says_clean():
    regions = [DetectedRegion("gaussian_blur", 0.93, (10, 10, 110, 90)), DetectedRegion("gaussian_blur", 0.7, (150, 150, 250, 260)),
               DetectedRegion("lowpass", 0.3, (0, 0, 50, 50))]   # below the region score: ignored
    v = make_verdict(CLEAN, regions, 300, 300)
    assert v.label == "gaussian_blur" and len(v.findings) == 1
    f = v.findings[0]
    assert f.where == "regions" and len(f.boxes) == 2 and f.score == pytest.approx(0.93)
    assert f.severity == "not measured" and f.parameter is None


def test_an_ordinary_jpeg_is_clean_with_its_quality_measured():
    probs = [("jpeg", 0.85), ("clean", 0.15)]
    v = make_verdict(probs, [], 300, 300, maps={"jpeg_quality": flat(72), "noise_sigma": flat(2.0)})
    assert v.clean and v.label == "clean"
    assert v.measurements["jpeg_quality"] == pytest.approx(72) and v.measurements["noise_sigma"] == pytest.approx(2)
    assert v.text().startswith("clean | measured: JPEG q~72, noise sigma~2.0")


def test_a_strong_jpeg_is_a_whole_image_finding_with_its_level():
    v = make_verdict([("jpeg", 0.9), ("clean", 0.1)], [], 300, 300, maps={"jpeg_quality": flat(9)})
    f = v.findings[0]
    assert (v.label, f.where, f.level, f.severity, f.parameter) == ("jpeg", "whole image", 2, "level 2", ("quality", 9.0))
    assert f.score == pytest.approx(0.9)


def test_the_pixels_lattice_is_the_jpeg_measurement_where_it_reads_one():
    """The lattice's quality replaces the CNN's mean for the photo and for a whole-image JPEG finding: an ordinary
    q75 JPEG that the CNN under-reads is history, not a finding; a q10 lattice gives level 2 whatever the CNN says."""
    maps = {"jpeg_quality": flat(15)}
    v = make_verdict([("jpeg", 0.9), ("clean", 0.1)], [], 300, 300, maps=maps, lattice_quality=75)
    assert v.clean and v.measurements["jpeg_quality"] == 75 and v.measurements["jpeg_quality_cnn"] == pytest.approx(15)
    assert v.text() == "clean | measured: JPEG q~75 (pixels' lattice)"
    v = make_verdict([("jpeg", 0.9), ("clean", 0.1)], [], 300, 300, maps={"jpeg_quality": flat(40)}, lattice_quality=10)
    assert v.findings[0].level == 2 and v.findings[0].parameter == ("quality", 10.0)
    v = make_verdict(CLEAN, [], 300, 300, maps={"jpeg_quality": flat(40)}, file_quality=40, lattice_quality=40)
    assert v.text() == "clean | measured: JPEG q~40 (pixels' lattice; file tables: 40)" and v.notes == []


def test_the_blended_noise_reading_is_the_noise_measurement():
    """distortx.estimate's noise sigma (patch statistics + CNN) replaces the CNN's mean for the photo and for a
    whole-image noise finding; a finding in regions is still measured inside its boxes by the CNN's map."""
    v = make_verdict([("gaussian_noise", 0.9), ("clean", 0.1)], [], 300, 300, maps={"noise_sigma": flat(24)},
                     noise_sigma=12.0)
    assert v.clean and v.measurements["noise_sigma"] == 12.0 and v.measurements["noise_sigma_cnn"] == pytest.approx(24)
    v = make_verdict([("gaussian_noise", 0.9), ("clean", 0.1)], [], 300, 300, maps={"noise_sigma": flat(15)},
                     noise_sigma=45.0)
    assert v.findings[0].parameter == ("sigma", 45.0) and v.findings[0].where == "whole image"
    sigma = flat(3.0)
    sigma[:100, :100] = 40.0
    regions = [DetectedRegion("gaussian_noise", 0.8, (0, 0, 100, 100))]
    v = make_verdict(CLEAN, regions, 300, 300, maps={"noise_sigma": sigma}, noise_sigma=8.0)
    assert v.findings[0].parameter == ("sigma", 40.0) and v.measurements["noise_sigma"] == 8.0


def test_the_flat_patch_reading_is_the_photos_noise_and_the_white_reading_a_findings_severity():
    """Given the flattest patches' reading (any spectrum: a camera's noise), it is the photo's noise measurement and
    the white-noise reading is kept beside it; a whole-image noise finding (Ahn's noise is white) is still measured
    by the white reading."""
    v = make_verdict(CLEAN, [], 300, 300, maps={"noise_sigma": flat(1.0)}, noise_sigma=1.5, noise_flat=4.2)
    assert v.measurements["noise_sigma"] == 4.2 and v.measurements["noise_sigma_white"] == 1.5
    assert v.measurements["noise_sigma_cnn"] == pytest.approx(1.0) and v.text() == "clean | measured: noise sigma~4.2"
    v = make_verdict([("gaussian_noise", 0.9), ("clean", 0.1)], [], 300, 300, maps={"noise_sigma": flat(30)},
                     noise_sigma=33.0, noise_flat=31.0)
    assert v.findings[0].parameter == ("sigma", 33.0) and v.measurements["noise_sigma"] == 31.0
    v = make_verdict([("gaussian_noise", 0.9), ("clean", 0.1)], [], 300, 300, maps={"noise_sigma": flat(3)},
                     noise_sigma=3.0, noise_flat=9.0)    # strong camera noise, white reading mild: history
    assert v.clean and v.measurements["noise_sigma"] == 9.0


def test_regions_covering_most_of_the_photo_are_the_whole_image_and_measured_inside():
    sigma = flat(3.0)
    sigma[:, :250] = 45.0   # the noisy part
    regions = [DetectedRegion("gaussian_noise", 0.8, (0, 0, 250, 300))]
    v = make_verdict(CLEAN, regions, 300, 300, maps={"noise_sigma": sigma})
    f = v.findings[0]
    assert f.where == "whole image" and f.boxes == []
    # measured over the whole photo (a whole-image finding): 45 * 5/6 + 3 / 6 = 38
    assert f.parameter[1] == pytest.approx(38.0) and f.level == 2
    local = make_verdict(CLEAN, [DetectedRegion("gaussian_noise", 0.8, (0, 0, 120, 120))], 300, 300, maps={"noise_sigma": sigma})
    assert local.findings[0].where == "regions" and local.findings[0].parameter[1] == pytest.approx(45.0)


def test_mild_regions_are_reported_below_level_1_and_mild_whole_images_are_history():
    """A confident box measured milder than level 1 stays a finding (below level 1), so the verdict is not clean
    beside it; the same reading over the whole photo is a measurement only."""
    v = make_verdict(CLEAN, [DetectedRegion("gaussian_noise", 0.7, (0, 0, 100, 100))], 300, 300, maps={"noise_sigma": flat(4)})
    f = v.findings[0]
    assert (f.where, f.level, f.severity, f.parameter) == ("regions", 0, "below level 1", ("sigma", pytest.approx(4)))
    assert v.measurements["noise_sigma"] == pytest.approx(4) and "below level 1" in v.text()
    whole = make_verdict([("gaussian_noise", 0.9), ("clean", 0.1)], [], 300, 300, maps={"noise_sigma": flat(4)})
    assert whole.clean and whole.measurements["noise_sigma"] == pytest.approx(4)
    jpeg = make_verdict(CLEAN, [DetectedRegion("jpeg", 0.9, (0, 0, 100, 100))], 300, 300, maps={"jpeg_quality": flat(60)})
    assert jpeg.findings[0].level == 0 and jpeg.findings[0].parameter == ("quality", pytest.approx(60))


def test_quantization_is_measured_from_the_pixels():
    """A quantization box over values on a lattice of 8 levels is level 2 with its levels; over a clean photo's
    values it stays, below level 1 (its boxes are kept); the classifier naming quantization on a clean photo is
    dropped, on a photo quantized as a whole it is the finding, at its level."""
    from distortx.data.samples import load_sample

    x = load_sample("coffee")[:, :300, :300].contiguous()
    q8 = distortx.distort(x, "quantization", value=8.0)
    part = x.clone()
    part[:, 100:200, 100:200] = q8[:, 100:200, 100:200]
    box = [DetectedRegion("quantization", 0.9, (100, 100, 200, 200))]
    f = make_verdict(CLEAN, box, 300, 300, pixels=part).findings[0]
    assert (f.where, f.level, f.severity, f.parameter) == ("regions", 2, "level 2", ("levels", 8.0))
    assert f.text().startswith("quantization L~8 (1 region, level 2")
    f = make_verdict(CLEAN, box, 300, 300, pixels=x).findings[0]
    assert (f.level, f.severity, f.parameter, len(f.boxes)) == (0, "below level 1", None, 1)
    named = [("quantization", 0.8), ("clean", 0.2)]
    assert make_verdict(named, [], 300, 300, pixels=x).clean
    f = make_verdict(named, [], 300, 300, pixels=distortx.distort(x, "quantization", value=16.0)).findings[0]
    assert (f.where, f.level, f.parameter) == ("whole image", 1, ("levels", 16.0))
    unmeasured = make_verdict(named, [], 300, 300).findings[0]       # no pixels: not measured, as before
    assert (unmeasured.where, unmeasured.severity) == ("whole image", "not measured")


def test_salt_and_pepper_is_measured_from_the_pixels():
    """A salt-and-pepper finding carries the amount replaced and its level; the classifier naming it on a clean
    photo is dropped (no impulses), and an area too dark to read keeps the finding unmeasured."""
    from distortx.data.samples import load_sample

    x = load_sample("chelsea")[:, :300, :300].contiguous()
    named = [("salt_pepper", 0.9), ("clean", 0.1)]
    f = make_verdict(named, [], 300, 300, pixels=distortx.distort(x, "salt_pepper", value=0.025, seed=2)).findings[0]
    assert (f.where, f.level, f.parameter[0]) == ("whole image", 2, "amount") and f.parameter[1] == pytest.approx(0.025, rel=0.1)
    assert f.text().startswith("salt_pepper amount~0.02")
    assert make_verdict(named, [], 300, 300, pixels=x).clean
    dark = torch.zeros(3, 300, 300, dtype=torch.uint8)
    assert make_verdict(named, [], 300, 300, pixels=dark).findings[0].severity == "not measured"


def test_strong_noise_clipped_at_0_and_255_is_not_salt_and_pepper():
    """Ahn's Gaussian noise leaves values at 0 and 255 among eligible neighbours (as many as salt and pepper's level
    1), but its 255s where the photo is bright and its 0s where it is dark: a whole-image salt-and-pepper candidate
    on it is dropped, a box stays below level 1; real impulses keep their level."""
    from distortx.data.samples import load_sample

    x = load_sample("chelsea")[:, :300, :300].contiguous()
    named = [("salt_pepper", 0.9), ("clean", 0.1)]
    for variance in (0.0125, 0.025, 0.05):                      # Ahn's three noise levels
        noisy = distortx.distort(x, "gaussian_noise", value=variance, seed=3)
        assert make_verdict(named, [], 300, 300, pixels=noisy).clean, variance
        boxed = make_verdict(CLEAN, [DetectedRegion("salt_pepper", 0.9, (50, 50, 250, 250))], 300, 300, pixels=noisy)
        assert [(f.type, f.level, f.parameter) for f in boxed.findings] == [("salt_pepper", 0, None)]
        # without the rule the same noise reads as impulses at a level >= 1 (what the rule is for)
        loose = make_verdict(named, [], 300, 300, pixels=noisy, rules=VerdictRules(impulse_bias_max=1e9))
        assert variance == 0.0125 or loose.findings[0].level >= 1
    for amount, level in ((0.0125, 1), (0.05, 3)):
        f = make_verdict(named, [], 300, 300, pixels=distortx.distort(x, "salt_pepper", value=amount, seed=4)).findings[0]
        assert f.level == level, amount


def test_rules_are_the_only_thresholds():
    regions = [DetectedRegion("fnoise", 0.45, (0, 0, 100, 100))]
    assert make_verdict(CLEAN, regions, 300, 300).clean
    assert make_verdict(CLEAN, regions, 300, 300, rules=VerdictRules(region_score=0.4)).label == "fnoise"


def test_scores_are_calibrated_by_the_models_logistic_map_and_thresholds_stay_on_the_evidence():
    """score = sigmoid(slope * logit(evidence) + offset); a box counts by its raw score (region_score)."""
    rules = VerdictRules(region_score=0.6, score_slope=2.0, score_offset=-2.0)
    regions = [DetectedRegion("gaussian_blur", 0.8, (10, 10, 110, 90)), DetectedRegion("fnoise", 0.55, (0, 0, 50, 50))]
    v = make_verdict(CLEAN, regions, 300, 300, rules=rules)
    assert [f.type for f in v.findings] == ["gaussian_blur"]
    expected = 1 / (1 + (0.2 / 0.8) ** 2 * 2.718281828459045 ** 2)    # sigmoid(2 * logit(0.8) - 2)
    assert v.findings[0].score == pytest.approx(expected, rel=1e-6) and expected < 0.8
    whole = make_verdict([("jpeg", 0.9), ("clean", 0.1)], [], 300, 300, maps={"jpeg_quality": flat(9)}, rules=rules)
    assert whole.findings[0].score == pytest.approx(rules.calibrated(0.9))
    assert VerdictRules().calibrated(0.37) == 0.37 and rules.calibrated(1.0) < 1.0 and rules.calibrated(0.0) > 0.0


def test_regional_findings_have_their_own_score_map():
    """region_slope / region_offset calibrate regional findings, score_slope / score_offset whole-image ones; a
    checkpoint record without the regional map (older) gives the whole-image map to both."""
    rules = VerdictRules(region_score=0.6, score_slope=2.0, score_offset=-2.0, region_slope=1.0, region_offset=-1.0)
    regions = [DetectedRegion("gaussian_blur", 0.8, (10, 10, 110, 90))]
    v = make_verdict(CLEAN, regions, 300, 300, rules=rules)
    assert v.findings[0].where == "regions"
    assert v.findings[0].score == pytest.approx(1 / (1 + 0.25 * 2.718281828459045), rel=1e-6)  # sigmoid(logit(0.8) - 1)
    whole = make_verdict([("jpeg", 0.9), ("clean", 0.1)], [], 300, 300, maps={"jpeg_quality": flat(9)}, rules=rules)
    assert whole.findings[0].score == pytest.approx(1 / (1 + (1 / 81) * 2.718281828459045 ** 2), rel=1e-6)

    class Model:
        calibration = {"verdict": {"region_score": 0.7, "score_slope": 2.0, "score_offset": -2.0, "val_photos": 79}}
    old = VerdictRules.for_model(Model())
    assert old.region_score == 0.7 and old.calibrated(0.8, regional=True) == old.calibrated(0.8) < 0.8
    Model.calibration["verdict"].update(region_slope=1.0, region_offset=-1.0)
    assert VerdictRules.for_model(Model()).calibrated(0.8, regional=True) == pytest.approx(rules.calibrated(0.8, True))


def test_resaved_jpeg_is_noted():
    v = make_verdict(CLEAN, [], 300, 300, maps={"jpeg_quality": flat(50)}, file_quality=90)
    assert v.measurements["jpeg_quality_file"] == 90 and "re-saved" in v.notes[0]
    assert make_verdict(CLEAN, [], 300, 300, maps={"jpeg_quality": flat(88)}, file_quality=90).notes == []


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory):
    """A small dataset of the README's quick start (Ahn's basic detection protocol) and its predictions."""
    out = tmp_path_factory.mktemp("qs") / "dataset"
    from distortx.data.generate import generate

    generate("ahn-detection-basic", out, count=12, seed=1, workers=1, progress=False)
    return distortx.predict(out / "images" / "train")


def test_no_verdict_contradicts_its_own_boxes(quickstart):
    rules = VerdictRules.for_model(distortx.load_default_model())
    assert quickstart
    for p in quickstart:
        v = p.verdict
        assert p.label == v.label and (v.label == "clean") == (not v.findings)
        assert v.label == "clean" or v.label == v.findings[0].type
        types = {f.type for f in v.findings}
        for r in p.regions:   # every confident box is in the verdict
            assert r.score < rules.region_score or r.type in types, (p.file, r)
        for f in v.findings:
            assert (f.where == "regions") == bool(f.boxes)
        assert p.classifier_label == p.probabilities[0][0]
        assert "verdict" in p.to_dict() and p.summary().startswith(f"{p.file}: ")


def test_predict_on_a_jpeg_file_reports_the_tables(tmp_path):
    from distortx.data.samples import load_sample, sample_names

    img = load_sample(sample_names()[0])
    buf = io.BytesIO()
    Image.fromarray(img.permute(1, 2, 0).numpy()).save(buf, format="JPEG", quality=85)
    (tmp_path / "photo.jpg").write_bytes(buf.getvalue())
    [p] = distortx.predict(tmp_path / "photo.jpg")
    assert p.verdict.measurements["jpeg_quality_file"] == 85
    assert p.verdict.measurements["jpeg_quality"] == 85  # the pixels' lattice
    assert p.verdict.measurements["jpeg_quality_source"] == "pixels' lattice" and "jpeg_quality_cnn" in p.verdict.measurements


def test_a_model_carries_its_own_verdict_thresholds(tmp_path):
    """Thresholds chosen on val are stored in the checkpoint (calibration.verdict) and used by predict."""
    from types import SimpleNamespace

    from distortx.models.checkpoint import export_weights, load_model

    assert VerdictRules.for_model(SimpleNamespace(calibration={"verdict": {"region_score": 0.8, "note": "x"}})).region_score == 0.8
    assert VerdictRules.for_model(None) == VerdictRules()
    m = distortx.create_model("ynet", backbone="dx_small", image_size=64)
    export_weights({"model": m.state_dict(), "model_config": m.config,
                    "calibration": {"verdict": {"region_score": 0.9}}}, tmp_path / "m.pt")
    loaded = load_model(tmp_path / "m.pt")
    assert VerdictRules.for_model(loaded).region_score == 0.9


def test_a_large_photos_maps_cover_its_centre_window_and_its_regions(monkeypatch):
    """Past ESTIMATOR_WINDOW a side the estimators read the centre window (on the 8-px grid) and the detected boxes
    only: there the values equal the whole map's (halo and block-grid origin kept), NaN elsewhere, and the verdict's
    measurements and region values are taken over what was read."""
    import distortx.verdict as verdict

    g = torch.Generator().manual_seed(0)
    image = (torch.rand(3, 150, 203, generator=g) * 255).to(torch.uint8)
    full = verdict.estimator_maps(image)
    monkeypatch.setattr(verdict, "ESTIMATOR_WINDOW", 64)
    box = (160.0, 5.5, 199.0, 40.0)                                      # x0, y0, x1, y1: outside the window
    part = verdict.estimator_maps(image, boxes=[box])
    for t in ("jpeg_quality", "noise_sigma"):
        read = ~torch.isnan(part[t])
        assert read[40:104, 64:128].all() and read[5:40, 160:199].all()   # window (43 -> 40, 69 -> 64) and box
        assert int(read.sum()) == 64 * 64 + 35 * 39   # the box rounded out: rows 5..39, columns 160..198
        assert torch.allclose(part[t][read], full[t][read], atol=1e-3)
    v = make_verdict(CLEAN, [DetectedRegion("gaussian_noise", 0.95, box)], 203, 150, part)
    assert v.measurements["noise_sigma"] == pytest.approx(float(part["noise_sigma"][40:104, 64:128].mean()), abs=1e-4)
    finding = next(f for f in v.findings if f.type == "gaussian_noise")   # random bytes: sigma ~80, a finding
    assert finding.parameter is not None and finding.parameter[1] == pytest.approx(
        float(full["noise_sigma"][5:40, 160:199].mean()), abs=1e-2)

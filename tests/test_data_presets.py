"""Built-in dataset protocols (the papers' presets), recipes, splits and TOML presets."""
from __future__ import annotations

from collections import Counter
from dataclasses import replace

import pytest
import torch

import distortx
from distortx.data.presets import AHN_TYPES, DODGE_TYPES, HSIEH_TYPES
from distortx.data.sources import EmbeddedSource, prepare_reference
from distortx.data.synthesis import Plan, assign_splits, mix_seed, render, visible_fractions
from distortx.data.user_preset import check_preset, load_preset_toml, resolve_preset
from distortx.distortions.regions import region_mask
from distortx.ops import apply_regions
from distortx.errors import DatasetError, UnknownNameError

#: mix_seed(1, 2, 3), mix_seed(3, 2, 1), mix_seed(0) as every dataset made so far has them
MIX_SEED_VALUES = [2645906574674958437, 8273808307928787383, 8771421016972170542]


def plan(name: str, n_refs: int = 10, seed: int = 0, **kw) -> Plan:
    return Plan(resolve_preset(name), seed, n_refs, **kw)


def test_every_declared_protocol_is_registered_and_valid():
    assert set(distortx.list_presets()) >= {
        "ahn-classification", "ahn-detection-basic", "ahn-detection-difficult", "hsieh-constant",
        "hsieh-variable", "endo-jpeg", "endo-noise", "dodge-karam"}
    for name in distortx.list_presets():
        check_preset(distortx.get_preset(name))  # every distortion and level set it names exists


def test_ahn_classification_is_every_type_times_every_level():
    p = plan("ahn-classification", n_refs=10)
    assert p.per_reference == 24 and p.classes == list(AHN_TYPES) and p.class_id("gaussian_noise") == 0
    recs = p.recipes(3)
    seen = Counter((r.type, r.regions[0].level) for r in recs)
    assert seen == Counter({(t, lvl): 1 for t in AHN_TYPES for lvl in range(3)})
    for r in recs:
        spec = distortx.get_distortion(r.type)
        assert r.regions[0].box is None and r.class_id == AHN_TYPES.index(r.type)
        assert r.regions[0].values[0] == pytest.approx(spec.level_set("ahn").values[r.regions[0].level])
    assert Counter(p.splits) == {"train": 6, "val": 2, "test": 2}  # 60/20/20 by reference


@pytest.mark.parametrize("name,count,ratio", [("ahn-detection-basic", (1, 4), (0.3, 0.7)),
                                              ("ahn-detection-difficult", (5, 9), (0.1, 0.3))])
def test_ahn_detection_region_sampling(name, count, ratio):
    p = plan(name, n_refs=10, seed=1)
    assert p.per_reference == 20 and p.classes == list(AHN_TYPES)
    recs = [r for ref in range(10) for r in p.recipes(ref)]
    counts = Counter(len(r.regions) for r in recs)
    assert set(counts) == set(range(count[0], count[1] + 1))  # uniform count: every value occurs
    mean = sum(k * v for k, v in counts.items()) / len(recs)
    assert abs(mean - sum(count) / 2) < 0.35
    types, sides = Counter(), []
    for r in recs:
        for g in r.regions:
            x0, y0, x1, y1 = g.box
            assert 0 <= x0 < x1 <= 300 and 0 <= y0 < y1 <= 300
            sides += [(x1 - x0) / 300, (y1 - y0) / 300]
            spec = distortx.get_distortion(g.name)
            vals = spec.level_set("ahn").values
            assert min(vals) - 1e-4 <= g.values[0] <= max(vals) + 1e-4 and g.level == -1
            types[g.name] += 1
    assert set(types) == set(AHN_TYPES)
    assert min(sides) >= ratio[0] - 0.002 and max(sides) <= ratio[1] + 0.002
    assert abs(sum(sides) / len(sides) - sum(ratio) / 2) < 0.03
    assert Counter(p.splits) == {"train": 8, "test": 2}


def test_hsieh_presets_have_reference_class_zero():
    for name, mode in (("hsieh-constant", "hsieh_constant"), ("hsieh-variable", "hsieh_variable")):
        p = plan(name, n_refs=4)
        assert p.classes == ["reference", *HSIEH_TYPES] and p.per_reference == 7
        for ref in range(4):
            recs = p.recipes(ref)
            assert [r.class_id for r in recs] == list(range(7))
            assert recs[0].type == "reference" and recs[0].regions == ()
            for r in recs[1:]:
                ls = distortx.get_distortion(r.type).level_set(mode)
                v = r.regions[0].values[0]
                if name == "hsieh-constant":
                    assert v == pytest.approx(ls.values[0])
                else:
                    assert min(ls.values) - 1e-4 <= v <= max(ls.values) + 1e-4
        assert p.preset.crop == 224 and p.preset.resize


def test_endo_parameter_targets():
    pj = plan("endo-jpeg", n_refs=400, seed=2)
    q = [pj.recipe(r, 0).regions[0].values[0] for r in range(400)]
    assert all(v == int(v) and 1 <= v <= 100 for v in q)
    assert min(q) <= 5 and max(q) >= 96 and 40 <= sum(q) / len(q) <= 61  # U{1..100}
    pn = plan("endo-noise", n_refs=400, seed=2)
    s = [pn.recipe(r, 0).regions[0].values[0] for r in range(400)]
    assert all(0 <= v <= 50 for v in s) and min(s) < 2 and max(s) > 48 and 20 <= sum(s) / len(s) <= 30


def test_dodge_karam_sweeps_every_grid_value():
    p = plan("dodge-karam", n_refs=2)
    recs = p.recipes(0)
    expected = {t: distortx.get_distortion(t).level_set("dodge").values for t in DODGE_TYPES}
    assert p.per_reference == sum(len(v) for v in expected.values())
    for t in DODGE_TYPES:
        got = [r.regions[0].values[0] for r in recs if r.type == t]
        assert got == pytest.approx(list(expected[t]))
    assert p.splits == ["test", "test"]


@pytest.mark.parametrize("name", ["ahn-classification", "ahn-detection-basic", "ahn-detection-difficult",
                                  "hsieh-constant", "hsieh-variable", "endo-jpeg", "endo-noise", "dodge-karam"])
def test_every_preset_renders(name):
    """One reference of every preset, at a 32 px crop: shapes, clean pixels outside boxes, class 0 clean."""
    preset = replace(distortx.get_preset(name), crop=32)
    p = Plan(preset, 0, 1, count=3 if preset.task == "detection" else 6)
    clean, _ = prepare_reference(EmbeddedSource(1, 32).load(0), 32, preset.resize)
    recs = p.recipes(0)
    out = (render(clean.float() / 255, recs, "auto") * 255).round().to(torch.uint8)
    assert out.shape == (len(recs), 3, 32, 32)
    for img, r in zip(out, recs):
        if r.type == "reference":
            assert torch.equal(img, clean)
        elif preset.task == "detection":
            outside = ~region_mask([g.box for g in r.regions], 32, 32)
            assert torch.equal(img[:, outside], clean[:, outside])
            want = (apply_regions(clean.float() / 255, list(r.regions)) * 255).round().to(torch.uint8)
            assert (img.int() - want.int()).abs().max() <= 1  # native fused op vs reference: rounding only


def test_recipes_depend_only_on_seed_reference_and_index():
    a = plan("ahn-detection-basic", n_refs=6, seed=5)
    b = plan("ahn-detection-basic", n_refs=6, seed=5, count=50)
    assert a.recipe(4, 7) == b.recipe(4, 7) and a.recipes(2)[: b.num_samples(2)] == b.recipes(2)
    assert a.recipe(4, 7) != plan("ahn-detection-basic", n_refs=6, seed=6).recipe(4, 7)
    # count < references x 20: the 50 images are spread over all 6 references (8 or 9 each)
    assert sorted(b.samples) == [8, 8, 8, 8, 9, 9] and b.total == 50 and b.units() == [0, 1, 2, 3, 4, 5]
    assert b.units((1, 2)) == [1, 3, 5]
    # splitmix64 chain: fixed values (a change of the mixing changes every dataset), order-sensitive, no collisions
    assert [mix_seed(1, 2, 3), mix_seed(3, 2, 1), mix_seed(0)] == MIX_SEED_VALUES
    assert len({mix_seed(1, r, j) for r in range(30) for j in range(30)}) == 900
    assert all(0 <= mix_seed(s, 0) < 2**63 for s in (-1, 0, 2**70))


def test_assign_splits():
    s = assign_splits(10, (("train", 0.6), ("val", 0.2), ("test", 0.2)), seed=0)
    assert Counter(s) == {"train": 6, "val": 2, "test": 2}
    assert s == assign_splits(10, (("train", 0.6), ("val", 0.2), ("test", 0.2)), seed=0)
    assert s != assign_splits(10, (("train", 0.6), ("val", 0.2), ("test", 0.2)), seed=1)
    assert Counter(assign_splits(3, (("train", 0.8), ("val", 0.1), ("test", 0.1)), 0)) == {"train": 1, "val": 1, "test": 1}
    assert Counter(assign_splits(7, (("train", 0.8), ("test", 0.2)), 3)) == {"train": 6, "test": 1}
    assert assign_splits(1, (("train", 0.8), ("test", 0.2)), 0) == ["train"]


def test_visible_fractions():
    boxes = [(0, 0, 10, 10), (5, 0, 10, 10), (0, 0, 10, 10)]
    assert visible_fractions(boxes, 20, 20) == [0.0, 0.0, 1.0]
    assert visible_fractions([(0, 0, 10, 10), (5, 0, 15, 10)], 20, 20) == [0.5, 1.0]


def test_stacked_regions_distort_what_the_earlier_ones_left(tmp_path):
    """overlap = "stack": each region is applied to the image the earlier ones left (an overlap carries both),
    every region is labelled; "occlude" (Ahn's default here) computes each from the clean crop, later ones win."""
    from distortx.data.synthesis import SampleRecipe
    from distortx.data.targets import targets_from_recipe
    from distortx.distortions.regions import Region

    clean, _ = prepare_reference(EmbeddedSource(1, 48).load(0), 48, True)
    x = clean.float() / 255
    noise = Region("gaussian_noise", (0.02,), (4, 4, 30, 30), seed=3)
    blur = Region("gaussian_blur", (2.0,), (20, 10, 44, 40), seed=4)
    hidden = Region("jpeg", (10.0,), (22, 12, 40, 38), seed=5)        # inside blur's box: occluded if blur is later
    rec = SampleRecipe(0, 0, "test", "regions", -1, (noise, hidden, blur))
    stacked = render(x, [rec], "python", overlap="stack")[0]
    want = apply_regions(apply_regions(apply_regions(x, [noise], impl="python"), [hidden], impl="python"), [blur],
                         impl="python")
    assert torch.allclose(stacked, want, atol=1e-6)
    occluded = render(x, [rec], "python")[0]
    assert torch.allclose(occluded, apply_regions(x, [noise, hidden, blur], impl="python"), atol=1e-6)
    # the two differ where noise lies under the blur (blurred noise) and agree outside every box
    overlap = (slice(None), slice(10, 30), slice(20, 30))
    assert (stacked[overlap] - occluded[overlap]).abs().max() > 0.01
    outside = ~region_mask([noise.box, blur.box], 48, 48)
    assert torch.equal(stacked[:, outside], occluded[:, outside])
    # labels: the JPEG region wholly under the later blur is dropped when occluded, kept when stacked
    base = replace(distortx.get_preset("ahn-detection-basic"), crop=48)
    occ = targets_from_recipe(Plan(base, 0, 1), rec)["regions"]
    stk = targets_from_recipe(Plan(replace(base, overlap="stack"), 0, 1), rec)["regions"]
    assert [r["visible"] for r in occ][1] == 0.0 and [r["visible"] for r in stk] == [1.0, 1.0, 1.0]
    # the field is checked and read from TOML
    with pytest.raises(DatasetError, match="overlap must be one of occlude, stack, got 'sideways'"):
        replace(base, overlap="sideways").validate()
    path = tmp_path / "stacked.toml"
    path.write_text('extends = "ahn-detection-basic"\noverlap = "stack"\n')
    assert load_preset_toml(path).overlap == "stack"
    # manifests record it only when it is not the default, so datasets made before it existed still resume
    from distortx.data.generate import _preset_record

    assert "overlap" not in _preset_record(base) and _preset_record(replace(base, overlap="stack"))["overlap"] == "stack"


def test_toml_preset(tmp_path):
    p = tmp_path / "mine.toml"
    p.write_text('extends = "ahn-detection-basic"\ncrop = 64\nper_image = 2\ndistortions = ["jpeg", "gaussian_blur"]\n'
                 '[splits]\ntrain = 0.5\ntest = 0.5\n')
    spec = load_preset_toml(p)
    assert spec.name == "mine" and spec.crop == 64 and spec.regions == (1, 4) and spec.task == "detection"
    assert spec.level_sets == (("gaussian_blur", "ahn"), ("jpeg", "ahn")) and spec.splits == (("train", 0.5), ("test", 0.5))
    assert resolve_preset(str(p)).crop == 64 and spec.plugin == "toml:mine.toml"
    full = tmp_path / "full.toml"
    full.write_text('name = "full"\ntask = "classification"\ndistortions = ["jpeg"]\nlevel_mode = "grid"\ncrop = 32\n'
                    '[level_sets]\njpeg = "dodge"\n')
    assert Plan(load_preset_toml(full), 0, 1).per_reference == 10


@pytest.mark.parametrize("body,match", [
    ('task = "classification"\ndistortions = ["jpeg"]\ncolour = 1\n', "unknown preset field.*colour"),
    ('task = "classification"\ndistortions = ["jpg"]\n', "unknown distortion 'jpg'; did you mean jpeg"),
    ('task = "classification"\ndistortions = ["jpeg"]\n[level_sets]\njpeg = "ahm"\n', "did you mean ahn"),
    ('task = "detection"\ndistortions = ["jpeg"]\n', "needs regions"),
    ('task = "classification"\ndistortions = ["jpeg"]\n[splits]\ntrain = 0.5\n', "sum to 1"),
    ('task = "classification"\ndistortions = ["jpeg"]\ncrop = "big"\n', "crop must be an integer"),
    ('distortions = ["jpeg"]\n', "missing required field.*task"),
    ('task = "classification"\ndistortions = "jpeg"\n', "must be a list"),
    ('task = "segmentation"\ndistortions = ["jpeg"]\n', "task must be one of"),
    ('task = "detection"\ndistortions = ["jpeg"]\nregions = [3, 1]\n', "1 <= min <= max"),
])
def test_invalid_toml_presets(tmp_path, body, match):
    p = tmp_path / "bad.toml"
    p.write_text(body)
    with pytest.raises(DatasetError, match=match):
        load_preset_toml(p)


def test_unknown_preset_lists_close_matches():
    with pytest.raises(UnknownNameError) as exc:
        resolve_preset("hsieh-constnt")
    assert "hsieh-constant" in exc.value.close_matches
    with pytest.raises(DatasetError, match="no such preset file"):
        resolve_preset("/nonexistent/x.toml")

"""What a new user runs into with `distortx generate`: which references --count uses, broken files, more shards
than references, file permissions, the manifest's sources, failed runs, and the checks on a run's settings."""
from __future__ import annotations

import json
import os
import stat
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from distortx.cli import main
from distortx.data.generate import generate
from distortx.data.merge import merge
from distortx.data.preset import PresetSpec
from distortx.errors import DatasetError, ParameterError

DET = PresetSpec(name="tiny-det", task="detection", distortions=("gaussian_blur", "jpeg"), level_mode="variable",
                 crop=16, resize=False, regions=(1, 2), per_image=4, splits=(("train", 0.75), ("test", 0.25)))
CLS = PresetSpec(name="tiny-cls", task="classification", distortions=("gaussian_blur", "quantization", "contrast"),
                 level_sets=(("gaussian_blur", "ahn"), ("quantization", "ahn"), ("contrast", "dodge")),
                 level_mode="random", include_reference=True, crop=16,
                 splits=(("train", 0.5), ("val", 0.25), ("test", 0.25)))


def photo_folder(root: Path, n: int, broken=()) -> Path:
    """``n`` small random PNGs named p000.png.. (``broken``: names written as empty files)."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for k in range(n):
        Image.fromarray(rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)).save(root / f"p{k:03d}.png")
    for name in broken:
        (root / name).write_bytes(b"")
    return root


def parts(out: Path) -> list:
    return [json.loads(p.read_text()) for p in sorted((out / "parts").glob("*.json"))]


def tree(root: Path) -> dict:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# -- 1. --count draws from the whole folder -----------------------------------------------------------------
def test_count_spreads_images_over_many_references(tmp_path):
    imgs = photo_folder(tmp_path / "imgs", 30)
    rep = generate(DET, tmp_path / "d", images=imgs, count=20, seed=0, progress=False)
    used = [p["reference"] for p in parts(tmp_path / "d")]
    assert rep.images == 20 and rep.references == 20 and len(used) == 20  # one image from each of 20 references
    assert used != [f"p{k:03d}.png" for k in range(20)]  # a seeded choice, not the alphabetically first
    assert rep.references_per_split == {"train": 15, "test": 5}
    assert "20 references (train 15, test 5)" in rep.summary()
    rep = generate(DET, tmp_path / "e", images=imgs, count=40, seed=0, progress=False)
    counts = Counter(len(p["samples"]) for p in parts(tmp_path / "e"))
    assert rep.images == 40 and counts == {1: 20, 2: 10}  # every reference used, the extra images spread
    rep = generate(DET, tmp_path / "f", images=imgs, count=500, seed=0, progress=False)
    assert rep.images == 120 and "the sources give only 120" in rep.summary()  # 30 references x per_image 4


def test_classification_count_keeps_classes_balanced_and_every_split(tmp_path):
    imgs = photo_folder(tmp_path / "imgs", 30)
    rep = generate(CLS, tmp_path / "c", images=imgs, count=12, seed=1, progress=False)
    m = json.loads((tmp_path / "c" / "manifest.json").read_text())
    assert rep.images == 12 and rep.references == 12 and rep.references_per_split == {"train": 6, "val": 3, "test": 3}
    assert m["counts"]["per_class"] == {"reference": 3, "gaussian_blur": 3, "quantization": 3, "contrast": 3}
    assert all(v > 0 for v in m["counts"]["per_split"].values()) and not rep.warnings


def test_an_empty_split_is_reported(tmp_path):
    rep = generate(CLS, tmp_path / "c", images=photo_folder(tmp_path / "imgs", 2), seed=0, progress=False)
    assert rep.references_per_split["train"] >= 1 and sum(rep.references_per_split.values()) == 2
    assert len(rep.warnings) == 1 and "got no reference" in rep.warnings[0]
    assert "warning: split(s)" in rep.summary()


# -- 2. a broken file costs no images -----------------------------------------------------------------------
def test_a_broken_first_file_is_skipped_without_shortening_the_dataset(tmp_path):
    imgs = photo_folder(tmp_path / "imgs", 2, broken=["a.png"])  # a.png sorts first
    good = (imgs / "p000.png").read_bytes()
    (imgs / "b_truncated.png").write_bytes(good[: len(good) // 2])
    det20 = PresetSpec(**{**DET.__dict__, "per_image": 20})
    for count in (20, 40):
        rep = generate(det20, tmp_path / f"d{count}", images=imgs, count=count, seed=0, progress=False)
        assert rep.images == count and rep.references == 2
        assert sorted(s["reference"] for s in rep.skipped) == ["a.png", "b_truncated.png"]
        m = json.loads((tmp_path / f"d{count}" / "manifest.json").read_text())
        assert m["counts"]["skipped"] == 2 and [u["reference"] for u in m["sources"]["unreadable"]] == ["a.png", "b_truncated.png"]


def test_no_readable_file_fails_before_creating_the_folder(tmp_path):
    imgs = photo_folder(tmp_path / "imgs", 0, broken=["a.png", "b.jpg"])
    with pytest.raises(DatasetError, match=r"no readable images: all 2 reference\(s\) are unreadable: a.png"):
        generate(DET, tmp_path / "d", images=imgs, progress=False)
    assert not (tmp_path / "d").exists()


# -- 3. more shards than references -------------------------------------------------------------------------
def test_empty_shards_are_valid_and_merge(tmp_path):
    single = tmp_path / "single"
    generate(DET, single, count=8, seed=3, progress=False)  # embedded source: 2 references
    shards = [tmp_path / f"s{i}" for i in range(4)]
    for i, d in enumerate(shards):
        rep = generate(DET, d, count=8, seed=3, shard=f"{i}/4", progress=False)
        assert rep.images == (4 if i < 2 else 0)
    assert rep.warnings and "holds no reference" in rep.warnings[0]
    merge(tmp_path / "merged", shards)
    assert tree(tmp_path / "merged") == tree(single)


def test_torchrun_with_more_ranks_than_references(tmp_path, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "5")
    monkeypatch.setenv("RANK", "4")
    rep = generate(DET, str(tmp_path / "r{rank}"), count=4, seed=0, progress=False)
    assert rep.shard == (4, 5) and rep.images == 0 and rep.complete


# -- 5. file modes follow the umask ---------------------------------------------------------------------------
@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_written_files_follow_the_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        generate(DET, tmp_path / "d", count=2, seed=0, progress=False)
    finally:
        os.umask(old)
    files = [p for p in (tmp_path / "d").rglob("*") if p.is_file()]
    assert files and {stat.S_IMODE(p.stat().st_mode) for p in files} == {mode}


# -- 7. the manifest records the images folder; failed runs leave nothing in the way -----------------------
def test_manifest_records_the_images_folder_and_explains_a_different_one(tmp_path, monkeypatch):
    a = photo_folder(tmp_path / "a", 3)
    b = photo_folder(tmp_path / "b", 4)
    monkeypatch.chdir(tmp_path)
    generate(DET, "d", images="a", count=4, seed=0, progress=False)
    m = json.loads((tmp_path / "d" / "manifest.json").read_text())
    assert m["images"] == {"given": "a", "resolved": str(a.resolve())}
    with pytest.raises(DatasetError, match=rf"sources, references differ: it was made from --images a \({a.resolve()}\), "
                                           rf"this run reads --images {b}"):
        generate(DET, "d", images=b, count=4, seed=0, progress=False)


def test_a_run_that_wrote_no_image_does_not_block_the_corrected_rerun(tmp_path, monkeypatch):
    from distortx.data import generate as gen

    def boom(job, ref, pool=None):
        raise KeyboardInterrupt

    monkeypatch.setattr(gen, "run_unit", boom)
    with pytest.raises(KeyboardInterrupt):
        generate(DET, tmp_path / "d", count=4, seed=0, progress=False)
    assert not (tmp_path / "d").exists()
    (tmp_path / "e").mkdir()  # an empty folder the user made is kept, emptied
    with pytest.raises(KeyboardInterrupt):
        generate(DET, tmp_path / "e", count=4, seed=0, progress=False)
    assert (tmp_path / "e").is_dir() and not any((tmp_path / "e").iterdir())
    monkeypatch.undo()
    # a folder a killed run left with a manifest but no image is reused by a different configuration
    (tmp_path / "k").mkdir()
    (tmp_path / "k" / "manifest.json").write_text(json.dumps({"status": "running", "seed": 99}))
    assert generate(DET, tmp_path / "k", count=4, seed=0, progress=False).images == 4


# -- 6. settings are checked up front -------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, message", [
    ({"workers": 0}, "--workers must be an integer >= 1"),
    ({"workers": -2}, "--workers must be an integer >= 1"),
    ({"device": "tpu"}, "device must be cpu or cuda"),
    ({"seed": 2**70}, r"seed must be an integer in \[0, 2\^63 - 1\]"),
    ({"count": 0}, "--count must be an integer >= 1"),
])
def test_bad_settings_are_refused(tmp_path, kwargs, message):
    with pytest.raises((DatasetError, ParameterError), match=message):
        generate(DET, tmp_path / "d", progress=False, **kwargs)
    assert not (tmp_path / "d").exists()


def test_huge_crops_are_refused_before_anything_is_allocated(tmp_path):
    big = tmp_path / "big.toml"
    big.write_text('extends = "ahn-detection-basic"\ncrop = 100000\n')
    with pytest.raises(DatasetError, match="crop must be an integer from 8 to 8192"):
        generate(big, tmp_path / "d", progress=False)
    heavy = tmp_path / "heavy.toml"
    heavy.write_text('extends = "ahn-detection-basic"\ncrop = 8192\nper_image = 500\n')
    with pytest.raises(DatasetError, match=r"needs about \d+\.\d GiB per worker .* lower crop or per_image"):
        generate(heavy, tmp_path / "d", progress=False)
    assert not (tmp_path / "d").exists()


def test_toml_regions_must_be_integers(tmp_path):
    p = tmp_path / "r.toml"
    p.write_text('extends = "ahn-detection-basic"\nregions = [1.5, 3.7]\n')
    with pytest.raises(DatasetError, match=r"regions must be a list of two integers \[min, max\], got \[1.5, 3.7\]"):
        generate(p, tmp_path / "d", progress=False)


def test_cli_settings_errors_are_one_line(tmp_path):
    r = CliRunner()
    for args, message in ((["--workers", "0"], "--workers must be"), (["--device", "tpu"], "device must be cpu or cuda"),
                          (["--seed", str(2**70)], "seed must be an integer")):
        res = r.invoke(main, ["generate", "--preset", "ahn-detection-basic", "--out", str(tmp_path / "o"), "--count", "2",
                              "--quiet", *args])
        assert res.exit_code == 2 and res.output.startswith("distortx: error: ") and message in res.output
        assert res.output.count("\n") == 1, res.output

"""Dataset generation end to end: files, labels, invariants, determinism, resume, shards + merge, errors."""
from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

import distortx
from distortx.cli import main
from distortx.data import writers
from distortx.data.datasets import DistortionDataset
from distortx.data.generate import generate, parse_shard
from distortx.data.synthesis import impl_label
from distortx.data.merge import merge
from distortx.data.preset import PresetSpec
from distortx.data.sources import EmbeddedSource, prepare_reference
from distortx.distortions.regions import Region, region_mask
from distortx.ops import apply_regions
from distortx.errors import DatasetError, UnknownNameError
from distortx.io import read_image

SMALL_TOML = """
name = "small-det"
task = "detection"
distortions = ["gaussian_blur", "gaussian_noise", "salt_pepper", "quantization", "lowpass", "fnoise"]
level_mode = "variable"
crop = 48
resize = false
regions = [1, 4]
region_ratio = [0.3, 0.7]
per_image = 3
[level_sets]
gaussian_blur = "ahn"
[splits]
train = 0.75
test = 0.25
"""

SMALL_CLS = PresetSpec(
    name="small-cls", task="classification", distortions=("gaussian_blur", "quantization", "contrast"),
    level_sets=(("gaussian_blur", "ahn"), ("quantization", "ahn"), ("contrast", "dodge")), level_mode="random",
    include_reference=True, crop=40, splits=(("train", 0.5), ("val", 0.25), ("test", 0.25)),
)


@pytest.fixture
def small_toml(tmp_path) -> Path:
    p = tmp_path / "small.toml"
    p.write_text(SMALL_TOML)
    return p


def tree(root: Path) -> dict:
    """Relative path -> bytes of every file under ``root``."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_detection_dataset_files_and_invariants(tmp_path, small_toml):
    out = tmp_path / "d"
    rep = generate(small_toml, out, count=14, seed=3, workers=1, progress=False, impl="python")
    assert rep.images == 14 and rep.written == 14 and rep.references == 5  # ceil(14 / 3) references
    m = json.loads((out / "manifest.json").read_text())
    assert m["status"] == "complete" and m["seed"] == 3 and m["count"] == 14
    assert m["preset"]["name"] == "small-det" and m["preset"]["crop"] == 48
    assert m["sources"]["kind"] == "embedded" and len(m["sources"]["hash"]) == 64
    assert m["counts"]["images"] == 14 and sum(m["counts"]["per_split"].values()) == 14
    assert [c["id"] for c in m["categories"]] == [1, 2, 3, 4, 5, 6]

    from pycocotools.coco import COCO

    src = EmbeddedSource(5, size=48)
    n_imgs = n_anns = 0
    for split in ("train", "test"):
        coco = COCO(str(out / "annotations" / f"{split}.json"))
        assert sorted(c["name"] for c in coco.loadCats(coco.getCatIds())) == sorted(m["preset"]["distortions"])
        for img in coco.loadImgs(coco.getImgIds()):
            n_imgs += 1
            assert img["split"] == split and img["file_name"].startswith(f"images/{split}/")
            pixels = read_image(out / img["file_name"])
            assert pixels.shape == (3, 48, 48)
            anns = coco.loadAnns(coco.getAnnIds(imgIds=img["id"]))
            assert 1 <= len(anns) <= 4
            boxes = []
            for a in anns:
                x, y, w, h = a["bbox"]
                assert 0 <= x and 0 <= y and w >= 1 and h >= 1 and x + w <= 48 and y + h <= 48  # inside the image
                assert 0.3 * 48 - 1 <= w <= 0.7 * 48 + 1 and 0.3 * 48 - 1 <= h <= 0.7 * 48 + 1
                assert a["area"] == w * h and a["param_names"] and len(a["values"]) == len(a["param_names"])
                spec = distortx.get_distortion(a["distortion"])
                lo, hi = min(spec.level_set("ahn").values), max(spec.level_set("ahn").values)
                assert lo - 1e-6 <= a["values"][0] <= hi + 1e-6 and a["level"] == -1  # variable: U[min, max]
                boxes.append((x, y, x + w, y + h))
            n_anns += len(anns)
            # pixels outside every box equal the regenerated clean crop
            clean, _ = prepare_reference(src.load(img["reference_id"]), 48, resize=False)
            outside = ~region_mask(boxes, 48, 48)
            assert torch.equal(pixels[:, outside], clean[:, outside])
    assert n_imgs == 14 and n_anns == m["counts"]["regions"]


@pytest.mark.parametrize("impl", ["python", "auto"])
def test_regions_match_apply_regions(tmp_path, small_toml, impl):
    """Every image equals apply_regions(clean crop, the part's regions, impl="python"), rounded to 8 bits (exactly
    for the python path; the native kernel may differ by float rounding: at most one 8-bit level)."""
    out = tmp_path / "d"
    generate(small_toml, out, count=9, seed=5, workers=1, progress=False, impl=impl)
    assert json.loads((out / "manifest.json").read_text())["impl"] == ("python" if impl == "python" else impl_label("auto", "cpu"))
    worst = 0
    src = EmbeddedSource(3, size=48)
    for part_path in sorted((out / "parts").glob("*.json")):
        part = json.loads(part_path.read_text())
        clean, _ = prepare_reference(src.load(part["reference_id"]), 48, resize=False)
        for rec in part["samples"]:
            regions = [Region(r["type"], tuple(r["values"]), tuple(r["box"]), r["seed"], r["level"]) for r in rec["regions"]]
            want = (apply_regions(clean.float() / 255, regions, impl="python") * 255).round().to(torch.uint8)
            worst = max(worst, int((read_image(out / rec["file"]).int() - want.int()).abs().max()))
    assert worst == 0 if impl == "python" else worst <= 1


def test_same_seed_same_bytes_whatever_workers(tmp_path, small_toml):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    generate(small_toml, a, count=12, seed=7, workers=1, progress=False)
    generate(small_toml, b, count=12, seed=7, workers=2, progress=False)
    generate(small_toml, c, count=12, seed=8, workers=1, progress=False)
    ta, tb, tc = tree(a), tree(b), tree(c)
    assert ta == tb
    assert ta.keys() - {"manifest.json"} and ta != tc
    assert any(ta[k] != tc.get(k) for k in ta if k.startswith("images/"))


def test_classification_jsonl_and_reference_class(tmp_path):
    out = tmp_path / "c"
    generate(SMALL_CLS, out, count=16, seed=0, workers=1, progress=False)
    m = json.loads((out / "manifest.json").read_text())
    assert [c["name"] for c in m["categories"]] == ["reference", "gaussian_blur", "quantization", "contrast"]
    assert [c["id"] for c in m["categories"]] == [0, 1, 2, 3]
    rows = [json.loads(line) for s in ("train", "val", "test") for line in (out / "labels" / f"{s}.jsonl").read_text().splitlines()]
    assert len(rows) == 16 and m["counts"]["per_class"] == {"reference": 4, "gaussian_blur": 4, "quantization": 4, "contrast": 4}
    src = EmbeddedSource(4, size=40)
    for r in rows:
        assert set(r) == {"file", "type", "class_id", "level", "values", "param_names", "reference", "reference_id", "split", "seed"}
        assert r["file"].startswith(f"images/{r['split']}/")
        img = read_image(out / r["file"])
        clean, _ = prepare_reference(src.load(r["reference_id"]), 40, resize=True)
        if r["type"] == "reference":
            assert r["class_id"] == 0 and r["values"] == [] and r["level"] == -1
            assert torch.equal(img, clean)
        else:
            spec = distortx.get_distortion(r["type"])
            ls = spec.level_set(dict(SMALL_CLS.level_sets)[r["type"]])
            assert r["values"][0] == pytest.approx(ls.values[r["level"]])  # "random": one of the set's levels
            assert r["param_names"] == [p.name for p in spec.parameters]
    # splits by reference: a reference never appears in two splits
    split_of = {}
    for r in rows:
        assert split_of.setdefault(r["reference_id"], r["split"]) == r["split"]


def test_resume_after_disk_full_is_byte_identical(tmp_path, small_toml, monkeypatch):
    ref, out = tmp_path / "ref", tmp_path / "out"
    generate(small_toml, ref, count=15, seed=2, workers=1, progress=False)
    real = writers.write_bytes
    calls = {"n": 0}

    def flaky(path, data):
        calls["n"] += 1
        if calls["n"] > 9:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(path, data)

    monkeypatch.setattr(writers, "write_bytes", flaky)
    with pytest.raises(DatasetError, match="disk full.*rerun the same command to resume"):
        generate(small_toml, out, count=15, seed=2, workers=1, progress=False)
    partial = tree(out)
    assert json.loads(partial["manifest.json"])["status"] == "running"
    assert any(k.startswith("parts/") for k in partial) and not any(k.startswith("annotations/") for k in partial)
    monkeypatch.setattr(writers, "write_bytes", real)
    rep = generate(small_toml, out, count=15, seed=2, workers=1, progress=False)
    assert 0 < rep.written < 15  # only the unfinished references were rendered again
    assert tree(out) == tree(ref)
    # a finished dataset is left as it is
    assert generate(small_toml, out, count=15, seed=2, workers=2, progress=False).written == 0
    assert tree(out) == tree(ref)


def test_resume_after_real_kill(tmp_path, small_toml):
    """A subprocess killed with SIGKILL mid-run; the rerun finishes with the uninterrupted bytes."""
    ref, out = tmp_path / "ref", tmp_path / "out"
    generate(small_toml, ref, count=60, seed=4, workers=1, progress=False)
    code = (
        "import sys, time\n"
        "from distortx.data import writers\n"
        "from distortx.data.generate import generate\n"
        "real = writers.write_bytes\n"
        "def slow(p, d):\n"
        "    real(p, d); time.sleep(0.02)\n"
        "writers.write_bytes = slow\n"
        f"generate({str(small_toml)!r}, {str(out)!r}, count=60, seed=4, workers=1, progress=False)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code])
    try:
        deadline = time.time() + 60
        while proc.poll() is None and time.time() < deadline:
            parts = out / "parts"
            if parts.exists() and len(list(parts.glob("*.json"))) >= 3:
                break
            time.sleep(0.05)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    assert json.loads((out / "manifest.json").read_text())["status"] == "running"
    rep = generate(small_toml, out, count=60, seed=4, workers=2, progress=False)
    assert rep.written < 60
    assert tree(out) == tree(ref)


def test_shards_merge_to_the_single_run(tmp_path, small_toml):
    single = tmp_path / "single"
    generate(small_toml, single, count=20, seed=9, workers=1, progress=False)
    shards = [tmp_path / f"s{i}" for i in range(3)]
    for i, d in enumerate(shards):
        rep = generate(small_toml, d, count=20, seed=9, workers=1, shard=f"{i}/3", progress=False)
        assert rep.shard == (i, 3) and rep.label_files == {}
    with pytest.raises(DatasetError, match="missing shard.*2/3"):
        merge(tmp_path / "bad", shards[:2])
    merged = tmp_path / "merged"
    merge(merged, [shards[2], shards[0], shards[1]])
    assert tree(merged) == tree(single)
    with pytest.raises(DatasetError, match="is shard"):
        DistortionDataset(shards[0])


def test_shard_from_torchrun_environment(monkeypatch, tmp_path, small_toml):
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "2")
    assert parse_shard(None) == (2, 4)
    rep = generate(small_toml, str(tmp_path / "shard-{rank}"), count=12, seed=0, progress=False)
    assert rep.shard == (2, 4) and rep.out == str(tmp_path / "shard-2") and rep.images == 3
    assert json.loads((tmp_path / "shard-2" / "manifest.json").read_text())["shard"] == [2, 4]
    assert parse_shard("1/3") == (1, 3) and parse_shard("0/1") is None
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert parse_shard(None) is None
    for bad in ("3/3", "x", "1/0"):
        with pytest.raises(DatasetError):
            parse_shard(bad)


def test_folder_source_skips_broken_and_upscales_small(tmp_path):
    from PIL import Image

    imgs = tmp_path / "imgs"
    (imgs / "sub").mkdir(parents=True)
    g = torch.Generator().manual_seed(0)
    for name, size in (("a.png", (70, 50)), ("sub/b.jpg", (60, 80)), ("small.png", (20, 30))):
        arr = torch.randint(0, 256, (size[1], size[0], 3), generator=g, dtype=torch.uint8).numpy()
        Image.fromarray(arr).save(imgs / name)
    (imgs / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    good = (imgs / "a.png").read_bytes()
    (imgs / "truncated.png").write_bytes(good[: len(good) // 2])
    preset = PresetSpec(name="t", task="detection", distortions=("gaussian_blur",), level_mode="variable", crop=48,
                        resize=False, regions=(1, 2), per_image=2, splits=(("train", 1.0),))
    out = tmp_path / "d"
    rep = generate(preset, out, images=imgs, seed=0, workers=1, progress=False)
    assert rep.images == 6 and rep.references == 3
    assert sorted(s["reference"] for s in rep.skipped) == ["broken.png", "truncated.png"]
    assert all(str(tmp_path) not in s["reason"] for s in rep.skipped)  # no machine-specific paths
    assert rep.upscaled == ["small.png"]
    m = json.loads((out / "manifest.json").read_text())
    assert m["counts"]["skipped"] == 2 and m["counts"]["upscaled"] == 1 and m["sources"]["count"] == 5
    assert not any(" at 0x" in s["reason"] for s in rep.skipped)   # no memory addresses in the reasons
    # the same command again resumes (the sources hash includes the reasons: they must not change run to run)
    again = generate(preset, out, images=imgs, seed=0, workers=1, progress=False)
    assert again.images == 6 and again.written == 0


def test_bad_inputs_give_one_clear_error(tmp_path, small_toml):
    with pytest.raises(UnknownNameError, match="did you mean ahn-detection-basic"):
        generate("ahn-detection-basc", tmp_path / "x", progress=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no images found"):
        generate(small_toml, tmp_path / "x", images=tmp_path / "empty", progress=False)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "a.jpg").write_bytes(b"garbage")
    with pytest.raises(DatasetError, match="no readable images: all 1 reference"):
        generate(small_toml, tmp_path / "y", images=broken, progress=False)
    bad = tmp_path / "bad.toml"
    bad.write_text("name = 'x'\ntask = [\n")
    with pytest.raises(DatasetError, match="invalid TOML"):
        generate(bad, tmp_path / "z", progress=False)
    # a folder holding another dataset is refused, not overwritten
    generate(small_toml, tmp_path / "d", count=3, seed=0, progress=False)
    with pytest.raises(DatasetError, match="different dataset.*seed"):
        generate(small_toml, tmp_path / "d", count=3, seed=1, progress=False)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(DatasetError, match="not empty"):
        generate(small_toml, tmp_path / "mine", count=3, progress=False)
    if not torch.cuda.is_available():
        with pytest.raises(DatasetError, match="CUDA is not available"):
            generate(small_toml, tmp_path / "g", count=3, device="cuda", progress=False)
    (tmp_path / "file").write_text("x")
    with pytest.raises(DatasetError, match="cannot create the output folder"):
        generate(small_toml, tmp_path / "file" / "d", count=3, progress=False)
    if os.geteuid() != 0:  # root ignores permissions
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        with pytest.raises(DatasetError, match="not writable"):
            generate(small_toml, ro / "d", count=3, progress=False)


def test_cli_generate_show_merge(tmp_path, small_toml):
    r = CliRunner()
    res = r.invoke(main, ["generate", "--preset", str(small_toml), "--out", str(tmp_path / "d"), "--count", "6",
                          "--seed", "1", "--workers", "1", "--json", "--quiet"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output)
    assert summary["images"] == 6 and summary["complete"] and summary["images_per_s"] > 0
    res = r.invoke(main, ["show", str(tmp_path / "d"), "--out", str(tmp_path / "sheet.png"), "--count", "4"])
    assert res.exit_code == 0 and (tmp_path / "sheet.png").stat().st_size > 1000
    sheet = read_image(tmp_path / "sheet.png")
    assert sheet.shape[1] > 200 and sheet.shape[2] > 400
    res = r.invoke(main, ["generate", "--preset", "nope", "--out", str(tmp_path / "e")])
    assert res.exit_code == 2 and res.output.count("\n") == 1 and "unknown preset 'nope'" in res.output
    res = r.invoke(main, ["merge", str(tmp_path / "m"), str(tmp_path / "d")])
    assert res.exit_code == 2 and "not a shard" in res.output
    res = r.invoke(main, ["presets", "--json"])
    assert res.exit_code == 0 and "ahn-detection-basic" in [p["name"] for p in json.loads(res.output)]

"""torch Datasets over generated folders, and the streaming generator (determinism, splits, DDP, workers)."""
from __future__ import annotations

import json
import math

import pytest
import torch
from torch.utils.data import DataLoader

from distortx.data import stream as stream_mod
from distortx.data.datasets import DistortionDataset, collate_detection
from distortx.data.generate import generate
from distortx.data.preset import PresetSpec
from distortx.data.stream import SynthesisStream
from distortx.errors import DatasetError

DET = PresetSpec(name="t-det", task="detection", distortions=("gaussian_blur", "twirl", "salt_pepper", "contrast"),
                 level_sets=(("gaussian_blur", "ahn"), ("salt_pepper", "ahn"), ("contrast", "dodge"), ("twirl", "hsieh_variable")),
                 level_mode="variable", crop=40, resize=False, regions=(1, 3), per_image=3,
                 splits=(("train", 0.5), ("test", 0.5)))
CLS = PresetSpec(name="t-cls", task="classification", distortions=("gaussian_blur", "motion_blur"),
                 level_sets=(("gaussian_blur", "ahn"), ("motion_blur", "hsieh_variable")), level_mode="variable",
                 include_reference=True, crop=32, splits=(("train", 0.5), ("test", 0.5)))


@pytest.fixture(scope="module")
def det_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("det")
    generate(DET, out, count=12, seed=11, workers=1, progress=False)
    return out


@pytest.fixture(scope="module")
def cls_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("cls")
    generate(CLS, out, count=12, seed=11, workers=1, progress=False)
    return out


def test_detection_dataset_targets(det_dir):
    ds = DistortionDataset(det_dir)
    assert len(ds) == 12 and ds.classes == list(DET.distortions) and ds.class_ids == [1, 2, 3, 4]
    parts = {p["reference_id"]: p for p in (json.loads(f.read_text()) for f in (det_dir / "parts").glob("*.json"))}
    for i in range(len(ds)):
        img, t = ds[i]
        assert img.dtype == torch.float32 and img.shape == (3, 40, 40) and 0 <= img.min() and img.max() <= 1
        item = ds.items[i]
        rec = parts[item["reference_id"]]["samples"][int(item["file_name"][-7:-4])]
        visible = [r for r in rec["regions"] if r["visible"] > 0]
        assert t["boxes"].dtype == torch.float32 and t["boxes"].shape == (len(visible), 4)
        assert t["boxes"].tolist() == [r["box"] for r in visible]          # xyxy pixels
        assert t["labels"].dtype == torch.int64 and t["labels"].tolist() == [r["category_id"] for r in visible]
        assert t["params"].shape == (len(visible), 4)                     # twirl has 4 parameters: NaN padding
        for row, r in zip(t["params"], visible):
            assert row[: len(r["values"])].tolist() == pytest.approx(r["values"])
            assert torch.isnan(row[len(r["values"]):]).all()
        assert int(t["image_id"]) == item["id"]
    loader = DataLoader(ds, batch_size=4, collate_fn=collate_detection)
    images, targets = next(iter(loader))
    assert images.shape == (4, 3, 40, 40) and len(targets) == 4
    assert len(DistortionDataset(det_dir, split="train")) + len(DistortionDataset(det_dir, split="test")) == 12
    with pytest.raises(DatasetError, match="no split 'val'"):
        DistortionDataset(det_dir, split="val")


def test_classification_dataset_targets(cls_dir):
    ds = DistortionDataset(cls_dir, target="dict")
    assert ds.classes == ["reference", "gaussian_blur", "motion_blur"] and ds.class_ids == [0, 1, 2]
    labels = []
    for i in range(len(ds)):
        img, t = ds[i]
        item = ds.items[i]
        labels.append(int(t["label"]))
        assert int(t["label"]) == item["class_id"] and t["values"].shape == (2,)
        if item["type"] == "reference":
            assert math.isnan(float(t["param"])) and torch.isnan(t["values"]).all()
        else:
            assert float(t["param"]) == pytest.approx(item["values"][0])
    assert sorted(labels) == [0] * 4 + [1] * 4 + [2] * 4
    plain = DistortionDataset(cls_dir)
    assert [plain[i][1] for i in range(len(plain))] == [ds.items[i]["class_id"] for i in range(len(ds))]
    batch = next(iter(DataLoader(ds, batch_size=5)))
    assert batch[0].shape == (5, 3, 32, 32) and batch[1]["label"].shape == (5,)


def test_unfinished_dataset_is_refused(tmp_path, det_dir):
    with pytest.raises(DatasetError, match="not a generated dataset"):
        DistortionDataset(tmp_path)
    m = json.loads((det_dir / "manifest.json").read_text())
    (tmp_path / "manifest.json").write_text(json.dumps(dict(m, status="running")))
    with pytest.raises(DatasetError, match="unfinished"):
        DistortionDataset(tmp_path)


def test_stream_equals_the_generated_pngs(det_dir):
    """Epoch 0 of the stream renders the very images `generate` wrote (no disk involved)."""
    for split in ("train", "test"):
        s = SynthesisStream(DET, count=12, seed=11, split=split, batch_size=5, shuffle=False)
        want = DistortionDataset(det_dir, split=split)
        got_imgs, got_t = [], []
        for b in s:
            got_imgs += list(b["images"])
            got_t += b["targets"]
        assert len(got_imgs) == len(want) == s.num_samples
        for k in range(len(want)):
            img, t = want[k]
            assert torch.equal(got_imgs[k], img)
            assert torch.equal(got_t[k]["boxes"], t["boxes"]) and torch.equal(got_t[k]["labels"], t["labels"])


def test_stream_determinism_epochs_and_splits():
    def run(epoch=0, **kw):
        s = SynthesisStream(CLS, count=24, seed=3, batch_size=4, mix_units=2, **kw)
        s.set_epoch(epoch)
        return list(s)

    a, b = run(split="train"), run(split="train")
    assert len(a) == 3 and all(torch.equal(x["images"], y["images"]) for x, y in zip(a, b))
    labels = torch.cat([x["labels"] for x in a])
    assert sorted(labels.tolist()) == [0] * 4 + [1] * 4 + [2] * 4 and labels.tolist() != sorted(labels.tolist())  # mixed
    assert a[0]["params"].shape == (4, 2) and a[0]["levels"].tolist() == [-1] * 4
    c = run(epoch=1, split="train")
    assert set(torch.cat([x["reference_id"] for x in c]).tolist()) == set(torch.cat([x["reference_id"] for x in a]).tolist())
    assert not all(torch.equal(x["images"], y["images"]) for x, y in zip(a, c))      # fresh distortions
    test_refs = set(torch.cat([x["reference_id"] for x in run(split="test")]).tolist())
    assert test_refs.isdisjoint(torch.cat([x["reference_id"] for x in a]).tolist())   # no leakage
    with pytest.raises(DatasetError, match="no split"):
        SynthesisStream(CLS, split="val")


def test_stream_shards_by_rank_and_by_dataloader_worker(monkeypatch):
    kw = dict(count=5 * 3, seed=1, split=None, batch_size=3, shuffle=True)
    full = SynthesisStream(CLS, **kw)
    all_refs = sorted(torch.cat([b["reference_id"] for b in full]).tolist())
    per_rank = []
    for rank in range(2):
        monkeypatch.setattr(stream_mod, "_rank_world", lambda r=rank: (r, 2))
        s = SynthesisStream(CLS, **kw)
        per_rank.append([b for b in s])
        assert sum(len(b["images"]) for b in per_rank[-1]) == s.num_samples
    assert len(per_rank[0]) == len(per_rank[1])                     # equal batch counts: DDP does not hang
    seen = set(torch.cat([b["reference_id"] for bs in per_rank for b in bs]).tolist())
    assert seen == set(all_refs)                                   # 5 units over 2 ranks: one repeated
    monkeypatch.setattr(stream_mod, "_rank_world", lambda: (0, 1))
    loader = DataLoader(SynthesisStream(CLS, **kw), batch_size=None, num_workers=2)
    assert sorted(torch.cat([b["reference_id"] for b in loader]).tolist()) == all_refs


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_stream_on_cuda_matches_cpu():
    kw = dict(count=6, seed=2, split=None, batch_size=6, shuffle=False)
    cpu = next(iter(SynthesisStream(DET, device="cpu", **kw)))
    gpu = next(iter(SynthesisStream(DET, device="cuda", **kw)))
    assert gpu["images"].is_cuda and gpu["targets"][0]["boxes"].is_cuda
    assert (gpu["images"].cpu() - cpu["images"]).abs().max() <= 1.5 / 255
    for a, b in zip(cpu["targets"], gpu["targets"]):
        assert torch.equal(a["boxes"], b["boxes"].cpu()) and torch.equal(a["labels"], b["labels"].cpu())


def test_random_crop_scales_and_places_the_square():
    img = torch.randint(0, 256, (3, 60, 80), generator=torch.Generator().manual_seed(1), dtype=torch.uint8)
    same = stream_mod.random_crop(img, 40, (1.0, 1.0), torch.Generator().manual_seed(0))
    hits = [(y, x) for y in range(21) for x in range(41) if torch.equal(img[:, y:y + 40, x:x + 40], same)]
    assert len(hits) == 1                                     # z = 1: an exact window of the photo
    smooth = torch.full((3, 60, 80), 7, dtype=torch.uint8)
    small = stream_mod.random_crop(smooth, 40, (0.5, 0.5), torch.Generator().manual_seed(0))
    assert small.shape == (3, 40, 40) and small.dtype == torch.uint8 and bool((small == 7).all())
    a = stream_mod.random_crop(img, 40, (0.6, 1.0), torch.Generator().manual_seed(5))
    assert torch.equal(a, stream_mod.random_crop(img, 40, (0.6, 1.0), torch.Generator().manual_seed(5)))


def test_stream_crop_jitter_changes_clean_pixels_not_the_recipes():
    def run(epoch, jitter):
        s = SynthesisStream(CLS, count=12, seed=3, batch_size=4, split="train", crop_jitter=jitter)
        s.set_epoch(epoch)
        return list(s)

    fixed0, fixed1 = run(0, None), run(1, None)
    jit0, jit1 = run(0, (0.7, 1.0)), run(1, (0.7, 1.0))
    for a, b in zip(fixed0, jit0):                          # same samples and labels, other pixels
        assert torch.equal(a["labels"], b["labels"]) and torch.equal(a["reference_id"], b["reference_id"])
    def clean(batches):  # reference id -> its clean image
        return {int(r): im for b in batches for im, y, r in zip(b["images"], b["labels"], b["reference_id"]) if y == 0}

    f0, f1, j0, j1 = clean(fixed0), clean(fixed1), clean(jit0), clean(jit1)
    assert len(f0) >= 2 and f0.keys() == f1.keys() == j0.keys() == j1.keys()
    assert all(torch.equal(f0[r], f1[r]) for r in f0)        # fixed clean crops repeat every epoch
    assert not any(torch.equal(j0[r], j1[r]) for r in j0)    # jittered ones do not
    assert all(torch.equal(x["images"], y["images"]) for x, y in zip(jit0, run(0, (0.7, 1.0))))  # seeded
    with pytest.raises(DatasetError, match="crop_jitter"):
        SynthesisStream(CLS, crop_jitter=(1.0, 0.5))


@pytest.mark.parametrize("skip_batches", [0, 1, 3, 5])
def test_stream_skip_resumes_at_the_same_batches(skip_batches):
    """skip(k * B) then iterate == the batches from k on of an uninterrupted iteration (jitter and history on,
    windows of mixed units cut mid-window), without rendering the skipped windows."""
    from distortx.data.stream import SynthesisStream

    kw = dict(count=48, seed=5, batch_size=3, split="train", crop_jitter=(0.7, 1.0), history=True, mix_units=2)
    full = list(SynthesisStream(CLS, **kw))
    s = SynthesisStream(CLS, **kw)
    rendered = []
    real = s.render_unit
    s.render_unit = lambda ref, plan=None: rendered.append(ref) or real(ref, plan)
    s.skip(skip_batches * 3)
    rest = list(s)
    assert len(rest) == len(full) - skip_batches
    for a, b in zip(rest, full[skip_batches:]):
        assert torch.equal(a["images"], b["images"]) and torch.equal(a["labels"], b["labels"])
    if skip_batches >= 3:
        assert len(rendered) < len(s.units)   # whole windows before the resume point were not rendered

"""`distortx generate --format webdataset|parquet`: the same images (byte for byte) and labels as the folder
layout, readable by the webdataset library and pyarrow, independent of the worker count, resumable, and
trainable: `distortx train` on shards takes the same batches as on the folder."""
from __future__ import annotations

import hashlib
import json
import tarfile
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

import distortx
from distortx.cli import main
from distortx.data.datasets import DistortionDataset
from distortx.data.generate import generate
from distortx.errors import DatasetError

pytest.importorskip("pyarrow")


def make(out: Path, layout: str, workers: int = 1) -> Path:
    generate("ahn-detection-basic", out, count=12, seed=3, layout=layout, shard_size=4, workers=workers,
             progress=False)
    return out


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    root = tmp_path_factory.mktemp("shards")
    return {layout: make(root / layout, layout) for layout in ("folder", "webdataset", "parquet")}


def digest(folder: Path) -> dict:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != "manifest.json"}


def test_every_layout_holds_the_same_images_and_labels(datasets):
    folder = DistortionDataset(datasets["folder"])
    png = {p.name: p.read_bytes() for p in (datasets["folder"] / "images").rglob("*.png")}
    for layout in ("webdataset", "parquet"):
        other = DistortionDataset(datasets[layout])
        assert len(other) == len(folder) == 12
        assert not (datasets[layout] / "images").exists()            # no loose image file
        for i in range(len(folder)):
            a, b = folder[i], other[i]
            assert torch.equal(a[0], b[0])
            assert torch.equal(a[1]["boxes"], b[1]["boxes"]) and torch.equal(a[1]["labels"], b[1]["labels"])
        # the PNG bytes themselves are the folder's
        name = other.items[0]["file_name"]
        shard, key = name.split("#")
        assert other._shards.read(datasets[layout] / shard, key) == png[key]


def test_webdataset_library_reads_the_shards(datasets):
    wds = pytest.importorskip("webdataset")
    shards = sorted(str(p) for p in (datasets["webdataset"] / "shards").glob("*.tar"))
    samples = list(wds.WebDataset(shards, shardshuffle=False).decode("rgb8"))
    assert len(samples) == 12
    coco = {}
    for split in ("train", "test"):
        path = datasets["folder"] / "annotations" / f"{split}.json"
        if path.exists():
            for img in json.loads(path.read_text())["images"]:
                coco[Path(img["file_name"]).stem] = img
    for s in samples:
        assert s["png"].shape == (300, 300, 3)
        assert s["json"]["image_id"] == coco[s["__key__"]]["id"] and s["json"]["split"] == coco[s["__key__"]]["split"]


def test_parquet_shards_are_plain_tables(datasets):
    import pyarrow.parquet as pq

    tables = [pq.read_table(p) for p in sorted((datasets["parquet"] / "shards").glob("*.parquet"))]
    assert sum(t.num_rows for t in tables) == 12
    assert tables[0].column_names == ["key", "split", "reference", "png", "json"]
    rec = json.loads(tables[0].column("json")[0].as_py())
    assert rec["file"].endswith("#" + tables[0].column("key")[0].as_py() + ".png")


def test_shards_do_not_depend_on_workers_and_resume_after_a_loss(datasets, tmp_path):
    two = make(tmp_path / "two", "webdataset", workers=2)
    assert digest(two) == digest(datasets["webdataset"])
    shard = sorted((two / "shards").glob("*.tar"))[-1]
    with tarfile.open(shard) as tar:
        refs = sorted({int(m.name.split("_")[0]) for m in tar.getmembers()})
    shard.unlink()
    for r in refs:                                   # as if killed before the shard's part files were written
        (two / "parts" / f"{r:06d}.json").unlink()
    (two / "shards" / ".data-000009.tar.tmp").write_bytes(b"half")   # a killed atomic write
    make(two, "webdataset")
    assert digest(two) == digest(datasets["webdataset"])


def test_a_training_step_on_shards_equals_one_on_the_folder(datasets, tmp_path):
    results = {}
    for layout in ("folder", "webdataset"):
        cfg = {"model": {"arch": "ynet", "backbone": "dx_tiny"} if "dx_tiny" in distortx.list_backbones()
               else {"arch": "ynet"},
               "data": {"detection": {"folder": str(datasets[layout]), "batch_size": 4, "split": "train",
                                      "val_split": None}},
               "train": {"steps": 2, "out": str(tmp_path / layout), "threads": 1, "log_every": 1,
                         "checkpoint_every": 1000}}
        results[layout] = distortx.train(cfg, progress=False)
    assert results["folder"].checksums == results["webdataset"].checksums


def test_show_draws_a_sheet_from_shards(datasets, tmp_path):
    r = CliRunner().invoke(main, ["show", str(datasets["parquet"]), "--out", str(tmp_path / "sheet.png")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "sheet.png").stat().st_size > 10_000


def test_machine_shards_merge_into_an_index_without_copies(datasets, tmp_path):
    from distortx.data.merge import merge

    parts = []
    for i in range(2):
        out = tmp_path / f"m{i}"
        generate("ahn-detection-basic", out, count=24, seed=3, layout="webdataset", shard_size=4, shard=(i, 2),
                 progress=False)                    # 24 images = 2 references: one per machine
        parts.append(out)
    assert [p.name for p in sorted((tmp_path / "m1" / "shards").glob("*.tar"))][0].startswith("data-0001of0002-")
    merge(tmp_path / "merged", parts)
    assert not (tmp_path / "merged" / "shards").exists() and not (tmp_path / "merged" / "images").exists()
    generate("ahn-detection-basic", tmp_path / "folder", count=24, seed=3, progress=False)
    merged, folder = DistortionDataset(tmp_path / "merged"), DistortionDataset(tmp_path / "folder")
    assert len(merged) == len(folder) == 24
    for i in range(24):
        assert torch.equal(merged[i][0], folder[i][0]) and torch.equal(merged[i][1]["boxes"], folder[i][1]["boxes"])


def test_format_mistakes_are_one_line_errors(tmp_path):
    with pytest.raises(DatasetError, match="--shard-size must be an integer >= 1"):
        generate("ahn-detection-basic", tmp_path / "y", count=2, layout="webdataset", shard_size=0, progress=False)
    r = CliRunner().invoke(main, ["generate", "--preset", "ahn-detection-basic", "--out", str(tmp_path / "z"),
                                  "--format", "zip"])
    assert r.exit_code != 0 and "--format" in r.output


def test_ray_engine_writes_the_same_bytes(datasets, tmp_path):
    pytest.importorskip("ray")
    out = tmp_path / "ray"
    generate("ahn-detection-basic", out, count=12, seed=3, layout="webdataset", shard_size=4, workers=2,
             engine="ray", progress=False)
    assert digest(out) == digest(datasets["webdataset"])


def test_ray_data_reads_both_shard_formats(datasets):
    """Ray Data reads the shards as they are: `read_webdataset` (PNG decoded, the JSON record) and `read_parquet`
    (the image bytes and label columns), the same 12 samples and PNG bytes as the folder layout."""
    ray = pytest.importorskip("ray")
    import numpy as np
    from PIL import Image

    ray.init(num_cpus=2, include_dashboard=False, ignore_reinit_error=True, log_to_driver=False)
    try:
        folder = {p.stem: np.asarray(Image.open(p).convert("RGB")) for p in (datasets["folder"] / "images").rglob("*.png")}
        wds_rows = ray.data.read_webdataset(str(datasets["webdataset"] / "shards")).take_all()
        assert sorted(r["__key__"] for r in wds_rows) == sorted(folder)
        for r in wds_rows:
            assert np.array_equal(np.asarray(r["png"]), folder[r["__key__"]])
            rec = r["json"] if isinstance(r["json"], dict) else json.loads(r["json"])
            assert rec["file"].endswith("#" + r["__key__"] + ".png")
        pq_rows = ray.data.read_parquet(str(datasets["parquet"] / "shards")).take_all()
        assert sorted(r["key"] for r in pq_rows) == sorted(folder)
        for r in pq_rows:
            import io

            assert np.array_equal(np.asarray(Image.open(io.BytesIO(r["png"])).convert("RGB")), folder[r["key"]])
    finally:
        ray.shutdown()


def test_ray_engine_without_ray_is_a_one_line_error(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "ray", None)          # as if Ray were not installed
    with pytest.raises(DatasetError, match=r"--engine ray needs Ray: pip install"):
        generate("ahn-detection-basic", tmp_path / "x", count=2, engine="ray", progress=False)


# -- streamed reading -------------------------------------------------------------------------------------------------
def test_stream_without_buffer_is_the_folder_order(datasets):
    from distortx.data.shard_stream import ShardStream

    folder = DistortionDataset(datasets["folder"], split="train", target="dict")
    for layout in ("webdataset", "parquet"):
        items = list(ShardStream(datasets[layout], "train"))
        assert len(items) == len(folder)
        for (img, t), i in zip(items, range(len(folder))):
            want = folder[i]
            assert torch.equal(img, want[0]) and torch.equal(t["boxes"], want[1]["boxes"])


def test_ranks_stream_distinct_shards(tmp_path):
    from distortx.data.shard_stream import ShardStream, shard_files

    root = tmp_path / "four"
    generate("ahn-detection-basic", root, count=48, seed=3, layout="webdataset", shard_size=12, progress=False)
    assert len(shard_files(root)) == 3                      # 3 references of 16 images, one per shard
    ids = [{int(t["image_id"]) for _, t in ShardStream(root, None, rank=r, world=2)} for r in (0, 1)]
    assert len(ids[0]) == 32 and len(ids[1]) == 16 and not ids[0] & ids[1]   # shards 0, 2 | shard 1


def test_stream_shuffle_buffer_is_a_seeded_permutation(datasets):
    from distortx.data.shard_stream import ShardStream

    plain = [int(t["image_id"]) for _, t in ShardStream(datasets["webdataset"], None)]
    a = [int(t["image_id"]) for _, t in ShardStream(datasets["webdataset"], None, buffer=5, seed=1)]
    b = [int(t["image_id"]) for _, t in ShardStream(datasets["webdataset"], None, buffer=5, seed=1)]
    c = [int(t["image_id"]) for _, t in ShardStream(datasets["webdataset"], None, buffer=5, seed=2)]
    assert a == b and sorted(a) == sorted(plain) and a != plain and (a != c)


def test_trainer_streams_the_same_validation_batches_as_the_folder(datasets):
    from distortx.engine.training.batches import _OneSource
    from distortx.engine.training.config import SourceConfig
    from distortx.models import create_model

    model = create_model("ynet")
    batches = {}
    for name, src in (("folder", SourceConfig(folder=str(datasets["folder"]), batch_size=4)),
                      ("stream", SourceConfig(folder=str(datasets["webdataset"]), batch_size=4, stream=True))):
        s = _OneSource("detection", src, model, None, 0, "cpu", "train", shuffle=False)
        batches[name] = list(s.epoch_batches())
    assert len(batches["folder"]) == len(batches["stream"]) >= 2
    for a, b in zip(batches["folder"], batches["stream"]):
        assert torch.equal(a["images"], b["images"])
        assert all(torch.equal(x["boxes"], y["boxes"]) and torch.equal(x["labels"], y["labels"])
                   for x, y in zip(a["targets"], b["targets"]))

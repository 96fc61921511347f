"""Dataset files: lossless PNG images, per-reference part records, COCO JSON, JSONL, the manifest.

Layout of a generated folder::

    manifest.json                    what was generated, from what, how (no timestamps: byte-reproducible)
    images/<split>/<ref>_<j>.png     lossless PNG, 8-bit RGB
    parts/<ref>.json                 the labels of one reference's images (written after its images;
                                     its presence marks the reference done, so a rerun resumes)
    annotations/<split>.json         detection: COCO (categories = distortion types, ids 1..K)
    labels/<split>.jsonl             classification: one JSON object per image

With ``--format webdataset`` or ``parquet`` the images live in numbered shards instead of ``images/``:
``shards/data-<s>.tar`` (WebDataset: ``<key>.png`` + ``<key>.json`` per sample, the JSON = the sample's labels)
or ``shards/data-<s>.parquet`` (columns ``key``, ``split``, ``reference``, ``png``, ``json``); shard s holds the
references ``s * R .. s * R + R - 1`` (R = shard size // images per reference), and a label file's ``file`` is
``shards/data-<s>.<ext>#<key>.png``. Shards are written atomically before their references' part files.

Every file is written atomically (temporary file + rename) through :func:`write_bytes`; JSON is written with
sorted keys and float32 values in their shortest form, so the same dataset gives the same bytes.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, Iterable, List, Sequence

import numpy as np

from .. import io as dio
from .targets import targets_from_recipe

#: 2: Ahn-faithful salt_pepper (per channel), fnoise strength, quantization bins and lowpass; images spread
#: over references by --count; manifest "images" and "sources.unreadable"
FORMAT = "distortx-dataset/2"
MANIFEST = "manifest.json"
#: zlib level of dataset PNGs: 3 encodes ~3x faster than 6 for files ~8 % larger (still lossless)
PNG_COMPRESS_LEVEL = 3


def write_bytes(path: Path, data: bytes) -> None:
    """The single place a dataset file is written (atomic). Tests patch it to simulate a full disk."""
    dio.atomic_write_bytes(path, data)


def encode_png(x) -> bytes:
    """Lossless PNG bytes of uint8 Tensor[3, H, W] (deterministic: no timestamps, fixed zlib level)."""
    return dio.encode_png(x, PNG_COMPRESS_LEVEL)


def json_bytes(obj: Any, indent: int | None = None) -> bytes:
    seps = (",", ": ") if indent else (",", ":")
    return (json.dumps(obj, sort_keys=True, indent=indent, separators=seps, allow_nan=False) + "\n").encode("utf-8")


def f32(v: float) -> float:
    """A float32 value as the shortest decimal that round-trips (0.0125, not 0.012500000186264515)."""
    return float(str(np.float32(v)))


def image_relpath(split: str, ref: int, j: int) -> str:
    return f"images/{split}/{ref:06d}_{j:03d}.png"


SHARD_FORMATS = ("webdataset", "parquet")


def sample_key(ref: int, j: int) -> str:
    return f"{ref:06d}_{j:03d}"


def shard_relpath(layout: str, shard: int, machine=None) -> str:
    """``shards/data-<s>.<ext>``; on machine i of n (``generate --shard i/n``) ``shards/data-<i>of<n>-<s>.<ext>``."""
    part = "" if machine is None else f"{machine[0]:04d}of{machine[1]:04d}-"
    return f"shards/data-{part}{shard:06d}." + ("tar" if layout == "webdataset" else "parquet")


def tar_bytes(members: Sequence[tuple]) -> bytes:
    """A deterministic tar (ustar; mtime 0, root, mode 644) of (name, bytes) members, in the given order."""
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def parquet_bytes(rows: Sequence[Dict[str, Any]]) -> bytes:
    """A Parquet file (pyarrow; no created_by timestamps) of rows with key, split, reference, png, json."""
    import io

    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise ImportError("--format parquet needs pyarrow: pip install pyarrow") from exc
    table = pa.table({
        "key": pa.array([r["key"] for r in rows], pa.string()),
        "split": pa.array([r["split"] for r in rows], pa.string()),
        "reference": pa.array([r["reference"] for r in rows], pa.string()),
        "png": pa.array([r["png"] for r in rows], pa.binary()),
        "json": pa.array([r["json"] for r in rows], pa.string()),
    })
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="none", row_group_size=max(1, len(rows)))
    return buf.getvalue()


def shard_bytes(layout: str, samples: Sequence[tuple]) -> bytes:
    """One shard of (key, png bytes, record) samples in ``layout``."""
    if layout == "webdataset":
        members = []
        for key, png, rec in samples:
            members += [(f"{key}.png", png), (f"{key}.json", json_bytes(rec))]
        return tar_bytes(members)
    return parquet_bytes([{"key": key, "split": rec["split"], "reference": rec["reference"], "png": png,
                           "json": json_bytes(rec).decode()} for key, png, rec in samples])


def part_relpath(ref: int) -> str:
    return f"parts/{ref:06d}.json"


def label_relpath(task: str, split: str) -> str:
    return f"annotations/{split}.json" if task == "detection" else f"labels/{split}.jsonl"


def region_record(label: Dict[str, Any], param_names: Sequence[str]) -> Dict[str, Any]:
    """JSON-ready record of one region label of :func:`~distortx.data.targets.targets_from_recipe`."""
    return {
        "type": label["type"], "category_id": label["category_id"], "level": label["level"],
        "values": [f32(v) for v in label["values"]], "param_names": list(param_names),
        "box": list(label["box"]), "seed": label["seed"], "visible": round(label["visible"], 6),
    }


def sample_record(plan, recipe, reference_name: str, size: int) -> Dict[str, Any]:
    """JSON-ready labels of one generated image (what a part file lists)."""
    rec: Dict[str, Any] = {
        "file": image_relpath(recipe.split, recipe.reference, recipe.index),
        "image_id": recipe.reference * plan.per_reference + recipe.index + 1,
        "reference": reference_name, "reference_id": recipe.reference, "index": recipe.index,
        "split": recipe.split, "width": size, "height": size,
    }
    labels = targets_from_recipe(plan, recipe)
    if plan.preset.task == "detection":
        rec["regions"] = [region_record(g, plan.param_names(g["type"])) for g in labels["regions"]]
    else:
        rec.update(labels, values=[f32(v) for v in labels["values"]], param_names=plan.param_names(recipe.type))
    return rec


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def coco_bytes(config: Dict[str, Any], split: str, records: Iterable[Dict[str, Any]], first_ann_id: int) -> tuple[bytes, int]:
    """COCO detection JSON of ``split``; annotation ids continue from ``first_ann_id``. Hidden regions
    (``visible == 0``: covered by later boxes) are left out. Returns (bytes, next annotation id)."""
    images, anns = [], []
    ann_id = first_ann_id
    for rec in records:
        images.append({
            "id": rec["image_id"], "file_name": rec["file"], "width": rec["width"], "height": rec["height"],
            "reference": rec["reference"], "reference_id": rec["reference_id"], "split": rec["split"],
        })
        for r in rec["regions"]:
            if r["visible"] <= 0:
                continue
            x0, y0, x1, y1 = r["box"]
            anns.append({
                "id": ann_id, "image_id": rec["image_id"], "category_id": r["category_id"],
                "bbox": [x0, y0, x1 - x0, y1 - y0], "area": (x1 - x0) * (y1 - y0), "iscrowd": 0,
                "distortion": r["type"], "level": r["level"], "values": r["values"],
                "param_names": r["param_names"], "seed": r["seed"], "visible": r["visible"],
            })
            ann_id += 1
    doc = {
        "info": {"description": f"distortx dataset: preset {config['preset']['name']}, split {split}",
                 "version": config["distortx_version"], "seed": config["seed"]},
        "licenses": [],
        "categories": config["categories"],
        "images": images,
        "annotations": anns,
    }
    return json_bytes(doc), ann_id


def jsonl_bytes(records: Iterable[Dict[str, Any]]) -> bytes:
    """Classification labels, one JSON object per line."""
    keys = ("file", "type", "class_id", "level", "values", "param_names", "reference", "reference_id", "split", "seed")
    return b"".join(json_bytes({k: rec[k] for k in keys}) for rec in records)


def write_labels(out: Path, config: Dict[str, Any], parts: Sequence[Dict[str, Any]]) -> Dict[str, str]:
    """Assemble the label files of every split from the parts (in reference order). Returns split -> path."""
    task = config["task"]
    splits = [s for s, _ in config["preset"]["splits"]]
    by_split: Dict[str, List[Dict[str, Any]]] = {s: [] for s in splits}
    for part in parts:
        for rec in part["samples"]:
            by_split[rec["split"]].append(rec)
    files: Dict[str, str] = {}
    ann_id = 1
    for s in splits:
        rel = label_relpath(task, s)
        if task == "detection":
            data, ann_id = coco_bytes(config, s, by_split[s], ann_id)
        else:
            data = jsonl_bytes(by_split[s])
        write_bytes(out / rel, data)
        files[s] = rel
    return files


def summarize(config: Dict[str, Any], parts: Sequence[Dict[str, Any]]) -> Dict[str, Any]:
    """Counts, skipped and upscaled references of a set of parts (the manifest's report section)."""
    per_split: Dict[str, int] = {s: 0 for s, _ in config["preset"]["splits"]}
    per_class: Dict[str, int] = {c["name"]: 0 for c in config["categories"]}
    images = regions = 0
    skipped = [dict(s) for s in (config.get("sources") or {}).get("unreadable", [])]  # left out by the plan
    upscaled = []
    for part in parts:
        if part["status"] == "skipped":
            skipped.append({"reference": part["reference"], "reason": part["reason"]})
            continue
        if part.get("upscaled"):
            upscaled.append(part["reference"])
        for rec in part["samples"]:
            images += 1
            per_split[rec["split"]] += 1
            if config["task"] == "detection":
                for r in rec["regions"]:
                    if r["visible"] > 0:
                        regions += 1
                        per_class[r["type"]] += 1
            else:
                per_class[rec["type"]] += 1
    counts = {"images": images, "references": sum(p["status"] == "ok" for p in parts),
              "per_split": per_split, "per_class": per_class, "skipped": len(skipped), "upscaled": len(upscaled)}
    if config["task"] == "detection":
        counts["regions"] = regions
    return {"counts": counts, "skipped": skipped, "upscaled": upscaled}


def manifest_bytes(manifest: Dict[str, Any]) -> bytes:
    return json_bytes(manifest, indent=2)

"""Streamed reading of a dataset written in shards (``distortx generate --format webdataset|parquet``): each
shard is read once, front to back (a tar as a stream, a Parquet file a row group at a time), never by random
access, so shards can sit on slow or remote storage.

Order: the shards of the dataset are dealt out to ``(rank, world)`` (shard k to rank k % world: distinct shards
per DDP rank), in an order shuffled per epoch when ``buffer`` > 0; samples of the wanted split pass through a
shuffle buffer of ``buffer`` samples (0: none, and the samples come in the folder layout's order). The draws use
a generator seeded by (seed, epoch, rank): the same stream on every run.

Yields ``(image, target)`` as :class:`~distortx.data.datasets.DistortionDataset` does (target = dict)."""
from __future__ import annotations

import json
import tarfile
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple, Union

import torch
from torch import Tensor

from ..errors import DatasetError
from .datasets import decode_png, load_manifest
from .targets import detection_target, padded


def shard_files(root: Path) -> List[Path]:
    files = sorted((root / "shards").glob("data-*.tar")) + sorted((root / "shards").glob("data-*.parquet"))
    if not files:
        raise DatasetError(f"{root}: no shards (shards/data-*.tar or .parquet); was it generated with --format?")
    return files


def _samples(path: Path) -> Iterator[Tuple[str, bytes, Dict[str, Any]]]:
    """(key, png bytes, labels) of one shard, in order."""
    if path.suffix == ".tar":
        pending: Dict[str, Dict[str, Any]] = {}
        with tarfile.open(path, mode="r|") as tar:
            for member in tar:
                key, ext = member.name.rsplit(".", 1)
                data = tar.extractfile(member).read()
                entry = pending.setdefault(key, {})
                entry[ext] = data
                if "png" in entry and "json" in entry:
                    del pending[key]
                    yield key, entry["png"], json.loads(entry["json"])
        return
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)
    for g in range(pf.num_row_groups):
        table = pf.read_row_group(g, columns=["key", "png", "json"])
        for key, png, rec in zip(*(table.column(c).to_pylist() for c in ("key", "png", "json"))):
            yield key, png, json.loads(rec)


class ShardStream:
    """Iterate ``(image, target)`` of ``split`` from the shards of ``root`` (see the module docstring)."""

    def __init__(self, root: Union[str, Path], split: Optional[str], buffer: int = 0, seed: int = 0,
                 rank: int = 0, world: int = 1):
        self.root = Path(root)
        self.manifest = load_manifest(self.root)
        self.task = self.manifest["task"]
        self.files = shard_files(self.root)
        self.split, self.buffer, self.seed = split, int(buffer), int(seed)
        self.rank, self.world = int(rank), max(1, int(world))
        cats = sorted(self.manifest["categories"], key=lambda c: c["id"])
        self.classes = [c["name"] for c in cats]
        self.num_params = max([len(c["param_names"]) for c in cats] + [1])
        self.epoch = 0

    def target(self, rec: Dict[str, Any]) -> Dict[str, Tensor]:
        if self.task == "detection":
            regions = [r for r in rec["regions"] if r["visible"] > 0]
            t = detection_target(regions, self.num_params)
            t["image_id"] = torch.tensor(rec["image_id"], dtype=torch.int64)
            return t
        return {"label": torch.tensor(rec["class_id"], dtype=torch.int64),
                "level": torch.tensor(rec["level"], dtype=torch.int64),
                "param": torch.tensor(rec["values"][0] if rec["values"] else float("nan"), dtype=torch.float32),
                "values": torch.tensor(padded(rec["values"], self.num_params), dtype=torch.float32)}

    def __iter__(self) -> Iterator[Tuple[Tensor, Dict[str, Tensor]]]:
        g = torch.Generator().manual_seed(self.seed * 1000003 + self.epoch * 7919 + self.rank)
        files = self.files[self.rank::self.world]
        if self.buffer > 0:
            files = [files[int(i)] for i in torch.randperm(len(files), generator=g)]
        pool: List[Tuple[bytes, Dict[str, Any]]] = []
        for path in files:
            for _, png, rec in _samples(path):
                if self.split is not None and rec["split"] != self.split:
                    continue
                if self.buffer <= 0:
                    yield decode_png(png).float().div_(255.0), self.target(rec)
                    continue
                pool.append((png, rec))
                if len(pool) >= self.buffer:
                    png, rec = pool.pop(int(torch.randint(len(pool), (1,), generator=g)))
                    yield decode_png(png).float().div_(255.0), self.target(rec)
        while pool:
            png, rec = pool.pop(int(torch.randint(len(pool), (1,), generator=g)))
            yield decode_png(png).float().div_(255.0), self.target(rec)


__all__ = ["ShardStream", "shard_files"]

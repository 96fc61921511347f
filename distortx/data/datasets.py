"""Map-style torch Datasets over a generated folder.

Classification (``labels/<split>.jsonl``): ``dataset[i] -> (image, target)``, image float Tensor[3, H, W] in
[0, 1]; target the class id (``target="label"``) or a dict ``label`` (int64), ``level`` (int64, -1 when
continuous), ``param`` (float32: the severity parameter, NaN for the reference class) and ``values``
(float32 Tensor[P], NaN-padded to the preset's largest parameter count so batches collate).

Detection (``annotations/<split>.json``, COCO): ``dataset[i] -> (image, target)`` with torchvision's detection
target format: ``boxes`` float32 Tensor[K, 4] xyxy pixels, ``labels`` int64 Tensor[K] (category ids 1..K),
``params`` float32 Tensor[K, P] (NaN-padded), ``levels`` int64 Tensor[K], ``image_id`` int64. Use
:func:`collate_detection` as the DataLoader's ``collate_fn``.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor
from torch.utils.data import Dataset

from ..errors import DatasetError
from ..io import read_image
from . import writers
from .targets import detection_target, padded


def load_manifest(root: Union[str, Path]) -> Dict[str, Any]:
    """The manifest of a complete generated dataset (a shard or an unfinished run is refused)."""
    root = Path(root)
    path = root / writers.MANIFEST
    if not path.is_file():
        raise DatasetError(f"{root}: not a generated dataset (no {writers.MANIFEST}); run `distortx generate` first")
    m = writers.read_json(path)
    if m.get("status") != "complete":
        raise DatasetError(f"{root}: generation is unfinished; rerun the same `distortx generate` command to finish it")
    if m.get("shard") is not None:
        i, n = m["shard"]
        raise DatasetError(f"{root}: is shard {i}/{n}; join the shards with `distortx merge` first")
    return m


class ShardReader:
    """Random access to the PNGs of a dataset's shards: a tar's member offsets (read once per shard), a Parquet
    file's rows (one row group per shard, kept for the last shard read)."""

    def __init__(self) -> None:
        self._tars: Dict[Path, Dict[str, Tuple[int, int]]] = {}
        self._parquet: Tuple[Optional[Path], Dict[str, bytes]] = (None, {})

    def read(self, shard: Path, member: str) -> bytes:
        if shard.suffix == ".tar":
            if shard not in self._tars:
                import tarfile

                with tarfile.open(shard) as tar:
                    self._tars[shard] = {m.name: (m.offset_data, m.size) for m in tar.getmembers()}
            offset, size = self._tars[shard][member]
            with open(shard, "rb") as f:
                f.seek(offset)
                return f.read(size)
        if self._parquet[0] != shard:
            import pyarrow.parquet as pq

            table = pq.read_table(shard, columns=["key", "png"])
            self._parquet = (shard, dict(zip((k + ".png" for k in table.column("key").to_pylist()),
                                             table.column("png").to_pylist())))
        return self._parquet[1][member]


def decode_png(data: bytes) -> Tensor:
    """uint8 Tensor[3, H, W] of PNG bytes."""
    import io

    import numpy as np
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        return torch.from_numpy(np.array(im.convert("RGB"))).permute(2, 0, 1).contiguous()


class DistortionDataset(Dataset):
    """A generated dataset folder as a map-style Dataset (see the module docstring).

    split:     one split name, a list of names, or None for every split (in the preset's order).
    target:    classification only: "label" (class id) or "dict".
    transform: optional callable on the image tensor.
    """

    def __init__(self, root: Union[str, Path], split: Union[None, str, Sequence[str]] = None,
                 target: str = "label", transform: Optional[Callable[[Tensor], Tensor]] = None):
        self.root = Path(root)
        self.manifest = load_manifest(self.root)
        self.task: str = self.manifest["task"]
        all_splits = [s for s, _ in self.manifest["preset"]["splits"]]
        splits = all_splits if split is None else ([split] if isinstance(split, str) else list(split))
        for s in splits:
            if s not in all_splits:
                raise DatasetError(f"{self.root}: no split {s!r} (splits: {', '.join(all_splits)})")
        if target not in ("label", "dict"):
            raise DatasetError(f"target must be 'label' or 'dict', got {target!r}")
        self.splits, self.target, self.transform = splits, target, transform
        self._shards = ShardReader()
        cats = sorted(self.manifest["categories"], key=lambda c: c["id"])
        self.classes: List[str] = [c["name"] for c in cats]
        self.class_ids: List[int] = [c["id"] for c in cats]
        self.num_params = max([len(c["param_names"]) for c in cats] + [1])
        self.items: List[Dict[str, Any]] = []
        for s in splits:
            path = self.root / writers.label_relpath(self.task, s)
            if self.task == "detection":
                doc = json.loads(path.read_text(encoding="utf-8"))
                anns: Dict[int, List[Dict[str, Any]]] = {}
                for a in doc["annotations"]:
                    anns.setdefault(a["image_id"], []).append(a)
                for img in doc["images"]:
                    self.items.append(dict(img, annotations=anns.get(img["id"], [])))
            else:
                with open(path, encoding="utf-8") as f:
                    self.items.extend(json.loads(line) for line in f if line.strip())

    def __len__(self) -> int:
        return len(self.items)

    def image(self, index: int) -> Tensor:
        """Image ``index`` as uint8 Tensor[3, H, W] (from its PNG file, or from its shard)."""
        item = self.items[index]
        name = item.get("file_name", item.get("file"))
        if "#" in name:
            shard, key = name.split("#", 1)
            return decode_png(self._shards.read(self.root / shard, key))
        return read_image(self.root / name)

    def __getitem__(self, index: int) -> Tuple[Tensor, Any]:
        item = self.items[index]
        img = self.image(index).float().div_(255.0)
        if self.transform is not None:
            img = self.transform(img)
        if self.task == "detection":
            regions = [dict(a, box=[a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2], a["bbox"][1] + a["bbox"][3]])
                       for a in item["annotations"]]
            target = detection_target(regions, self.num_params)
            target["image_id"] = torch.tensor(item["id"], dtype=torch.int64)
            return img, target
        if self.target == "label":
            return img, item["class_id"]
        return img, {
            "label": torch.tensor(item["class_id"], dtype=torch.int64),
            "level": torch.tensor(item["level"], dtype=torch.int64),
            "param": torch.tensor(item["values"][0] if item["values"] else float("nan"), dtype=torch.float32),
            "values": torch.tensor(padded(item["values"], self.num_params), dtype=torch.float32),
        }


def collate_detection(batch: Sequence[Tuple[Tensor, Dict[str, Tensor]]]) -> Tuple[Tensor, List[Dict[str, Tensor]]]:
    """Stack the images (same size) and keep the targets as a list (torchvision's detection convention)."""
    images = torch.stack([b[0] for b in batch])
    return images, [b[1] for b in batch]

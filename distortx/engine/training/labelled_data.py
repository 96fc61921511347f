"""Labelled evaluation images for robustness sweeps: an image folder (ImageFolder layout), a CSV/JSON list of
file -> class index, or an ``.npz`` with arrays ``x`` (images) and ``y`` (labels).

:func:`open_labelled` reads the *index* (files and labels) eagerly and the pixels lazily:
``data.load(indices)`` decodes a batch, applies the geometric preprocessing (:class:`Geometry`: resize the
shorter side, centre crop) and returns a :class:`LoadedBatch` of uint8 Tensor[B, 3, H, W] plus the files that
failed to decode (skipped and reported by the caller, never counted). Folder batches can be decoded in
worker processes with :meth:`LabelledImages.batches`.

Layouts:

* folder: ``ROOT/<class>/**/<image>``; classes are the sub-folder names, sorted, indexed 0..K-1
  (torchvision's ImageFolder convention). Files directly in ROOT are an error (no class).
* CSV: ``file,label`` per line (a header line whose label is not an integer is skipped); files relative to
  the CSV's folder.
* JSON: ``{"file": label, ...}``, ``[["file", label], ...]`` or ``[{"file": ..., "label": ...}, ...]``.
* npz: ``x`` uint8 Tensor[N, H, W, 3] (HWC, like ``../shared/data/cifar10``), [N, 3, H, W], [N, H, W] (grey)
  or float in [0, 1]; ``y`` integer [N]; optional ``names`` [N]. Class names: ``<stem>.classes.txt`` or
  ``classes.txt`` beside the file (one per line, line i = class i), when present.
"""
from __future__ import annotations

import csv
import functools
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import Tensor

from ...errors import DatasetError, ImageError
from ...io import IMAGE_EXTENSIONS, read_image
from ...processes import die_with_parent



@dataclass(frozen=True)
class Geometry:
    """Geometric preprocessing before distortion: resize the shorter side to ``resize`` (bilinear, antialiased,
    as torchvision's classification presets), then centre-crop ``crop`` x ``crop``. None skips a step."""

    resize: Optional[int] = None
    crop: Optional[int] = None

    def apply(self, img: Tensor) -> Tensor:
        """uint8 Tensor[..., 3, H, W] -> uint8 Tensor[..., 3, H', W'] (one image or a batch)."""
        if self.resize is not None and min(img.shape[-2:]) != self.resize:
            from torchvision.transforms.v2 import functional as TF

            img = TF.resize(img, [self.resize], antialias=True)
        if self.crop is not None and tuple(img.shape[-2:]) != (self.crop, self.crop):
            from torchvision.transforms.v2 import functional as TF

            img = TF.center_crop(img, [self.crop, self.crop])
        return img


@dataclass
class LoadedBatch:
    """images: uint8 (or float in [0, 1]) Tensor[B, 3, H, W]; labels: int64 Tensor[B]; indices: int64
    Tensor[B], positions in the data set; failed: (name, reason) of the requested images that did not load."""

    images: Tensor
    labels: Tensor
    indices: Tensor
    failed: List[Tuple[str, str]] = field(default_factory=list)


class LabelledImages:
    """A labelled image set: ``names[i]`` (file or array index), ``labels`` int64 Tensor[N], optional
    ``class_names`` (folder layout), and ``load(indices)``."""

    kind = "abstract"

    def __init__(self, source: str, names: Sequence[str], labels: Tensor, class_names: Optional[Sequence[str]] = None,
                 geometry: Geometry = Geometry()):
        self.source = source
        self.names = list(names)
        self.labels = labels.to(torch.int64)
        self.class_names = tuple(class_names) if class_names is not None else None
        self.geometry = geometry
        if len(self.names) == 0:
            raise DatasetError(f"{source}: holds no labelled images")

    def __len__(self) -> int:
        return len(self.names)

    def fingerprint(self) -> str:
        """sha256 of the kind, names and labels (not the pixels: cheap for 50k-image folders)."""
        h = hashlib.sha256(f"distortx-labelled-v1\0{self.kind}\0".encode())
        h.update("\n".join(self.names).encode())
        h.update(self.labels.numpy().astype("<i8").tobytes())
        return h.hexdigest()

    def load_one(self, index: int) -> Tensor:
        raise NotImplementedError

    def head(self, n: int) -> "LabelledImages":
        """The first ``n`` images (all of them when ``n`` >= len), e.g. a quick subset of a test set."""
        if n < 1:
            raise DatasetError(f"a subset needs at least one image, got {n}")
        if n >= len(self):
            return self
        return self._subset(n)

    def _subset(self, n: int) -> "LabelledImages":
        raise NotImplementedError

    def load(self, indices: Sequence[int]) -> LoadedBatch:
        """Decode and preprocess images ``indices`` (failures are listed, not raised)."""
        imgs, keep, failed = [], [], []
        for i in indices:
            try:
                imgs.append(self.geometry.apply(self.load_one(int(i))))
                keep.append(int(i))
            except ImageError as exc:
                failed.append((self.names[int(i)], str(exc)))
        return self._stack(imgs, keep, failed)

    def _stack(self, imgs: List[Tensor], keep: List[int], failed: List[Tuple[str, str]]) -> LoadedBatch:
        if imgs:
            sizes = {tuple(t.shape) for t in imgs}
            if len(sizes) > 1:
                a, b = sorted(sizes)[:2]
                raise DatasetError(f"{self.source}: images have different sizes ({a[1]}x{a[2]} and {b[1]}x{b[2]}); "
                                   f"give the model's input size (--resize/--crop) so they can be batched")
            images = torch.stack(imgs)
        else:
            images = torch.zeros(0, 3, 1, 1, dtype=torch.uint8)
        idx = torch.tensor(keep, dtype=torch.int64)
        return LoadedBatch(images, self.labels[idx] if keep else torch.zeros(0, dtype=torch.int64), idx, failed)

    def batches(self, start: int, batch_size: int, workers: int = 0) -> Iterator[LoadedBatch]:
        """Batches of consecutive images from ``start`` to the end; ``workers`` > 0 decodes in processes."""
        spans = [list(range(s, min(s + batch_size, len(self)))) for s in range(start, len(self), batch_size)]
        if workers <= 0 or not spans:
            for span in spans:
                yield self.load(span)
            return
        loader = torch.utils.data.DataLoader(_Spans(self, spans), batch_size=None, num_workers=workers,
                                             collate_fn=_identity,
                                             worker_init_fn=functools.partial(_die_with, os.getpid()))
        yield from loader


class _Spans(torch.utils.data.Dataset):
    def __init__(self, data: LabelledImages, spans: List[List[int]]):
        self.data, self.spans = data, spans

    def __len__(self) -> int:
        return len(self.spans)

    def __getitem__(self, k: int) -> LoadedBatch:
        return self.data.load(self.spans[k])


def _die_with(parent_pid: int, worker_id: int) -> None:  # noqa: ARG001
    die_with_parent(parent_pid)


def _identity(x):
    return x


class FileImages(LabelledImages):
    """Image files with labels (folder layout or a CSV/JSON list)."""

    kind = "files"

    def __init__(self, source: str, paths: Sequence[Path], labels: Sequence[int], display: Sequence[str],
                 class_names: Optional[Sequence[str]] = None, geometry: Geometry = Geometry()):
        super().__init__(source, display, torch.tensor(list(labels), dtype=torch.int64), class_names, geometry)
        self.paths = list(paths)

    def _subset(self, n: int) -> "FileImages":
        return FileImages(f"{self.source}[:{n}]", self.paths[:n], self.labels[:n].tolist(), self.names[:n],
                          self.class_names, self.geometry)

    def load_one(self, index: int) -> Tensor:
        try:
            return read_image(self.paths[index])
        except ImageError as exc:
            raise ImageError(str(exc).replace(str(self.paths[index]), self.names[index])) from exc


class ArrayImages(LabelledImages):
    """Images held in memory: uint8 or float Tensor[N, 3, H, W] (an ``.npz``)."""

    kind = "npz"

    def __init__(self, source: str, images: Tensor, labels: Tensor, names: Optional[Sequence[str]] = None,
                 geometry: Geometry = Geometry()):
        super().__init__(source, names if names is not None else [str(i) for i in range(images.shape[0])], labels,
                         None, geometry)
        self.images = images

    def load_one(self, index: int) -> Tensor:
        return self.images[index]

    def _subset(self, n: int) -> "ArrayImages":
        sub = ArrayImages(f"{self.source}[:{n}]", self.images[:n], self.labels[:n], self.names[:n], self.geometry)
        sub.class_names = self.class_names
        return sub

    def fingerprint(self) -> str:
        """Names, labels and pixels (in memory, so hashing them is cheap)."""
        h = hashlib.sha256(super().fingerprint().encode())
        h.update(f"{self.images.dtype}{tuple(self.images.shape)}".encode())
        h.update(self.images.contiguous().view(-1).view(torch.uint8).numpy().tobytes())
        return h.hexdigest()

    def load(self, indices: Sequence[int]) -> LoadedBatch:
        idx = torch.as_tensor(list(indices), dtype=torch.int64)
        images = self.images[idx]
        if self.geometry != Geometry() and len(idx):
            images = self.geometry.apply(images)
        return LoadedBatch(images, self.labels[idx], idx, [])


def _parse_label(value, where: str) -> int:
    try:
        if isinstance(value, bool):
            raise ValueError
        if isinstance(value, float) and not value.is_integer():
            raise ValueError
        label = int(str(value).strip()) if not isinstance(value, (int, float)) else int(value)
    except (TypeError, ValueError):
        raise DatasetError(f"{where}: label {value!r} is not a class index (an integer >= 0)") from None
    if label < 0:
        raise DatasetError(f"{where}: label {label} is negative (class indices start at 0)")
    return label


def _open_folder(root: Path, geometry: Geometry) -> FileImages:
    classes = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    loose = sorted(f.name for f in root.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS)
    if not classes:
        raise DatasetError(f"{root}: no class sub-folders (an image folder needs ROOT/<class>/<image> files, "
                           f"or give a CSV/JSON list of file,label)")
    if loose:
        raise DatasetError(f"{root}: {loose[0]} lies outside the class sub-folders (ImageFolder layout: ROOT/<class>/<image>)")
    paths, labels, names = [], [], []
    for k, cls in enumerate(classes):
        for dirpath, dirnames, filenames in os.walk(root / cls):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for f in sorted(filenames):
                if not f.startswith(".") and f.lower().endswith(IMAGE_EXTENSIONS):
                    p = Path(dirpath, f)
                    paths.append(p)
                    labels.append(k)
                    names.append(p.relative_to(root).as_posix())
    if not paths:
        raise DatasetError(f"{root}: the class folders hold no images ({', '.join(IMAGE_EXTENSIONS)})")
    return FileImages(str(root), paths, labels, names, classes, geometry)


def _open_list(path: Path, geometry: Geometry) -> FileImages:
    base = path.parent
    pairs: List[Tuple[str, object, str]] = []
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read the label list ({exc})") from exc
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{path}: invalid JSON ({exc})") from exc
        if isinstance(data, dict):
            pairs = [(str(k), v, f"{path} entry {k!r}") for k, v in data.items()]
        elif isinstance(data, list):
            for i, item in enumerate(data):
                if isinstance(item, dict) and "file" in item and "label" in item:
                    pairs.append((str(item["file"]), item["label"], f"{path} item {i}"))
                elif isinstance(item, (list, tuple)) and len(item) == 2:
                    pairs.append((str(item[0]), item[1], f"{path} item {i}"))
                else:
                    raise DatasetError(f"{path}: item {i} must be [file, label] or {{\"file\": ..., \"label\": ...}}")
        else:
            raise DatasetError(f"{path}: expected a JSON object file -> label or a list of [file, label]")
    else:
        for i, row in enumerate(csv.reader(text.splitlines())):
            if not row or not "".join(row).strip() or row[0].startswith("#"):
                continue
            if len(row) < 2:
                raise DatasetError(f"{path} line {i + 1}: expected 'file,label', got {','.join(row)!r}")
            if i == 0 and not row[1].strip().lstrip("-").isdigit() and not (base / row[0].strip()).exists():
                continue  # a header line (its first field is no file)
            pairs.append((row[0].strip(), row[1], f"{path} line {i + 1}"))
    if not pairs:
        raise DatasetError(f"{path}: lists no images")
    labels = [_parse_label(v, where) for _, v, where in pairs]
    paths = [Path(f) if Path(f).is_absolute() else base / f for f, _, _ in pairs]
    return FileImages(str(path), paths, labels, [f for f, _, _ in pairs], None, geometry)


def _open_npz(path: Path, geometry: Geometry) -> ArrayImages:
    try:
        with np.load(path, allow_pickle=False) as z:
            keys = set(z.files)
            if not {"x", "y"} <= keys:
                raise DatasetError(f"{path}: an .npz needs arrays 'x' (images) and 'y' (labels), it has {', '.join(sorted(keys)) or 'none'}")
            x, y = z["x"], z["y"]
            names = [str(n) for n in z["names"]] if "names" in keys else None
    except DatasetError:
        raise
    except (OSError, ValueError) as exc:
        raise DatasetError(f"{path}: cannot read the .npz ({exc})") from exc
    if x.ndim == 3:
        x = np.repeat(x[:, None], 3, axis=1)
    elif x.ndim == 4 and x.shape[-1] in (1, 3) and x.shape[1] not in (1, 3):
        x = x.transpose(0, 3, 1, 2)
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        raise DatasetError(f"{path}: 'x' must be images [N, H, W, 3], [N, 3, H, W] or [N, H, W], got shape {x.shape}")
    if x.shape[1] == 1:
        x = np.repeat(x, 3, axis=1)
    if y.ndim != 1 or y.shape[0] != x.shape[0]:
        raise DatasetError(f"{path}: 'y' must hold one label per image ({x.shape[0]}), got shape {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        raise DatasetError(f"{path}: 'y' must hold integer class indices, got dtype {y.dtype}")
    if y.size and int(y.min()) < 0:
        raise DatasetError(f"{path}: label {int(y.min())} is negative (class indices start at 0)")
    if x.dtype == np.uint8:
        images = torch.from_numpy(np.ascontiguousarray(x))
    elif np.issubdtype(x.dtype, np.floating):
        images = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
        if images.numel() and (images.min() < 0 or images.max() > 1):
            raise DatasetError(f"{path}: float images must lie in [0, 1]")
    else:
        raise DatasetError(f"{path}: 'x' must be uint8 or float in [0, 1], got dtype {x.dtype}")
    data = ArrayImages(str(path), images, torch.from_numpy(y.astype(np.int64)), names, geometry)
    data.class_names = _class_names_beside(path, int(y.max()) + 1 if y.size else 0)
    return data


def _class_names_beside(path: Path, k: int) -> Optional[Tuple[str, ...]]:
    """Class names of an .npz from ``<stem>.classes.txt`` or ``classes.txt`` beside it (one per line), if any."""
    for f in (path.with_suffix(".classes.txt"), path.parent / "classes.txt"):
        if f.is_file():
            names = tuple(line.strip() for line in f.read_text(encoding="utf-8").splitlines() if line.strip())
            if len(names) < k or len(set(names)) != len(names):
                raise DatasetError(f"{f}: needs {k} distinct class names (one per line) for the labels of {path.name}, "
                                   f"has {len(names)}{' with repeats' if len(set(names)) != len(names) else ''}")
            return names
    return None


def open_labelled(data: Union[str, os.PathLike], geometry: Geometry = Geometry()) -> LabelledImages:
    """Open DATA: a folder (ImageFolder layout), a ``.csv``/``.json`` list of file -> class index, or an ``.npz``."""
    path = Path(data)
    if path.is_dir():
        return _open_folder(path, geometry)
    if not path.exists():
        raise DatasetError(f"{path}: no such file or folder (give an image folder, a .csv/.json label list or an .npz)")
    suffix = path.suffix.lower()
    if suffix == ".npz":
        return _open_npz(path, geometry)
    if suffix in (".csv", ".json"):
        return _open_list(path, geometry)
    raise DatasetError(f"{path}: unknown data format {suffix!r} (give an image folder, a .csv/.json label list or an .npz)")


__all__ = ["Geometry", "LabelledImages", "LoadedBatch", "open_labelled"]

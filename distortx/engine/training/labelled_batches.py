"""Object-class training batches for ``distortx train``: ``[data.classification] labelled = "train.npz"``.

Where :mod:`distortx.engine.training.batches` trains distortx's own heads (labels = distortion types), this source
trains an ordinary image classifier (labels = object classes, e.g. CIFAR-10's) on labelled images, read by
:func:`distortx.engine.training.labelled_data.open_labelled`: an ``.npz`` with ``x`` / ``y`` (class names from a
``<stem>.classes.txt`` or ``classes.txt`` beside it), an ImageFolder (class names = sub-folder names) or a
CSV/JSON list of file -> class index. Every image is decoded once and held in memory as uint8 (all images
must share one size; ``size = S`` resizes the shorter side to S and centre-crops S x S).

Classes: the data's names (``class_0``... when it has none) become the model's classes; a distortx
classifier always predicts ``("clean", *classes)``, so column 0 is a class the data never shows (its
logit is trained down) and labels are looked up by name.

Validation: ``val_labelled`` (another labelled set) or ``val_count`` = N (the last N images of
``labelled`` are held out of training); clean images, no augmentation.

Training batch ``k`` of epoch ``e`` (``B = batch_size``, drop-last): images ``order_e[k B:(k + 1) B]`` with
``order_e = randperm(N)`` seeded by (seed, e), then, on the training device, with a generator seeded by
(seed, e, k), so a resumed run draws exactly what an uninterrupted one does (no replay needed):

1. CIFAR augmentation (``pad``, ``flip``): a random ``H x W`` crop of the image zero-padded by ``pad``
   pixels on every side (offsets uniform in 0..2 pad), then a horizontal flip with probability 0.5;
2. distortion augmentation (``distort_preset``, ``distort_prob``): each image, with probability
   ``distort_prob``, gets one distortion of the preset (uniform over its distortions, or over
   ``distort_types``) at a level drawn uniformly from the preset's level set for it, over the whole
   image, rendered by :func:`distortx.ops.distort_batch` after the crop/flip: one fused native call for
   every distortion with a kernel; JPEG 2000 (no kernel) per image through Pillow/OpenJPEG in this process.

A batch is ``{"images": float Tensor[B, 3, H, W], "labels": int64 Tensor[B] (model columns),
"distorted": int64 Tensor[B] (index into the distortion list, -1 = clean)}``.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from ...errors import DistortxError
from .config import ConfigError, SourceConfig

#: SourceConfig fields that only a labelled source uses (and preset/folder sources refuse).


# -- data ---------------------------------------------------------------------------------------------------------
@lru_cache(maxsize=4)
def load_labelled(path: str, size: Optional[int] = None) -> Tuple[Tensor, Tensor, Tuple[str, ...]]:
    """(uint8 Tensor[N, 3, H, W], int64 labels Tensor[N], class names) of a labelled set, in memory."""
    from .labelled_data import ArrayImages, Geometry, open_labelled

    data = open_labelled(path, Geometry(size, size) if size else Geometry())
    if isinstance(data, ArrayImages):
        images = data.load(range(len(data))).images
    else:
        batch = data.load(range(len(data)))
        if batch.failed:
            name, reason = batch.failed[0]
            raise DistortxError(f"{path}: {len(batch.failed)} image(s) failed to load, e.g. {name} ({reason})")
        images = batch.images
    if images.dtype != torch.uint8:
        images = images.mul(255).round_().clamp_(0, 255).to(torch.uint8)
    k = int(data.labels.max()) + 1
    names = data.class_names or tuple(f"class_{i}" for i in range(k))
    if len(names) < k:
        raise DistortxError(f"{path}: label {k - 1} has no class name ({len(names)} names)")
    return images.contiguous(), data.labels, tuple(names)


def source_classes(source: SourceConfig) -> List[str]:
    """Class names of a labelled source (training set, then names only the validation set has)."""
    names = list(load_labelled(source.labelled, source.size)[2])
    if source.val_labelled:
        names += [n for n in load_labelled(source.val_labelled, source.size)[2] if n not in names]
    return names


def source_image_size(source: SourceConfig) -> int:
    images = load_labelled(source.labelled, source.size)[0]
    return int(max(images.shape[-2:]))


def split_arrays(source: SourceConfig, split: str) -> Tuple[Tensor, Tensor, Tuple[str, ...]]:
    """The images, labels and class names of ``split`` ("train" or "val") of a labelled source."""
    images, labels, names = load_labelled(source.labelled, source.size)
    n_val = int(source.val_count or 0)
    if split == "val" and source.val_labelled:
        return load_labelled(source.val_labelled, source.size)
    if n_val >= len(labels):
        raise ConfigError(f"data.classification.val_count={n_val} leaves no training image ({len(labels)} in {source.labelled})")
    if split == "val":
        return images[-n_val:], labels[-n_val:], names
    return (images[:-n_val], labels[:-n_val], names) if n_val else (images, labels, names)


def val_splits(source: SourceConfig) -> List[str]:
    return ["train", "val"] if (source.val_labelled or source.val_count) else ["train"]


# -- distortion augmentation ----------------------------------------------------------------------------------------
@lru_cache(maxsize=8)
def distortion_menu(preset: str, types: Optional[Tuple[str, ...]] = None) -> Tuple[Tuple[str, str], ...]:
    """((distortion, level-set name), ...) of a preset (or of ``types`` among its distortions)."""
    from ...data.user_preset import resolve_preset
    from ...registry import get_distortion

    try:
        spec = resolve_preset(preset)
    except DistortxError as exc:
        raise ConfigError(f"data.classification.distort_preset: {exc}") from None
    names = list(spec.distortions)
    if types is not None:
        unknown = [t for t in types if t not in names]
        if unknown or not types:
            raise ConfigError(f"data.classification.distort_types: preset {spec.name!r} has no distortion "
                              f"{(unknown or [''])[0]!r} (it has: {', '.join(names)})")
        names = [n for n in names if n in types]
    sets = dict(spec.level_sets)
    return tuple((n, get_distortion(n).level_set(sets.get(n)).name) for n in names)


def distort_some(images: Tensor, menu: Sequence[Tuple[str, str]], prob: float,
                 g: torch.Generator) -> Tuple[Tensor, Tensor]:
    """float Tensor[B, 3, H, W] -> (distorted copy, int64 Tensor[B]: menu index per image, -1 = kept clean)."""
    from ...distortions.regions import Region
    from ...registry import get_distortion
    from ...ops import distort_batch

    B = images.shape[0]
    pick = torch.rand(B, generator=g) < prob
    kind = torch.randint(len(menu), (B,), generator=g)
    which = torch.where(pick, kind, torch.full_like(kind, -1))
    regions: List[List[Region]] = [[] for _ in range(B)]
    for t, (name, level_set) in enumerate(menu):
        idx = (which == t).nonzero().flatten().tolist()
        if not idx:
            continue
        p = get_distortion(name).sample(len(idx), generator=g, levels=level_set)
        for j, i in enumerate(idx):
            regions[i] = [Region(name, tuple(p.values[j].tolist()), None, int(p.seed[j]), int(p.level[j]))]
    if not bool(pick.any()):
        return images, which
    return distort_batch(images, regions), which


def crop_flip(images: Tensor, pad: int, flip: bool, g: torch.Generator) -> Tensor:
    """float Tensor[B, C, H, W] -> same shape: a random crop of the zero-padded images (offsets 0..2 pad),
    then a horizontal flip with probability 0.5 (each image on its own)."""
    B, C, H, W = images.shape
    out = images
    if pad > 0:
        dy = torch.randint(0, 2 * pad + 1, (B,), generator=g)
        dx = torch.randint(0, 2 * pad + 1, (B,), generator=g)
        padded = F.pad(images, (pad, pad, pad, pad))
        rows = (dy.view(B, 1) + torch.arange(H).view(1, H)).to(images.device)
        cols = (dx.view(B, 1) + torch.arange(W).view(1, W)).to(images.device)
        b = torch.arange(B, device=images.device).view(B, 1, 1)
        out = padded.permute(0, 2, 3, 1)[b, rows.view(B, H, 1), cols.view(B, 1, W)].permute(0, 3, 1, 2)
    if flip:
        mask = (torch.rand(B, generator=g) < 0.5).to(images.device)
        out = torch.where(mask.view(B, 1, 1, 1), out.flip(-1), out)
    return out.contiguous()


# -- the stream ------------------------------------------------------------------------------------------------------
class LabelledStream:
    """Endless batches of a labelled source (see the module docstring), with BatchStream's interface:
    ``next()``, ``state()`` / ``load_state()`` (epoch, batches taken) and ``epoch_batches(limit)``."""

    augments_itself = True  # the trainer's Ahn augmentation (flips, transposes) does not apply

    def __init__(self, task: str, source: SourceConfig, model, seed: int, device: str, split: str,
                 shuffle: bool = True):
        from .batches import class_lookup

        self.task, self.split, self.device, self.seed, self.shuffle = task, split, device, int(seed), shuffle
        self.source = source
        if split not in ("train", "val"):
            raise ConfigError(f"data.{task}: a labelled source has splits train and val, not {split!r}")
        self.images, labels, names = split_arrays(source, split)
        self.lut = class_lookup(list(names), list(model.classes), 0, task)
        self.labels = self.lut[labels]
        self.batch_size = int(source.batch_size)
        if shuffle and len(self.labels) < self.batch_size:
            raise ConfigError(f"data.{task}: {len(self.labels)} training images are fewer than one batch "
                              f"({self.batch_size})")
        self.menu = (distortion_menu(source.distort_preset, tuple(source.distort_types) if source.distort_types
                                     else None) if source.distort_preset and shuffle else ())
        self.epoch, self.taken = 0, 0
        self._order: Tuple[int, Optional[Tensor]] = (-1, None)

    def __len__(self) -> int:
        return len(self.labels)

    # -- position ---------------------------------------------------------------------------------------------
    def state(self) -> Dict[str, int]:
        return {"epoch": self.epoch, "taken": self.taken}

    def load_state(self, state: Mapping[str, Any]) -> None:
        self.epoch, self.taken = int(state["epoch"]), int(state["taken"])

    def batches_per_epoch(self) -> int:
        n = len(self.labels)
        return n // self.batch_size if self.shuffle else -(-n // self.batch_size)

    def order(self, epoch: int) -> Tensor:
        n = len(self.labels)
        if not self.shuffle:
            return torch.arange(n)
        if self._order[0] != epoch:
            self._order = (epoch, torch.randperm(n, generator=torch.Generator().manual_seed(self.seed * 1000003 + epoch)))
        return self._order[1]

    # -- batches ----------------------------------------------------------------------------------------------
    def batch(self, epoch: int, k: int, order: Optional[Tensor] = None) -> Dict[str, Any]:
        """Batch ``k`` of ``epoch`` (augmented when training)."""
        order = self.order(epoch) if order is None else order
        idx = order[k * self.batch_size:(k + 1) * self.batch_size]
        x = self.images[idx].to(self.device).float().div_(255.0)
        y = self.labels[idx].to(self.device)
        which = torch.full((len(idx),), -1, dtype=torch.int64)
        if self.shuffle:
            g = torch.Generator().manual_seed((self.seed * 1000003 + epoch) * 1000003 + k)
            x = crop_flip(x, int(self.source.pad), bool(self.source.flip), g)
            if self.menu and self.source.distort_prob > 0:
                x, which = distort_some(x, self.menu, float(self.source.distort_prob), g)
        return {"images": x, "labels": y, "distorted": which.to(self.device)}

    def __iter__(self):
        return self

    def __next__(self) -> Dict[str, Any]:
        if self.taken >= self.batches_per_epoch():
            self.epoch, self.taken = self.epoch + 1, 0
        out = self.batch(self.epoch, self.taken)
        self.taken += 1
        return out

    def epoch_batches(self, limit: Optional[int] = None) -> Iterator[Dict[str, Any]]:
        """One pass in order (validation), at most ``limit`` batches."""
        order = self.order(0)
        for k in range(self.batches_per_epoch()):
            if limit is not None and k >= limit:
                break
            yield self.batch(0, k, order)


def open_stream(task: str, source: SourceConfig, model, images: Optional[str], seed: int, device: str,
                split: str, shuffle: bool = True, mix_units: int = 4):
    """The batch stream of a source: :class:`LabelledStream` for ``labelled``, else a preset/folder BatchStream."""
    if source.labelled is not None:
        return LabelledStream(task, source, model, seed, device, split, shuffle)
    from .batches import BatchStream

    return BatchStream(task, source, model, images, seed, device, split, shuffle=shuffle, mix_units=mix_units)


__all__ = ["LabelledStream", "crop_flip", "distort_some", "distortion_menu",
           "load_labelled", "open_stream", "source_classes", "source_image_size", "split_arrays", "val_splits"]

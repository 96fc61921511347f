"""Training and validation batches for each task, in the model's vocabulary, on the training device.

A source is a preset rendered on the fly (:class:`distortx.data.SynthesisStream`: no disk, a fresh draw of
distortions every epoch) or a folder written by ``distortx generate`` (:class:`distortx.data.DistortionDataset`).
Either way a batch is the dict ``SynthesisStream`` yields: ``images`` float Tensor[B, 3, S, S]; classification
``labels`` int64 Tensor[B] (+ ``levels``, ``params``); detection ``targets`` (B dicts: ``boxes`` xyxy pixels,
``labels`` 1..C, ``levels``, ``params``). Labels are re-indexed from the preset's class list to the model's
(``clean`` + types / ``background`` + types) by name, so a model and a preset may order types differently.

:class:`BatchStream` is an endless iterator with a resumable position: ``state()`` is (epoch, batches taken
in that epoch); ``load_state`` replays to the same position (re-rendering the skipped batches, which keeps a
resumed run identical to an uninterrupted one).
"""
from __future__ import annotations

from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence

import torch
from torch import Tensor

from ...errors import DatasetError
from .config import ConfigError, SourceConfig

REFERENCE_NAMES = ("reference", "clean")


def class_lookup(source_classes: Sequence[str], model_classes: Sequence[str], offset: int, task: str) -> Tensor:
    """int64 Tensor mapping a source label (``offset`` + index into ``source_classes``) to a model column."""
    lut = torch.full((len(source_classes) + offset,), -1, dtype=torch.int64)
    for i, name in enumerate(source_classes):
        key = "clean" if name in REFERENCE_NAMES else name
        if key not in model_classes:
            raise ConfigError(f"{task} data has class {name!r} that the model does not predict "
                              f"(model classes: {', '.join(model_classes)}); set [model] classes to cover it")
        lut[i + offset] = model_classes.index(key)
    return lut


class BatchStream:
    """Endless batches of one task (see the module docstring). A source whose ``preset`` is a list of presets
    takes its batches from each preset in turn (e.g. Ahn's basic and difficult detection protocols)."""

    def __init__(self, task: str, source: SourceConfig, model, images: Optional[str], seed: int,
                 device: str, split: str, shuffle: bool = True, mix_units: int = 4):
        from dataclasses import replace

        presets = source.preset if isinstance(source.preset, (list, tuple)) else [source.preset]
        self.task, self.split = task, split
        self.parts = [_OneSource(task, replace(source, preset=p), model, images, seed, device, split, shuffle,
                                 mix_units) for p in presets]
        self.k = 0

    def state(self) -> Dict[str, Any]:
        return {"k": self.k, "parts": [p.state() for p in self.parts]}

    def load_state(self, state: Mapping[str, Any]) -> None:
        self.k = int(state["k"])
        for p, st in zip(self.parts, state["parts"]):
            p.load_state(st)

    def __iter__(self):
        return self

    def __next__(self) -> Dict[str, Any]:
        part = self.parts[self.k % len(self.parts)]
        self.k += 1
        return next(part)

    def epoch_batches(self, limit: Optional[int] = None) -> Iterator[Dict[str, Any]]:
        """One pass over epoch 0 of every preset (validation), at most ``limit`` batches from each."""
        for p in self.parts:
            yield from p.epoch_batches(limit)


class _OneSource:
    """Endless batches of one task from one preset or folder."""

    def __init__(self, task: str, source: SourceConfig, model, images: Optional[str], seed: int,
                 device: str, split: str, shuffle: bool = True, mix_units: int = 4):
        self.task, self.device, self.split = task, device, split
        self.epoch, self.taken = 0, 0
        self._it: Optional[Iterator] = None
        if source.preset is not None:
            from ...data.stream import SynthesisStream

            self.stream = SynthesisStream(source.preset, images=images, split=split, seed=seed,
                                          count=source.count, per_image=source.per_image,
                                          batch_size=source.batch_size, device=device, shuffle=shuffle,
                                          mix_units=mix_units, drop_last=shuffle,
                                          crop_jitter=source.crop_jitter if shuffle else None,
                                          history=source.history if shuffle else None)
            preset = self.stream.preset
            source_classes = self.stream.plan.classes
            self.crop = preset.crop
            self.dataset = None
        else:
            from ...data.datasets import DistortionDataset

            self.dataset = DistortionDataset(source.folder, split=split, target="dict")
            if len(self.dataset) == 0:
                raise DatasetError(f"{source.folder}: split {split!r} is empty")
            self.stream = None
            source_classes = self.dataset.classes
            self.crop = int(self.dataset.manifest["preset"]["crop"])
            self.batch_size, self.shuffle, self.seed = source.batch_size, shuffle, seed
            self.shards = None
            if source.stream:
                from ...data.shard_stream import ShardStream

                rank, world = ((torch.distributed.get_rank(), torch.distributed.get_world_size())
                               if torch.distributed.is_available() and torch.distributed.is_initialized() else (0, 1))
                self.shards = ShardStream(source.folder, split, buffer=source.shuffle_buffer if shuffle else 0,
                                          seed=seed, rank=rank, world=world)
        task_kind = "detection" if task == "detection" else "classification"
        if task_kind == "detection":
            self.lut = class_lookup(source_classes, model.det_classes, 1, task)
        elif task == "classification":
            self.lut = class_lookup(source_classes, model.classes, 0, task)
        else:
            self.lut = None

    # -- position ---------------------------------------------------------------------------------------------
    def state(self) -> Dict[str, int]:
        return {"epoch": self.epoch, "taken": self.taken}

    def load_state(self, state: Mapping[str, int]) -> None:
        self.epoch, self._it = int(state["epoch"]), None
        skip, self.taken = int(state["taken"]), 0
        if self.stream is not None and skip:   # a synthesis stream skips without rendering what it skips
            self.stream.set_epoch(self.epoch)
            self.stream.skip(skip * self.stream.batch_size)
            self._it, self.taken = iter(self.stream), skip
            return
        for _ in range(skip):
            self._next_raw()

    # -- iteration --------------------------------------------------------------------------------------------
    def _epoch_iter(self) -> Iterator[Dict[str, Any]]:
        if self.stream is not None:
            self.stream.set_epoch(self.epoch)
            return iter(self.stream)
        return self._folder_iter()

    def _folder_iter(self) -> Iterator[Dict[str, Any]]:
        if self.shards is not None:
            yield from self._shard_iter()
            return
        n = len(self.dataset)
        order = torch.arange(n)
        if self.shuffle:
            order = torch.randperm(n, generator=torch.Generator().manual_seed(self.seed * 1000003 + self.epoch))
        bs = self.batch_size
        stop = (n // bs) * bs if (self.shuffle and n >= bs) else n
        for start in range(0, stop, bs):
            items = [self.dataset[int(i)] for i in order[start:start + bs]]
            yield self._collate(items)

    def _shard_iter(self) -> Iterator[Dict[str, Any]]:
        """Batches streamed from the shards (data.<task>.stream): full batches only when shuffling."""
        self.shards.epoch = self.epoch
        items = []
        for item in self.shards:
            items.append(item)
            if len(items) == self.batch_size:
                yield self._collate(items)
                items = []
        if items and not self.shuffle:
            yield self._collate(items)

    def _collate(self, items) -> Dict[str, Any]:
        dev = self.device
        images = torch.stack([im for im, _ in items]).to(dev)
        if self.dataset.task == "detection":
            targets = [{k: v.to(dev) for k, v in t.items() if isinstance(v, Tensor)} for _, t in items]
            return {"images": images, "targets": targets}
        ts = [t for _, t in items]
        return {"images": images,
                "labels": torch.stack([t["label"] for t in ts]).to(dev),
                "levels": torch.stack([t["level"] for t in ts]).to(dev),
                "params": torch.stack([t["values"] for t in ts]).to(dev)}

    def _next_raw(self) -> Dict[str, Any]:
        for _ in range(2):
            if self._it is None:
                self._it = self._epoch_iter()
            try:
                batch = next(self._it)
                self.taken += 1
                return batch
            except StopIteration:
                self._it, self.epoch, self.taken = None, self.epoch + 1, 0
        raise DatasetError(f"{self.task} source yields no batch (split {self.split!r} smaller than one batch?)")

    def __iter__(self):
        return self

    def __next__(self) -> Dict[str, Any]:
        return self.relabel(self._next_raw())

    def relabel(self, batch: Dict[str, Any]) -> Dict[str, Any]:
        """Labels in the model's vocabulary."""
        if self.lut is None:
            return batch
        lut = self.lut.to(batch["images"].device)
        if "targets" in batch:
            batch["targets"] = [dict(t, labels=lut[t["labels"]]) for t in batch["targets"]]
        elif "labels" in batch:
            batch["labels"] = lut[batch["labels"]]
        return batch

    def epoch_batches(self, limit: Optional[int] = None) -> Iterator[Dict[str, Any]]:
        """One pass over epoch 0 (validation): at most ``limit`` batches, relabelled."""
        it = self._epoch_iter() if self.epoch == 0 else None
        if it is None:
            self.epoch = 0
            it = self._epoch_iter()
        for i, batch in enumerate(it):
            if limit is not None and i >= limit:
                break
            yield self.relabel(batch)


# -- augmentation -----------------------------------------------------------------------------------------------
def augment(batch: Dict[str, Any], task: str, generator: torch.Generator) -> Dict[str, Any]:
    """Ahn's augmentation, per sample: detection gets a horizontal flip (boxes flipped too) with p = 0.5;
    classification a random element of the square's 8 symmetries (flips and transposes)."""
    images: Tensor = batch["images"]
    n, _, h, w = images.shape
    if task == "detection":
        flip = torch.rand(n, generator=generator) < 0.5
        if not bool(flip.any()):
            return batch
        out = images.clone()
        out[flip.to(images.device)] = images[flip.to(images.device)].flip(-1)
        targets = []
        for i, t in enumerate(batch["targets"]):
            if flip[i]:
                b = t["boxes"].clone()
                b[:, 0], b[:, 2] = w - t["boxes"][:, 2], w - t["boxes"][:, 0]
                t = dict(t, boxes=b)
            targets.append(t)
        return dict(batch, images=out, targets=targets)
    ops = torch.randint(0, 8 if h == w else 4, (n,), generator=generator).tolist()
    out = torch.empty_like(images)
    for k in set(ops):
        idx = torch.tensor([i for i, o in enumerate(ops) if o == k], device=images.device)
        x = images.index_select(0, idx)
        if k & 1:
            x = x.flip(-1)
        if k & 2:
            x = x.flip(-2)
        if k & 4:
            x = x.transpose(-1, -2)
        out.index_copy_(0, idx, x.contiguous())
    return dict(batch, images=out)


def default_val_split(stream_or_splits: Sequence[str]) -> Optional[str]:
    splits = list(stream_or_splits)
    for name in ("val", "test"):
        if name in splits:
            return name
    return None


def source_splits(source: SourceConfig) -> List[str]:
    if source.preset is not None:
        from ...data.user_preset import resolve_preset

        first = source.preset[0] if isinstance(source.preset, (list, tuple)) else source.preset
        return [s for s, _ in resolve_preset(first).splits]
    from ...data.datasets import load_manifest

    return [s for s, _ in load_manifest(source.folder)["preset"]["splits"]]

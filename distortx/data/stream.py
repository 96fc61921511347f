"""Streaming synthesis: distorted batches straight from the recipes, on the chosen device, no disk.

:class:`SynthesisStream` is a torch ``IterableDataset`` that yields ready batches (use it with
``DataLoader(stream, batch_size=None)`` or iterate it directly). It renders exactly the samples
``distortx generate`` writes for the same preset, sources and seed (epoch 0; with ``quantize=True`` the
images even equal the PNGs), so a model can train on an endless supply and be evaluated on a saved copy.

- Determinism: batch contents depend only on (preset, sources, seed, epoch, split, rank/world, worker).
  ``set_epoch(e)`` draws fresh distortions for epoch ``e`` (e > 0) while the splits stay those of ``seed``.
- Splits: only references of ``split`` are used (the split assignment of the generator: no leakage).
- DDP: when ``torch.distributed`` is initialised, rank ``r`` of ``w`` takes every w-th unit of the
  (shuffled) unit list, padded by repetition so every rank yields the same number of batches. DataLoader
  workers split a rank's units the same way.
- Mixing: ``mix_units`` references are rendered, their samples shuffled together (seeded) and cut into
  batches, so a batch is not 20 views of one photo.
- Crop jitter (training only; ``crop_jitter=(lo, hi)``): instead of the reference's fixed centre crop, every
  (epoch, reference) takes a fresh square from the photo scaled by ``z ~ U[lo, hi]`` (antialiased; ``z`` is
  raised to keep the shorter side >= crop) at a random position, seeded by (seed, epoch, reference). The
  distortions stay those of the recipes; only the clean pixels under them change, so a model cannot memorise
  a fixed set of clean crops. Off by default (then the images equal ``generate``'s).
- Photo history (training only; ``history=True`` or a :class:`~distortx.data.history.HistorySpec`): the clean
  crop first gets a random, mild camera noise and/or JPEG round trip (seeded by (seed, epoch, reference)),
  the history an ordinary photo carries, so that the model learns that such a photo is still clean.

Each batch is a dict: ``images`` float Tensor[B, 3, S, S] on ``device``, ``reference_id`` int64 Tensor[B],
and for classification ``labels`` int64 Tensor[B], ``levels`` int64 Tensor[B], ``params`` float32
Tensor[B, P] (NaN-padded); for detection ``targets``, a list of B dicts in torchvision's format (``boxes``
xyxy float32 Tensor[K, 4], ``labels`` int64 Tensor[K], ``params``, ``levels``) on ``device``.
"""
from __future__ import annotations

import math
from typing import Any, Dict, Iterator, List, Optional, Tuple

import torch
from torch import Tensor
from torch.utils.data import IterableDataset, get_worker_info

from ..errors import DatasetError, ImageError
from .generate import check_device, check_memory, plan_dataset
from .history import HistorySpec, photo_history
from .sources import prepare_reference
from .synthesis import Plan, SampleRecipe, generator, mix_seed, render, resolve_impl, torch_threads
from .targets import detection_target, padded, targets_from_recipe


def _check_jitter(jitter) -> Optional[Tuple[float, float]]:
    if jitter is None:
        return None
    try:
        lo, hi = (float(v) for v in jitter)
    except (TypeError, ValueError):
        raise DatasetError(f"crop_jitter must be a (low, high) pair of scales, got {jitter!r}") from None
    if not (0 < lo <= hi <= 4):
        raise DatasetError(f"crop_jitter scales must satisfy 0 < low <= high <= 4, got ({lo}, {hi})")
    return lo, hi


def random_crop(img: Tensor, crop: int, scales: Tuple[float, float], gen: torch.Generator) -> Tensor:
    """A ``crop`` x ``crop`` square of uint8 Tensor[3, H, W] scaled by ``z ~ U[scales]`` at a random place.

    ``z`` is raised where needed so the scaled shorter side is at least ``crop``; scaling is antialiased
    bilinear on [0, 255] floats, rounded back to uint8. Returns uint8 Tensor[3, crop, crop].
    """
    H, W = int(img.shape[1]), int(img.shape[2])
    lo, hi = scales
    z = lo + (hi - lo) * float(torch.rand((), generator=gen))
    z = max(z, crop / min(H, W))
    h, w = max(crop, round(H * z)), max(crop, round(W * z))
    if (h, w) != (H, W):
        img = torch.nn.functional.interpolate(img[None].float(), size=(h, w), mode="bilinear",
                                              align_corners=False, antialias=True)[0]
        img = img.round_().clamp_(0, 255).to(torch.uint8)
    y0 = int(torch.randint(0, h - crop + 1, (), generator=gen))
    x0 = int(torch.randint(0, w - crop + 1, (), generator=gen))
    return img[:, y0:y0 + crop, x0:x0 + crop].contiguous()


def _rank_world() -> Tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


class SynthesisStream(IterableDataset):
    """Endless-quality, zero-disk training data (see the module docstring).

    preset: name, .toml path or PresetSpec; images: folder, tensors, source or None (embedded);
    count/per_image/seed: as for ``distortx generate``; split: split name (None = all splits);
    batch_size: images per batch; device: where images are rendered and returned;
    shuffle: shuffle units and samples per epoch; mix_units: references mixed per shuffle window;
    quantize: round images to 8-bit levels (equal to the saved PNGs); deterministic: render CPU batches
    with one intra-op thread (bit-identical to ``generate``); cache: keep clean crops in memory;
    crop_jitter: (lo, hi) photo scale range for random crops per epoch (see the module docstring);
    history: None, True or a HistorySpec: a random photo history on every clean crop (module docstring).
    """

    def __init__(self, preset, images=None, split: Optional[str] = "train", seed: int = 0,
                 count: Optional[int] = None, per_image: Optional[int] = None, batch_size: int = 16,
                 device: str = "cpu", shuffle: bool = True, mix_units: int = 4, drop_last: bool = False,
                 quantize: bool = True, deterministic: bool = True, impl: str = "auto", cache: bool = True,
                 crop_jitter: Optional[Tuple[float, float]] = None, history=None):
        super().__init__()
        self.preset, self.source, self.plan = plan_dataset(preset, images, count, per_image, seed)
        check_memory(self.preset, self.plan)
        self.seed, self.split = int(seed), split
        if split is not None and split not in [s for s, _ in self.preset.splits]:
            raise DatasetError(f"preset {self.preset.name!r} has no split {split!r} "
                               f"(splits: {', '.join(s for s, _ in self.preset.splits)})")
        if batch_size < 1:
            raise DatasetError(f"batch_size must be >= 1, got {batch_size}")
        self.batch_size, self.device = int(batch_size), check_device(device)
        self.shuffle, self.mix_units, self.drop_last = shuffle, max(1, int(mix_units)), drop_last
        self.quantize, self.deterministic, self.impl = quantize, deterministic, resolve_impl(impl)
        self.cache = cache
        self.crop_jitter = _check_jitter(crop_jitter)
        self.history = history if isinstance(history, HistorySpec) else HistorySpec.from_config(history)
        self._crops: Dict[int, Optional[Tensor]] = {}
        self._skip = 0
        self.epoch = 0
        self.units = [r for r in range(self.plan.n_refs)
                      if self.plan.num_samples(r) > 0 and (split is None or self.plan.splits[r] == split)]
        if not self.units:
            raise DatasetError(f"split {split!r} of preset {self.preset.name!r} has no references with these sources/count")

    # -- epochs and partitioning -------------------------------------------------------------------------
    def set_epoch(self, epoch: int) -> None:
        """Epoch ``e`` > 0 renders new distortions of the same references (splits unchanged)."""
        self.epoch = int(epoch)

    def _plan(self) -> Plan:
        if self.epoch == 0:
            return self.plan
        return self.plan.reseeded(mix_seed(self.seed, 0xE90C, self.epoch))  # same references and splits

    def _rank_units(self) -> List[int]:
        """This rank's units of the current epoch (shuffled, padded by repetition to equal length)."""
        units = list(self.units)
        if self.shuffle:
            perm = torch.randperm(len(units), generator=generator(self.seed, 0x5EF1E, self.epoch)).tolist()
            units = [units[i] for i in perm]
        rank, world = _rank_world()
        if world > 1:
            per = math.ceil(len(units) / world)
            units = (units * math.ceil(per * world / len(units)))[: per * world]
            units = units[rank::world]
        return units

    def _my_units(self) -> List[int]:
        units = self._rank_units()
        info = get_worker_info()
        if info is not None and info.num_workers > 1:
            units = units[info.id::info.num_workers]
        return units

    @property
    def num_samples(self) -> int:
        """Samples of one epoch on this rank (all DataLoader workers together)."""
        return sum(self.plan.num_samples(u) for u in self._rank_units())

    # -- rendering -----------------------------------------------------------------------------------------
    def _reference(self, ref: int) -> Optional[Tensor]:
        """The reference's pixels (the fixed centre crop, or with crop_jitter the whole photo), None if its file
        cannot be read; cached when ``cache``."""
        if ref in self._crops:
            return self._crops[ref]
        try:
            img = self.source.load(ref)
        except ImageError:
            img = None  # unreadable file: skipped, as by the generator
        else:
            if self.crop_jitter is None:
                img = prepare_reference(img, self.preset.crop, self.preset.resize)[0].to(self.device)
        if self.cache:
            self._crops[ref] = img
        return img

    def _crop(self, ref: int) -> Optional[Tensor]:
        """uint8 Tensor[3, S, S] on the device: the fixed centre crop, or with crop_jitter a random one."""
        img = self._reference(ref)
        if img is None:
            return img
        if self.crop_jitter is not None:
            img = random_crop(img, self.preset.crop, self.crop_jitter,
                              generator(self.seed, 0xC409, self.epoch, ref)).to(self.device)
        if self.history is not None:
            img = photo_history(img, self.history, generator(self.seed, 0x4157, self.epoch, ref))[0]
        return img

    def skip(self, samples: int) -> None:
        """Make the next iteration start ``samples`` samples into the epoch (resuming a run): the windows wholly
        before that point are counted, not rendered, so the batches that follow equal an uninterrupted run's."""
        self._skip = max(0, int(samples))

    def render_unit(self, ref: int, plan: Optional[Plan] = None) -> Tuple[Tensor, List[SampleRecipe]]:
        """Images float Tensor[B, 3, S, S] (on the device) and recipes of reference ``ref``."""
        plan = plan or self.plan
        crop = self._crop(ref)
        if crop is None:
            return torch.empty(0, 3, self.preset.crop, self.preset.crop, device=self.device), []
        recipes = plan.recipes(ref)
        with torch_threads(1 if (self.deterministic and self.device == "cpu") else None):
            out = render(crop.float().div(255.0), recipes, self.impl, plan.preset.overlap)
            if self.quantize:
                out = out.clamp_(0, 1).mul_(255.0).round_().div_(255.0)
        return out, recipes

    def _targets(self, recipes: List[SampleRecipe]) -> Dict[str, Any]:
        plan, dev, P = self.plan, self.device, self.plan.max_params
        labels = [targets_from_recipe(plan, r) for r in recipes]
        out: Dict[str, Any] = {"reference_id": torch.tensor([r.reference for r in recipes], dtype=torch.int64, device=dev)}
        if self.preset.task == "classification":
            out["labels"] = torch.tensor([t["class_id"] for t in labels], dtype=torch.int64, device=dev)
            out["levels"] = torch.tensor([t["level"] for t in labels], dtype=torch.int64, device=dev)
            out["params"] = torch.tensor([padded(t["values"], P) for t in labels], dtype=torch.float32,
                                         device=dev).reshape(-1, P)
            return out
        out["targets"] = [detection_target([g for g in t["regions"] if g["visible"] > 0], P, dev) for t in labels]
        return out

    def _batch(self, images: List[Tensor], recipes: List[SampleRecipe]) -> Dict[str, Any]:
        batch = {"images": torch.stack(images)}
        batch.update(self._targets(recipes))
        return batch

    def __iter__(self) -> Iterator[Dict[str, Any]]:
        plan = self._plan()
        units = self._my_units()
        pend_img: List[Tensor] = []
        pend_rec: List[SampleRecipe] = []
        step = self.mix_units if self.shuffle else 1
        skip, self._skip = getattr(self, "_skip", 0), 0
        for w in range(0, len(units), step):
            if skip:
                window = [ref for ref in units[w:w + step] if self._reference(ref) is not None]
                n = sum(plan.num_samples(ref) for ref in window)
                if n <= skip:   # this whole window lies before the resume point: count it only
                    skip -= n
                    continue
            imgs: List[Tensor] = []
            recs: List[SampleRecipe] = []
            for ref in units[w:w + step]:
                out, recipes = self.render_unit(ref, plan)
                imgs.extend(out.unbind(0))
                recs.extend(recipes)
            if self.shuffle and recs:
                perm = torch.randperm(len(recs), generator=generator(self.seed, 0x313, self.epoch, units[w])).tolist()
                imgs, recs = [imgs[i] for i in perm], [recs[i] for i in perm]
            if skip:
                imgs, recs, skip = imgs[skip:], recs[skip:], 0
            pend_img.extend(imgs)
            pend_rec.extend(recs)
            while len(pend_rec) >= self.batch_size:
                yield self._batch(pend_img[: self.batch_size], pend_rec[: self.batch_size])
                pend_img, pend_rec = pend_img[self.batch_size:], pend_rec[self.batch_size:]
        if pend_rec and not self.drop_last:
            yield self._batch(pend_img, pend_rec)

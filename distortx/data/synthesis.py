"""Recipes: what each generated image is (type, level, parameters, boxes), as a pure function of the seed.

A dataset is a list of *units*, one per reference image used; unit ``r`` holds samples ``j = 0..k_r-1``.
Every random draw of sample ``(r, j)`` comes from its own ``torch.Generator`` seeded with
``mix_seed(seed, r, j)`` (splitmix64), so the dataset does not depend on worker count, shard, batch order or
resumption.

Which references, how many images each (``count``): without ``count`` every readable reference gives the
preset's ``per_reference`` images. With ``count`` below that, the images are spread over as many references
as possible: ``min(readable, count)`` references, drawn by a seeded choice from all readable ones when fewer
are needed (not the alphabetically first), each giving ``count // used`` images and the first
``count % used`` of them (in the seeded order) one more. References known to be unreadable
(:meth:`ImageSource.problems`) are left out before the choice, so they cost no images. A classification
unit with fewer images than its class-level grid takes consecutive grid entries, continuing where the
previous unit stopped, so classes and levels stay balanced over the dataset.

The split of a reference is a seeded permutation of the references used, cut by the preset's fractions
(largest remainder, every non-empty fraction gets at least one reference when there are enough), so a
reference and all its samples live in exactly one split (no leakage).

Per sample (the papers' protocols):

- classification, ``level_mode="grid"``: every type x every level of its level set (x ``per_image``), plus the
  reference image as class 0 when ``include_reference``; ``"random"``/``"variable"``: every class
  ``per_image`` times, the level drawn uniformly from the set (random) or uniformly between the set's min and
  max (variable). The distortion covers the whole image.
- detection (Ahn): region count ``k ~ U{regions[0]..regions[1]}``; per region a type uniform over the
  preset's distortions, width and height ratios ``~ U[region_ratio]`` independently (box side =
  round(ratio x crop), at least 1 px), top-left corner uniform such that the box lies inside the image,
  and the level per ``level_mode`` ("variable": uniform between the type's level-set min and max; "grid" or
  "random": one of the set's levels). Regions are applied with :func:`distortx.apply_regions` semantics
  (computed on the clean image, later boxes win); a box fully hidden by later boxes is still drawn and
  applied but gets ``visible = 0`` (labels drop it). A preset with ``overlap = "stack"`` applies its regions one
  after another instead (each on the image the earlier ones left; every region is labelled, ``visible = 1``).

:func:`render` applies the recipes of a unit to its clean crop through ``distortx.ops.distort_batch`` (the
semantics of ``apply_regions``): the fused native kernel with ``impl="auto"`` (when built) or ``"native"``, the
Python compositor of the references with ``"python"``.
"""
from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import torch
from torch import Tensor

from ..distortions.regions import Region, clip_box
from ..errors import DatasetError
from ..distortions.spec import Params
from .preset import OVERLAPS, PresetSpec

REFERENCE_CLASS = "reference"
_M64 = (1 << 64) - 1


def _splitmix64(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & _M64
    z = x
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
    return z ^ (z >> 31)


def mix_seed(*parts: int) -> int:
    """A 63-bit seed from integers (splitmix64 chain): ``mix_seed(seed, reference, sample)``."""
    h = 0x5D1A7E5EED
    for p in parts:
        h = _splitmix64(h ^ (int(p) & _M64))
    return h & ((1 << 63) - 1)


def generator(*parts: int) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded with :func:`mix_seed` of ``parts``."""
    return torch.Generator().manual_seed(mix_seed(*parts))


def assign_splits(n_refs: int, splits: Sequence[Tuple[str, float]], seed: int) -> List[str]:
    """Split name of each reference index: a seeded permutation cut by the fractions (largest remainder)."""
    names = [s for s, _ in splits]
    fracs = [float(f) for _, f in splits]
    exact = [f * n_refs for f in fracs]
    sizes = [math.floor(e) for e in exact]
    order = sorted(range(len(fracs)), key=lambda i: (-(exact[i] - sizes[i]), i))
    for i in order[: n_refs - sum(sizes)]:
        sizes[i] += 1
    # a split with a positive fraction gets at least one reference when there are enough of them
    if n_refs >= sum(1 for f in fracs if f > 0):
        for i, f in enumerate(fracs):
            if f > 0 and sizes[i] == 0:
                donor = max(range(len(sizes)), key=lambda k: (sizes[k], -k))
                sizes[donor] -= 1
                sizes[i] += 1
    perm = torch.randperm(n_refs, generator=generator(seed, 0x5B117)).tolist()
    out = [""] * n_refs
    pos = 0
    for name, size in zip(names, sizes):
        for r in perm[pos:pos + size]:
            out[r] = name
        pos += size
    return out


@dataclass(frozen=True)
class SampleRecipe:
    """One image to generate: its identity, split, label and regions.

    type/class_id: the classification label ("reference"/0 for an undistorted image); ``"regions"``/-1 for
    detection, whose labels are the regions. regions: what :func:`distortx.apply_regions` applies (box None =
    whole image).
    """

    reference: int
    index: int
    split: str
    type: str
    class_id: int
    regions: Tuple[Region, ...]


class Plan:
    """A preset + seed + number of references, compiled: the recipe of every sample.

    count:     total images, spread over the references (see the module docstring); default every readable
               reference x ``per_reference``.
    per_image: overrides ``preset.per_image``.
    unusable:  reference indices known to be unreadable (left out).
    """

    def __init__(self, preset: PresetSpec, seed: int, n_refs: int, count: Optional[int] = None,
                 per_image: Optional[int] = None, unusable: Sequence[int] = ()):
        from ..registry import get_distortion

        self.preset, self.seed, self.n_refs = preset, int(seed), int(n_refs)
        self.per_image = int(per_image if per_image is not None else preset.per_image)
        self.specs = {n: get_distortion(n) for n in preset.distortions}
        sets = dict(preset.level_sets)
        self.level_sets = {n: (sets.get(n) if self.specs[n].levels else None) for n in preset.distortions}
        if preset.task == "classification":
            self.classes: List[str] = ([REFERENCE_CLASS] if preset.include_reference else []) + list(preset.distortions)
            self.class_offset = 0
            self._entries = self._classification_entries()
            self.per_reference = len(self._entries)
        else:
            self.classes = list(preset.distortions)
            self.class_offset = 1  # COCO category ids 1..K (0 = background in torchvision detection)
            self._entries = []
            self.per_reference = self.per_image
        self.unusable = frozenset(int(r) for r in unusable)
        self.samples = self._allocate(count)
        self.total = sum(self.samples)
        used = [r for r in range(self.n_refs) if self.samples[r] > 0]
        self.splits = [""] * self.n_refs
        for r, s in zip(used, assign_splits(len(used), preset.splits, self.seed)):
            self.splits[r] = s
        self.offsets = [0] * self.n_refs  # samples of the used references before each one (index order)
        acc = 0
        for r in used:
            self.offsets[r] = acc
            acc += self.samples[r]

    def _allocate(self, count: Optional[int]) -> List[int]:
        """Images per reference index (0 = unused); see the module docstring."""
        usable = [r for r in range(self.n_refs) if r not in self.unusable]
        P = self.per_reference
        samples = [0] * self.n_refs
        if count is None or int(count) >= len(usable) * P:
            for r in usable:
                samples[r] = P
            return samples
        n_used = min(len(usable), int(count))
        perm = torch.randperm(len(usable), generator=generator(self.seed, 0xC0C0)).tolist()
        base, extra = divmod(int(count), n_used)
        for k, i in enumerate(perm[:n_used]):
            samples[usable[i]] = base + (1 if k < extra else 0)
        return samples

    def reseeded(self, seed: int) -> "Plan":
        """The same references, images per reference and splits, with new draws (recipes from ``seed``)."""
        import copy

        p = copy.copy(self)
        p.seed = int(seed)
        return p

    def references_per_split(self) -> Dict[str, int]:
        """Split name -> references used (the preset's split order, empty splits included)."""
        out = {s: 0 for s, _ in self.preset.splits}
        for r in range(self.n_refs):
            if self.samples[r] > 0:
                out[self.splits[r]] += 1
        return out

    # -- helpers ----------------------------------------------------------------------------------------
    def class_id(self, name: str) -> int:
        return self.classes.index(name) + self.class_offset

    def param_names(self, name: str) -> List[str]:
        return [] if name == REFERENCE_CLASS else [p.name for p in self.specs[name].parameters]

    @property
    def max_params(self) -> int:
        return max(len(s.parameters) for s in self.specs.values())

    def num_samples(self, ref: int) -> int:
        """Samples of unit ``ref`` (0 for a reference not used)."""
        return self.samples[ref]

    @staticmethod
    def references_for(count: int, per_reference: int) -> int:
        return max(1, math.ceil(count / per_reference))

    def _classification_entries(self) -> List[Tuple[str, Optional[int]]]:
        """(class name, fixed level index or None) of each sample of a unit."""
        p = self.preset
        entries: List[Tuple[str, Optional[int]]] = []
        if p.include_reference:
            entries += [(REFERENCE_CLASS, None)] * self.per_image
        for name in p.distortions:
            spec = self.specs[name]
            if p.level_mode == "grid":
                ls = spec.level_set(self.level_sets[name])
                if ls.continuous:
                    entries += [(name, None)] * self.per_image
                else:
                    for lvl in range(len(ls.values)):
                        entries += [(name, lvl)] * self.per_image
            else:
                entries += [(name, None)] * self.per_image
        return entries

    def _draw_params(self, name: str, g: torch.Generator, level: Optional[int]) -> Params:
        spec = self.specs[name]
        if not spec.levels:
            return spec.sample(1, generator=g)
        variable = self.preset.level_mode == "variable"
        return spec.sample(1, generator=g, levels=self.level_sets[name], level=None if variable else level,
                           variable=variable)

    @staticmethod
    def _region(name: str, params: Params, box) -> Region:
        return Region(name, tuple(float(v) for v in params.values[0].tolist()), box,
                      int(params.seed[0]), int(params.level[0]))

    # -- recipes ----------------------------------------------------------------------------------------
    def recipe(self, ref: int, j: int) -> SampleRecipe:
        """The recipe of sample ``j`` of reference ``ref`` (a pure function of seed, ref, j)."""
        g = generator(self.seed, ref, j)
        split = self.splits[ref]
        p = self.preset
        if p.task == "classification":
            name, level = self._entries[(self.offsets[ref] + j) % self.per_reference]
            if name == REFERENCE_CLASS:
                return SampleRecipe(ref, j, split, name, self.class_id(name), ())
            region = self._region(name, self._draw_params(name, g, level), None)
            return SampleRecipe(ref, j, split, name, self.class_id(name), (region,))
        S = p.crop
        lo, hi = p.regions
        k = int(torch.randint(lo, hi + 1, (1,), generator=g))
        rlo, rhi = (float(v) for v in p.region_ratio)
        regions = []
        for _ in range(k):
            name = p.distortions[int(torch.randint(len(p.distortions), (1,), generator=g))]
            ratio = rlo + (rhi - rlo) * torch.rand(2, generator=g, dtype=torch.float64)
            w, h = (max(1, min(S, int(round(float(r) * S)))) for r in ratio)
            x0 = int(torch.randint(S - w + 1, (1,), generator=g))
            y0 = int(torch.randint(S - h + 1, (1,), generator=g))
            params = self._draw_params(name, g, None)
            regions.append(self._region(name, params, (x0, y0, x0 + w, y0 + h)))
        return SampleRecipe(ref, j, split, "regions", -1, tuple(regions))

    def recipes(self, ref: int) -> List[SampleRecipe]:
        return [self.recipe(ref, j) for j in range(self.num_samples(ref))]

    def units(self, shard: Tuple[int, int] = (0, 1)) -> List[int]:
        """Reference indices with at least one sample, of shard ``(i, n)`` (``ref % n == i``)."""
        i, n = shard
        return [r for r in range(self.n_refs) if r % n == i and self.num_samples(r) > 0]


def visible_fractions(boxes: Sequence[Tuple[int, int, int, int]], height: int, width: int) -> List[float]:
    """Fraction of each box's pixels not covered by a later box ("later boxes win")."""
    import numpy as np

    covered = np.zeros((height, width), dtype=bool)
    out = [0.0] * len(boxes)
    for k in range(len(boxes) - 1, -1, -1):
        x0, y0, x1, y1 = clip_box(boxes[k], height, width)
        area = (x1 - x0) * (y1 - y0)
        if area > 0:
            view = covered[y0:y1, x0:x1]
            out[k] = (area - int(np.count_nonzero(view))) / area
            view[...] = True
    return out


# -- rendering ----------------------------------------------------------------------------------------------
def resolve_impl(impl: str = "auto") -> str:
    """The renderer's ``impl``, checked to be one of "auto" | "native" | "python" (:func:`render`)."""
    from .._ext import normalize_impl

    return normalize_impl(impl, "dataset rendering")


def impl_label(impl: str, device: str) -> str:
    """What the manifest records: the path :func:`render` takes on ``device``, "native" or "python" (the fused
    kernel, or the Python compositor of the references). The two agree to float rounding, not bit for bit."""
    from .._ext import resolve_impl as resolve_path

    return resolve_path(resolve_impl(impl), "dataset rendering", torch.device(device), op="distort")


def render(clean: Tensor, recipes: Sequence[SampleRecipe], impl: str = "auto", overlap: str = "occlude") -> Tensor:
    """Apply each recipe's regions to ``clean`` (float Tensor[3, H, W] on any device, or uint8 for the CPU kernel's
    uint8 path) -> Tensor[B, 3, H, W] of its dtype, through :func:`distortx.ops.distort_batch` with ``impl``:
    ``overlap`` "occlude" = ``apply_regions`` per recipe (every region from the clean crop, later ones win);
    "stack" = one pass per region, each distorting the image the earlier passes left."""
    from ..ops.fused import distort_batch

    B = len(recipes)
    C, H, W = clean.shape
    images = clean.unsqueeze(0).expand(B, C, H, W).contiguous()
    impl = resolve_impl(impl)
    if overlap not in OVERLAPS:
        raise DatasetError(f"render: overlap must be one of {', '.join(OVERLAPS)}, got {overlap!r}")
    if overlap == "occlude":
        return distort_batch(images, [list(r.regions) for r in recipes], impl=impl)
    for k in range(max((len(r.regions) for r in recipes), default=0)):
        images = distort_batch(images, [list(r.regions[k:k + 1]) for r in recipes], impl=impl)
    return images


@contextlib.contextmanager
def torch_threads(n: Optional[int]) -> Iterator[None]:
    """Run the body with ``n`` intra-op threads (None: leave as is). Some CPU kernels (antialiased resize)
    round differently with another thread count, so synthesis pins one thread per process for
    byte-identical datasets whatever the worker count."""
    if n is None:
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)

"""The robustness protocol: which conditions (distortion, level) a sweep measures, their per-image parameters
(seeded so that an image's noise depends on nothing else) and how a batch is distorted for a condition."""
from __future__ import annotations

import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor

from ...data.preset import PresetSpec
from ...data.synthesis import generator
from ...data.user_preset import resolve_preset
from ...distortions.spec import DistortionSpec, Params
from ...errors import DistortxError
from ...registry import get_distortion
from .codec_pool import CodecCache, CodecPool

FORMAT = "distortx-robustness/1"
CLEAN = "clean"
RESULTS_JSON, RESULTS_CSV, PER_CLASS_CSV = "results.json", "results.csv", "per_class.csv"
CSV_FIELDS = ("distortion", "level", "value", "level_set", "n", "top1", "top5", "ssim", "psnr")


class RobustnessError(DistortxError):
    """A sweep that cannot run or resume: conflicting output folder, bad baseline, unusable preset."""



# -- the protocol --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Condition:
    """One row of a sweep. level: index in ``level_set`` (0 = mildest), -1 = drawn from a continuous set;
    value: the severity parameter (None for clean / continuous). The clean row is ("clean", 0, None, None)."""

    distortion: str
    level: int = 0
    value: Optional[float] = None
    level_set: Optional[str] = None

    @property
    def is_clean(self) -> bool:
        return self.distortion == CLEAN

    def to_dict(self) -> Dict[str, Any]:
        return {"distortion": self.distortion, "level": self.level, "value": self.value, "level_set": self.level_set}


def parse_levels(entries: Sequence[str]) -> Tuple[Optional[str], Dict[str, str]]:
    """``--levels`` entries: ``SET`` (every distortion that has it) or ``TYPE=SET``. Returns (default, per type)."""
    default, per = None, {}
    for entry in entries:
        for item in str(entry).split(","):
            item = item.strip()
            if not item:
                continue
            if "=" in item:
                name, _, set_name = item.partition("=")
                per[name.strip()] = set_name.strip()
            else:
                default = item
    return default, per


def plan_conditions(preset: Union[str, Path, PresetSpec] = "dodge-karam", levels: Sequence[str] = (),
                    distortions: Optional[Sequence[str]] = None) -> Tuple[PresetSpec, List[Condition]]:
    """The preset (checked) and its conditions: clean first, then every distortion x every level.

    levels: ``--levels`` entries overriding the preset's level sets; distortions: keep only these types.
    """
    spec_preset = resolve_preset(preset)
    names = list(spec_preset.distortions)
    if distortions:
        unknown = [d for d in distortions if d not in names]
        if unknown:
            raise RobustnessError(f"preset {spec_preset.name!r} has no distortion {unknown[0]!r} "
                                  f"(it has: {', '.join(names)})")
        names = [d for d in names if d in distortions]
    default, per = parse_levels(levels)
    for name in per:
        if name not in names:
            raise RobustnessError(f"--levels names {name!r}, which is not swept (distortions: {', '.join(names)})")
    sets = dict(spec_preset.level_sets)
    conditions = [Condition(CLEAN)]
    used_default = False
    for name in names:
        spec = get_distortion(name)
        if not spec.levels:
            raise RobustnessError(f"{name} declares no level sets, so a sweep cannot enumerate its levels")
        set_name = per.get(name)
        if set_name is None and default is not None and default in [ls.name for ls in spec.levels]:
            set_name, used_default = default, True
        ls = spec.level_set(set_name or sets.get(name))  # UnknownNameError lists the sets
        if ls.continuous:
            conditions.append(Condition(name, -1, None, ls.name))
        else:
            conditions += [Condition(name, i, float(v), ls.name) for i, v in enumerate(ls.values)]
    if default is not None and not used_default:
        raise RobustnessError(f"no swept distortion has a level set {default!r} (distortions: {', '.join(names)})")
    return spec_preset, conditions


def condition_params(spec: DistortionSpec, cond: Condition, n: int, seed: int) -> Params:
    """Parameters of ``cond`` for images 0..n-1 (row i = image i), a pure function of (seed, distortion, level)."""
    g = generator(seed, zlib.crc32(cond.distortion.encode()), cond.level + 1)
    if cond.level < 0:
        return spec.sample(n, generator=g, levels=cond.level_set, variable=True)
    return spec.sample(n, generator=g, levels=cond.level_set, level=cond.level)


def render(images: Tensor, spec: DistortionSpec, params: Params, codecs: Optional[CodecPool] = None,
           cache: Optional[CodecCache] = None) -> Tensor:
    """Distort a batch (float Tensor[B, C, H, W] on any device) with per-image ``params``: the fused native
    kernel in one call (whole-image boxes) when the distortion has one, else ``spec.apply`` (JPEG 2000:
    Pillow/OpenJPEG per image on the CPU), the batch split over ``codecs``' worker processes when given,
    and looked up in / stored to ``cache`` when given (same output either way). Returns Tensor[B, C, H, W]
    on the images' device."""
    from ...ops import distort_codes

    B, _, H, W = images.shape
    if spec.native_code is None:
        key = cache.key(spec.name, images, params) if cache is not None else None
        hit = cache.get(key) if cache is not None else None
        if hit is not None:
            return hit.to(device=images.device, dtype=images.dtype)
        out = codecs.apply(spec, images, params) if codecs is not None else spec.apply(images, params)
        if cache is not None:
            cache.put(key, out)
        return out
    codes = torch.full((B, 1), int(spec.native_code), dtype=torch.int32)
    boxes = torch.tensor([0, 0, W, H], dtype=torch.int32).expand(B, 1, 4)
    return distort_codes(images, codes, params.values.unsqueeze(1), boxes, params.seed.unsqueeze(1))


def default_codec_workers() -> int:
    """Processes for per-image codecs (JPEG 2000): the CPUs this process may use, at most 16."""
    n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(16, n))



"""The typed object returned by the ``distortx_presets`` hook: a dataset protocol."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Optional

from ..errors import DatasetError

OVERLAPS = ("occlude", "stack")
LEVEL_MODES = ("grid", "random", "variable")
#: crop side bounds (8192: one image is 805 MB as float32; generation also checks the memory it needs)
MIN_CROP, MAX_CROP = 8, 8192
TASKS = ("classification", "detection")
_SPLIT_RE = re.compile(r"^[a-z][a-z0-9_\-]*$")


@dataclass(frozen=True, eq=False)
class PresetSpec:
    """A dataset protocol: which distortions, at which levels, globally or in regions, how split.

    task:        "classification" (one global distortion per image) or "detection" (regions with boxes).
    distortions: registered distortion names; their class ids follow this order (1-based when
                 ``include_reference`` adds class 0 = undistorted).
    level_sets:  level set used per distortion (name -> level-set name); missing names use the default.
    level_mode:  "grid" (every image x every type x every level), "random" (one random level of the set)
                 or "variable" (uniform between the set's min and max).
    crop:        square side of the centre crop (after resizing the shorter side to it when ``resize``).
    regions:     (min, max) region count per image for detection; ``region_ratio`` (lo, hi) side ratio.
    overlap:     how overlapping regions combine: "occlude" (each region computed on the clean photo, later
                 regions win: a side under a later region is not in the pixels) or "stack" (each region distorts
                 the image as the earlier ones left it, so an overlap carries both).
    per_image:   images generated per reference image (detection / random modes).
    splits:      split name -> fraction, assigned by reference image (no leakage).
    """

    name: str
    task: str
    distortions: tuple[str, ...]
    level_sets: tuple[tuple[str, str], ...] = ()
    level_mode: str = "grid"
    include_reference: bool = False
    crop: int = 224
    resize: bool = True
    regions: Optional[tuple[int, int]] = None
    region_ratio: tuple[float, float] = (0.3, 0.7)
    overlap: str = "occlude"
    per_image: int = 1
    splits: tuple[tuple[str, float], ...] = (("train", 0.6), ("val", 0.2), ("test", 0.2))
    description: str = ""
    source: str = ""
    plugin: str = field(default="", compare=False)

    def validate(self) -> None:
        """Raise :class:`DatasetError` (one line naming the preset) if its fields are malformed: task, level
        mode, crop, per_image, regions, region_ratio and splits. Whether the distortions and level sets it
        names are registered is checked by :func:`distortx.data.user_preset.check_preset`."""
        who = f"preset {self.name!r}"
        if self.task not in TASKS:
            raise DatasetError(f"{who}: task must be one of {', '.join(TASKS)}, got {self.task!r}")
        if not self.distortions:
            raise DatasetError(f"{who}: names no distortions")
        if len(set(self.distortions)) != len(self.distortions):
            raise DatasetError(f"{who}: a distortion is listed twice in {list(self.distortions)}")
        if self.level_mode not in LEVEL_MODES:
            raise DatasetError(f"{who}: level_mode must be one of {', '.join(LEVEL_MODES)}, got {self.level_mode!r}")
        for name, _ in self.level_sets:
            if name not in self.distortions:
                raise DatasetError(f"{who}: level_sets names {name!r}, which is not one of its distortions")
        if isinstance(self.crop, bool) or not isinstance(self.crop, int) or not MIN_CROP <= self.crop <= MAX_CROP:
            raise DatasetError(f"{who}: crop must be an integer from {MIN_CROP} to {MAX_CROP}, got {self.crop!r}")
        if not isinstance(self.per_image, int) or self.per_image < 1:
            raise DatasetError(f"{who}: per_image must be an integer >= 1, got {self.per_image!r}")
        if self.task == "detection":
            if self.regions is None or len(self.regions) != 2:
                raise DatasetError(f"{who}: a detection preset needs regions = (min, max)")
            lo, hi = self.regions
            if not (isinstance(lo, int) and isinstance(hi, int) and not isinstance(lo, bool) and not isinstance(hi, bool)
                    and 1 <= lo <= hi):
                raise DatasetError(f"{who}: regions must be integers with 1 <= min <= max, got {tuple(self.regions)}")
            if len(self.region_ratio) != 2:
                raise DatasetError(f"{who}: region_ratio must be (low, high)")
            rlo, rhi = (float(v) for v in self.region_ratio)
            if not (0.0 < rlo <= rhi <= 1.0):
                raise DatasetError(f"{who}: region_ratio must satisfy 0 < low <= high <= 1, got {tuple(self.region_ratio)}")
        if self.overlap not in OVERLAPS:
            raise DatasetError(f"{who}: overlap must be one of {', '.join(OVERLAPS)}, got {self.overlap!r}")
        if not self.splits:
            raise DatasetError(f"{who}: needs at least one split")
        names = [s for s, _ in self.splits]
        if len(set(names)) != len(names):
            raise DatasetError(f"{who}: duplicate split names {names}")
        for s, frac in self.splits:
            if not isinstance(s, str) or not _SPLIT_RE.match(s):
                raise DatasetError(f"{who}: split name {s!r} must be lower-case letters, digits, '_' or '-'")
            if not (isinstance(frac, (int, float)) and math.isfinite(frac) and 0.0 <= frac <= 1.0):
                raise DatasetError(f"{who}: split {s!r} fraction must be in [0, 1], got {frac!r}")
        total = sum(float(f) for _, f in self.splits)
        if abs(total - 1.0) > 1e-6:
            raise DatasetError(f"{who}: split fractions must sum to 1, got {total:g}")

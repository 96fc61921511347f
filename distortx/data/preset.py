"""The typed object returned by the ``distortx_presets`` hook: a dataset protocol."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional


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
    per_image: int = 1
    splits: tuple[tuple[str, float], ...] = (("train", 0.6), ("val", 0.2), ("test", 0.2))
    description: str = ""
    source: str = ""
    plugin: str = field(default="", compare=False)

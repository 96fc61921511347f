"""The degradation parameters distortx can estimate: which distortion, which Endo preset trains it, the
scale the network works on, and the range an estimate is clamped to."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple

from ..errors import UnknownNameError


@dataclass(frozen=True)
class Target:
    """An estimable parameter. ``scale``: physical value of a normalised network output of 1; ``also``: other
    distortions whose first parameter is the same quantity (training data may mix them in)."""

    name: str
    distortion: str
    preset: str
    scale: float
    low: float
    high: float
    unit: str
    also: Tuple[str, ...] = ()

    @property
    def distortions(self) -> Tuple[str, ...]:
        return (self.distortion,) + tuple(self.also)


TARGETS = {
    "jpeg_quality": Target("jpeg_quality", "jpeg", "endo-jpeg", 100.0, 1.0, 100.0, "JPEG quality (IJG 1..100)"),
    "noise_sigma": Target("noise_sigma", "gaussian_noise_sigma", "endo-noise", 50.0, 0.0, 255.0,
                          "noise sigma (0..255 scale)", also=("camera_noise",)),
}


def get_target(name: str) -> Target:
    """The :class:`Target` called ``name`` ("jpeg_quality" or "noise_sigma")."""
    if name not in TARGETS:
        raise UnknownNameError("estimation target", name, TARGETS)
    return TARGETS[name]

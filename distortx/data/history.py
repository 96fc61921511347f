"""Photo history: what an ordinary photo already carries before anyone distorts it.

Real photos are not the clean PNGs distortion papers start from: they come out of a camera with sensor noise
(signal-dependent, correlated across channels and neighbouring pixels by demosaicing) and are stored as JPEGs
of quality 70-95. By the papers' definitions that is *clean*: Ahn's mildest JPEG level is quality 20 and his
mildest noise level sigma ~28 (0..255). A model trained on pristine references only learns that "any JPEG grid"
means jpeg and "any grain" means noise; training on references that carry a random, mild history teaches it
the difference.

:func:`distortx.distortions.noise.camera_noise` is the sensor noise model (also the ``camera_noise``
distortion, which the noise estimator trains on);
:func:`photo_history` applies noise and/or a JPEG round trip to a uint8 crop; :class:`HistorySpec` holds the
ranges (``data.<task>.history`` in a training config).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Mapping, Optional, Tuple

import torch
from torch import Tensor

from ..distortions.jpeg import pillow_jpeg
from ..distortions.noise import draw_uniform, camera_noise
from ..errors import DatasetError


@dataclass(frozen=True)
class HistorySpec:
    """Ranges of a random photo history (all drawn independently per crop).

    p_noise: probability of camera noise; noise_sigma: (lo, hi) noise S.D. at mid-grey on the 0..255 scale;
    p_jpeg: probability of a JPEG round trip; jpeg_quality: (lo, hi) inclusive; p_444: share of 4:4:4
    chroma (else 4:2:0); p_resave: probability of a second JPEG save at another quality of the same range.
    """

    p_noise: float = 0.4
    noise_sigma: Tuple[float, float] = (0.5, 6.0)
    p_jpeg: float = 0.6
    jpeg_quality: Tuple[int, int] = (50, 95)
    p_444: float = 0.3
    p_resave: float = 0.2

    @classmethod
    def from_config(cls, value: Any) -> Optional["HistorySpec"]:
        """None/False -> None; True -> defaults; a mapping of the fields above -> those values."""
        if value is None or value is False:
            return None
        if value is True:
            return cls()
        if not isinstance(value, Mapping):
            raise DatasetError(f"history must be true/false or a table of {', '.join(cls.__dataclass_fields__)}, got {value!r}")
        unknown = set(value) - set(cls.__dataclass_fields__)
        if unknown:
            raise DatasetError(f"history: unknown key(s) {', '.join(sorted(unknown))} "
                               f"(known: {', '.join(cls.__dataclass_fields__)})")
        kw = dict(value)
        for k in ("noise_sigma", "jpeg_quality"):
            if k in kw:
                lo, hi = kw[k]
                kw[k] = (float(lo), float(hi)) if k == "noise_sigma" else (int(lo), int(hi))
        spec = cls(**kw)
        spec.validate()
        return spec

    def validate(self) -> None:
        for k in ("p_noise", "p_jpeg", "p_444", "p_resave"):
            if not 0.0 <= float(getattr(self, k)) <= 1.0:
                raise DatasetError(f"history.{k} must lie in [0, 1], got {getattr(self, k)}")
        lo, hi = self.noise_sigma
        if not 0.0 <= lo <= hi <= 64.0:
            raise DatasetError(f"history.noise_sigma must satisfy 0 <= lo <= hi <= 64, got {self.noise_sigma}")
        lo, hi = self.jpeg_quality
        if not 1 <= lo <= hi <= 100:
            raise DatasetError(f"history.jpeg_quality must satisfy 1 <= lo <= hi <= 100, got {self.jpeg_quality}")


def photo_history(crop: Tensor, spec: HistorySpec, gen: torch.Generator) -> Tuple[Tensor, Dict[str, Any]]:
    """uint8 Tensor[3, H, W] -> (uint8 Tensor[3, H, W] with a random history, its record).

    The record holds what was applied: ``noise_sigma`` (S.D. at mid-grey, 0..255, or 0), ``jpeg_quality``
    (last save, or None), ``subsampling`` and ``resaved``. Draws come from ``gen`` only (seeded per crop).
    """
    record: Dict[str, Any] = {"noise_sigma": 0.0, "jpeg_quality": None, "subsampling": None, "resaved": False}
    use_noise = float(torch.rand((), generator=gen)) < spec.p_noise
    use_jpeg = float(torch.rand((), generator=gen)) < spec.p_jpeg
    if not (use_noise or use_jpeg):
        return crop, record
    out = crop
    if use_noise:
        sigma = draw_uniform(gen, *spec.noise_sigma)
        noisy = camera_noise(crop.cpu().float(), sigma, gen)
        out = noisy.round_().clamp_(0, 255).to(torch.uint8)
        record["noise_sigma"] = sigma
    if use_jpeg:
        lo, hi = spec.jpeg_quality
        arr = out.cpu().permute(1, 2, 0).contiguous().numpy()
        saves = 2 if float(torch.rand((), generator=gen)) < spec.p_resave else 1
        sub = "4:4:4" if float(torch.rand((), generator=gen)) < spec.p_444 else "4:2:0"
        for _ in range(saves):
            q = int(torch.randint(lo, hi + 1, (), generator=gen))
            arr = pillow_jpeg(arr, q, sub)
        out = torch.from_numpy(arr.copy()).permute(2, 0, 1).contiguous()
        record.update(jpeg_quality=q, subsampling=sub, resaved=saves > 1)
    return out.to(crop.device), record

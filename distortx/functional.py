"""One-call distortion of images in hand: ``distortx.distort`` (a level or a value) and ``distortx.corrupt``
(an imagecorruptions-style severity 1..5).

Both take what users of torchvision, albumentations and imagecorruptions have: Tensor[N, C, H, W] or
Tensor[C, H, W] (float in [0, 1] or uint8, any device) or numpy (H, W), (H, W, C), (N, H, W, C) (uint8 or
float), and return the same type, layout and dtype (see :mod:`distortx.distortions.edges`).

Severity -> value (:func:`severity_value`): severity s in 1..5 is the point t = (s - 1) / 4 of the way
along the type's level set from its mildest to its most severe value: between adjacent levels of a discrete
set (linear interpolation, rounded for integer parameters such as JPEG quality), between min and max of a
continuous one. Values at the identity (e.g. contrast's 0.0) are dropped first, and a continuous set that
starts at the identity uses t = s / 5, so severity 1 always changes the image. Ahn's three levels become
severities 1, 3 and 5 (JPEG quality 20, 15, 10, 8, 5; blur sigma 1.5, 2.25, 3, 4.5, 6).
"""
from __future__ import annotations

import math
from typing import List, Optional, Union

import torch

from .distortions.edges import from_batch, to_batch
from .distortions.spec import DistortionSpec, check_seed
from .errors import ParameterError

SEVERITIES = (1, 2, 3, 4, 5)


def _spec(name: Union[str, DistortionSpec]) -> DistortionSpec:
    if isinstance(name, DistortionSpec):
        return name
    from .registry import get_distortion

    return get_distortion(name)


def severity_value(name: Union[str, DistortionSpec], severity: int, levels: Optional[str] = None) -> float:
    """The severity parameter's value of ``name`` at ``severity`` (1 = mildest .. 5) along the level set
    ``levels`` (default: the type's default set). See the module docstring for the mapping."""
    spec = _spec(name)
    if isinstance(severity, bool) or not isinstance(severity, int) or severity not in SEVERITIES:
        raise ParameterError(f"severity must be an integer from 1 (mildest) to 5, got {severity!r}")
    ls = spec.level_set(levels)
    ident = spec.identity
    if ls.continuous:
        lo, hi = min(ls.values), max(ls.values)
        mild, severe = (lo, hi) if spec.severity == "increasing" else (hi, lo)
        t = severity / 5 if ident is not None and mild == ident else (severity - 1) / 4
        value = mild + t * (severe - mild)
    else:
        path: List[float] = [v for v in ls.values if ident is None or v != ident] or list(ls.values)
        pos = (severity - 1) / 4 * (len(path) - 1)
        k = min(int(math.floor(pos)), len(path) - 1)
        frac = pos - k
        value = path[k] if frac == 0 else path[k] + frac * (path[k + 1] - path[k])
    if spec.parameters[0].integer:
        value = float(round(value))
    return float(value)


def distort(images, name: str, level: Optional[int] = None, levels: Optional[str] = None,
            value: Optional[float] = None, seed: int = 0, impl: str = "auto"):
    """Apply distortion ``name`` to ``images`` (any accepted form, see the module docstring); returns the
    same type, layout and dtype.

    Give ``level`` (index into level set ``levels`` of discrete sets, default the distortion's default set)
    or ``value`` (the severity parameter itself), not both. With neither: level 0 of a discrete set, a value
    drawn from ``seed`` in a continuous one. Secondary parameters and noise are drawn from ``seed``.
    impl: "auto" (the native kernel when built, else the reference) | "native" | "python" (the reference).
    """
    spec = _spec(name)
    if value is not None and level is not None:
        raise ParameterError("give either level or value, not both")
    g = torch.Generator().manual_seed(check_seed(seed))
    batch, fmt = to_batch(images, keep_uint8=True)
    n = batch.shape[0]
    if value is not None:
        params = spec.sample(n, generator=g)
        params.values[:, 0] = float(value)
    else:
        if level is None and spec.levels and not spec.level_set(levels).continuous:
            level = 0
        params = spec.sample(n, generator=g, levels=levels, level=level)
    return from_batch(spec.apply_batch(batch, params, impl), fmt)


def corrupt(image, name: str, severity: int = 1, seed: int = 0, levels: Optional[str] = None, impl: str = "auto"):
    """imagecorruptions-style one-liner: ``corrupt(image, "gaussian_blur", severity=3)``.

    severity 1..5 maps onto the type's paper levels (:func:`severity_value`); ``levels`` picks another level
    set. ``image`` in any accepted form (numpy H x W x 3 uint8 as imagecorruptions, tensors, batches);
    returns the same type, layout and dtype. impl: as :func:`distort`.
    """
    return distort(image, name, value=severity_value(name, severity, levels), seed=seed, impl=impl)


__all__ = ["SEVERITIES", "corrupt", "distort", "severity_value"]

"""distortx: synthesize, classify and localize image distortions at GPU speed.

Quick use::

    import distortx
    spec = distortx.get_distortion("gaussian_blur")
    params = spec.sample(len(images), generator=torch.Generator().manual_seed(0), levels="ahn")
    out = spec.apply(images, params)                    # images: float Tensor[N, C, H, W] in [0, 1]
    out = distortx.distort(images, "jpeg", level=2)      # one call, a level of the default level set
"""
from __future__ import annotations

__version__ = "0.1.0"

from typing import List, Optional

import torch
from torch import Tensor

from .data.preset import PresetSpec
from .distortions.regions import Region, apply_regions
from .distortions.spec import DistortionSpec, LevelSet, Parameter, Params
from .errors import (DatasetError, DistortxError, ImageError, NativeUnavailableError, ParameterError,
                     PluginError, UnknownNameError)
from .hookspecs import hookimpl
from .models.registry import create_model, list_backbones, list_heads, list_models
from .models.spec import BackboneSpec, HeadSpec
from .plugins import get_plugin_manager


def get_distortion(name: str) -> DistortionSpec:
    """The registered distortion called ``name`` (built-in or from a plugin)."""
    return get_plugin_manager().get("distortx_distortions", name)


def list_distortions() -> List[str]:
    """Names of every registered distortion, sorted."""
    return sorted(get_plugin_manager().registry("distortx_distortions"))


def get_preset(name: str) -> PresetSpec:
    """The registered dataset preset called ``name``."""
    return get_plugin_manager().get("distortx_presets", name)


def list_presets() -> List[str]:
    return sorted(get_plugin_manager().registry("distortx_presets"))


def distort(
    images: Tensor,
    name: str,
    level: Optional[int] = None,
    levels: Optional[str] = None,
    value: Optional[float] = None,
    seed: int = 0,
) -> Tensor:
    """Apply distortion ``name`` to ``images`` (Tensor[N, C, H, W] or Tensor[C, H, W], float in [0, 1]).

    Give either ``level`` (index into level set ``levels``, default the distortion's default set) or
    ``value`` (the severity parameter itself); secondary parameters are drawn from ``seed``.
    """
    spec = get_distortion(name)
    single = images.dim() == 3
    batch = images.unsqueeze(0) if single else images
    g = torch.Generator().manual_seed(int(seed))
    if value is not None and level is not None:
        raise ParameterError("give either level or value, not both")
    n = batch.shape[0] if batch.dim() == 4 else 1
    if value is not None:
        params = spec.sample(n, generator=g)
        params.values[:, 0] = float(value)
    else:
        params = spec.sample(n, generator=g, levels=levels, level=level if level is not None else 0)
    out = spec.apply(batch, params)
    return out.squeeze(0) if single else out


def estimate(images, what: str = "jpeg_quality", **kwargs):
    """Estimate a degradation parameter of images from their pixels (Endo/Uchida's CNN, shipped weights):
    ``what`` = "jpeg_quality" (1..100) or "noise_sigma" (0..255 scale); returns Tensor[N]. See
    :func:`distortx.estimation.estimate` for ``return_map``, ``weights``, ``device``."""
    from .estimation import estimate as _estimate

    return _estimate(images, what=what, **kwargs)

def load_default_model(device=None):
    """The shipped default Y-net (Ahn's 8 types + clean; classification and SSD detection), in eval mode."""
    from .engine.default_model import load_default_model as _load

    return _load(device)


def predict(inputs, model=None, **kwargs):
    """Which distortion, and where: photos (paths, folders or Tensor[3, H, W]) of any size, tiled; ``model``
    a checkpoint / run folder / model, or None for the shipped default. See :func:`distortx.engine.predict.predict`."""
    from .engine.predict import predict as _predict

    return _predict(inputs, model=model, **kwargs)


def train(config, overrides=(), **kwargs):
    """Train as ``distortx train`` does (config: TOML path, dict or TrainConfig). See :mod:`distortx.engine.train`."""
    from .engine.train import train as _train

    return _train(config, overrides, **kwargs)


__all__ = [
    "BackboneSpec", "DatasetError", "DistortionSpec", "DistortxError", "HeadSpec", "ImageError", "LevelSet",
    "NativeUnavailableError", "Parameter", "ParameterError", "Params", "PluginError", "PresetSpec", "Region",
    "UnknownNameError", "apply_regions", "create_model", "distort", "estimate", "get_distortion", "get_plugin_manager", "get_preset",
    "hookimpl", "list_backbones", "load_default_model", "predict", "train", "list_distortions", "list_heads", "list_models", "list_presets", "__version__",
]

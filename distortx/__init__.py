"""distortx: synthesize, classify and localize image distortions at GPU speed.

Quick use::

    import distortx
    spec = distortx.get_distortion("gaussian_blur")
    params = spec.sample(len(images), generator=torch.Generator().manual_seed(0), levels="ahn")
    out = spec.apply(images, params)                    # images: float Tensor[N, C, H, W] in [0, 1]
    out = distortx.distort(images, "jpeg", level=2)      # one call, a level of the default level set
    out = distortx.corrupt(img_hwc_uint8, "jpeg", severity=3)   # numpy / uint8 in, the same type out
    aug = distortx.RandomDistortion(p=0.8)               # nn.Module; aug.last_params holds the labels
"""
from __future__ import annotations

from ._version import __version__
from .data.preset import PresetSpec
from . import ops  # noqa: F401  (fills the distortions' native slot: spec.apply reaches the kernels)
from .data.random_distortion import RandomDistortion
from .distortions.regions import Region
from .distortions.spec import DistortionSpec, LevelSet, Parameter, Params
from .functional import corrupt, distort, severity_value
from .ops.regions import apply_regions
from .errors import (DatasetError, DistortxError, ImageError, NativeUnavailableError, ParameterError,
                     PluginError, UnknownNameError)
from .hookspecs import hookimpl
from .models.registry import create_model, list_backbones, list_heads, list_models
from .models.spec import BackboneSpec, HeadSpec
from .plugins import get_plugin_manager
from .registry import get_distortion, get_preset, list_distortions, list_presets


def estimate(images, what: str = "jpeg_quality", **kwargs):
    """Estimate a degradation parameter of images from their pixels (Endo/Uchida's CNN, shipped weights):
    ``what`` = "jpeg_quality" (1..100) or "noise_sigma" (0..255 scale); returns Tensor[N]. See
    :func:`distortx.estimation.estimate` for ``return_map``, ``weights``, ``device``."""
    from .estimation import estimate as _estimate

    return _estimate(images, what=what, **kwargs)


def load_default_model(device=None):
    """The shipped default Y-net (Ahn's 8 types + clean; classification and SSD detection), in eval mode."""
    from .engine.inference.default_model import load_default_model as _load

    return _load(device)


def predict(inputs, model=None, verdict=True, rules=None, **kwargs):
    """What is wrong with each photo, and where: photos (paths, folders or Tensor[3, H, W]) of any size, tiled;
    ``model`` a checkpoint / run folder / model, or None for the shipped default. Each result carries the
    verdict (``.verdict``: clean or findings with severity, and JPEG quality / noise sigma measured; see
    :mod:`distortx.verdict`; ``rules`` a VerdictRules) and the raw heads (``.probabilities``,
    ``.classifier_label``, ``.regions``); ``verdict=False`` skips the estimators and the rule.
    See :func:`distortx.engine.inference.predict.predict`."""
    from .engine.inference.predict import predict as _predict

    if verdict:
        from .engine.inference.predict import resolve_model
        from .verdict import verdict_annotator

        model = resolve_model(model)
        kwargs["annotate"] = verdict_annotator(rules, device=kwargs.get("device"), model=model)
    return _predict(inputs, model=model, **kwargs)


def train(config, overrides=(), **kwargs):
    """Train as ``distortx train`` does (config: TOML path, dict or TrainConfig). See :mod:`distortx.engine.training.train`."""
    from .engine.training.train import train as _train

    return _train(config, overrides, **kwargs)


__all__ = [
    "BackboneSpec", "DatasetError", "DistortionSpec", "DistortxError", "HeadSpec", "ImageError", "LevelSet",
    "NativeUnavailableError", "Parameter", "ParameterError", "Params", "PluginError", "PresetSpec", "RandomDistortion", "Region",
    "UnknownNameError", "apply_regions", "corrupt", "create_model", "distort", "estimate", "get_distortion", "get_plugin_manager", "get_preset",
    "hookimpl", "list_backbones", "load_default_model", "predict", "train", "list_distortions", "list_heads", "list_models", "list_presets", "severity_value", "__version__",
]

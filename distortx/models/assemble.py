"""Assembly by names: a registered backbone + registered heads -> :class:`DistortxModel`.

Built-in architectures (registered with :func:`~distortx.models.registry.register_model`):

- ``classifier``: backbone -> ``head`` (default "classifier") -> logits over ("clean", *types);
- ``detector``:   backbone -> ``head`` (default "ssd") -> SSD outputs over ("background", *types);
- ``ynet``:       Ahn et al.'s Y-shaped network: one backbone feeding a classification head and an SSD head.

The backbone is probed once at ``image_size`` (on the meta device when it allows, so even ResNet-101 costs
nothing) to learn each map's size and check its declared channels; heads are built from those numbers,
so any backbone that returns maps works in every architecture (a plugin backbone needs no other code).
"""
from __future__ import annotations

import inspect
import itertools
import json
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from ..errors import DistortxError, ParameterError, PluginError
from .model import DistortxModel
from .registry import register_model
from .vocabulary import resolve_types

Sizes = List[Tuple[int, int]]


def probe_features(module: nn.Module, image_size: int) -> List[Tuple[int, int, int]]:
    """(channels, h, w) of every map ``module`` returns for a 1x3x``image_size``x``image_size`` input.

    Runs on the meta device (shapes only, no arithmetic) and falls back to a real forward pass for modules
    that do not support it; the module's train/eval mode is restored.
    """
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            try:
                meta = {n: t.to("meta") for n, t in itertools.chain(module.named_parameters(), module.named_buffers())}
                x = torch.zeros(1, 3, image_size, image_size, device="meta")
                out = torch.func.functional_call(module, meta, (x,))
            except Exception:
                out = module(torch.zeros(1, 3, image_size, image_size))
    finally:
        module.train(was_training)
    maps = [out] if isinstance(out, Tensor) else list(out)
    if not maps or not all(isinstance(m, Tensor) and m.dim() == 4 for m in maps):
        raise DistortxError("a backbone must return a Tensor[N, C, h, w] or a list of them")
    return [(int(m.shape[1]), int(m.shape[2]), int(m.shape[3])) for m in maps]


def _call(build, what: str, args: Mapping[str, Any], optional: Mapping[str, Any]):
    """``build(**args, **those optional keywords build names)``; a TypeError becomes one clear line."""
    try:
        params = inspect.signature(build).parameters
    except (TypeError, ValueError):
        params = {}
    kwargs = dict(args)
    kwargs.update({k: v for k, v in optional.items() if k in params and k not in kwargs})
    try:
        return build(**kwargs)
    except TypeError as exc:
        raise ParameterError(f"cannot build {what} with arguments {sorted(kwargs)}: {exc}") from None


def build_backbone(name: str, image_size: int, kwargs: Optional[Mapping[str, Any]] = None):
    """(module, channels, strides, sizes) of registered backbone ``name`` at ``image_size``.

    Declared channels (the module's ``channels`` attribute, else the spec's) must match the probed maps;
    undeclared strides (0) are measured as round(image_size / h).
    """
    from ..plugins import get_plugin_manager

    spec = get_plugin_manager().get("distortx_backbones", name)
    module = _call(spec.build, f"backbone {name!r}", dict(kwargs or {}), {})
    if not isinstance(module, nn.Module):
        raise PluginError(f"backbone {name!r} (plugin {spec.plugin!r}): build returned a {type(module).__name__}, not an nn.Module")
    probed = probe_features(module, image_size)
    channels = tuple(getattr(module, "channels", spec.channels))
    strides = tuple(getattr(module, "strides", spec.strides))
    if channels != tuple(c for c, _, _ in probed) or len(strides) != len(probed):
        raise PluginError(f"backbone {name!r} (plugin {spec.plugin!r}) declares channels {channels} and strides "
                          f"{strides} but returns {len(probed)} maps with channels {tuple(c for c, _, _ in probed)}")
    if any(h < 1 or w < 1 for _, h, w in probed):
        raise ParameterError(f"image_size {image_size} is too small for backbone {name!r} (maps {probed})")
    strides = tuple(s if s > 0 else max(1, round(image_size / h)) for s, (_, h, _) in zip(strides, probed))
    return module, channels, strides, [(h, w) for _, h, w in probed]


def build_head(name: str, task: str, channels: Sequence[int], strides: Sequence[int], sizes: Sizes,
               image_size: int, num_classes: Optional[int], kwargs: Optional[Mapping[str, Any]] = None):
    """(module, consumes) of registered head ``name``, checked to serve ``task``."""
    from ..plugins import get_plugin_manager

    spec = get_plugin_manager().get("distortx_heads", name)
    if spec.task != task:
        raise ParameterError(f"head {name!r} is a {spec.task} head; this place needs a {task} head "
                             f"(e.g. {', '.join(_heads_for(task)) or 'none registered'})")
    args: Dict[str, Any] = {"in_channels": tuple(channels)}
    if num_classes is not None and task in ("classification", "detection"):
        args["num_classes"] = num_classes
    args.update(kwargs or {})
    module = _call(spec.build, f"head {name!r}", args,
                   {"strides": tuple(strides), "feature_sizes": list(sizes), "image_size": image_size})
    if not isinstance(module, nn.Module):
        raise PluginError(f"head {name!r} (plugin {spec.plugin!r}): build returned a {type(module).__name__}, not an nn.Module")
    if task == "detection":
        missing = [m for m in ("priors", "loss", "postprocess") if not callable(getattr(module, m, None))]
        if missing:
            raise PluginError(f"detection head {name!r} (plugin {spec.plugin!r}) lacks method(s) {', '.join(missing)}")
    return module, spec.consumes


def _heads_for(task: str) -> List[str]:
    from .registry import list_heads

    return list_heads(task=task)


def _json_config(config: Dict[str, Any]) -> Dict[str, Any]:
    try:
        return json.loads(json.dumps(config))
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"model arguments must be JSON-able (they are saved with the model): {exc}") from None


def assemble_model(arch: str, backbone: str, classes, num_classes: Optional[int], image_size: int,
                   heads: Mapping[str, Tuple[str, Optional[Mapping[str, Any]]]],
                   backbone_kwargs: Optional[Mapping[str, Any]] = None, normalize: bool = True,
                   loss_weights: Optional[Mapping[str, float]] = None, config: Optional[Mapping[str, Any]] = None
                   ) -> DistortxModel:
    """Build a :class:`DistortxModel`: backbone ``backbone`` and, per task, head (name, kwargs).

    ``config`` holds the architecture's own arguments (saved so that ``create_model(**model.config)``
    rebuilds the model; a backbone ``weights`` path is not saved: the weights travel in the state dict).
    """
    if int(image_size) < 1:
        raise ParameterError(f"image_size must be a positive side length, got {image_size}")
    image_size = int(image_size)
    types = resolve_types(classes, num_classes)
    backbone_kwargs = dict(backbone_kwargs or {})
    module, channels, strides, sizes = build_backbone(backbone, image_size, backbone_kwargs)
    built, consumes = {}, {}
    for task, (head_name, head_kwargs) in heads.items():
        built[task], consumes[task] = build_head(head_name, task, channels, strides, sizes, image_size,
                                                 len(types) + 1, head_kwargs)
    saved = {"arch": arch, "backbone": backbone, "classes": list(types), "image_size": image_size,
             "backbone_kwargs": {k: v for k, v in backbone_kwargs.items() if k != "weights"}}
    saved.update(config or {})
    if not normalize:
        saved["normalize"] = False
    return DistortxModel(module, built, consumes, _json_config(saved), types, channels, strides, normalize,
                         loss_weights)


@register_model("classifier", description="backbone + classification head over clean + distortion types")
def classifier_model(backbone: str = "dx_small", classes=None, num_classes: Optional[int] = None,
                     image_size: int = 300, head: str = "classifier", head_kwargs: Optional[dict] = None,
                     backbone_kwargs: Optional[dict] = None, normalize: bool = True) -> DistortxModel:
    """Backbone + classification head (``head_kwargs``: e.g. ``{"dropout": 0.5}``)."""
    return assemble_model("classifier", backbone, classes, num_classes, image_size,
                          {"classification": (head, head_kwargs)}, backbone_kwargs, normalize,
                          config={"head": head, "head_kwargs": dict(head_kwargs or {})})


@register_model("detector", description="backbone + SSD detection head over background + distortion types")
def detector_model(backbone: str = "dx_small", classes=None, num_classes: Optional[int] = None,
                   image_size: int = 300, head: str = "ssd", head_kwargs: Optional[dict] = None,
                   backbone_kwargs: Optional[dict] = None, normalize: bool = True) -> DistortxModel:
    """Backbone + detection head (``head_kwargs``: e.g. ``{"batch_norm": False}`` for the paper's SSD)."""
    return assemble_model("detector", backbone, classes, num_classes, image_size,
                          {"detection": (head, head_kwargs)}, backbone_kwargs, normalize,
                          config={"head": head, "head_kwargs": dict(head_kwargs or {})})


@register_model("ynet", description="Ahn et al.'s Y-net: one backbone, a classifier head and an SSD head")
def ynet_model(backbone: str = "dx_small", classes=None, num_classes: Optional[int] = None, image_size: int = 300,
               cls_head: str = "classifier", det_head: str = "ssd", cls_head_kwargs: Optional[dict] = None,
               det_head_kwargs: Optional[dict] = None, backbone_kwargs: Optional[dict] = None,
               loss_weights: Optional[dict] = None, normalize: bool = True) -> DistortxModel:
    """The Y-shaped network: shared backbone, classification head on its last map, SSD head on its maps."""
    weights = {"classification": 1.0, "detection": 1.0, **(loss_weights or {})}
    return assemble_model("ynet", backbone, classes, num_classes, image_size,
                          {"classification": (cls_head, cls_head_kwargs), "detection": (det_head, det_head_kwargs)},
                          backbone_kwargs, normalize, weights,
                          config={"cls_head": cls_head, "det_head": det_head,
                                  "cls_head_kwargs": dict(cls_head_kwargs or {}),
                                  "det_head_kwargs": dict(det_head_kwargs or {}), "loss_weights": weights})

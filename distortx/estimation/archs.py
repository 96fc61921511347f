"""Endo's two networks as architectures of the model registry: ``create_model("param_estimator", what=...)``
and ``create_model("param_aware_classifier", num_params=..., ...)``.

They return :class:`~distortx.estimation.ParamEstimator` / :class:`~distortx.estimation.ParamAwareClassifier`
rather than an assembled ``DistortxModel``: the estimator is trained pixel-wise (its ``loss``), and the
classifier takes a second input (the parameter) that the generic model's ``forward(images)`` has no room
for. Their ``config`` carries ``arch``, so ``create_model(**model.config)`` rebuilds them. The registered
backbones/heads (``uchida_dilated``, ``endo_vgg``, ``param_estimator``, ``param_aware_classifier``) also
plug into the generic architectures, e.g. ``create_model("classifier", backbone="endo_vgg")``.
"""
from __future__ import annotations

from typing import Optional

from ..errors import ParameterError
from ..models.registry import register_model
from .models import ParamAwareClassifier, ParamEstimator

#: the trunk each architecture is built on (the only ``backbone`` value it accepts besides the registry default)
TRUNKS = {"param_estimator": "uchida_dilated", "param_aware_classifier": "endo_vgg"}


def _check_backbone(arch: str, backbone: Optional[str]) -> None:
    import inspect

    from ..models.registry import create_model

    default = inspect.signature(create_model).parameters["backbone"].default
    if backbone not in (None, default, TRUNKS[arch]):
        raise ParameterError(f"{arch} is built on its own trunk {TRUNKS[arch]!r}; got backbone={backbone!r} "
                             f"(assemble other backbones with create_model('classifier', head=...))")


def _tag(model, arch: str):
    model.config = {"arch": arch, "backbone": TRUNKS[arch], **model.config}
    return model


@register_model("param_estimator", description="Endo/Uchida degradation-parameter estimator (per-pixel, averaged)")
def param_estimator(backbone: Optional[str] = None, classes=None, num_classes: Optional[int] = None,
                    image_size: int = 64, what: Optional[str] = "jpeg_quality", **kwargs) -> ParamEstimator:
    """ParamEstimator(what, width=64, dilations=(1, 2, 3, 4, 3, 2), num_params=1, scale=None).

    classes: the distortion types of the training data where known (``distortx train`` passes them): they
    must be the distortion ``what`` measures (e.g. ["jpeg"] for "jpeg_quality"), else a ParameterError."""
    _check_backbone("param_estimator", backbone)
    if classes and what:
        from .targets import get_target

        target = get_target(what)
        if not classes or not set(classes) <= set(target.distortions):
            raise ParameterError(f"param_estimator what={what!r} estimates the parameter of "
                                 f"{' / '.join(target.distortions)}, but "
                                 f"the data draws {', '.join(classes)} (train it on preset {target.preset!r})")
    return _tag(ParamEstimator(what=what, **kwargs), "param_estimator")


@register_model("param_aware_classifier", description="Endo's two-input classifier (image + degradation parameter)")
def param_aware_classifier(backbone: Optional[str] = None, classes=None, num_classes: Optional[int] = None,
                           image_size: int = 32, **kwargs) -> ParamAwareClassifier:
    """ParamAwareClassifier(num_classes=10, num_params=1, param_scale=100, width=64, ..., estimator=None).

    classes: the class names (``distortx train`` passes the labelled data's); they become ``model.classes``
    and join ``model.config`` (so ``create_model(**model.config)`` rebuilds them)."""
    _check_backbone("param_aware_classifier", backbone)
    if classes is not None and num_classes is None:
        num_classes = len(classes)
    if classes is not None and len(classes) != num_classes:
        raise ParameterError(f"param_aware_classifier: {len(classes)} class names for num_classes={num_classes}")
    model = _tag(ParamAwareClassifier(num_classes=num_classes or 10, **kwargs), "param_aware_classifier")
    if classes is not None:
        model.classes = tuple(str(c) for c in classes)
        model.config["classes"] = list(model.classes)
    return model

"""Endo's networks in the model registry, registered through the same hooks as any plugin:
backbones ``uchida_dilated`` (the estimator trunk) and ``endo_vgg`` (the classifier trunk), heads
``param_estimator`` (task "regression") and ``param_aware_classifier`` (task "classification")."""
from __future__ import annotations

from typing import Sequence

from ..hookspecs import hookimpl
from ..models.spec import BackboneSpec, HeadSpec
from .dilated import UCHIDA_DILATIONS, DilatedBackbone
from .endo_vgg import EndoVGG
from .heads import ParamAwareHead, ParamEstimatorHead


def _backbone(name: str, build, channels: Sequence[int], strides: Sequence[int], description: str) -> BackboneSpec:
    return BackboneSpec(name=name, build=build, channels=tuple(channels), strides=tuple(strides), description=description)


def _uchida(width: int = 64, dilations: Sequence[int] = UCHIDA_DILATIONS, **_) -> DilatedBackbone:
    return DilatedBackbone(width, dilations)


def _endo_vgg(width: int = 64, stages: int = 3, spatial_dropout: float = 0.1, batch_norm: bool = True, **_) -> EndoVGG:
    return EndoVGG(width, stages, spatial_dropout, batch_norm)


@hookimpl
def distortx_backbones():
    return [
        _backbone("uchida_dilated", _uchida, (64,), (1,),
                  "Uchida/Endo estimator trunk: 3x3 convs, dilation 1,2,3,4,3,2, 64 ch, no BN, stride 1"),
        _backbone("endo_vgg", _endo_vgg, (64, 128, 256), (2, 4, 8),
                  "Endo's VGG-like classifier trunk: strided 2x2 conv pooling, spatial dropout"),
    ]


@hookimpl
def distortx_heads():
    return [
        HeadSpec(name="param_estimator", build=ParamEstimatorHead, task="regression",
                 description="per-pixel degradation parameter (3x3 conv), averaged spatially; MSE"),
        HeadSpec(name="param_aware_classifier", build=ParamAwareHead, task="classification",
                 description="GAP + embedded degradation parameter -> FC -> FC (Endo's two-input classifier)"),
    ]

"""Endo et al.'s two networks as ready modules: the parameter estimator and the parameter-aware classifier.

Both keep a JSON-able ``config`` so ``ParamEstimator(**config)`` / ``ParamAwareClassifier(**config)``
rebuild the architecture a state dict belongs to (see :mod:`distortx.estimation.checkpoint`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from ..errors import ImageError, ParameterError
from ..models.output import ModelOutput
from .dilated import UCHIDA_DILATIONS, DilatedBackbone
from .endo_vgg import EndoVGG
from .heads import ParamAwareHead, ParamEstimatorHead
from .targets import get_target


def _check_images(images: Tensor, who: str) -> None:
    if not isinstance(images, Tensor) or images.dim() != 4 or images.shape[1] != 3 or not images.is_floating_point():
        shape = tuple(images.shape) if isinstance(images, Tensor) else type(images).__name__
        raise ImageError(f"{who} needs float images Tensor[N, 3, H, W] in [0, 1], got {shape}")


@dataclass
class EstimatorOutput(ModelOutput):
    """What ``distortx train`` gets from :meth:`ParamEstimator.engine_output`: ``params`` Tensor[N, P] (physical
    units, as ``forward``) and ``pixel_map`` Tensor[N, P, H, W], the per-pixel estimates divided by ``scale``
    (what the loss compares)."""

    pixel_map: Optional[Tensor] = None


class ParamEstimator(nn.Module):
    """Degradation-parameter estimator (Endo's Fig. 2, top): per-pixel regression, averaged spatially.

    what: "jpeg_quality" | "noise_sigma" (sets ``scale``) or None with an explicit ``scale``.
    residual_gain, grid: our input additions (see :class:`DilatedBackbone`): a high-pass residual of the image,
    and marks on the JPEG block boundaries; 0 = Endo's plain network.
    forward(images Tensor[N, 3, H, W] in [0, 1]) -> Tensor[N, P] (the spatial mean of :meth:`pixel_map`).

    ``distortx train`` (``[model] arch = "param_estimator"``) trains it through :meth:`engine_output` /
    :meth:`engine_loss` (see :mod:`distortx.engine.model_view`); ``forward``, ``pixel_map`` and ``loss`` stay
    as they are.
    """

    classes = None                     # the engine's vocabulary: no class columns, no detection classes
    det_classes = None
    engine_tasks = ("regression",)     # the [data.*] source distortx train feeds it

    def __init__(self, what: Optional[str] = "jpeg_quality", width: int = 64,
                 dilations: Sequence[int] = UCHIDA_DILATIONS, num_params: int = 1, scale: Optional[float] = None,
                 residual_gain: float = 0.0, grid: int = 0):
        super().__init__()
        if scale is None:
            scale = get_target(what).scale if what else 1.0
        self.config: Dict[str, Any] = {"what": what, "width": int(width), "dilations": [int(d) for d in dilations],
                                       "num_params": int(num_params), "scale": float(scale)}
        if residual_gain:
            self.config["residual_gain"] = float(residual_gain)
        if grid:
            self.config["grid"] = int(grid)
        self.backbone = DilatedBackbone(width, dilations, residual_gain=residual_gain, grid=grid)
        self.head = ParamEstimatorHead(self.backbone.channels, num_params, scale)

    def pixel_map(self, images: Tensor, origin: Tuple[int, int] = (0, 0)) -> Tensor:
        """Per-pixel estimates Tensor[N, P, H, W] in physical units (the map ``distortx estimate --map`` draws).
        ``origin``: where the images' top-left pixel lies on the JPEG block grid (models built with ``grid``)."""
        _check_images(images, "ParamEstimator")
        return self.head.pixel_map(self.backbone(images, origin))

    def forward(self, images: Tensor, origin: Tuple[int, int] = (0, 0)) -> Tensor:
        _check_images(images, "ParamEstimator")
        return self.head(self.backbone(images, origin))

    def loss(self, images: Tensor, target: Tensor) -> Tensor:
        """Pixel-wise MSE on the normalised scale: mean((map / scale - target / scale)^2); target Tensor[N] or [N, P]."""
        _check_images(images, "ParamEstimator")
        pred = self.head.normalised(self.backbone(images))
        return self._map_mse(pred, target.reshape(pred.shape[0], -1).float()).mean()

    def _map_mse(self, norm_map: Tensor, target: Tensor) -> Tensor:
        """Tensor[N, P]: mean over pixels of (normalised map - target / scale)^2; target Tensor[N, P] physical."""
        t = target / self.head.scale.view(1, -1)
        return ((norm_map - t[:, :, None, None]) ** 2).mean(dim=(2, 3))

    # -- distortx train ---------------------------------------------------------------------------------------
    def engine_output(self, images: Tensor) -> EstimatorOutput:
        """The training engine's forward: ``params`` Tensor[N, P] (physical units) and the normalised
        ``pixel_map`` Tensor[N, P, H, W], from one pass of the backbone."""
        _check_images(images, "ParamEstimator")
        norm = self.head.normalised(self.backbone(images))
        params = (norm * self.head.scale).mean(dim=(2, 3))
        return EstimatorOutput(params=params, pixel_map=norm, image_size=(int(images.shape[-2]), int(images.shape[-1])))

    def engine_loss(self, output: EstimatorOutput, batch: Mapping[str, Any]) -> Tuple[Tensor, Dict[str, float]]:
        """(loss, {"loss", "params"}): the pixel-wise MSE on the normalised scale (as :meth:`loss`) of ``output``
        against ``batch["params"]`` float Tensor[N, >= P] in physical units (columns 0..P-1 are the targets;
        NaN = no target, skipped). "params" is the image-level MSE in physical units (for the log)."""
        pred = output.pixel_map
        n, p = pred.shape[:2]
        if batch.get("params") is None:
            raise ParameterError("param_estimator needs batch['params'] (the degradation parameter of each image)")
        target = torch.as_tensor(batch["params"]).to(pred.device, torch.float32).reshape(n, -1)
        if target.shape[1] < p:
            raise ParameterError(f"batch params have {target.shape[1]} column(s); this estimator predicts {p}")
        target = target[:, :p]
        known = torch.isfinite(target)
        if not bool(known.any()):
            zero = pred.sum() * 0
            return zero, {"loss": 0.0, "params": 0.0}
        loss = self._map_mse(pred, torch.where(known, target, torch.zeros_like(target)))[known].mean()
        image_mse = ((output.params.detach().float() - target)[known] ** 2).mean()
        values = torch.stack([loss.detach(), image_mse]).tolist()
        return loss, {"loss": values[0], "params": values[1]}

    def load_weights(self, weights, keep: Sequence[str] = ()) -> "ParamEstimator":
        """Load a state dict (or a file holding one, read weights-only); a mismatch is one DistortxError line.
        Modules under the prefixes ``keep`` keep their own initial weights."""
        from ..models.weights import load_weights

        return load_weights(self, weights, "estimator weights", keep=keep)


class ParamAwareClassifier(nn.Module):
    """Classifier with two inputs, the image and its degradation parameter (Endo's Fig. 1-b/c, Fig. 2 bottom).

    num_params=0 gives the image-only network of the same trunk and head ("Org", "Jpg" in Endo's tables).
    estimator: a trained :class:`ParamEstimator`, frozen (no gradient, always in eval mode); it supplies the
    parameter when ``forward`` is called without one (Fig. 1-c). With known parameters pass ``params``
    (Fig. 1-b; the estimator is skipped).
    forward(images Tensor[N, 3, H, W] in [0, 1], params Tensor[N, P] | Tensor[N] | None) -> logits Tensor[N, K].

    ``distortx train`` trains it (``[model] arch = "param_aware_classifier"``, labelled images) through
    :meth:`engine_output` / :meth:`engine_loss` when it needs no parameter input: ``num_params=0`` (the
    image-only network) or an attached estimator.
    """

    classes: Optional[Tuple[str, ...]] = None   # class names, when built by create_model(classes=...)
    det_classes = None
    engine_tasks = ("classification",)

    def __init__(self, num_classes: int = 10, num_params: int = 1, param_scale: float = 100.0, width: int = 64,
                 stages: int = 3, spatial_dropout: float = 0.1, dropout: float = 0.5, batch_norm: bool = True,
                 hidden: int = 256, estimator: Optional[ParamEstimator] = None):
        super().__init__()
        self.config: Dict[str, Any] = {"num_classes": int(num_classes), "num_params": int(num_params),
                                       "param_scale": float(param_scale), "width": int(width), "stages": int(stages),
                                       "spatial_dropout": float(spatial_dropout), "dropout": float(dropout),
                                       "batch_norm": bool(batch_norm), "hidden": int(hidden)}
        self.backbone = EndoVGG(width, stages, spatial_dropout, batch_norm)
        self.head = ParamAwareHead(self.backbone.channels, num_classes, num_params, param_scale, hidden,
                                   dropout=dropout)
        self.estimator = None
        if estimator is not None:
            self.set_estimator(estimator)

    def set_estimator(self, estimator: ParamEstimator) -> None:
        """Attach a trained estimator, frozen."""
        estimator.eval()
        for p in estimator.parameters():
            p.requires_grad_(False)
        self.estimator = estimator

    def train(self, mode: bool = True) -> "ParamAwareClassifier":
        super().train(mode)
        if self.estimator is not None:
            self.estimator.eval()  # frozen: never back in training mode
        return self

    def estimate(self, images: Tensor) -> Tensor:
        """The estimator's parameters Tensor[N, P] (no gradient)."""
        if self.estimator is None:
            raise ParameterError("this classifier has no estimator: pass params=Tensor[N, P] to forward")
        with torch.no_grad():
            return self.estimator(images).float()

    def forward(self, images: Tensor, params: Optional[Tensor] = None) -> Tensor:
        _check_images(images, "ParamAwareClassifier")
        if self.head.num_params > 0 and params is None:
            params = self.estimate(images)
        return self.head(self.backbone(images), params)

    # -- distortx train ---------------------------------------------------------------------------------------
    def engine_output(self, images: Tensor) -> ModelOutput:
        """The training engine's forward: ``logits`` Tensor[N, K] of the image alone (or with the estimator's
        parameters); a classifier that needs the parameter as an input is refused."""
        if self.head.num_params > 0 and self.estimator is None:
            raise ParameterError("distortx train feeds images only: train param_aware_classifier with "
                                 "num_params = 0 (the two-input network trains in experiments/endo)")
        return ModelOutput(logits=self(images), image_size=(int(images.shape[-2]), int(images.shape[-1])))

    def engine_loss(self, output: ModelOutput, batch: Mapping[str, Any]) -> Tuple[Tensor, Dict[str, float]]:
        """(cross-entropy of ``output.logits`` against ``batch["labels"]`` int64 Tensor[N], {"loss", "cls"})."""
        if batch.get("labels") is None:
            raise ParameterError("param_aware_classifier needs batch['labels'] (class indices)")
        labels = torch.as_tensor(batch["labels"]).to(output.logits.device, torch.int64).reshape(-1)
        loss = nn.functional.cross_entropy(output.logits.float(), labels)
        value = float(loss.detach())
        return loss, {"loss": value, "cls": value}

    def load_weights(self, weights, keep: Sequence[str] = ()) -> "ParamAwareClassifier":
        """Load a state dict (or a file holding one, read weights-only); a mismatch is one DistortxError line.
        Modules under the prefixes ``keep`` keep their own initial weights."""
        from ..models.weights import load_weights

        return load_weights(self, weights, "classifier weights", keep=keep)

"""``DistortxModel``: one backbone, one head per task, the class vocabulary and the config that rebuilds it."""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import ImageError, ParameterError
from .output import ModelOutput
from .vocabulary import classification_classes, detection_classes
from .weights import load_weights

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
TASK_ORDER = ("classification", "detection", "regression")


class DistortxModel(nn.Module):
    """An assembled model (build it with :func:`distortx.models.create_model`).

    backbone: module mapping normalised Tensor[N, 3, H, W] to a list of maps (or one Tensor).
    heads:    task -> module ("classification" -> logits, "detection" -> (loc, conf) with ``priors``,
              ``loss`` and ``postprocess`` methods as :class:`~distortx.models.heads.ssd.SSDHead`,
              "regression" -> params); ``consumes[task]`` is "last" (deepest map) or "all" (the list).
    config:   JSON-able dict; ``create_model(**model.config)`` rebuilds the same architecture.
    types:    the distortion types; ``classes`` = ("clean", *types), ``det_classes`` = ("background", *types).

    Input images are float in [0, 1] (uint8 is accepted and divided by 255); the model normalises them
    with ImageNet's mean and std itself (``normalize=False``: it does not).
    """

    def __init__(self, backbone: nn.Module, heads: Mapping[str, nn.Module], consumes: Mapping[str, str],
                 config: Mapping[str, Any], types: Sequence[str], channels: Sequence[int] = (),
                 strides: Sequence[int] = (), normalize: bool = True,
                 loss_weights: Optional[Mapping[str, float]] = None) -> None:
        super().__init__()
        unknown = set(heads) - set(TASK_ORDER)
        if unknown:
            raise ParameterError(f"unknown head task(s) {sorted(unknown)}; tasks are {', '.join(TASK_ORDER)}")
        self.backbone = backbone
        self.heads = nn.ModuleDict({t: heads[t] for t in TASK_ORDER if t in heads})
        self.consumes = {t: consumes.get(t, "last") for t in self.heads}
        self.config: Dict[str, Any] = dict(config)
        self.types = tuple(types)
        self.classes = classification_classes(self.types) if "classification" in self.heads else None
        self.det_classes = detection_classes(self.types) if "detection" in self.heads else None
        self.feature_channels, self.feature_strides = tuple(channels), tuple(strides)
        self.normalize = bool(normalize)
        self.loss_weights = {t: 1.0 for t in self.heads}
        self.loss_weights.update(loss_weights or {})
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    # -- forward ----------------------------------------------------------------------------------------------
    def prepare(self, images: Tensor) -> Tensor:
        """Checked, float, normalised Tensor[N, 3, H, W]."""
        if not isinstance(images, Tensor) or images.dim() != 4 or images.shape[1] != 3:
            shape = tuple(images.shape) if isinstance(images, Tensor) else type(images).__name__
            raise ImageError(f"model input must be an image batch Tensor[N, 3, H, W], got {shape}")
        if images.dtype == torch.uint8:
            images = self._unit(images)
        elif not images.is_floating_point():
            raise ImageError(f"model input must be float in [0, 1] or uint8, got {images.dtype}")
        return (images - self.mean) / self.std if self.normalize else images

    @staticmethod
    def _unit(images: Tensor) -> Tensor:
        """images as float in [0, 1] (uint8 divided by 255)."""
        return images.float() / 255.0 if images.dtype == torch.uint8 else images

    def features(self, images: Tensor) -> List[Tensor]:
        """Backbone maps of ``images`` (float in [0, 1]), shallow -> deep."""
        out = self.backbone(self.prepare(images))
        return [out] if isinstance(out, Tensor) else list(out)

    def _run_head(self, task: str, feats: List[Tensor]):
        return self.heads[task](feats if self.consumes[task] == "all" else feats[-1])

    def raw_outputs(self, images: Tensor) -> Tuple[Tensor, ...]:
        """The heads' raw tensors, in task order: (logits?, loc?, conf?, params?) — what export captures."""
        feats = self.features(images)
        out: List[Tensor] = []
        for task in self.heads:
            result = self._run_head(task, feats)
            out.extend(result if isinstance(result, (tuple, list)) else [result])
        return tuple(out)

    def forward(self, images: Tensor, postprocess: Optional[bool] = None) -> ModelOutput:
        """images float Tensor[N, 3, H, W] in [0, 1] -> :class:`ModelOutput`; detections are decoded when
        ``postprocess`` (default: in eval mode)."""
        feats = self.features(images)
        hw = (int(images.shape[-2]), int(images.shape[-1]))
        out = ModelOutput(image_size=hw, images=images)
        if "classification" in self.heads:
            out.logits = self._run_head("classification", feats)
        if "detection" in self.heads:
            head = self.heads["detection"]
            out.loc, out.conf = self._run_head("detection", feats)
            out.priors = head.priors(hw, [tuple(f.shape[-2:]) for f in feats], device=out.loc.device)
            decode = (not self.training) if postprocess is None else postprocess
            if decode:
                out.detections = head.postprocess(out.loc, out.conf, out.priors, hw)
                if getattr(head, "refiner", None) is not None:
                    out.detections = head.refiner.refine(self._unit(images), out.detections)
        if "regression" in self.heads:
            out.params = self._run_head("regression", feats)
        return out

    # -- training ---------------------------------------------------------------------------------------------
    def loss(self, output: ModelOutput, batch: Mapping[str, Any]) -> Tuple[Tensor, Dict[str, float]]:
        """(total loss, {"loss", "cls", "loc", "conf", "params": floats}) of ``output`` against ``batch``.

        batch (as :class:`distortx.data.SynthesisStream` yields it): ``labels`` int64 Tensor[N] (indices into
        ``classes``) for classification, ``targets`` (N dicts ``boxes`` xyxy pixels, ``labels`` 1..C) for
        detection, ``params`` float Tensor[N, P] (NaN = no target) for regression. Heads whose targets are
        absent contribute nothing. Weights per task: ``loss_weights``.
        """
        terms: Dict[str, Tensor] = {}
        total: Optional[Tensor] = None

        def add(task: str, value: Tensor) -> None:
            nonlocal total
            weighted = self.loss_weights.get(task, 1.0) * value
            total = weighted if total is None else total + weighted

        if output.logits is not None and batch.get("labels") is not None:
            labels = torch.as_tensor(batch["labels"]).to(output.logits.device, torch.int64).reshape(-1)
            k = output.logits.shape[1]
            if labels.numel() != output.logits.shape[0]:
                raise ParameterError(f"batch labels: {labels.numel()} for {output.logits.shape[0]} images")
            if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= k):
                raise ParameterError(f"classification labels must index the model's {k} classes {self.classes}, "
                                     f"got {int(labels.min())}..{int(labels.max())}")
            terms["cls"] = F.cross_entropy(output.logits.float(), labels)
            add("classification", terms["cls"])
        if output.loc is not None and batch.get("targets") is not None:
            targets = batch["targets"]
            if len(targets) != output.loc.shape[0]:
                raise ParameterError(f"batch targets: {len(targets)} for {output.loc.shape[0]} images")
            head = self.heads["detection"]
            det = head.loss(output.loc, output.conf, output.priors, targets, output.image_size)
            refiner = getattr(head, "refiner", None)
            # the refiner reads pixels and true boxes only: frozen, its loss has no gradient anywhere (a third of a
            # detection step of the default model's stage 6 went there), so it is left out
            if (refiner is not None and output.images is not None
                    and any(p.requires_grad for p in refiner.parameters())):
                det["refine"] = refiner.loss(self._unit(output.images), targets)
            terms.update(det)
            add("detection", sum(det.values()))
        if output.params is not None and batch.get("params") is not None:
            target = torch.as_tensor(batch["params"]).to(output.params.device, torch.float32)
            pred = output.params.float()
            if target.shape != pred.shape:
                target = target[..., : pred.shape[-1]].reshape(pred.shape)
            known = torch.isfinite(target)
            terms["params"] = F.mse_loss(pred[known], target[known]) if bool(known.any()) else pred.sum() * 0
            add("regression", terms["params"])
        if total is None:
            raise ParameterError("the batch holds no target for any head of this model "
                                 f"(heads: {', '.join(self.heads)}; expected labels / targets / params)")
        values = torch.stack([total.detach()] + [v.detach() for v in terms.values()]).float().tolist()
        return total, dict(zip(["loss", *terms], values))

    # -- naming and weights -----------------------------------------------------------------------------------
    def describe(self, output: ModelOutput, top: int = 3) -> List[Dict[str, Any]]:
        """JSON-able, named predictions per image: ``class`` + ``top`` (name, probability) and ``detections``
        (``type``, ``score``, ``box`` xyxy pixels)."""
        n = next(t.shape[0] for t in (output.logits, output.loc, output.params) if t is not None)
        result: List[Dict[str, Any]] = [{} for _ in range(n)]
        if output.logits is not None:
            prob = output.logits.detach().float().softmax(1).cpu()
            p, idx = prob.topk(min(top, prob.shape[1]), 1)
            for i in range(n):
                result[i]["class"] = self.classes[int(idx[i, 0])]
                result[i]["top"] = [[self.classes[int(j)], round(float(q), 6)] for q, j in zip(p[i], idx[i])]
        if output.detections is not None:
            for i, det in enumerate(output.detections):
                result[i]["detections"] = [
                    {"type": self.det_classes[int(lab)], "score": round(float(s), 6),
                     "box": [round(float(v), 2) for v in box]}
                    for box, s, lab in zip(det["boxes"].cpu(), det["scores"].cpu(), det["labels"].cpu())
                ]
        if output.params is not None:
            for i in range(n):
                result[i]["params"] = [float(v) for v in output.params[i].detach().cpu()]
        return result

    def load_weights(self, weights, keep: Sequence[str] = ()) -> "DistortxModel":
        """Load a state dict (or a file holding one, read weights-only); any mismatch is one DistortxError line.

        Modules under the prefixes ``keep`` (e.g. ``"heads.classification"``) keep their own initial weights.
        """
        return load_weights(self, weights, "model weights", keep=keep)

    def extra_repr(self) -> str:
        return f"arch={self.config.get('arch')!r}, backbone={self.config.get('backbone')!r}, types={len(self.types)}"

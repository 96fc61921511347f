"""How the engine talks to a model: ``forward(images) -> ModelOutput`` and ``loss(output, batch) -> (total, parts)``.

A :class:`~distortx.models.DistortxModel` speaks it itself. A model with its own training objective (Endo's
:class:`~distortx.estimation.ParamEstimator`: a pixel-wise MSE on the per-pixel map, not on the image-level
output of its ``forward``) opts in with a method pair, keeping its own API::

    engine_output(images float Tensor[N, 3, H, W]) -> ModelOutput   # what its loss and the validation need
    engine_loss(output, batch) -> (total Tensor, {"loss": float, ...})

and, optionally, ``engine_tasks`` (the ``[data.*]`` sources it can train on), ``classes`` / ``det_classes``
(its vocabulary; None = none) and ``load_weights(state_dict_or_path)``. :func:`engine_view` wraps such a model
in :class:`EngineView`, whose ``forward`` is ``engine_output`` (so DistributedDataParallel and torch.compile
wrap it as usual). Checkpoints hold the model's own state dict and config, not the view's.
"""
from __future__ import annotations

from typing import Any, Dict, Iterable, Mapping, Optional, Sequence, Tuple

from torch import Tensor, nn

from .training.config import ConfigError


class EngineView(nn.Module):
    """A model with ``engine_output`` / ``engine_loss`` as the engine sees a DistortxModel (module docstring)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    @property
    def classes(self) -> Optional[Sequence[str]]:
        return getattr(self.model, "classes", None)

    @property
    def det_classes(self) -> Optional[Sequence[str]]:
        return getattr(self.model, "det_classes", None)

    @property
    def engine_tasks(self) -> Optional[Sequence[str]]:
        return getattr(self.model, "engine_tasks", None)

    @property
    def config(self) -> Dict[str, Any]:
        return self.model.config

    def forward(self, images: Tensor):
        return self.model.engine_output(images)

    def loss(self, output, batch: Mapping[str, Any]) -> Tuple[Tensor, Dict[str, float]]:
        return self.model.engine_loss(output, batch)


def speaks_engine(model: Any) -> bool:
    """True for a model with its own ``engine_output`` / ``engine_loss`` pair."""
    return callable(getattr(model, "engine_output", None)) and callable(getattr(model, "engine_loss", None))


def engine_view(model: nn.Module) -> nn.Module:
    """``model`` itself if it speaks the engine's interface (a DistortxModel, or a view already), else an
    :class:`EngineView` of its engine pair; a ConfigError for a model that has neither."""
    if isinstance(model, EngineView):
        return model
    if speaks_engine(model):
        return EngineView(model)
    if callable(getattr(model, "loss", None)) and hasattr(model, "classes"):
        return model
    arch = (getattr(model, "config", None) or {}).get("arch", type(model).__name__)
    raise ConfigError(f"[model] arch {arch!r} cannot be trained by distortx train: a {type(model).__name__} has "
                      f"neither loss(output, batch) nor engine_output/engine_loss")


def check_tasks(model: nn.Module, tasks: Iterable[str]) -> None:
    """ConfigError if ``model`` declares ``engine_tasks`` and a configured source is not one of them."""
    allowed = getattr(model, "engine_tasks", None)
    if allowed is None:
        return
    wrong = [t for t in tasks if t not in allowed]
    if wrong:
        arch = (getattr(model, "config", None) or {}).get("arch", type(model).__name__)
        want = " or ".join(f"[data.{t}]" for t in allowed)
        raise ConfigError(f"[model] arch {arch!r} trains on {want} only; this config has [data.{wrong[0]}]")


__all__ = ["EngineView", "check_tasks", "engine_view", "speaks_engine"]

"""Estimator weights in the one checkpoint format (:mod:`distortx.models.checkpoint`): ``model`` (state dict),
``model_config`` (``arch = "param_estimator"`` and the estimator's build arguments) and ``meta`` (how it was
trained). Shipped estimators live in ``distortx/estimation/weights/<target>.pt``; a ``distortx train`` run of
``[model] arch = "param_estimator"`` (its folder or any of its checkpoints) loads the same way."""
from __future__ import annotations

import os
from typing import Any, Dict, Optional, Union

import torch

from ..errors import DistortxError
from ..models.checkpoint import model_from_checkpoint, read_checkpoint, save_checkpoint
from ..models.checkpoint import shipped_weights as _shipped
from .models import ParamEstimator

PathLike = Union[str, os.PathLike]


def save_estimator(model: ParamEstimator, path: PathLike, meta: Optional[Dict[str, Any]] = None) -> None:
    """Write ``model`` (float32 CPU copy) with its config and ``meta`` (JSON-able notes) atomically."""
    state = {k: v.detach().float().cpu().clone() for k, v in model.state_dict().items()}
    config = {"arch": "param_estimator", **dict(model.config)}
    save_checkpoint({"model": state, "model_config": config, "meta": dict(meta or {})}, path)


def read_estimator_checkpoint(path: PathLike) -> Dict[str, Any]:
    """The checkpoint of an estimator (file or run folder); DistortxError if it holds another architecture."""
    state = read_checkpoint(path)
    arch = state["model_config"].get("arch")
    if arch != "param_estimator":
        raise DistortxError(f"{state['path']} holds a model of arch {arch!r}, not a param_estimator")
    if "meta" not in state:  # a run of distortx train
        state["meta"] = {"trained_by": "distortx train", "checkpoint": state["path"], "step": state.get("step"),
                         "metrics": state.get("metrics") or {}}
    return state


def load_estimator(path: PathLike, device: Union[str, torch.device] = "cpu") -> ParamEstimator:
    """Rebuild the estimator a checkpoint file or run folder describes, in eval mode on ``device``."""
    return model_from_checkpoint(read_estimator_checkpoint(path)).to(device)


def shipped_weights(what: str) -> str:
    """Path of the estimator shipped for target ``what``; DistortxError if this install has none."""
    from .targets import get_target

    get_target(what)
    return str(_shipped(f"estimation/weights/{what}.pt"))


def read_checkpoint_meta(what: str) -> Dict[str, Any]:
    """The training notes stored with the shipped estimator for ``what`` (steps, data, device, time)."""
    return dict(read_estimator_checkpoint(shipped_weights(what)).get("meta", {}))

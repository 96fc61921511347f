"""Estimator checkpoints: one ``.pt`` file holding the architecture config, the state dict and notes on
how it was trained; plain tensors and builtins only, so ``torch.load(..., weights_only=True)`` reads it.
Shipped estimators live in ``distortx/estimation/weights/<target>.pt``.

A ``distortx train`` run of ``[model] arch = "param_estimator"`` loads too, with no conversion step: its run
folder (best.pt, else model.pt, else last.pt, as :func:`distortx.engine.checkpoint.resolve_checkpoint` picks)
or any of those files. They hold the estimator's own state dict and config (``model`` / ``model_config``);
:func:`read_checkpoint` returns them in this format, with the run's step and metrics as ``meta``."""
from __future__ import annotations

import io
import os
from importlib import resources
from typing import Any, Dict, Optional, Union

import torch

from ..errors import DistortxError
from .models import ParamEstimator

FORMAT = "distortx-param-estimator/1"
ENGINE_FORMAT = "distortx-checkpoint"   # distortx.engine.checkpoint.FORMAT (a run of distortx train)
PathLike = Union[str, os.PathLike]


def save_estimator(model: ParamEstimator, path: PathLike, meta: Optional[Dict[str, Any]] = None) -> None:
    """Write ``model`` (float32 CPU copy) with its config and ``meta`` (JSON-able notes) atomically."""
    from ..io import atomic_write_bytes

    state = {k: v.detach().float().cpu().clone() for k, v in model.state_dict().items()}
    buf = io.BytesIO()
    torch.save({"format": FORMAT, "config": dict(model.config), "state_dict": state, "meta": dict(meta or {})}, buf)
    atomic_write_bytes(path, buf.getvalue())


def read_checkpoint(path: PathLike) -> Dict[str, Any]:
    """The checkpoint dict of an estimator file, or of a ``distortx train`` run folder / checkpoint of a
    param_estimator (weights_only load); DistortxError if it is neither."""
    if os.path.isdir(path):
        return _from_engine(path, None)
    try:
        ck = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, ValueError) as exc:
        raise DistortxError(f"cannot load estimator weights from {path}: {exc}") from exc
    if isinstance(ck, dict) and ck.get("format") == ENGINE_FORMAT:
        return _from_engine(path, ck)
    if not isinstance(ck, dict) or ck.get("format") != FORMAT:
        raise DistortxError(f"{path} is not a distortx estimator checkpoint (format {FORMAT}) nor a distortx train "
                            f"run of arch param_estimator; write one with distortx.estimation.save_estimator")
    return ck


def _from_engine(path: PathLike, state: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """An engine checkpoint (``state``, or the one a run folder ``path`` resolves to) in this module's format."""
    from ..engine.checkpoint import load_checkpoint

    if state is None:
        state = load_checkpoint(path)
        path = state["path"]
    config = dict(state.get("model_config") or {})
    if config.get("arch") != "param_estimator" or not isinstance(state.get("model"), dict):
        raise DistortxError(f"{path} holds a distortx train model of arch {config.get('arch')!r}, "
                            f"not a param_estimator")
    meta = {"trained_by": "distortx train", "checkpoint": str(path), "step": state.get("step"),
            "metrics": state.get("metrics") or {}}
    return {"format": FORMAT, "config": config, "state_dict": state["model"], "meta": meta}


def load_estimator(path: PathLike, device: Union[str, torch.device] = "cpu") -> ParamEstimator:
    """Rebuild the estimator a checkpoint file describes, in eval mode on ``device``."""
    ck = read_checkpoint(path)
    config = {k: v for k, v in ck["config"].items() if k not in ("arch", "backbone")}
    model = ParamEstimator(**config)
    try:
        model.load_state_dict(ck["state_dict"])
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise DistortxError(f"estimator weights in {path} do not fit their config: {first}") from exc
    return model.to(device).eval()


def shipped_weights(what: str) -> str:
    """Path of the estimator shipped for target ``what``; DistortxError if this install has none."""
    from .targets import get_target

    get_target(what)
    ref = resources.files("distortx") / "estimation" / "weights" / f"{what}.pt"
    if not ref.is_file():
        raise DistortxError(f"no shipped estimator for {what!r} in this install; pass weights=PATH "
                            f"(train one with experiments/endo/reproduce.py)")
    return str(ref)


def read_checkpoint_meta(what: str) -> Dict[str, Any]:
    """The training notes stored with the shipped estimator for ``what`` (steps, data, device, time)."""
    return dict(read_checkpoint(shipped_weights(what)).get("meta", {}))

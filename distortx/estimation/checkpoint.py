"""Estimator checkpoints: one ``.pt`` file holding the architecture config, the state dict and notes on
how it was trained; plain tensors and builtins only, so ``torch.load(..., weights_only=True)`` reads it.
Shipped estimators live in ``distortx/estimation/weights/<target>.pt``."""
from __future__ import annotations

import io
import os
from importlib import resources
from typing import Any, Dict, Optional, Union

import torch

from ..errors import DistortxError
from .models import ParamEstimator

FORMAT = "distortx-param-estimator/1"
PathLike = Union[str, os.PathLike]


def save_estimator(model: ParamEstimator, path: PathLike, meta: Optional[Dict[str, Any]] = None) -> None:
    """Write ``model`` (float32 CPU copy) with its config and ``meta`` (JSON-able notes) atomically."""
    from ..io import atomic_write_bytes

    state = {k: v.detach().float().cpu().clone() for k, v in model.state_dict().items()}
    buf = io.BytesIO()
    torch.save({"format": FORMAT, "config": dict(model.config), "state_dict": state, "meta": dict(meta or {})}, buf)
    atomic_write_bytes(path, buf.getvalue())


def read_checkpoint(path: PathLike) -> Dict[str, Any]:
    """The checkpoint dict of an estimator file (weights_only load); DistortxError if it is not one."""
    try:
        ck = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, ValueError) as exc:
        raise DistortxError(f"cannot load estimator weights from {path}: {exc}") from exc
    if not isinstance(ck, dict) or ck.get("format") != FORMAT:
        raise DistortxError(f"{path} is not a distortx estimator checkpoint (format {FORMAT}); "
                            f"write one with distortx.estimation.save_estimator")
    return ck


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

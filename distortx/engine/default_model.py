"""The shipped default model: ``distortx predict PHOTO`` and :func:`load_default_model` use it when no model
is given. Its weights live in ``distortx/weights/`` (a weights-only checkpoint: model config, vocabulary,
state dict); ``docs/model_card.md`` says how it was trained and how well it does."""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Union

import torch

from ..errors import DistortxError

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
DEFAULT_WEIGHTS = "ynet_dx_small.pt"


def default_weights_path() -> Path:
    return WEIGHTS_DIR / DEFAULT_WEIGHTS


def load_default_model(device: Optional[Union[str, torch.device]] = None):
    """The shipped Y-net (classification + SSD detection of Ahn's eight distortion types), in eval mode."""
    from .checkpoint import load_model

    path = default_weights_path()
    if not path.is_file():
        raise DistortxError(f"the default model's weights are missing ({path}); reinstall distortx, or pass "
                            "--model with a checkpoint of `distortx train`")
    return load_model(path, device=device)

"""The shipped default model: ``distortx predict PHOTO`` and :func:`load_default_model` use it when no model
is given. Its weights live in ``distortx/weights/`` (a weights-only checkpoint: model config, vocabulary,
state dict); ``docs/model_card.md`` says how it was trained and how well it does."""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Union

import torch

DEFAULT_WEIGHTS = "weights/ynet_dx_small.pt"


def default_weights_path() -> Path:
    """The shipped Y-net's checkpoint (found through the package's resources, like every shipped weight)."""
    from ...models.checkpoint import shipped_weights

    return shipped_weights(DEFAULT_WEIGHTS)


def load_default_model(device: Optional[Union[str, torch.device]] = None):
    """The shipped Y-net (classification + SSD detection of Ahn's eight distortion types), in eval mode."""
    from ...models.checkpoint import load_model

    return load_model(default_weights_path(), device=device)

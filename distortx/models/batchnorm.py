"""Re-estimating BatchNorm running statistics ("precise BN", Wu & Johnson 2021; detectron2's PreciseBN hook).

Running statistics are an exponential average over steps whose weights kept changing, so after a short or
high-learning-rate run they lag behind what the final weights produce, and eval mode (which uses them)
drifts from train mode. Averaging them afresh over a few batches with the final weights removes the lag.
"""
from __future__ import annotations

from typing import Callable, Iterable, Optional

import torch
from torch import Tensor, nn


@torch.no_grad()
def precise_batch_norm(model: nn.Module, batches: Iterable[Tensor], forward: Optional[Callable] = None) -> int:
    """Reset every BatchNorm's running mean/var and set them to the plain average over ``batches``
    (image tensors fed to ``forward``, default ``model``); returns the number of batches used.

    The model's train/eval mode and the layers' momentum are restored; no parameter changes.
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    saved = [(m, m.momentum) for m in norms]
    was_training = model.training
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average: every batch weighs the same
    model.train()
    n = 0
    try:
        for images in batches:
            (forward or model)(images)
            n += 1
    finally:
        for m, momentum in saved:
            m.momentum = momentum
        model.train(was_training)
    return n

"""Training an estimator as Endo et al. do: 64x64 photo patches (flips/transposes), degraded with a
parameter drawn by the ``endo-jpeg`` / ``endo-noise`` preset, pixel-wise MSE, Adamax.

Our additions, for short runs: a linear warm-up then cosine decay of the learning rate, fitted to a
wall-clock budget when ``max_seconds`` is set (:class:`~distortx.estimation.schedule.BudgetSchedule`);
bf16 autocast of the backbone on CUDA (the head regresses in float32).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional

import torch

from .degrade import degrade, sample_params
from .models import ParamEstimator
from .patches import PatchBank
from .schedule import BudgetSchedule
from .targets import get_target


@dataclass
class EstimatorTraining:
    """Hyper-parameters of :func:`train_estimator` (defaults: a GPU-sized run)."""

    steps: int = 3000
    batch_size: int = 128
    lr: float = 2e-3          # Adamax's default
    warmup: int = 100
    width: int = 64
    max_seconds: Optional[float] = None
    seed: int = 0
    log_every: int = 100
    amp: bool = True          # bf16 autocast of the backbone on CUDA


@dataclass
class TrainResult:
    model: ParamEstimator
    steps: int
    seconds: float
    history: List[Dict[str, float]] = field(default_factory=list)


def train_estimator(what: str, bank: PatchBank, cfg: EstimatorTraining,
                    log: Optional[Callable[[str], None]] = None, model: Optional[ParamEstimator] = None) -> TrainResult:
    """Train (or continue training ``model``) an estimator of ``what`` on patches of ``bank``."""
    target = get_target(what)
    dev = bank.device
    torch.manual_seed(cfg.seed)
    model = (model or ParamEstimator(what, width=cfg.width)).to(dev).train()
    if dev.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.Adamax(model.parameters(), lr=cfg.lr)
    sched = BudgetSchedule(cfg.steps, cfg.lr, cfg.warmup, cfg.max_seconds, dev)
    g = torch.Generator().manual_seed(cfg.seed)
    history, step = [], 0
    while not sched.done(step):
        for group in opt.param_groups:
            group["lr"] = sched.lr(step)
        clean = bank.sample(cfg.batch_size, g)
        params = sample_params(target.preset, cfg.batch_size, g)
        x = degrade(clean, target.distortion, params.values[:, 0], params.seed)
        if dev.type == "cuda":
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device_type=dev.type, dtype=torch.bfloat16, enabled=cfg.amp and dev.type == "cuda"):
            loss = model.loss(x, params.values[:, :1].to(dev))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.after_step(step)
        step += 1
        if step % cfg.log_every == 0 or step == sched.steps:
            value = float(loss.detach())
            rmse = math.sqrt(value) * target.scale
            history.append({"step": step, "loss": value, "pixel_rmse": rmse, "seconds": sched.elapsed})
            if log:
                log(f"  {what} estimator step {step}/{sched.steps}  loss {value:.5f}  pixel RMSE {rmse:.2f}  "
                    f"{sched.elapsed:.0f}s")
    return TrainResult(model.eval(), step, sched.elapsed, history)

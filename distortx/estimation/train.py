"""Training an estimator as Endo et al. do: 64x64 photo patches (flips/transposes), degraded with a
parameter drawn by the ``endo-jpeg`` / ``endo-noise`` preset, pixel-wise MSE, Adamax.

Our additions, for short runs: a linear warm-up then cosine decay of the learning rate, fitted to a
wall-clock budget when ``max_seconds`` is set (:class:`~distortx.estimation.schedule.BudgetSchedule`);
bf16 autocast and channels_last where the device computes bf16 natively (CUDA; CPUs with AVX512-BF16 or AMX,
2.3x at width 32 and 2.9x at width 64 on this project's 2-core EPYC); the first layer and the head stay float32.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Tuple

import torch

from ..engine.precision import fast_bf16

from .degrade import degrade, sample_params
from .models import ParamEstimator
from .patches import PatchBank
from .schedule import BudgetSchedule
from .targets import get_target


#: gain of the high-pass residual input of newly trained estimators (see DilatedBackbone)
DEFAULT_RESIDUAL_GAIN = 8.0


@dataclass
class EstimatorTraining:
    """Hyper-parameters of :func:`train_estimator` (defaults: a GPU-sized run)."""

    steps: int = 3000
    batch_size: int = 128
    lr: float = 2e-3          # Adamax's default
    warmup: int = 100
    width: int = 64
    residual_gain: Optional[float] = None  # None: 8 (our addition; 0 = Endo's plain input)
    grid: Optional[int] = None             # None: 8 for JPEG quality, 0 otherwise (block-grid marks)
    max_seconds: Optional[float] = None
    seed: int = 0
    log_every: int = 100
    amp: bool = True          # bf16 autocast of the backbone where the device supports it (see fast_bf16)
    pool_batches: int = 1     # degrade this many batches of patches at once (amortises the codec on a GPU)
    chunk: int = 2048         # patches per degradation call when filling the pool
    snapshot_every: int = 0   # call ``snapshot(model, step)`` every this many steps (0: never)


@dataclass
class TrainResult:
    model: ParamEstimator
    steps: int
    seconds: float
    history: List[Dict[str, float]] = field(default_factory=list)


def degraded_pool(bank: PatchBank, preset: str, distortion: str, n: int, g: torch.Generator,
                  chunk: int = 2048) -> Tuple[torch.Tensor, torch.Tensor]:
    """``n`` fresh patches degraded as ``preset`` draws: (uint8 Tensor[n, 3, s, s], float targets Tensor[n, 1])
    on the bank's device. uint8 is exact: :func:`degrade` returns 8-bit levels."""
    clean = bank.sample(n, g)
    params = sample_params(preset, n, g)
    parts = [degrade(clean[i: i + chunk], distortion, params.values[i: i + chunk, 0], params.seed[i: i + chunk])
             for i in range(0, n, chunk)]
    images = torch.cat(parts).mul_(255.0).round_().to(torch.uint8)
    return images, params.values[:, :1].to(bank.device)


def train_estimator(what: str, bank: PatchBank, cfg: EstimatorTraining,
                    log: Optional[Callable[[str], None]] = None, model: Optional[ParamEstimator] = None,
                    snapshot: Optional[Callable[[ParamEstimator, int], None]] = None) -> TrainResult:
    """Train (or continue training ``model``) an estimator of ``what`` on patches of ``bank``; ``snapshot``
    (if given) receives the model every ``cfg.snapshot_every`` steps (e.g. to save it during a long run)."""
    target = get_target(what)
    dev = bank.device
    torch.manual_seed(cfg.seed)
    if model is None:
        residual_gain = DEFAULT_RESIDUAL_GAIN if cfg.residual_gain is None else cfg.residual_gain
        grid = (8 if what == "jpeg_quality" else 0) if cfg.grid is None else cfg.grid
        model = ParamEstimator(what, width=cfg.width, residual_gain=residual_gain, grid=grid)
    model = model.to(dev).train()
    amp = cfg.amp and fast_bf16(dev)
    if amp:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.Adamax(model.parameters(), lr=cfg.lr)
    sched = BudgetSchedule(cfg.steps, cfg.lr, cfg.warmup, cfg.max_seconds, dev)
    g = torch.Generator().manual_seed(cfg.seed)
    history, step, pool, cursor = [], 0, None, 0
    while not sched.done(step):
        for group in opt.param_groups:
            group["lr"] = sched.lr(step)
        if pool is None or cursor >= pool[0].shape[0]:
            pool, cursor = degraded_pool(bank, target.preset, target.distortion,
                                         cfg.batch_size * max(1, cfg.pool_batches), g, cfg.chunk), 0
        x = pool[0][cursor: cursor + cfg.batch_size].float().div_(255.0)
        target_values = pool[1][cursor: cursor + cfg.batch_size]
        cursor += cfg.batch_size
        if amp:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device_type=dev.type, dtype=torch.bfloat16, enabled=amp):
            loss = model.loss(x, target_values)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.after_step(step)
        step += 1
        if snapshot is not None and cfg.snapshot_every and step % cfg.snapshot_every == 0:
            snapshot(model, step)
        if step % cfg.log_every == 0 or step == sched.steps:
            value = float(loss.detach())
            rmse = math.sqrt(value) * target.scale
            history.append({"step": step, "loss": value, "pixel_rmse": rmse, "seconds": sched.elapsed})
            if log:
                log(f"  {what} estimator step {step}/{sched.steps}  loss {value:.5f}  pixel RMSE {rmse:.2f}  "
                    f"{sched.elapsed:.0f}s")
    return TrainResult(model.eval(), step, sched.elapsed, history)

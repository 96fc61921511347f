"""CIFAR-10 for Endo's experiment: loading the shared npz files, Keras-style augmentation on the GPU, and
training the three compared classifiers."""
from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from distortx.errors import DatasetError
from distortx.estimation import ParamAwareClassifier, ParamEstimator
from distortx.estimation.degrade import degrade, quantize8, sample_params
from distortx.engine.precision import fast_bf16
from distortx.estimation.targets import Target


# The classifiers of Endo's Table 1 train in this experiment's own loop (a frozen estimator feeds the third
# network its parameter, which distortx train does not do yet); their learning rate fits a wall-clock budget:
# linear warm-up, then cosine decay to 1 % of the peak over ``steps``, the step count re-planned from the
# measured time per step.
class BudgetSchedule:
    """steps: planned (maximum) steps; seconds: wall-clock budget or None; warmup: warm-up steps.
    Call :meth:`lr` before and :meth:`after_step` after every optimiser step; stop when :meth:`done`."""

    MEASURE_FROM, MEASURE_AT, REPLAN_EVERY = 5, 25, 25  # re-plan every 25 steps from step 25 on

    def __init__(self, steps: int, lr: float, warmup: int = 0, seconds: Optional[float] = None,
                 device: Optional[torch.device] = None):
        self.steps, self.peak, self.warmup = max(1, int(steps)), float(lr), int(warmup)
        self.max_steps = self.steps
        self.seconds, self.device = seconds, device
        self.t0 = time.time()
        self._mark: Optional[float] = None

    def lr(self, step: int) -> float:
        if step < self.warmup:
            return self.peak * (step + 1) / self.warmup
        t = min(1.0, (step - self.warmup) / max(1, self.steps - self.warmup))
        return self.peak * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * t)))

    def _now(self) -> float:
        if self.device is not None and self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return time.time()

    def after_step(self, step: int) -> None:
        """``step`` = index of the step just taken (0-based). With a budget, re-plans the step count from the
        mean time per step since step MEASURE_FROM (so periodic costs, e.g. refilling a data pool, count)."""
        if self.seconds is None:
            return
        taken = step + 1
        if taken == self.MEASURE_FROM:
            self._mark = self._now()
        elif self._mark is not None and taken >= self.MEASURE_AT and taken % self.REPLAN_EVERY == 0:
            now = self._now()
            per_step = (now - self._mark) / (taken - self.MEASURE_FROM)
            left = self.seconds - (now - self.t0)
            self.steps = max(taken + 1, min(self.max_steps, taken + int(left / max(per_step, 1e-6))))

    def done(self, step: int) -> bool:
        """True once ``step`` steps have been taken (or, past the plan, the budget is spent)."""
        return step >= self.steps or (self.seconds is not None and step > self.MEASURE_AT
                                      and time.time() - self.t0 > 1.15 * self.seconds)

    @property
    def elapsed(self) -> float:
        return time.time() - self.t0


def load_split(folder: Path, split: str, limit: int = 0) -> Tuple[Tensor, Tensor]:
    """uint8 Tensor[N, 3, 32, 32] and int64 labels Tensor[N] of ``cifar10_{train_20k,test}.npz`` in ``folder``
    (or of the lossless WebP mosaics ``pack_data.py`` writes)."""
    stem = {"train": "cifar10_train_20k", "test": "cifar10_test"}[split]
    folder = Path(folder)
    if (folder / f"{stem}.npz").is_file():
        with np.load(folder / f"{stem}.npz") as z:
            x, y = z["x"], z["y"]
    elif (folder / f"{stem}.webp").is_file():
        from PIL import Image

        from pack_data import unmosaic

        with np.load(folder / "cifar10_labels.npz") as z:
            y = z[f"y_{split}"]
        with Image.open(folder / f"{stem}.webp") as im:
            x = unmosaic(np.asarray(im.convert("RGB")), y.shape[0])
    else:
        raise DatasetError(f"{folder / (stem + '.npz')} not found: pass --cifar DIR holding it "
                           f"(see /work/shared/data/README.md) or pack_data.py's WebP files")
    if limit:
        x, y = x[:limit], y[:limit]
    return torch.from_numpy(np.ascontiguousarray(x)).permute(0, 3, 1, 2).contiguous(), torch.from_numpy(y.astype(np.int64))


@dataclass
class Augment:
    """Endo's CIFAR augmentation (zoom, shear, horizontal flip, rotation, vertical/horizontal shift; the
    paper gives no ranges, these are common Keras settings), one random affine map per image, bilinear,
    edges repeated (Keras ``fill_mode="nearest"``)."""

    rotation_deg: float = 15.0
    shift: float = 0.1
    shear_deg: float = 10.0
    zoom: float = 0.1
    flip: bool = True

    def __call__(self, x: Tensor, g: torch.Generator) -> Tensor:
        """float Tensor[N, 3, H, W] -> augmented, 8-bit quantised, same shape and device."""
        n = x.shape[0]
        r = torch.rand(n, 6, generator=g, dtype=torch.float64) * 2 - 1
        rot = torch.deg2rad(r[:, 0] * self.rotation_deg)
        shear = torch.deg2rad(r[:, 1] * self.shear_deg)
        zx, zy = 1 + r[:, 2] * self.zoom, 1 + r[:, 3] * self.zoom
        tx, ty = r[:, 4] * self.shift * 2, r[:, 5] * self.shift * 2  # affine_grid spans [-1, 1]
        flip = torch.where(torch.rand(n, generator=g) < 0.5, -1.0, 1.0).double() if self.flip else torch.ones(n).double()
        cos, sin = torch.cos(rot), torch.sin(rot)
        # output -> input sampling map: rotation * shear * zoom, then the flip of x
        a11 = (cos * zx) * flip
        a12 = -sin * zy + cos * torch.tan(shear) * zy
        a21 = (sin * zx) * flip
        a22 = cos * zy + sin * torch.tan(shear) * zy
        theta = torch.stack([torch.stack([a11, a12, tx], 1), torch.stack([a21, a22, ty], 1)], 1).float().to(x.device)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        return quantize8(F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False))


@dataclass
class ClassifierTraining:
    epochs: float = 30.0
    steps: Optional[int] = None  # overrides epochs
    batch_size: int = 256
    lr: float = 2e-3
    warmup: int = 100
    width: int = 64
    seconds: Optional[float] = None
    seed: int = 0
    amp: bool = True
    log_every: int = 200
    chunk: int = 5000         # images per augmentation / degradation call when an epoch is prepared


@torch.no_grad()
def epoch_pool(kind: str, target: Target, train_x: Tensor, train_y: Tensor, aug: Augment, g: torch.Generator,
               model: Optional[ParamAwareClassifier], chunk: int, autocast: bool):
    """One epoch of training data, prepared in large batches (amortises the codec on a GPU): a shuffled
    pass over ``train_x``, augmented, degraded as ``target.preset`` draws (not for "org"), with the frozen
    estimator's parameter for "est". Returns (uint8 images Tensor[N, 3, H, W], labels Tensor[N],
    params Tensor[N, 1] or None); uint8 is exact (images are 8-bit levels)."""
    dev = train_x.device
    perm = torch.randperm(train_x.shape[0], generator=g).to(dev)
    xs, ps = [], []
    for s in range(0, perm.numel(), chunk):
        idx = perm[s: s + chunk]
        x = aug(train_x[idx].float().div_(255.0), g)
        if kind != "org":
            prm = sample_params(target.preset, x.shape[0], g)
            x = degrade(x, target.distortion, prm.values[:, 0], prm.seed)
        if kind == "est":
            with torch.autocast(device_type=dev.type, dtype=torch.bfloat16, enabled=autocast):
                ps.append(model.estimate(x.contiguous(memory_format=torch.channels_last) if autocast else x))
        xs.append(x.mul_(255.0).round_().to(torch.uint8))
    return torch.cat(xs), train_y[perm], (torch.cat(ps) if ps else None)


def train_classifier(kind: str, target: Target, train_x: Tensor, train_y: Tensor, cfg: ClassifierTraining,
                     estimator: Optional[ParamEstimator] = None, log: Callable[[str], None] = print,
                     resume: Optional[dict] = None, on_checkpoint: Optional[Callable[[dict], None]] = None,
                     checkpoint_seconds: float = 300.0) -> Tuple[ParamAwareClassifier, dict]:
    """Train one of Endo's three networks on (uint8) ``train_x`` on its device.

    kind: "org" (clean images, image only), "deg" (degraded images, image only), "est" (degraded images +
    the frozen ``estimator``'s parameter; Endo's proposed network). Resumable: every ``checkpoint_seconds`` of
    training ``on_checkpoint(state)`` gets the state (:func:`training_state`: weights, optimiser, step, the data
    generator's state where the current epoch's pool was drawn and the place in it, torch's RNG); ``resume=state``
    continues from it (the pool is drawn again from the saved generator state: the same images, on the same
    machine bit for bit). A state of another network or another ``cfg`` is refused."""
    dev = train_x.device
    torch.manual_seed(cfg.seed)
    model = ParamAwareClassifier(num_classes=10, num_params=1 if kind == "est" else 0, param_scale=target.scale,
                                 width=cfg.width, estimator=estimator if kind == "est" else None).to(dev)
    autocast = cfg.amp and fast_bf16(dev)
    if autocast:
        model = model.to(memory_format=torch.channels_last)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adamax(params, lr=cfg.lr)
    n = train_x.shape[0]
    per_epoch = max(1, n // cfg.batch_size)
    planned = cfg.steps if cfg.steps is not None else int(math.ceil(cfg.epochs * per_epoch))
    sched = BudgetSchedule(planned, cfg.lr, min(cfg.warmup, per_epoch), cfg.seconds, dev)
    g = torch.Generator().manual_seed(cfg.seed + {"org": 1, "deg": 2, "est": 3}[kind])
    aug = Augment()
    step, pool, cursor, pool_rng = 0, None, 0, None
    if resume is not None:
        if resume.get("kind") != kind or resume.get("config") != dataclasses.asdict(cfg):
            raise ValueError(f"the resume state is of network {resume.get('kind')!r} with {resume.get('config')}, "
                             f"not {kind!r} with {dataclasses.asdict(cfg)}")
        missing, unexpected = model.load_state_dict(resume["model"], strict=False)
        if unexpected or any(not k.startswith("estimator.") for k in missing):   # only the frozen estimator is left out
            raise ValueError(f"the resume state does not fit the network: missing {missing}, unexpected {unexpected}")
        opt.load_state_dict(resume["optimizer"])
        step, cursor, pool_rng = int(resume["step"]), int(resume["cursor"]), resume["pool_rng"]
        g.set_state(pool_rng)     # the current epoch's pool again: drawn from where it was drawn
        pool = epoch_pool(kind, target, train_x, train_y, aug, g, model if kind == "est" else None, cfg.chunk, autocast)
        torch.set_rng_state(resume["torch_rng"])
        log(f"  {kind:>3} resumed at step {step}/{sched.steps}")
    last_save = time.time()
    while not sched.done(step):
        if pool is None or cursor + cfg.batch_size > pool[0].shape[0]:
            pool_rng = g.get_state()
            pool, cursor = epoch_pool(kind, target, train_x, train_y, aug, g, model if kind == "est" else None,
                                      cfg.chunk, autocast), 0
        x = pool[0][cursor: cursor + cfg.batch_size].float().div_(255.0)
        y = pool[1][cursor: cursor + cfg.batch_size]
        p = None if pool[2] is None else pool[2][cursor: cursor + cfg.batch_size]
        cursor += cfg.batch_size
        if autocast:
            x = x.contiguous(memory_format=torch.channels_last)
        for group in opt.param_groups:
            group["lr"] = sched.lr(step)
        with torch.autocast(device_type=dev.type, dtype=torch.bfloat16, enabled=autocast):
            logits = model(x, p)
            loss = F.cross_entropy(logits.float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.after_step(step)
        step += 1
        if step % cfg.log_every == 0 or step == sched.steps:
            acc = float((logits.argmax(1) == y).float().mean())
            log(f"  {kind:>3} step {step}/{sched.steps}  loss {loss.item():.3f}  batch acc {acc:.3f}  {sched.elapsed:.0f}s")
        if on_checkpoint is not None and time.time() - last_save >= checkpoint_seconds and not sched.done(step):
            on_checkpoint(training_state(kind, cfg, model, opt, step, pool_rng, cursor))
            last_save = time.time()
    model.eval()
    return model, {"steps": step, "epochs": round(step * cfg.batch_size / n, 2), "seconds": round(sched.elapsed, 1)}


def training_state(kind: str, cfg: ClassifierTraining, model: ParamAwareClassifier, opt, step: int, pool_rng: Tensor,
                   cursor: int) -> dict:
    """What :func:`train_classifier` needs to continue: loadable with ``torch.load(..., weights_only=True)``. The
    frozen estimator inside the "est" network is not saved (it is given again)."""
    weights = {k: v.detach().cpu().clone() for k, v in model.state_dict().items() if not k.startswith("estimator.")}
    return {"kind": kind, "config": dataclasses.asdict(cfg), "model": weights, "optimizer": opt.state_dict(),
            "step": step, "cursor": cursor, "pool_rng": pool_rng, "torch_rng": torch.get_rng_state()}


@torch.no_grad()
def sweep(models: dict, estimator: ParamEstimator, target: Target, test_x: Tensor, test_y: Tensor, values,
          batch: int = 2500, amp: bool = True, known: Optional[str] = None) -> dict:
    """Accuracy of every model and the estimator's per-image estimates at every parameter value.

    models: name -> (model, uses_param). Images of value v are ``degrade(test, v)`` with seed = image index
    (identical for every model). ``known``: name of a param-aware model also scored with the true value
    (Endo's Fig. 1-b), reported as ``<known>_known``. Returns {"acc": {name: {v: acc}}, "est_mean": {v: ..},
    "est_sd": {v: ..}}."""
    dev = test_x.device
    n = test_x.shape[0]
    names = list(models) + ([f"{known}_known"] if known else [])
    acc = {k: {} for k in names}
    est_mean, est_sd = {}, {}
    autocast = amp and fast_bf16(dev)
    for v in values:
        hits = {k: 0 for k in names}
        ests = []
        for s in range(0, n, batch):
            clean = test_x[s: s + batch].float().div_(255.0)
            x = degrade(clean, target.distortion, torch.full((clean.shape[0],), float(v)),
                        torch.arange(s, s + clean.shape[0]))
            y = test_y[s: s + batch]
            if autocast:
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device_type=dev.type, dtype=torch.bfloat16, enabled=autocast):
                est = estimator(x).float()
                ests.append(est[:, 0])
                for k, (m, uses) in models.items():
                    hits[k] += int((m(x, est if uses else None).argmax(1) == y).sum())
                if known:
                    m = models[known][0]
                    truth = torch.full_like(est, float(v))
                    hits[f"{known}_known"] += int((m(x, truth).argmax(1) == y).sum())
        e = torch.cat(ests)
        est_mean[int(v)], est_sd[int(v)] = float(e.mean()), float(e.std(unbiased=False))
        for k in names:
            acc[k][int(v)] = hits[k] / n
    return {"acc": acc, "est_mean": est_mean, "est_sd": est_sd}

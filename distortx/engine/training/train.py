"""The training loop: ``distortx train CONFIG.toml`` and :func:`train` are the same thing.

Mixing rule (Y-net): every step draws ONE batch from ONE task; the task of step s is fixed by the sources'
weights with a deterministic smooth round-robin (weights 1:1 alternate detection, classification, ...;
2:1 gives det, cls, det, det, cls, det, ...). The batch's loss trains its head and the shared backbone;
the other head gets no gradient that step. Per-task loss weights (``[model.kwargs] loss_weights``) scale
the losses. Ahn's staged recipe is ``[[train.stages]]``: e.g. classification alone, then detection with
the backbone frozen.

Run folder (``train.out``): ``config.toml`` (the resolved config), ``log.jsonl`` (one JSON object per logged
step and per evaluation), ``last.pt`` (every ``checkpoint_every`` steps and at the end), ``best.pt`` (best
validation metric), ``model.pt`` (final inference weights). An existing run folder is refused unless
``resume`` (continue from last.pt exactly where it stopped) or ``overwrite``.

Scale-out: under ``torchrun --nproc_per_node N -m distortx train ...`` each rank draws its own slice of the
stream (SynthesisStream splits units by rank) and DistributedDataParallel averages gradients; rank 0 writes
the run folder. At the end, every rank's parameter checksum is gathered into the summary (``ranks_in_sync``).
"""
from __future__ import annotations

import importlib
import json
import math
import os
import shutil
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import torch
from torch import nn

from ...errors import DistortxError, ParameterError
from .batches import augment, default_val_split, source_splits
from ...models.checkpoint import BEST, LAST, MODEL, export_weights, read_checkpoint, save_checkpoint
from .config import ConfigError, StageConfig, TrainConfig, load_config
from .labelled_batches import open_stream, source_classes, source_image_size, val_splits
from ..model_view import check_tasks, engine_view
from ..precision import fast_bf16, to_float32


class RunFolderError(DistortxError):
    """A run folder that exists (and neither resume nor overwrite was asked) or cannot be used."""


# -- small pieces ------------------------------------------------------------------------------------------------
def task_sequence(weights: Mapping[str, float], steps: int) -> List[str]:
    """Smooth weighted round-robin: the task of each of ``steps`` steps (deterministic)."""
    tasks = list(weights)
    total = float(sum(weights.values()))
    credit = {t: 0.0 for t in tasks}
    out = []
    for _ in range(steps):
        for t in tasks:
            credit[t] += weights[t]
        best = max(tasks, key=lambda t: credit[t])
        credit[best] -= total
        out.append(best)
    return out


def lr_at(step: int, total: int, cfg: TrainConfig) -> float:
    """Learning rate of step ``step`` (0-based): linear warm-up, then cosine / step / constant."""
    s, base = cfg.schedule, cfg.optim.lr
    if s.warmup_steps and step < s.warmup_steps:
        return base * (step + 1) / s.warmup_steps
    if s.name == "constant":
        return base
    span = max(1, total - s.warmup_steps)
    t = min(1.0, (step - s.warmup_steps) / span)
    if s.name == "cosine":
        floor = base * s.min_lr_ratio
        return floor + (base - floor) * 0.5 * (1 + math.cos(math.pi * t))
    drops = sum(1 for m in s.milestones if t >= m)
    return base * (s.gamma ** drops)


def param_groups(model: nn.Module, weight_decay: float) -> List[Dict[str, Any]]:
    """Weight decay on conv/linear weights only: none on biases and normalisation parameters."""
    decay, no_decay = [], []
    norm_types = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm)
    for module in model.modules():
        for name, p in module.named_parameters(recurse=False):
            if not p.requires_grad:
                continue
            (no_decay if (name.endswith("bias") or isinstance(module, norm_types) or p.ndim <= 1) else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    o = cfg.optim
    groups = param_groups(model, o.weight_decay)
    if o.name == "sgd":
        return torch.optim.SGD(groups, lr=o.lr, momentum=o.momentum)
    if o.name == "adamw":
        return torch.optim.AdamW(groups, lr=o.lr, betas=tuple(o.betas))
    if o.name == "adam":
        return torch.optim.Adam(groups, lr=o.lr, betas=tuple(o.betas))
    return torch.optim.Adamax(groups, lr=o.lr, betas=tuple(o.betas))


def _dist() -> Tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def init_distributed(device: str) -> Tuple[int, int, str]:
    """Join the process group torchrun describes (WORLD_SIZE > 1); returns (rank, world, device)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1 or (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return (*_dist(), device)
    backend = "nccl" if device.startswith("cuda") else "gloo"
    # DistributedDataParallel imports torch.distributed.nn, whose functions take ``group=group.WORLD`` as a
    # default argument: imported after init_process_group, ten function defaults hold the default process group
    # for the life of the interpreter, so close() could never free it (nor join its worker threads). Imported
    # first, those defaults are None.
    importlib.import_module("torch.distributed.nn")
    torch.distributed.init_process_group(backend=backend)
    rank = torch.distributed.get_rank()
    if device.startswith("cuda"):
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        device = f"cuda:{local}"
    return rank, world, device


def param_checksum(model: nn.Module) -> float:
    with torch.no_grad():
        return float(sum(p.double().sum() * (i + 1) for i, p in enumerate(model.parameters())))


def prepare_run_folder(out: Path, resume: bool, overwrite: bool) -> None:
    if resume and overwrite:
        raise RunFolderError("give either --resume or --overwrite, not both")
    if out.exists() and not out.is_dir():
        raise RunFolderError(f"{out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        if resume:
            if not (out / LAST).is_file():
                raise RunFolderError(f"{out}: nothing to resume (no {LAST}); start a new run with --overwrite")
            return
        if not overwrite:
            raise RunFolderError(f"run folder {out} exists; use --resume to continue it or --overwrite to "
                                 "start over (its files are deleted)")
        if not ((out / "log.jsonl").exists() or (out / LAST).exists() or (out / "config.toml").exists()):
            raise RunFolderError(f"{out} is not a distortx run folder; refusing to overwrite it")
        shutil.rmtree(out)
    elif resume:
        raise RunFolderError(f"{out}: nothing to resume (no such run folder)")
    out.mkdir(parents=True, exist_ok=True)


def _toml(data: Mapping[str, Any]) -> str:
    """A small TOML writer for the resolved config (tables, arrays of tables, scalars, lists)."""
    lines: List[str] = []

    def scalar(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return repr(v)
        if isinstance(v, str):
            return json.dumps(v)
        if isinstance(v, list):
            return "[" + ", ".join(scalar(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{" + ", ".join(f"{k} = {scalar(x)}" for k, x in v.items()) + "}"
        raise TypeError(type(v))

    def table(prefix: str, d: Mapping[str, Any]) -> None:
        simple = {k: v for k, v in d.items() if not isinstance(v, dict) and not
                  (isinstance(v, list) and v and all(isinstance(x, dict) for x in v))}
        if prefix:
            lines.append(f"\n[{prefix}]")
        lines.extend(f"{k} = {scalar(v)}" for k, v in simple.items())
        for k, v in d.items():
            if isinstance(v, dict) and k != "kwargs":
                table(f"{prefix}.{k}" if prefix else k, v)
            elif isinstance(v, dict):
                lines.append(f"{k} = {scalar(v)}")
            elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
                for x in v:
                    lines.append(f"\n[[{prefix}.{k}]]" if prefix else f"\n[[{k}]]")
                    lines.extend(f"{kk} = {scalar(vv)}" for kk, vv in x.items())

    table("", data)
    return "\n".join(lines).lstrip() + "\n"


class JsonlLog:
    """Appends one JSON object per line (rank 0 only)."""

    def __init__(self, path: Optional[Path]):
        self.path = path

    def write(self, record: Mapping[str, Any]) -> None:
        if self.path is not None:
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")


# -- the trainer ---------------------------------------------------------------------------------------------------
@dataclass
class TrainResult:
    """What a run produced: its folder, the final step, the last metrics and the per-rank checksums."""

    out: Path
    step: int
    metrics: Dict[str, float]
    best: Optional[float]
    checksums: List[float]
    seconds: float

    @property
    def ranks_in_sync(self) -> bool:
        return all(abs(c - self.checksums[0]) <= 1e-9 * max(1.0, abs(self.checksums[0])) for c in self.checksums)


def build_model(cfg: TrainConfig):
    """The model the config describes (vocabulary from [model].classes or from the data presets)."""
    from ...models import create_model

    classes = cfg.model.classes
    if classes is None:
        classes = _types_of_sources(cfg)
    kwargs = dict(cfg.model.kwargs)
    crop = _crop_of_sources(cfg)
    if crop is not None:
        kwargs.setdefault("image_size", crop)  # the training crop: predict's tile size
    try:
        model = create_model(cfg.model.arch, backbone=cfg.model.backbone, classes=list(classes), **kwargs)
    except (TypeError, ParameterError) as exc:
        raise ConfigError(f"[model]: {exc}") from exc
    if cfg.model.weights:
        p = Path(cfg.model.weights)
        try:
            state = read_checkpoint(p)["model"]
        except DistortxError:
            state = p
        if cfg.model.weights_except:   # (a plugin's architecture may take no ``keep``: asked only when used)
            model.load_weights(state, keep=cfg.model.weights_except)
        else:
            model.load_weights(state)
    return model


def _crop_of_sources(cfg: TrainConfig) -> Optional[int]:
    """Crop side of the detection source (else the first source), None for folders."""
    from ...data.user_preset import resolve_preset

    sources = cfg.data.sources()
    for task in ("detection", *sources):
        s = sources.get(task)
        if s is not None and s.labelled is not None:
            return source_image_size(s)
        if s is not None and s.preset is not None:
            first = s.preset[0] if isinstance(s.preset, list) else s.preset
            return int(resolve_preset(first).crop)
    return None


def _types_of_sources(cfg: TrainConfig) -> List[str]:
    types: List[str] = []
    for s in cfg.data.sources().values():
        if s.labelled is not None:
            names = source_classes(s)  # object classes (the model adds "clean" as column 0)
        elif s.preset is not None:
            from ...data.user_preset import resolve_preset

            names = []
            for p in (s.preset if isinstance(s.preset, list) else [s.preset]):
                names += [n for n in resolve_preset(p).distortions if n not in names]
        else:
            from ...data.datasets import load_manifest

            names = [c["name"] for c in sorted(load_manifest(s.folder)["categories"], key=lambda c: c["id"])]
        types += [n for n in names if n not in types and n not in ("reference", "clean")]
    return types


class Trainer:
    """Runs one configured training (see the module docstring); ``run()`` returns a :class:`TrainResult`."""

    def __init__(self, cfg: TrainConfig, resume: bool = False, overwrite: bool = False,
                 progress: bool = True):
        self.cfg = cfg
        self._joined_group = not (torch.distributed.is_available() and torch.distributed.is_initialized())
        self._frozen_norms: List[nn.Module] = []     # BatchNorm layers of the current stage's frozen modules
        self.rank, self.world, self.device = init_distributed(cfg.train.device)
        self._joined_group &= self.world > 1
        if self.device.startswith("cuda") and not torch.cuda.is_available():
            raise ConfigError("train.device is cuda but no CUDA device is available; use --device cpu")
        self.out = Path(cfg.train.out)
        if self.rank == 0:
            prepare_run_folder(self.out, resume, overwrite)
        if self.world > 1:
            torch.distributed.barrier()
        self.resume, self.progress = resume, progress and self.rank == 0
        if cfg.train.threads and self.device == "cpu":
            torch.set_num_threads(cfg.train.threads)
        torch.manual_seed(cfg.train.seed)
        self.model = build_model(cfg).to(self.device)
        self.cuda = self.device.startswith("cuda")
        self._cpu_bf16 = (not self.cuda) and cfg.train.cpu_amp and fast_bf16(torch.device("cpu"))
        if (self.cuda and cfg.train.channels_last) or self._cpu_bf16:
            self.model = self.model.to(memory_format=torch.channels_last)
        # what the loop calls: forward(images) -> ModelOutput, loss(output, batch); the model itself for a
        # DistortxModel, an EngineView of its engine_output/engine_loss for e.g. a ParamEstimator
        self.view = engine_view(self.model)
        self.sources = cfg.data.sources()
        check_tasks(self.view, self.sources)
        self.optimizer = make_optimizer(self.model, cfg)
        self.train_streams = {t: open_stream(t, s, self.view, cfg.data.images, cfg.data.seed, self.device,
                                             s.split, shuffle=True, mix_units=cfg.data.mix_units)
                              for t, s in self.sources.items()}
        self.step = 0
        self._configured_steps = cfg.train.steps
        self.best: Optional[float] = None
        self.metrics: Dict[str, float] = {}
        self.log = JsonlLog(self.out / "log.jsonl" if self.rank == 0 else None)
        self.schedule = self._schedule()
        self.net: nn.Module = self.view
        if self.world > 1:
            self.net = nn.parallel.DistributedDataParallel(
                self.view, device_ids=[int(self.device.split(":")[1])] if self.cuda else None,
                find_unused_parameters=len(self.sources) > 1 or len(cfg.stages()) > 1)
        if cfg.train.compile:
            self.net = torch.compile(self.net)
        if resume:
            self._load(self.out / LAST)
        elif self.rank == 0:
            (self.out / "config.toml").write_text(_toml(cfg.to_dict()))

    # -- schedule of tasks and frozen modules ----------------------------------------------------------------
    def _schedule(self) -> List[Tuple[str, StageConfig]]:
        plan: List[Tuple[str, StageConfig]] = []
        for stage in self.cfg.stages():
            tasks = stage.tasks or list(self.sources)
            weights = {t: self.sources[t].weight for t in tasks}
            plan += [(t, stage) for t in task_sequence(weights, stage.steps)]
        return plan

    def _apply_freeze(self, stage: StageConfig) -> None:
        """Stop the gradients of the stage's frozen modules; their BatchNorm statistics stay as loaded."""
        for name, p in self.model.named_parameters():
            p.requires_grad_(not any(name == f or name.startswith(f + ".") for f in stage.freeze))
        self._frozen_norms = [m for name, m in self.model.named_modules()
                              if isinstance(m, nn.modules.batchnorm._BatchNorm)
                              and any(name == f or name.startswith(f + ".") for f in stage.freeze)]

    def _train_mode(self) -> None:
        """Training mode, except the BatchNorm layers of frozen modules (they keep their running statistics)."""
        self.net.train()
        for m in self._frozen_norms:
            m.eval()

    # -- checkpoints -----------------------------------------------------------------------------------------
    def _state(self) -> Dict[str, Any]:
        rng = {"torch": torch.get_rng_state()}
        if self.cuda:
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        return {
            "model": self.model.state_dict(), "model_config": self.model.config,
            "classes": list(self.view.classes) if self.view.classes else None,
            "det_classes": list(self.view.det_classes) if self.view.det_classes else None,
            "optimizer": self.optimizer.state_dict(), "step": self.step,
            "data_state": {t: s.state() for t, s in self.train_streams.items()},
            "data_seed": self.cfg.data.seed, "rng": rng, "config": self.cfg.to_dict(),
            "metrics": self.metrics, "best": self.best,
        }

    def _load(self, path: Path) -> None:
        state = read_checkpoint(path)
        if state["model_config"] != self.model.config:
            raise RunFolderError(f"{path} was written by another model ({state['model_config'].get('arch')}/"
                                 f"{state['model_config'].get('backbone')}); resume needs the same [model]")
        self.model.load_weights(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.step, self.best = int(state["step"]), state.get("best")
        self.metrics = dict(state.get("metrics") or {})
        for t, s in self.train_streams.items():
            if t in state["data_state"]:
                s.load_state(state["data_state"][t])
        torch.set_rng_state(state["rng"]["torch"])
        if self.cuda and "cuda" in state["rng"]:
            torch.cuda.set_rng_state(state["rng"]["cuda"], self.device)

    def save(self, best: bool = False) -> None:
        if self.rank != 0:
            return
        state = self._state()
        save_checkpoint(state, self.out / LAST)
        if best:
            save_checkpoint(state, self.out / BEST)

    # -- one step --------------------------------------------------------------------------------------------
    def _autocast(self):
        if self.cuda and self.cfg.train.amp:
            return torch.autocast("cuda", dtype=torch.bfloat16)
        if not self.cuda and self._cpu_bf16:
            return torch.autocast("cpu", dtype=torch.bfloat16)
        return nullcontext()

    def train_step(self, task: str) -> Dict[str, float]:
        batch = next(self.train_streams[task])
        if self.cfg.data.augment and not getattr(self.train_streams[task], "augments_itself", False):
            g = torch.Generator().manual_seed(self.cfg.train.seed * 7919 + self.step)
            batch = augment(batch, task, g)
        images = batch["images"]
        if (self.cuda and self.cfg.train.channels_last) or (not self.cuda and self._cpu_bf16):
            images = images.contiguous(memory_format=torch.channels_last)
        lr = lr_at(self.step, self.cfg.train.steps, self.cfg)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self._train_mode()
        with self._autocast():
            output = to_float32(self.net(images))
        loss, parts = self.view.loss(output, {k: v for k, v in batch.items() if k != "images"
                                              and (task != "classification" or k != "targets")})
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.cfg.optim.clip_grad:
            params = [p for p in self.model.parameters() if p.grad is not None]
            parts["grad_norm"] = float(torch.nn.utils.clip_grad_norm_(params, self.cfg.optim.clip_grad))
        self.optimizer.step()
        parts.update(lr=lr, images=int(images.shape[0]))
        return parts

    # -- evaluation --------------------------------------------------------------------------------------------
    def evaluate(self) -> Dict[str, float]:
        from ..evaluation.evaluate import evaluate_batches

        results: Dict[str, float] = {}
        for task, s in self.sources.items():
            split = s.val_split
            if split == "auto":
                split = default_val_split(val_splits(s) if s.labelled else source_splits(s))
            if split is None:
                continue
            try:
                stream = open_stream(task, s, self.view, self.cfg.data.val_images or self.cfg.data.images,
                                     self.cfg.data.seed, self.device, split, shuffle=False, mix_units=1)
            except DistortxError as exc:  # e.g. an empty validation split with few photos
                self.log.write({"step": self.step, "warning": f"no {task} validation: {exc}"})
                continue
            report = evaluate_batches(self.view, stream.epoch_batches(self.cfg.train.eval_batches),
                                      amp=self.cuda and self.cfg.train.amp)
            results.update(report.summary())
        return results

    def _fit_budget(self, seconds_left: float, per_step: float, stop_at: Optional[int]) -> int:
        """Set train.steps (never above the configured number; the stages scale proportionally) so the rest
        fits ``seconds_left`` at ``per_step`` (5 % kept for the end); returns the new end step. Logged as a
        "budget" record."""
        cfg = self.cfg.train
        fit = self.step + max(1, int(0.95 * seconds_left / max(per_step, 1e-9)))
        fit = min(fit, self._configured_steps)
        if fit != cfg.steps and abs(fit - cfg.steps) > 0.01 * cfg.steps:
            old = cfg.steps
            if cfg.stages:
                scale = fit / old
                for st in cfg.stages:
                    st.steps = max(1, round(st.steps * scale))
                cfg.stages[-1].steps += fit - sum(st.steps for st in cfg.stages)
            cfg.steps = fit
            self.schedule = self._schedule()
            self.log.write({"step": self.step, "budget": {"steps_before": old, "steps": fit,
                                                           "seconds_per_step": round(per_step, 4)}})
        return cfg.steps if stop_at is None else min(cfg.steps, int(stop_at))

    def _best_key(self) -> str:
        if self.cfg.train.best_metric:
            return self.cfg.train.best_metric
        if "detection" in self.sources:
            return "detection/map50"
        return "classification/accuracy" if "classification" in self.sources else "regression/mae"

    def _evaluate_and_save(self) -> None:
        """Evaluate, log, keep the best value of the best metric, and save last.pt (and best.pt if improved)."""
        from ..evaluation.evaluate import lower_is_better

        self.metrics = self.evaluate()
        key = self._best_key()
        improved = False
        if key in self.metrics and math.isfinite(self.metrics[key]):
            value = self.metrics[key]
            improved = self.best is None or (value < self.best if lower_is_better(key) else value > self.best)
            if improved:
                self.best = value
        self.log.write({"step": self.step, "eval": self.metrics, "best": self.best})
        self.save(best=improved)

    # -- the loop ----------------------------------------------------------------------------------------------
    def run(self, stop_at: Optional[int] = None) -> TrainResult:
        """Train to ``train.steps`` (or stop after step ``stop_at``, saving last.pt, to resume later)."""

        cfg = self.cfg.train
        end = cfg.steps if stop_at is None else min(cfg.steps, int(stop_at))
        t_start = time.perf_counter()
        bar = None
        if self.progress:
            from tqdm import tqdm

            bar = tqdm(total=cfg.steps, initial=self.step, desc="train", dynamic_ncols=True, leave=True)
        window_images, window_t = 0, time.perf_counter()
        current_stage: Optional[StageConfig] = None
        last_parts: Dict[str, float] = {}
        first_step, t_timed = self.step, t_start
        try:
            while self.step < end:
                task, stage = self.schedule[self.step]
                if stage is not current_stage:
                    self._apply_freeze(stage)
                    current_stage = stage
                parts = self.train_step(task)
                self.step += 1
                if cfg.max_minutes and self.step == first_step + 1:
                    t_timed = time.perf_counter()  # the first step (warm-up, allocations) is not timed
                if cfg.max_minutes and self.step > first_step + 1 and (self.step - first_step - 1) % 20 == 0:
                    # re-fit every 20 steps from the running time per step (throughput drifts with load)
                    now = time.perf_counter()
                    end = self._fit_budget(cfg.max_minutes * 60 - (now - t_start),
                                           (now - t_timed) / (self.step - first_step - 1), stop_at)
                window_images += parts["images"] * self.world
                if not all(math.isfinite(v) for v in parts.values()):
                    raise DistortxError(f"loss became {parts.get('loss')} at step {self.step} ({task}); "
                                        "lower optim.lr or set optim.clip_grad")
                last_parts = {f"{task}/{k}": v for k, v in parts.items()}
                if self.step % cfg.log_every == 0 or self.step == cfg.steps:
                    now = time.perf_counter()
                    ips = window_images / max(now - window_t, 1e-9)
                    window_images, window_t = 0, now
                    record = {"step": self.step, "task": task, **{k: round(v, 6) for k, v in parts.items()},
                              "images_per_s": round(ips, 2), "time": round(now - t_start, 2)}
                    self.log.write(record)
                    if bar is not None:
                        bar.set_postfix(task=task[:3], loss=f"{parts['loss']:.3f}", lr=f"{parts['lr']:.2g}",
                                        ips=f"{ips:.0f}")
                if bar is not None:
                    bar.update(1)
                if (cfg.eval_every and self.step % cfg.eval_every == 0) or self.step == cfg.steps:
                    self._evaluate_and_save()
                elif self.step % cfg.checkpoint_every == 0:
                    self.save()
        except KeyboardInterrupt:
            self.save()
            raise
        finally:
            if bar is not None:
                bar.close()
        if self.step < cfg.steps:  # stopped early on purpose: last.pt holds everything to resume
            self.save()
        elif self.rank == 0:
            export_weights(self._state(), self.out / MODEL)
        checksums = [param_checksum(self.model)]
        if self.world > 1:
            gathered: List[Any] = [None] * self.world
            torch.distributed.all_gather_object(gathered, checksums[0])
            checksums = [float(c) for c in gathered]
        result = TrainResult(self.out, self.step, self.metrics, self.best, checksums,
                             time.perf_counter() - t_start)
        self.log.write({"step": self.step, "done": True, "seconds": round(result.seconds, 2),
                        "checksums": checksums, "ranks_in_sync": result.ranks_in_sync, **last_parts})
        if self.step >= cfg.steps:
            self.close()
        return result

    def close(self) -> None:
        """Leave the process group this trainer joined under torchrun, once every rank is here, and free it:
        ``run()`` calls it when the run is complete.

        Freeing matters. A gloo worker thread drops its reference to a finished collective's tensors only after
        the caller has moved on; when those were Python tensors (``all_gather_object``'s) that release needs the
        GIL. Had the group lived until the interpreter finalised, a late release there makes the thread exit
        inside a noexcept destructor: "terminate called without an active exception", SIGABRT (1 run in ~20 on
        a loaded 2-core machine). Dropping the last reference here runs the group's destructor with the GIL
        released (torch binds it so): it lets the worker finish and joins it. The DDP wrapper holds the group
        too, so the trainer drops it; init_distributed keeps torch.distributed.nn from holding it."""
        if not self._joined_group or not torch.distributed.is_initialized():
            self._joined_group = False
            return
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
        self._joined_group = False
        self.net = self.view          # the DDP wrapper (and a compiled one) held the process group


def train(config: Union[TrainConfig, str, Path, Mapping[str, Any]], overrides: Sequence[str] = (),
          resume: bool = False, overwrite: bool = False, progress: bool = True) -> TrainResult:
    """Train as ``distortx train`` does. ``config``: a TrainConfig, a TOML path, or a dict of sections."""
    if isinstance(config, TrainConfig):
        cfg = config if not overrides else load_config(base=config.to_dict(), overrides=overrides)
    elif isinstance(config, Mapping):
        cfg = load_config(base=config, overrides=overrides)
    else:
        cfg = load_config(config, overrides)
    trainer = Trainer(cfg, resume=resume, overwrite=overwrite, progress=progress)
    return trainer.run()

"""Evaluation: the papers' tables and figures for a trained model on a preset or a generated folder.

``distortx evaluate --model RUN_OR_CKPT --data PRESET_OR_FOLDER`` = :func:`evaluate`. Classification data
gives accuracy overall, per type, per level (Ahn's L1/L2/L3) and the false-alarm rate on clean images (a
clean photo called distorted); detection data gives AP per type and mAP at IoU 0.5 / 0.75 / 0.9 (all-point
interpolation, Ahn Tables 2-3), COCO's mAP@[.5:.95] and AP by region size (Ahn Fig. 3). A model with a
parameter output (a regression head, Endo's estimator) gets the MAE / RMSE / bias of its image-level estimate
against the batch's ``params`` in the parameter's units (JPEG quality, noise sigma). All report images/s of
the model (forward + decode + NMS, batch as given, after one warm-up batch).
"""
from __future__ import annotations

import json
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Union

import numpy as np
import torch

from ...errors import DistortxError
from .metrics import PAPER_IOU_THRESHOLDS, ClassificationMetrics, DetectionMetrics, RegressionMetrics
from ..model_view import engine_view

#: summary keys where lower is better (the trainer's best.pt follows them downwards)
LOWER_IS_BETTER = ("classification/false_alarm", "regression/mae", "regression/rmse")


def lower_is_better(key: str) -> bool:
    """True for a metric where a smaller value is a better model (errors, false alarms)."""
    return key in LOWER_IS_BETTER


@dataclass
class EvalReport:
    """Metrics of one evaluation; ``summary()`` is the flat dict the trainer logs."""

    classes: Optional[Sequence[str]] = None
    det_classes: Optional[Sequence[str]] = None
    classification: Any = None           # ClassificationResult
    detection: Any = None                # DetectionResult
    regression: Any = None               # RegressionResult
    images: int = 0
    seconds: float = 0.0
    extra: Dict[str, Any] = field(default_factory=dict)

    @property
    def images_per_s(self) -> float:
        return self.images / self.seconds if self.seconds > 0 else float("nan")

    def false_alarm_rate(self) -> float:
        """Fraction of clean images classified as distorted (NaN without clean images)."""
        if self.classification is None or not self.classes or "clean" not in self.classes:
            return float("nan")
        k = list(self.classes).index("clean")
        row = self.classification.confusion[k]
        return float(1 - row[k] / row.sum()) if row.sum() else float("nan")

    def summary(self) -> Dict[str, float]:
        out: Dict[str, float] = {}
        if self.classification is not None:
            out["classification/accuracy"] = float(self.classification.accuracy)
            far = self.false_alarm_rate()
            if far == far:
                out["classification/false_alarm"] = far
        if self.detection is not None:
            for t in PAPER_IOU_THRESHOLDS:
                out[f"detection/map{int(round(t * 100))}"] = float(self.detection.map(t))
            out["detection/coco_map"] = float(self.detection.coco_map)
        if self.regression is not None:
            out["regression/mae"] = float(self.regression.mae)
            out["regression/rmse"] = float(self.regression.rmse)
        out["images_per_s"] = float(self.images_per_s)
        return out

    def to_dict(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {"images": self.images, "images_per_s": _num(self.images_per_s), **self.extra}
        if self.classification is not None:
            out["classification"] = self.classification.to_dict(self.classes)
            out["classification"]["false_alarm_rate"] = _num(self.false_alarm_rate())
        if self.detection is not None:
            names = {i: n for i, n in enumerate(self.det_classes or [])}
            out["detection"] = self.detection.to_dict(names)
        if self.regression is not None:
            out["regression"] = self.regression.to_dict()
        return out

    # -- paper-style tables --------------------------------------------------------------------------------
    def tables(self) -> str:
        """Markdown tables in the layout of Ahn et al.'s Tables 1-3."""
        lines: List[str] = []
        if self.classification is not None:
            c = self.classification
            names = list(self.classes or [])
            lines += ["| classification | accuracy | images |", "|---|---:|---:|",
                      f"| overall | {c.accuracy:.3f} | {c.num_samples} |"]
            diag, rows = np.diag(c.confusion), c.confusion.sum(axis=1)
            for k, name in enumerate(names):
                if rows[k]:
                    lines.append(f"| {name} | {diag[k] / rows[k]:.3f} | {int(rows[k])} |")
            far = self.false_alarm_rate()
            if far == far:
                lines.append(f"| false alarms on clean images | {far:.3f} | {int(rows[names.index('clean')])} |")
            levels = sorted({lv for row in c.per_level.values() for lv in row if lv >= 0})
            if levels:
                lines += ["", "| type | " + " | ".join(f"L{lv + 1}" for lv in levels) + " |",
                          "|---|" + "---:|" * len(levels)]
                for ty, row in sorted(c.per_level.items()):
                    if any(lv in row for lv in levels):
                        cells = [f"{row[lv]:.3f}" if lv in row else "-" for lv in levels]
                        lines.append(f"| {names[ty] if 0 <= ty < len(names) else ty} | " + " | ".join(cells) + " |")
        if self.detection is not None:
            d = self.detection
            names = list(self.det_classes or [])
            if lines:
                lines.append("")
            lines += ["| detection | " + " | ".join(f"AP@{t:g}" for t in PAPER_IOU_THRESHOLDS) + " | regions |",
                      "|---|" + "---:|" * (len(PAPER_IOU_THRESHOLDS) + 1)]
            lines.append("| **mAP** | " + " | ".join(f"**{d.map(t):.3f}**" for t in PAPER_IOU_THRESHOLDS)
                         + f" | {int(d.num_gt.sum())} |")
            for k, cid in enumerate(d.class_ids):
                name = names[int(cid)] if 0 <= int(cid) < len(names) else str(int(cid))
                cells = [_fmt(d.ap_at(t)[k]) for t in PAPER_IOU_THRESHOLDS]
                lines.append(f"| {name} | " + " | ".join(cells) + f" | {int(d.num_gt[k])} |")
            lines.append(f"| COCO mAP@[.5:.95] | {d.coco_map:.3f} | | | |")
        if self.regression is not None:
            r = self.regression
            if lines:
                lines.append("")
            lines += ["| parameter estimate | MAE | RMSE | bias | images |", "|---|---:|---:|---:|---:|"]
            columns = list(zip(*(r.per_column.get(m, []) for m in ("mae", "rmse", "bias"))))
            if len(columns) > 1:
                for k, (mae, rmse, bias) in enumerate(columns):
                    lines.append(f"| parameter {k} | {_fmt(mae)} | {_fmt(rmse)} | {_fmt(bias)} | |")
            lines.append(f"| all | {_fmt(r.mae)} | {_fmt(r.rmse)} | {_fmt(r.bias)} | {r.num_samples} |")
            if r.calibration:
                lines += ["", "| truth | images | mean estimate | error S.D. | bias | MAE |", "|---|---:|---:|---:|---:|---:|"]
                lines += [f"| {b['low']:.1f} - {b['high']:.1f} | {b['n']} | {b['estimate']:.2f} | {b['sd']:.2f} | "
                          f"{b['bias']:+.2f} | {b['mae']:.2f} |" for b in r.calibration]
        lines += ["", f"speed: {self.images_per_s:.1f} images/s ({self.images} images)"]
        return "\n".join(lines)

    def figures(self, out: Union[str, Path]) -> List[Path]:
        """The evaluation figures as PNGs in ``out``."""
        from . import plots

        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        paths: List[Path] = []
        if self.classification is not None:
            c, names = self.classification, list(self.classes or [])
            paths.append(plots.plot_confusion_matrix(c.confusion, names, out / "confusion_matrix.png"))
            table = {names[ty]: {lv: a for lv, a in row.items() if lv >= 0}
                     for ty, row in c.per_level.items() if any(lv >= 0 for lv in row)}
            if table:
                paths.append(plots.plot_accuracy_per_level(table, out / "accuracy_per_level.png"))
        if self.detection is not None:
            d, names = self.detection, list(self.det_classes or [])
            label = (lambda cid: names[int(cid)] if 0 <= int(cid) < len(names) else str(int(cid)))
            curves = {label(cid): pr for cid, pr in d.pr_curves.get(0.5, {}).items()}
            if curves:
                ap = {label(cid): float(d.ap_at(0.5)[k]) for k, cid in enumerate(d.class_ids)}
                paths.append(plots.plot_pr_curves(curves, out / "pr_curves.png", ap=ap, iou=0.5))
            paths.append(plots.plot_map_vs_iou(d.iou_thresholds, d.map_per_threshold(), out / "map_vs_iou.png"))
            if d.ap_by_size is not None:
                aps = {f"IoU {t:g}": d.map_by_size(t) for t in PAPER_IOU_THRESHOLDS}
                paths.append(plots.plot_ap_vs_region_size(d.size_edges, aps, out / "ap_vs_region_size.png",
                                                          counts=d.num_gt_by_size.sum(axis=0)))
        if self.regression is not None and self.regression.calibration:
            parameter = str(self.extra.get("parameter", "parameter"))
            bins = {"estimator": self.regression.calibration}
            paths.append(plots.plot_calibration(bins, out / "calibration.png", parameter=parameter,
                                                title=f"{parameter}: estimate vs truth"))
            paths.append(plots.plot_calibration(bins, out / "calibration_error.png", parameter=parameter,
                                                title=f"{parameter}: error vs truth", residual=True))
        return paths


def _num(x: float) -> Optional[float]:
    return None if x != x else float(x)


def _fmt(x: float) -> str:
    return "-" if x != x else f"{x:.3f}"


# -- running a model over batches ---------------------------------------------------------------------------------
@torch.no_grad()
def evaluate_batches(model, batches: Iterable[Mapping[str, Any]], amp: bool = False,
                     tasks: Optional[Sequence[str]] = None) -> EvalReport:
    """Run ``model`` (eval mode) over batches in the model's vocabulary (see :mod:`distortx.engine.training.batches`).
    A model with its own engine pair (e.g. a ParamEstimator) runs through :func:`engine_view`."""
    model = engine_view(model)
    was_training = model.training
    model.eval()
    report = EvalReport(classes=model.classes, det_classes=model.det_classes)
    cls = ClassificationMetrics(len(model.classes)) if model.classes else None
    det = DetectionMetrics() if model.det_classes else None
    reg = RegressionMetrics()
    seen = {"classification": False, "detection": False, "regression": False}
    device = next(model.parameters()).device
    ctx = torch.autocast("cuda", dtype=torch.bfloat16) if (amp and device.type == "cuda") else nullcontext()
    first = True
    for batch in batches:
        images = batch["images"].to(device)
        if first:  # warm-up: not timed
            with ctx:
                model(images)
            first = False
        _sync(device)
        t0 = time.perf_counter()
        with ctx:
            out = model(images)
        _sync(device)
        report.seconds += time.perf_counter() - t0
        report.images += int(images.shape[0])
        if cls is not None and "labels" in batch and out.logits is not None and (tasks is None or "classification" in tasks):
            cls.update(out.logits.float().cpu(), batch["labels"].cpu(),
                       levels=batch.get("levels").cpu() if batch.get("levels") is not None else None,
                       params=_first_param(batch.get("params")))
            seen["classification"] = True
        if det is not None and "targets" in batch and out.detections is not None and (tasks is None or "detection" in tasks):
            h, w = images.shape[-2:]
            det.update([{k: v.float().cpu() if v.is_floating_point() else v.cpu() for k, v in d.items()}
                        for d in out.detections],
                       [{"boxes": t["boxes"].cpu(), "labels": t["labels"].cpu()} for t in batch["targets"]],
                       image_sizes=[(int(h), int(w))] * len(batch["targets"]))
            seen["detection"] = True
        if out.params is not None and batch.get("params") is not None and (tasks is None or "regression" in tasks):
            reg.update(out.params.float().cpu(), batch["params"].float().cpu())
            seen["regression"] = True
    if seen["classification"]:
        report.classification = cls.compute()
    if seen["detection"]:
        report.detection = det.compute()
    if seen["regression"]:
        report.regression = reg.compute()
    model.train(was_training)
    return report


def _first_param(params) -> Optional[torch.Tensor]:
    if params is None:
        return None
    p = params.cpu().float()
    return p[:, 0] if p.dim() == 2 else p


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# -- the command ------------------------------------------------------------------------------------------------------
def evaluate(model, data: Union[str, Path, Sequence[Union[str, Path]]], images: Optional[str] = None,
             split: Optional[str] = None, seed: int = 0, batch_size: int = 16, device: str = "cpu",
             max_batches: Optional[int] = None, out: Optional[Union[str, Path]] = None,
             count: Optional[int] = None) -> EvalReport:
    """Evaluate ``model`` (a model, checkpoint file or run folder) on ``data`` (presets and/or generated
    folders). Presets render the split ``split`` (default: "test") of ``images`` with ``seed``. Writes
    ``metrics.json``, ``tables.md`` and the figures to ``out`` when given."""
    from ..training.batches import BatchStream
    from ...models.checkpoint import load_model
    from ..training.config import SourceConfig

    if isinstance(model, (str, Path)):
        model = load_model(model, device=device)
    else:
        model = model.to(device)
    items = [data] if isinstance(data, (str, Path)) else list(data)
    if not items:
        raise DistortxError("evaluate: give at least one --data (a preset name, a .toml preset or a folder)")
    merged: Optional[EvalReport] = None
    for item in items:
        folder = Path(item).is_dir()
        src = SourceConfig(preset=None if folder else str(item), folder=str(item) if folder else None,
                           batch_size=batch_size, count=count)
        task = ("detection" if _is_detection(src) else
                "classification" if getattr(model, "classes", None) else "regression")
        probe = BatchStream(task, src, model, images, seed, device, split or _default_split(src), shuffle=False,
                            mix_units=1)
        report = evaluate_batches(model, probe.epoch_batches(max_batches), amp=device.startswith("cuda"))
        merged = report if merged is None else _merge(merged, report)
    merged.extra["data"] = [str(i) for i in items]
    config = getattr(model, "config", None)
    what = config.get("what") if isinstance(config, dict) else None
    if what:  # a parameter estimator: its parameter names the calibration figure's axes
        merged.extra["parameter"] = str(what).replace("_", " ")
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "metrics.json").write_text(json.dumps(merged.to_dict(), indent=1) + "\n")
        (out / "tables.md").write_text(merged.tables() + "\n")
        merged.figures(out)
    return merged


def _merge(a: EvalReport, b: EvalReport) -> EvalReport:
    a.classification = b.classification or a.classification
    a.detection = b.detection or a.detection
    a.regression = b.regression or a.regression
    a.images += b.images
    a.seconds += b.seconds
    return a


def _is_detection(src) -> bool:
    if src.folder is not None:
        from ...data.datasets import load_manifest

        return load_manifest(src.folder)["task"] == "detection"
    from ...data.user_preset import resolve_preset

    return resolve_preset(src.preset).task == "detection"


def _default_split(src) -> str:
    from ..training.batches import source_splits

    splits = source_splits(src)
    return "test" if "test" in splits else splits[-1]

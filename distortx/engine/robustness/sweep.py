"""Robustness sweeps for any classifier (Dodge & Karam), with Hsieh et al.'s analyses.

For every distortion of a preset (default ``dodge-karam``: JPEG quality 20..2, JPEG 2000 PSNR 40..20 dB,
Gaussian noise sigma 10..100, Gaussian blur sigma 1..9 with a 4-sigma window, contrast blend 0..1) and
every level of its level set, plus the clean images, :func:`run_sweep` measures top-1 and top-k (5)
accuracy, per-class precision / recall / F1 (Hsieh's table) and the mean SSIM and PSNR of the distorted
input against the clean one (Hsieh's "accuracy vs SSIM"). One row per (distortion, level).

How a batch is processed: the images are decoded once (uint8, after the model's resize/centre crop), moved
to the model's device, and then for each condition distorted *in one batched call on that device* --
``distortx.ops.distort_codes`` (the fused native C++/CUDA kernel; whole-image boxes) for every distortion with a
native kernel, ``spec.apply`` otherwise (JPEG 2000 is encoded per image through Pillow/OpenJPEG on the
CPU, then moved back) -- normalised and classified. Distortions act on the model's input pixels: after
the geometric preprocessing, before the mean/std normalisation.

Determinism: the parameters of condition (distortion d, level l) for image i are row i of
``spec.sample(N, generator(seed, crc32(d), l))``: the noise of an image does not depend on the batch size,
the batch order or the other conditions. A batch's counts are committed only once every condition has
seen it; the results file (``results.json``) holds the committed counts and the cursor, and is written
atomically every few seconds and on interruption, so rerunning the same command resumes where it
stopped and produces the same CSV as an uninterrupted run (the stored batch size is reused).

Summary metrics (:func:`summarize`), with E = top-1 error = 1 - top-1 accuracy:

* AUC of each accuracy curve: trapezoidal area under accuracy vs the level value rescaled to [0, 1]
  from the mildest to the most severe level (a model at constant accuracy a has AUC a).
* Corruption error (Hendrycks & Dietterich, *Benchmarking Neural Network Robustness to Common Corruptions
  and Perturbations*, ICLR 2019, Sec. 4): CE_c = sum_s E_{s,c} / sum_s E^base_{s,c}, over the levels s of
  corruption c, normalised by a baseline model's errors (ImageNet-C uses AlexNet); mCE = mean_c CE_c.
  Relative CE_c = sum_s (E_{s,c} - E_clean) / sum_s (E^base_{s,c} - E^base_clean); relative mCE = mean.
"""
from __future__ import annotations

import csv
import io
import json
import math
import os
import sys
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor

from ...data.preset import PresetSpec
from ...data.synthesis import generator
from ...data.user_preset import resolve_preset
from ...distortions.spec import DistortionSpec, Params
from ...errors import DatasetError, DistortxError, ParameterError
from ...io import atomic_write_bytes, to_float_image
from ...registry import get_distortion
from .codec_pool import CodecCache, CodecPool
from .image_quality import PSNR_CAP, psnr, ssim
from ..training.labelled_data import LabelledImages
from .model_spec import LoadedModel, ModelSpecError

FORMAT = "distortx-robustness/1"
CLEAN = "clean"
RESULTS_JSON, RESULTS_CSV, PER_CLASS_CSV = "results.json", "results.csv", "per_class.csv"
CSV_FIELDS = ("distortion", "level", "value", "level_set", "n", "top1", "top5", "ssim", "psnr")


class RobustnessError(DistortxError):
    """A sweep that cannot run or resume: conflicting output folder, bad baseline, unusable preset."""


# -- the protocol --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Condition:
    """One row of a sweep. level: index in ``level_set`` (0 = mildest), -1 = drawn from a continuous set;
    value: the severity parameter (None for clean / continuous). The clean row is ("clean", 0, None, None)."""

    distortion: str
    level: int = 0
    value: Optional[float] = None
    level_set: Optional[str] = None

    @property
    def is_clean(self) -> bool:
        return self.distortion == CLEAN

    def to_dict(self) -> Dict[str, Any]:
        return {"distortion": self.distortion, "level": self.level, "value": self.value, "level_set": self.level_set}


def parse_levels(entries: Sequence[str]) -> Tuple[Optional[str], Dict[str, str]]:
    """``--levels`` entries: ``SET`` (every distortion that has it) or ``TYPE=SET``. Returns (default, per type)."""
    default, per = None, {}
    for entry in entries:
        for item in str(entry).split(","):
            item = item.strip()
            if not item:
                continue
            if "=" in item:
                name, _, set_name = item.partition("=")
                per[name.strip()] = set_name.strip()
            else:
                default = item
    return default, per


def plan_conditions(preset: Union[str, Path, PresetSpec] = "dodge-karam", levels: Sequence[str] = (),
                    distortions: Optional[Sequence[str]] = None) -> Tuple[PresetSpec, List[Condition]]:
    """The preset (checked) and its conditions: clean first, then every distortion x every level.

    levels: ``--levels`` entries overriding the preset's level sets; distortions: keep only these types.
    """
    spec_preset = resolve_preset(preset)
    names = list(spec_preset.distortions)
    if distortions:
        unknown = [d for d in distortions if d not in names]
        if unknown:
            raise RobustnessError(f"preset {spec_preset.name!r} has no distortion {unknown[0]!r} "
                                  f"(it has: {', '.join(names)})")
        names = [d for d in names if d in distortions]
    default, per = parse_levels(levels)
    for name in per:
        if name not in names:
            raise RobustnessError(f"--levels names {name!r}, which is not swept (distortions: {', '.join(names)})")
    sets = dict(spec_preset.level_sets)
    conditions = [Condition(CLEAN)]
    used_default = False
    for name in names:
        spec = get_distortion(name)
        if not spec.levels:
            raise RobustnessError(f"{name} declares no level sets, so a sweep cannot enumerate its levels")
        set_name = per.get(name)
        if set_name is None and default is not None and default in [ls.name for ls in spec.levels]:
            set_name, used_default = default, True
        ls = spec.level_set(set_name or sets.get(name))  # UnknownNameError lists the sets
        if ls.continuous:
            conditions.append(Condition(name, -1, None, ls.name))
        else:
            conditions += [Condition(name, i, float(v), ls.name) for i, v in enumerate(ls.values)]
    if default is not None and not used_default:
        raise RobustnessError(f"no swept distortion has a level set {default!r} (distortions: {', '.join(names)})")
    return spec_preset, conditions


def condition_params(spec: DistortionSpec, cond: Condition, n: int, seed: int) -> Params:
    """Parameters of ``cond`` for images 0..n-1 (row i = image i), a pure function of (seed, distortion, level)."""
    g = generator(seed, zlib.crc32(cond.distortion.encode()), cond.level + 1)
    if cond.level < 0:
        return spec.sample(n, generator=g, levels=cond.level_set, variable=True)
    return spec.sample(n, generator=g, levels=cond.level_set, level=cond.level)


def render(images: Tensor, spec: DistortionSpec, params: Params, codecs: Optional[CodecPool] = None,
           cache: Optional[CodecCache] = None) -> Tensor:
    """Distort a batch (float Tensor[B, C, H, W] on any device) with per-image ``params``: the fused native
    kernel in one call (whole-image boxes) when the distortion has one, else ``spec.apply`` (JPEG 2000:
    Pillow/OpenJPEG per image on the CPU), the batch split over ``codecs``' worker processes when given,
    and looked up in / stored to ``cache`` when given (same output either way). Returns Tensor[B, C, H, W]
    on the images' device."""
    from ...ops import distort_codes

    B, _, H, W = images.shape
    if spec.native_code is None:
        key = cache.key(spec.name, images, params) if cache is not None else None
        hit = cache.get(key) if cache is not None else None
        if hit is not None:
            return hit.to(device=images.device, dtype=images.dtype)
        out = codecs.apply(spec, images, params) if codecs is not None else spec.apply(images, params)
        if cache is not None:
            cache.put(key, out)
        return out
    codes = torch.full((B, 1), int(spec.native_code), dtype=torch.int32)
    boxes = torch.tensor([0, 0, W, H], dtype=torch.int32).expand(B, 1, 4)
    return distort_codes(images, codes, params.values.unsqueeze(1), boxes, params.seed.unsqueeze(1))


def default_codec_workers() -> int:
    """Processes for per-image codecs (JPEG 2000): the CPUs this process may use, at most 16."""
    n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(16, n))


# -- counting --------------------------------------------------------------------------------------------------
@dataclass
class RowCounts:
    """Committed counts of one condition: n images, top-1 / top-k hits, SSIM and PSNR sums, and per class
    (int64 Tensor[K]) true positives, predictions and support (ground-truth count)."""

    n: int = 0
    top1: int = 0
    topk: int = 0
    ssim_sum: float = 0.0
    psnr_sum: float = 0.0
    tp: Optional[Tensor] = None
    predicted: Optional[Tensor] = None
    support: Optional[Tensor] = None

    def add(self, other: "RowCounts") -> None:
        self.n += other.n
        self.top1 += other.top1
        self.topk += other.topk
        self.ssim_sum += other.ssim_sum
        self.psnr_sum += other.psnr_sum
        for key in ("tp", "predicted", "support"):
            mine, theirs = getattr(self, key), getattr(other, key)
            setattr(self, key, theirs.clone() if mine is None else mine + theirs)

    def to_dict(self) -> Dict[str, Any]:
        return {"n": self.n, "top1": self.top1, "topk": self.topk, "ssim_sum": self.ssim_sum, "psnr_sum": self.psnr_sum,
                "tp": self.tp.tolist(), "predicted": self.predicted.tolist(), "support": self.support.tolist()}

    @staticmethod
    def from_dict(d: Dict[str, Any]) -> "RowCounts":
        t = lambda key: torch.tensor(d[key], dtype=torch.int64)  # noqa: E731
        return RowCounts(int(d["n"]), int(d["top1"]), int(d["topk"]), float(d["ssim_sum"]), float(d["psnr_sum"]),
                         t("tp"), t("predicted"), t("support"))

    @staticmethod
    def zeros(k: int) -> "RowCounts":
        z = torch.zeros(k, dtype=torch.int64)
        return RowCounts(0, 0, 0, 0.0, 0.0, z, z.clone(), z.clone())


def count_batch(logits: Tensor, labels: Tensor, top_k: int) -> RowCounts:
    """Counts of one batch: logits Tensor[B, K], labels int64 Tensor[B] on the same device."""
    K = logits.shape[1]
    k = min(top_k, K)
    top = logits.topk(k, dim=1).indices
    pred = top[:, 0]
    hit1 = pred == labels
    hitk = (top == labels[:, None]).any(dim=1)
    tp = torch.bincount(labels[hit1], minlength=K)
    predicted = torch.bincount(pred, minlength=K)
    support = torch.bincount(labels, minlength=K)
    stats = torch.stack([hit1.sum(), hitk.sum()]).cpu()
    return RowCounts(int(labels.numel()), int(stats[0]), int(stats[1]), 0.0, 0.0,
                     tp.cpu(), predicted.cpu(), support.cpu())


def row_metrics(cond: Condition, c: RowCounts) -> Dict[str, Any]:
    """The public numbers of a row (rates in [0, 1], NaN -> None when no image was counted)."""
    def rate(x: float) -> Optional[float]:
        return x / c.n if c.n else None

    return {**cond.to_dict(), "n": c.n, "top1": rate(c.top1), "top5": rate(c.topk),
            "ssim": rate(c.ssim_sum), "psnr": rate(c.psnr_sum)}


def per_class(c: RowCounts) -> Dict[str, List[float]]:
    """Precision, recall, F1 per class (0 where undefined, scikit-learn's zero_division=0)."""
    tp, pred, sup = c.tp.double(), c.predicted.double(), c.support.double()
    precision = torch.where(pred > 0, tp / pred.clamp_min(1), torch.zeros_like(tp))
    recall = torch.where(sup > 0, tp / sup.clamp_min(1), torch.zeros_like(tp))
    denom = precision + recall
    f1 = torch.where(denom > 0, 2 * precision * recall / denom.clamp_min(1e-300), torch.zeros_like(tp))
    return {"precision": precision.tolist(), "recall": recall.tolist(), "f1": f1.tolist(), "support": c.support.tolist()}


# -- summary ---------------------------------------------------------------------------------------------------
def area_under_curve(values: Sequence[float], accuracies: Sequence[float]) -> Optional[float]:
    """Trapezoidal area of accuracy vs level value rescaled to [0, 1] (first level -> 0, last -> 1), in the
    level set's order (mild -> severe). One level: its accuracy. None if any accuracy is missing."""
    if not accuracies or any(a is None for a in accuracies):
        return None
    if len(accuracies) == 1:
        return float(accuracies[0])
    lo, hi = float(values[0]), float(values[-1])
    xs = [(float(v) - lo) / (hi - lo) for v in values] if hi != lo else [i / (len(values) - 1) for i in range(len(values))]
    return float(sum(0.5 * (accuracies[i] + accuracies[i + 1]) * (xs[i + 1] - xs[i]) for i in range(len(xs) - 1)))


def _curves(rows: Sequence[Dict[str, Any]]) -> Dict[str, List[Dict[str, Any]]]:
    out: Dict[str, List[Dict[str, Any]]] = {}
    for r in rows:
        if r["distortion"] != CLEAN:
            out.setdefault(r["distortion"], []).append(r)
    return out


def _clean(rows: Sequence[Dict[str, Any]], who: str) -> Dict[str, Any]:
    for r in rows:
        if r["distortion"] == CLEAN:
            return r
    raise RobustnessError(f"{who} has no clean row")


def summarize(rows: Sequence[Dict[str, Any]], baseline_rows: Optional[Sequence[Dict[str, Any]]] = None,
              baseline_name: str = "baseline") -> Dict[str, Any]:
    """AUCs per distortion; with a baseline's rows, CE / relative CE per distortion, mCE and relative mCE.

    rows: dicts with distortion, level, value, top1, top5 (as in results.json). Raises
    :class:`RobustnessError` when the baseline lacks a level of a swept distortion.
    """
    clean = _clean(rows, "the results")
    out: Dict[str, Any] = {"clean": {"top1": clean["top1"], "top5": clean["top5"]}, "distortions": {}}
    base = None
    if baseline_rows is not None:
        base_clean = _clean(baseline_rows, baseline_name)
        base = {(r["distortion"], r["level"]): r for r in baseline_rows}
    ces, rces = [], []
    for name, curve in _curves(rows).items():
        values = [r["value"] if r["value"] is not None else i for i, r in enumerate(curve)]
        top1 = [r["top1"] for r in curve]
        entry = {"auc_top1": area_under_curve(values, top1),
                 "auc_top5": area_under_curve(values, [r["top5"] for r in curve]),
                 "mean_top1": (sum(top1) / len(top1)) if None not in top1 else None}
        if base is not None and None not in top1:
            missing = [r["level"] for r in curve if (name, r["level"]) not in base]
            if missing:
                raise RobustnessError(f"{baseline_name} has no {name} level {missing[0]}: a baseline must sweep the "
                                      f"same distortions and levels")
            err = [1.0 - a for a in top1]
            berr = [1.0 - base[(name, r["level"])]["top1"] for r in curve]
            ce = sum(err) / sum(berr) if sum(berr) > 0 else math.nan
            e0, b0 = 1.0 - clean["top1"], 1.0 - base_clean["top1"]
            rden = sum(b - b0 for b in berr)
            rce = sum(e - e0 for e in err) / rden if rden > 0 else math.nan
            entry.update(ce=_finite(ce), relative_ce=_finite(rce))
            ces.append(ce)
            rces.append(rce)
        out["distortions"][name] = entry
    if base is not None:
        out["baseline"] = baseline_name
        out["mce"] = _finite(sum(ces) / len(ces)) if ces else None
        out["relative_mce"] = _finite(sum(rces) / len(rces)) if rces else None
    return out


def _finite(x: float) -> Optional[float]:
    return float(x) if x is not None and math.isfinite(x) else None


def load_results(path: Union[str, Path]) -> Dict[str, Any]:
    """A results.json (or the folder holding one) written by :func:`run_sweep`."""
    path = Path(path)
    if path.is_dir():
        path = path / RESULTS_JSON
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RobustnessError(f"{path}: no such results file (run `distortx robustness` first)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RobustnessError(f"{path}: not a readable results file ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise RobustnessError(f"{path}: not a distortx robustness results file (format {FORMAT!r})")
    return data


# -- the sweep ---------------------------------------------------------------------------------------------------
@dataclass
class SweepResult:
    """What a sweep returns: the results dict (as in results.json) and where it was written."""

    out: Path
    results: Dict[str, Any]
    seconds: float
    resumed_from: int = 0
    skipped: List[Dict[str, str]] = field(default_factory=list)

    @property
    def rows(self) -> List[Dict[str, Any]]:
        return self.results["rows"]


def probe_classes(model: LoadedModel, data: LabelledImages, device: torch.device) -> Tuple[int, Tuple[int, ...]]:
    """(number of classes K, input shape C,H,W): one forward of the first image that loads."""
    for i in range(min(len(data), 64)):
        batch = data.load([i])
        if batch.images.shape[0]:
            x = to_float_image(batch.images.to(device))
            try:
                with torch.inference_mode():
                    logits = model.module(x)
            except RuntimeError as exc:
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                raise ModelSpecError(f"the model cannot classify {x.shape[-2]}x{x.shape[-1]} images from {data.source} "
                                     f"({first}); state its input size with --resize/--crop") from None
            if logits.shape[1] < 2:
                raise ModelSpecError(f"the model returns {logits.shape[1]} score per image; a classifier needs >= 2 classes")
            return int(logits.shape[1]), tuple(x.shape[1:])
    raise DatasetError(f"{data.source}: none of the first {min(len(data), 64)} images could be read")


def label_mapping(model: LoadedModel, data: LabelledImages, k: int) -> Optional[Tensor]:
    """Check that data labels fit the model's K classes. Returns a remap Tensor[C] when both sides name their
    classes and the names sit in other columns (labels are then matched by name: the same names in another
    order, or a model that predicts every data class and more, e.g. a distortx classifier's extra "clean"
    column 0), else None."""
    names = data.class_names
    model_names = tuple(model.class_names) if model.class_names is not None else None
    superset = (names is not None and model_names is not None and len(model_names) == k
                and len(names) < k and set(names) <= set(model_names))
    if names is not None and len(names) != k and not superset:
        raise DatasetError(f"{data.source}: the data has {len(names)} classes but the model outputs {k} "
                           f"(model and data disagree on the number of classes)")
    remap = None
    if names is not None and model_names is not None and tuple(names) != model_names \
            and (superset or sorted(names) == sorted(model_names)):
        remap = torch.tensor([model_names.index(n) for n in names], dtype=torch.int64)
        k = len(names)  # labels index the data's classes
    labels = data.labels
    if labels.numel() and int(labels.max()) >= k:
        i = int((labels >= k).nonzero()[0])
        raise DatasetError(f"{data.source}: label {int(labels[i])} of {data.names[i]} is outside the model's {k} "
                           f"classes (0..{k - 1}); model and data disagree on the classes")
    return remap


def _identity(model: LoadedModel, data: LabelledImages, preset: PresetSpec, conditions: Sequence[Condition],
              seed: int, top_k: int, quality: bool) -> Dict[str, Any]:
    return {
        "model": {"spec": model.spec, "fingerprint": model.fingerprint, "preprocess": model.preprocess.to_dict()},
        "data": {"source": data.source, "kind": data.kind, "fingerprint": data.fingerprint(), "images": len(data)},
        "protocol": {"preset": preset.name, "seed": int(seed), "top_k": int(top_k), "quality": bool(quality),
                     "conditions": [c.to_dict() for c in conditions]},
    }


def _check_existing(out: Path, existing: Dict[str, Any], ident: Dict[str, Any]) -> None:
    mine, theirs = ident["model"], existing.get("model", {})
    if theirs.get("fingerprint") != mine["fingerprint"]:
        raise RobustnessError(f"{out} holds results of another model ({theirs.get('spec', '?')!r}); "
                              f"choose another --out or delete {out / RESULTS_JSON}")
    if existing.get("data", {}).get("fingerprint") != ident["data"]["fingerprint"]:
        raise RobustnessError(f"{out} holds results of this model on other data ({existing['data'].get('source')!r}); "
                              f"choose another --out")
    if existing.get("protocol") != {**ident["protocol"], "batch_size": existing.get("protocol", {}).get("batch_size")}:
        raise RobustnessError(f"{out} holds a sweep of this model with other settings (preset, levels, seed or "
                              f"top-k); choose another --out or rerun with the same options")


def _render_csv(rows: Sequence[Dict[str, Any]]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_FIELDS)
    for r in rows:
        w.writerow([_fmt(r[k]) for k in CSV_FIELDS])
    return buf.getvalue().encode()


def _per_class_csv(results: Dict[str, Any]) -> bytes:
    names = results["model"].get("class_names")
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(("distortion", "level", "value", "class", "name", "support", "precision", "recall", "f1"))
    for r in results["rows"]:
        pc = per_class(RowCounts.from_dict(r["counts"]))
        for j in range(len(pc["support"])):
            w.writerow([r["distortion"], r["level"], _fmt(r["value"]), j, names[j] if names else "",
                        pc["support"][j], _fmt(pc["precision"][j]), _fmt(pc["recall"][j]), _fmt(pc["f1"][j])])
    return buf.getvalue().encode()


def _fmt(x: Any) -> str:
    if x is None:
        return ""
    if isinstance(x, float):
        return f"{x:.6f}".rstrip("0").rstrip(".") if x != int(x) or abs(x) >= 1e15 else str(int(x))
    return str(x)


def write_outputs(out: Path, results: Dict[str, Any]) -> None:
    """results.json (atomic), results.csv, and per_class.csv once the sweep is complete."""
    atomic_write_bytes(out / RESULTS_JSON, (json.dumps(results, indent=1) + "\n").encode())
    atomic_write_bytes(out / RESULTS_CSV, _render_csv(results["rows"]))
    if results["complete"]:
        atomic_write_bytes(out / PER_CLASS_CSV, _per_class_csv(results))


def run_sweep(
    model: LoadedModel,
    data: LabelledImages,
    out: Union[str, Path],
    preset: Union[str, Path, PresetSpec] = "dodge-karam",
    levels: Sequence[str] = (),
    distortions: Optional[Sequence[str]] = None,
    batch_size: int = 128,
    seed: int = 0,
    top_k: int = 5,
    quality: bool = True,
    workers: int = 0,
    codec_workers: Optional[int] = None,
    progress: bool = True,
    baseline: Optional[Union[str, Path]] = None,
    name: Optional[str] = None,
    save_every_s: float = 5.0,
    codec_cache: Optional[Union[str, Path]] = None,
    channels_last: bool = True,
) -> SweepResult:
    """Sweep ``model`` over ``data`` for every condition of ``preset``; write ``out``/results.{json,csv} and
    per_class.csv. Resumes an unfinished sweep of the same model, data and settings found in ``out``.

    quality: also measure the mean SSIM/PSNR of each condition's inputs. baseline: a results.json of a
    baseline model on the same protocol, for CE / mCE. workers: image-decoding processes (folders).
    codec_workers: processes for per-image codecs such as JPEG 2000 (default: the usable CPUs, at most 16;
    0 or 1: in this process). codec_cache: a folder where per-image codec outputs (JPEG 2000) are stored
    by content and reused (e.g. by the sweep of a second model on the same data and protocol).
    channels_last: feed the model channels-last batches on a CPU (see :func:`classify`).
    """
    t0 = time.perf_counter()
    if batch_size < 1:
        raise ParameterError(f"--batch-size must be >= 1, got {batch_size}")
    if top_k < 1:
        raise ParameterError(f"top-k must be >= 1, got {top_k}")
    out = Path(out)
    preset_spec, conditions = plan_conditions(preset, levels, distortions)
    base = load_results(baseline) if baseline is not None else None
    device = next((t.device for t in list(model.module.parameters()) + list(model.module.buffers())),
                  torch.device("cpu"))
    k, _ = probe_classes(model, data, device)
    remap = label_mapping(model, data, k)
    ident = _identity(model, data, preset_spec, conditions, seed, top_k, quality)
    results_path = out / RESULTS_JSON
    existing = load_results(results_path) if results_path.exists() else None
    if existing is not None:
        _check_existing(out, existing, ident)
        batch_size = int(existing["protocol"]["batch_size"])  # same batch boundaries: bit-identical resume
        counts = [RowCounts.from_dict(r["counts"]) for r in existing["rows"]]
        cursor = int(existing["progress"]["cursor"])
        skipped = list(existing["progress"]["skipped"])
        elapsed = float(existing.get("seconds", 0.0))
    else:
        counts = [RowCounts.zeros(k) for _ in conditions]
        cursor, skipped, elapsed = 0, [], 0.0
    specs = {c.distortion: get_distortion(c.distortion) for c in conditions if not c.is_clean}
    params = [None if c.is_clean else condition_params(specs[c.distortion], c, len(data), seed) for c in conditions]
    display = name or (existing or {}).get("name") or model.spec
    resumed_from = cursor

    def results(complete: bool) -> Dict[str, Any]:
        rows = [{**row_metrics(c, n), "counts": n.to_dict()} for c, n in zip(conditions, counts)]
        res = {"format": FORMAT, "name": display, "complete": complete, **ident,
               "progress": {"cursor": cursor, "skipped": skipped},
               "seconds": elapsed + (time.perf_counter() - t0), "rows": rows}
        res["model"] = {**res["model"], "num_classes": k,
                        "class_names": list(model.class_names) if model.class_names else
                        (list(data.class_names) if data.class_names else None)}
        res["protocol"] = {**res["protocol"], "batch_size": batch_size}
        if complete:
            res["summary"] = summarize(rows, base["rows"] if base else None, base["name"] if base else "baseline")
        return res

    from tqdm.auto import tqdm

    total = len(data) * len(conditions)
    bar = tqdm(total=total, initial=cursor * len(conditions), unit="img", desc=f"robustness {display}"[:60],
               disable=not progress, file=sys.stderr, dynamic_ncols=True, smoothing=0.05)
    last_save = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    n_codec = default_codec_workers() if codec_workers is None else int(codec_workers)
    codecs = CodecPool(n_codec) if n_codec > 1 else None
    cache = CodecCache(codec_cache) if codec_cache is not None else None
    try:
        for batch in data.batches(cursor, batch_size, workers):
            pending = _sweep_batch(model, batch, conditions, specs, params, remap, device, top_k, quality, k, bar,
                                   codecs, cache, channels_last)
            for c, p in zip(counts, pending):
                c.add(p)
            skipped += [{"name": n, "reason": r} for n, r in batch.failed]
            bar.update(len(batch.failed) * len(conditions))
            cursor = min(len(data), cursor + batch_size)
            if time.perf_counter() - last_save >= save_every_s:
                write_outputs(out, results(False))
                last_save = time.perf_counter()
    except BaseException:
        write_outputs(out, results(False))  # the committed batches: rerunning resumes after them
        raise
    finally:
        bar.close()
        if codecs is not None:
            codecs.close()
    res = results(True)
    write_outputs(out, res)
    return SweepResult(out, res, time.perf_counter() - t0, resumed_from, skipped)


def classify(model: LoadedModel, x: Tensor, channels_last: bool = True) -> Tensor:
    """Logits of a batch float Tensor[B, 3, H, W]; on the CPU the batch goes in channels-last memory order
    unless ``channels_last`` is False (oneDNN's 3x3 convolutions ran 1.7-2.2x faster so on 1 thread for the
    CIFAR CNNs of benchmarks/bench_robustness.py, a stride-4 stem 1.3x slower; same values up to float
    rounding)."""
    if channels_last and x.device.type == "cpu" and x.dim() == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    return model.module(x)


def _sweep_batch(model: LoadedModel, batch, conditions: Sequence[Condition], specs: Dict[str, DistortionSpec],
                 params: Sequence[Optional[Params]], remap: Optional[Tensor], device: torch.device, top_k: int,
                 quality: bool, k: int, bar, codecs: Optional[CodecPool] = None,
                 cache: Optional[CodecCache] = None, channels_last: bool = True) -> List[RowCounts]:
    """Counts of every condition on one loaded batch (nothing is committed here)."""
    n = batch.images.shape[0]
    if n == 0:
        return [RowCounts.zeros(k) for _ in conditions]
    x = to_float_image(batch.images.to(device, non_blocking=True))
    labels = batch.labels if remap is None else remap[batch.labels]
    labels = labels.to(device)
    idx = batch.indices
    pending = []
    clean_logits: Optional[Tensor] = None
    with torch.inference_mode():
        for c, p in zip(conditions, params):
            xd = x if c.is_clean else render(x, specs[c.distortion], p[idx], codecs, cache)
            if c.is_clean or (clean_logits is not None and torch.equal(xd, x)):
                # an input identical to the clean one (e.g. contrast 0) has the clean logits
                clean_logits = classify(model, x, channels_last) if clean_logits is None else clean_logits
                logits = clean_logits
            else:
                logits = classify(model, xd, channels_last)
            counts = count_batch(logits, labels, top_k)
            if quality and c.is_clean:  # identical input: SSIM 1, PSNR at its cap
                counts.ssim_sum, counts.psnr_sum = float(n), float(n) * PSNR_CAP
            elif quality:
                q = torch.stack([ssim(x, xd).double().sum(), psnr(x, xd).double().sum()]).cpu()
                counts.ssim_sum, counts.psnr_sum = float(q[0]), float(q[1])
            pending.append(counts)
            bar.update(n)
    return pending


__all__ = ["CLEAN", "Condition", "RobustnessError", "RowCounts", "SweepResult", "area_under_curve", "count_batch",
           "condition_params", "default_codec_workers", "load_results", "per_class", "plan_conditions", "render",
           "run_sweep", "summarize", "write_outputs"]

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

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor

from ...data.preset import PresetSpec
from ...distortions.spec import DistortionSpec, Params
from ...corruptions.benchmark import ALEXNET, ALEXNET_ERRORS, alexnet_rows
from ...errors import DatasetError, ParameterError
from ...io import to_float_image
from ...registry import get_distortion
from .codec_pool import CodecCache, CodecPool
from .image_quality import PSNR_CAP, psnr, ssim
from ..training.labelled_data import LabelledImages
from .model_spec import LoadedModel, ModelSpecError
from .protocol import (FORMAT, RESULTS_JSON, Condition, RobustnessError, condition_params, default_codec_workers,
                       plan_conditions, render)
from .results import RowCounts, count_batch, load_results, row_metrics, summarize, write_outputs


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


def _check_sizes(batch_size: int, top_k: int) -> None:
    if batch_size < 1:
        raise ParameterError(f"--batch-size must be >= 1, got {batch_size}")
    if top_k < 1:
        raise ParameterError(f"top-k must be >= 1, got {top_k}")


def _codecs(codec_workers: Optional[int], codec_cache: Optional[Union[str, Path]]):
    """(the per-image codec pool or None, the codec output cache or None) of a sweep."""
    n_codec = default_codec_workers() if codec_workers is None else int(codec_workers)
    return (CodecPool(n_codec) if n_codec > 1 else None), (CodecCache(codec_cache) if codec_cache is not None else None)


def _resume_state(out: Path, ident: Dict[str, Any], conditions: Sequence[Condition], k: int, batch_size: int):
    """(existing results or None, counts, cursor, skipped, elapsed seconds, batch size) to start or resume from."""
    results_path = out / RESULTS_JSON
    existing = load_results(results_path) if results_path.exists() else None
    if existing is None:
        return None, [RowCounts.zeros(k) for _ in conditions], 0, [], 0.0, batch_size
    _check_existing(out, existing, ident)
    counts = [RowCounts.from_dict(r["counts"]) for r in existing["rows"]]
    # the stored batch size: the same batch boundaries, so a resumed sweep is bit-identical
    return (existing, counts, int(existing["progress"]["cursor"]), list(existing["progress"]["skipped"]),
            float(existing.get("seconds", 0.0)), int(existing["protocol"]["batch_size"]))


def _results_record(name: str, complete: bool, ident: Dict[str, Any], conditions: Sequence[Condition],
                    counts: Sequence[RowCounts], cursor: int, skipped: List[Dict[str, str]], seconds: float, k: int,
                    class_names: Optional[List[str]], batch_size: int, base: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """The results.json record of a sweep (committed counts, progress; the summary once complete)."""
    rows = [{**row_metrics(c, n), "counts": n.to_dict()} for c, n in zip(conditions, counts)]
    res = {"format": FORMAT, "name": name, "complete": complete, **ident,
           "progress": {"cursor": cursor, "skipped": skipped}, "seconds": seconds, "rows": rows}
    res["model"] = {**res["model"], "num_classes": k, "class_names": class_names}
    res["protocol"] = {**res["protocol"], "batch_size": batch_size}
    if complete:
        base_rows = (alexnet_rows(rows) if base.get("published") else base["rows"]) if base else None
        res["summary"] = summarize(rows, base_rows, base["name"] if base else "baseline")
    return res


def baseline_record(baseline: Union[str, Path], preset_spec: PresetSpec) -> Dict[str, Any]:
    """The baseline of CE / mCE: a results.json (or its folder) of another model on the same protocol, or
    ``"alexnet"``: AlexNet's published ImageNet-C errors (for presets of the 15 common corruptions)."""
    if str(baseline) != ALEXNET:
        return load_results(baseline)
    missing = [d for d in preset_spec.distortions if d.removeprefix("imagenet_c_") not in ALEXNET_ERRORS]
    if missing:
        raise RobustnessError(f"--baseline alexnet has published errors for the 15 common ImageNet-C corruptions "
                              f"only (preset imagenet-c), not {missing[0]}")
    return {"name": "AlexNet (published ImageNet-C errors)", "published": True}


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
    baseline model on the same protocol, or "alexnet" (ImageNet-C's published errors), for CE / mCE. workers: image-decoding processes (folders).
    codec_workers: processes for per-image codecs such as JPEG 2000 (default: the usable CPUs, at most 16;
    0 or 1: in this process). codec_cache: a folder where per-image codec outputs (JPEG 2000) are stored
    by content and reused (e.g. by the sweep of a second model on the same data and protocol).
    channels_last: feed the model channels-last batches on a CPU (see :func:`classify`).
    """
    t0 = time.perf_counter()
    _check_sizes(batch_size, top_k)
    out = Path(out)
    preset_spec, conditions = plan_conditions(preset, levels, distortions)
    base = baseline_record(baseline, preset_spec) if baseline is not None else None
    device = next((t.device for t in list(model.module.parameters()) + list(model.module.buffers())),
                  torch.device("cpu"))
    k, _ = probe_classes(model, data, device)
    remap = label_mapping(model, data, k)
    ident = _identity(model, data, preset_spec, conditions, seed, top_k, quality)
    existing, counts, cursor, skipped, elapsed, batch_size = _resume_state(out, ident, conditions, k, batch_size)
    specs = {c.distortion: get_distortion(c.distortion) for c in conditions if not c.is_clean}
    params = [None if c.is_clean else condition_params(specs[c.distortion], c, len(data), seed) for c in conditions]
    display = name or (existing or {}).get("name") or model.spec
    resumed_from = cursor

    class_names = list(model.class_names or data.class_names or []) or None

    def results(complete: bool) -> Dict[str, Any]:
        return _results_record(display, complete, ident, conditions, counts, cursor, skipped,
                               elapsed + (time.perf_counter() - t0), k, class_names, batch_size, base)

    from tqdm.auto import tqdm

    total = len(data) * len(conditions)
    bar = tqdm(total=total, initial=cursor * len(conditions), unit="img", desc=f"robustness {display}"[:60],
               disable=not progress, file=sys.stderr, dynamic_ncols=True, smoothing=0.05)
    last_save = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    codecs, cache = _codecs(codec_workers, codec_cache)
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


__all__ = ["SweepResult", "classify", "label_mapping", "probe_classes", "run_sweep"]


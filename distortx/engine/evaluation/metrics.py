"""Metrics of the seed papers, as small functions over torch tensors or numpy arrays (results are numpy / float).

Classification (``preds``: class ids Tensor[N] or scores Tensor[N, C], argmax taken; ``targets``: ids Tensor[N]):
:func:`accuracy`, :func:`topk_accuracy` (Dodge & Karam's top-5), :func:`confusion_matrix`,
:func:`precision_recall_f1` (Hsieh's table), :func:`accuracy_per_level` (Hsieh / Dodge: accuracy vs severity),
:func:`accuracy_per_parameter` / :func:`accuracy_per_interval` and Endo's :func:`interval_mean_accuracy`;
:class:`ClassificationMetrics` accumulates them batch by batch.

Regression (a parameter estimate per image against the true parameter, NaN = none): :class:`RegressionMetrics`
accumulates MAE, RMSE and bias in the parameter's own units.

Detection (torchvision's format, one dict per image: predictions ``boxes`` float Tensor[D, 4] xyxy pixels,
``scores`` Tensor[D], ``labels`` int64 Tensor[D]; ground truth ``boxes`` Tensor[G, 4], ``labels`` Tensor[G]):
:class:`DetectionMetrics` streams over a dataset (update per batch, compute at the end; it keeps one small
status record per detection, never images) and gives

- AP per class and mAP at IoU 0.5 / 0.75 / 0.9 with all-point interpolation (PASCAL VOC 2010+: the area under
  the precision envelope; Ahn et al.'s metric), and COCO's mAP@[.5:.95] (101 recall points, 10 thresholds);
- AP by region-size bucket (Ahn Fig. 3): a box's size is ``sqrt(box area / image area)`` (= sqrt(w h) / S for an
  S x S image, the preset's side ratio for square regions); buckets ``[lo, hi)`` (the last one closed) from
  :data:`DEFAULT_SIZE_EDGES`. Within a bucket, ground truth of other sizes is ignored, as are detections
  matched to it and unmatched detections of other sizes (COCO's area-range rule).

Matching, per image and class, detections in decreasing score: ``matching="voc"`` (default) takes the
ground-truth box of highest IoU; if IoU >= t and it is still free the detection is a true positive, if it is
taken a false positive (VOC devkit). ``matching="coco"`` takes the best still-free box with IoU >= t
(pycocotools' ``evaluateImg``: non-ignored boxes first, ties to the later box). Both count IoU == t as a match
(the VOC devkit asks for > t; the two differ only at exact equality). An inverted box (x2 < x1) has zero
area, so it matches nothing (pycocotools would ignore such a detection). A class without ground truth has AP NaN
and is left out of every mean (VOC and COCO do the same). Detections are not capped per image.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Hashable, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from ...errors import DistortxError

ArrayLike = Union[torch.Tensor, np.ndarray, Sequence[float]]

#: pycocotools' IoU thresholds 0.5:0.05:0.95 (computed the same way, so 0.75 has the same rounding).
COCO_IOU_THRESHOLDS = np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1)
#: The thresholds of Ahn et al.'s Tables 2-3.
PAPER_IOU_THRESHOLDS = (0.5, 0.75, 0.9)
#: Region-size bucket edges on sqrt(box area / image area); they span Ahn's difficult (0.1-0.3) and basic
#: (0.3-0.7) side ratios.
DEFAULT_SIZE_EDGES = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 1.0)

_TP, _FP, _IGNORED = 1, 0, -1


class MetricError(DistortxError, ValueError):
    """Inputs a metric cannot use: mismatched lengths, wrong shapes, labels outside the class range."""


# ----------------------------------------------------------------------------------------------------------------
# input helpers


def as_array(x: ArrayLike, name: str) -> np.ndarray:
    """``x`` (tensor, array or nested list) as a numpy array; :class:`MetricError` naming ``name`` if ragged."""
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    try:
        return np.asarray(x)
    except Exception as e:  # ragged lists and the like
        raise MetricError(f"{name}: cannot be read as an array ({e}); pass a tensor or numpy array") from None


def _class_ids(x: ArrayLike, name: str = "preds") -> np.ndarray:
    """Class ids int64 [N] from ids [N] or scores [N, C] (argmax)."""
    a = as_array(x, name)
    if a.ndim == 2:
        if a.shape[1] == 0:
            raise MetricError(f"{name}: scores have 0 classes")
        return a.argmax(axis=1).astype(np.int64)
    if a.ndim != 1:
        raise MetricError(f"{name}: expected class ids [N] or scores [N, C], got shape {tuple(a.shape)}")
    if a.size and not np.issubdtype(a.dtype, np.integer):
        if not np.all(np.equal(np.mod(a, 1), 0)):
            raise MetricError(f"{name}: class ids must be integers; pass scores as a 2-D [N, C] array")
    return a.astype(np.int64)


def _pair(preds: ArrayLike, targets: ArrayLike) -> Tuple[np.ndarray, np.ndarray]:
    p, t = _class_ids(preds, "preds"), _class_ids(targets, "targets")
    if p.shape != t.shape:
        raise MetricError(f"preds and targets differ in length ({p.shape[0]} vs {t.shape[0]})")
    return p, t


def _per_sample(x: ArrayLike, n: int, name: str) -> np.ndarray:
    a = as_array(x, name)
    if a.ndim != 1 or a.shape[0] != n:
        raise MetricError(f"{name}: expected one value per sample [{n}], got shape {tuple(a.shape)}")
    return a


# ----------------------------------------------------------------------------------------------------------------
# classification


def accuracy(preds: ArrayLike, targets: ArrayLike) -> float:
    """Fraction of samples whose predicted class equals the target. preds: ids [N] or scores [N, C]; NaN if N=0."""
    p, t = _pair(preds, targets)
    return float((p == t).mean()) if p.size else float("nan")


def topk_accuracy(scores: ArrayLike, targets: ArrayLike, k: int = 5) -> float:
    """Fraction of samples whose target is among the k highest scores. scores [N, C], targets [N]; k <= C."""
    s, t = as_array(scores, "scores"), _class_ids(targets, "targets")
    if s.ndim != 2 or s.shape[0] != t.shape[0]:
        raise MetricError(f"scores: expected [N, C] with N = {t.shape[0]} targets, got shape {tuple(s.shape)}")
    if not 1 <= k <= s.shape[1]:
        raise MetricError(f"k must be between 1 and the number of classes ({s.shape[1]}), got {k}")
    if not t.size:
        return float("nan")
    top = np.argsort(-s, axis=1, kind="stable")[:, :k]
    return float((top == t[:, None]).any(axis=1).mean())


def confusion_matrix(preds: ArrayLike, targets: ArrayLike, num_classes: Optional[int] = None) -> np.ndarray:
    """Counts int64 [C, C]: row = true class, column = predicted class. C defaults to the largest id + 1."""
    p, t = _pair(preds, targets)
    c = int(max(p.max(initial=-1), t.max(initial=-1)) + 1) if num_classes is None else int(num_classes)
    if p.size and (min(p.min(), t.min()) < 0 or max(p.max(), t.max()) >= c):
        raise MetricError(f"class ids must lie in [0, {c}); pass num_classes= the size of the vocabulary")
    return np.bincount(t * c + p, minlength=c * c).reshape(c, c).astype(np.int64)


@dataclass(frozen=True)
class PerClassScores:
    """Per-class precision, recall, F1 (float64 [C]) and support (int64 [C], true samples per class).

    Precision is NaN for a class never predicted, recall NaN for a class never true, F1 = 2TP / (2TP + FP + FN)
    NaN only when the class appears nowhere. Macro means skip NaN; weighted means weight by support.
    """

    precision: np.ndarray
    recall: np.ndarray
    f1: np.ndarray
    support: np.ndarray

    @property
    def macro(self) -> Dict[str, float]:
        return {k: _nanmean(getattr(self, k)) for k in ("precision", "recall", "f1")}

    @property
    def weighted(self) -> Dict[str, float]:
        w = self.support.astype(np.float64)
        out = {}
        for k in ("precision", "recall", "f1"):
            v = getattr(self, k)
            ok = ~np.isnan(v) & (w > 0)
            out[k] = float((v[ok] * w[ok]).sum() / w[ok].sum()) if ok.any() else float("nan")
        return out

    def to_dict(self, class_names: Optional[Sequence[str]] = None) -> Dict[str, Any]:
        names = _names(class_names, len(self.support))
        rows = {n: {"precision": _num(p), "recall": _num(r), "f1": _num(f), "support": int(s)}
                for n, p, r, f, s in zip(names, self.precision, self.recall, self.f1, self.support)}
        return {"per_class": rows, "macro": self.macro, "weighted": self.weighted}


def precision_recall_f1(confusion: ArrayLike) -> PerClassScores:
    """Per-class precision / recall / F1 from a confusion matrix [C, C] (rows true, columns predicted)."""
    m = as_array(confusion, "confusion").astype(np.float64)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise MetricError(f"confusion: expected a square [C, C] matrix, got shape {tuple(m.shape)}")
    tp = np.diag(m)
    predicted, true = m.sum(axis=0), m.sum(axis=1)
    fp, fn = predicted - tp, true - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(predicted > 0, tp / predicted, np.nan)
        recall = np.where(true > 0, tp / true, np.nan)
        denom = 2 * tp + fp + fn
        f1 = np.where(denom > 0, 2 * tp / denom, np.nan)
    return PerClassScores(precision, recall, f1, true.astype(np.int64))


@dataclass(frozen=True)
class GroupAccuracy:
    """Correct predictions out of ``count`` samples in one group."""

    correct: int
    count: int

    @property
    def accuracy(self) -> float:
        return self.correct / self.count if self.count else float("nan")


def accuracy_by_group(preds: ArrayLike, targets: ArrayLike, groups: ArrayLike) -> Dict[Hashable, GroupAccuracy]:
    """Accuracy within each distinct value of ``groups`` [N] (any per-sample key), keys in sorted order."""
    p, t = _pair(preds, targets)
    g = _per_sample(groups, p.shape[0], "groups")
    out: Dict[Hashable, GroupAccuracy] = {}
    hit = p == t
    for key in np.unique(g):
        sel = g == key
        out[key.item() if hasattr(key, "item") else key] = GroupAccuracy(int(hit[sel].sum()), int(sel.sum()))
    return out


def accuracy_per_level(preds: ArrayLike, targets: ArrayLike, levels: ArrayLike,
                       types: Optional[ArrayLike] = None) -> Dict[int, Dict[int, float]]:
    """Accuracy per distortion type and severity level: ``{type: {level: accuracy}}``, both sorted.

    levels: int [N], the sample's level index (0 = mildest); samples with level < 0 (continuous parameters,
    the clean class) are skipped. types: int [N], the grouping; defaults to ``targets`` (the true class is the
    distortion type in distortion classification; pass the distortion type for Dodge-style object accuracy).
    """
    p, t = _pair(preds, targets)
    lv = _per_sample(levels, p.shape[0], "levels").astype(np.int64)
    ty = t if types is None else _per_sample(types, p.shape[0], "types").astype(np.int64)
    keep = lv >= 0
    out: Dict[int, Dict[int, float]] = {}
    for ty_id in np.unique(ty[keep]):
        sel = keep & (ty == ty_id)
        groups = accuracy_by_group(p[sel], t[sel], lv[sel])
        out[int(ty_id)] = {int(k): g.accuracy for k, g in groups.items()}
    return out


@dataclass(frozen=True)
class ParameterCurve:
    """Accuracy against a degradation parameter: ``values`` [U] (increasing), ``accuracy`` [U], ``count`` [U]."""

    values: np.ndarray
    accuracy: np.ndarray
    count: np.ndarray

    def to_dict(self) -> Dict[str, List[float]]:
        return {"values": [float(v) for v in self.values], "accuracy": [_num(a) for a in self.accuracy],
                "count": [int(c) for c in self.count]}


def accuracy_per_parameter(preds: ArrayLike, targets: ArrayLike, params: ArrayLike,
                           step: Optional[float] = None) -> ParameterCurve:
    """Accuracy at each distinct parameter value (Endo Figs. 5-8, Dodge's curves).

    params: float [N], the degradation parameter of each sample (JPEG quality, noise sigma...); NaN (the clean
    reference) is skipped. step: round each parameter to the nearest multiple of ``step`` first (e.g. 1 for a
    continuous sigma, to evaluate Endo's integer grid).
    """
    p, t = _pair(preds, targets)
    q = _per_sample(params, p.shape[0], "params").astype(np.float64)
    if step is not None:
        if not step > 0:
            raise MetricError(f"step must be > 0, got {step}")
        q = np.round(q / step) * step
    keep = ~np.isnan(q)
    values, inverse = np.unique(q[keep], return_inverse=True)
    hit = (p == t)[keep]
    count = np.bincount(inverse, minlength=len(values))
    correct = np.bincount(inverse, weights=hit.astype(np.float64), minlength=len(values))
    return ParameterCurve(values, correct / np.maximum(count, 1), count.astype(np.int64))


def accuracy_per_interval(preds: ArrayLike, targets: ArrayLike, params: ArrayLike,
                          edges: Sequence[float]) -> ParameterCurve:
    """Pooled accuracy of the samples whose parameter falls in each interval ``[edges[i], edges[i+1])``.

    The last interval is closed. ``values`` of the result are the interval centres; ``accuracy`` is NaN for an
    empty interval. (Endo's interval *mean* accuracy averages per-value accuracies instead; see below.)
    """
    p, t = _pair(preds, targets)
    q = _per_sample(params, p.shape[0], "params").astype(np.float64)
    e = np.asarray(edges, dtype=np.float64)
    if e.ndim != 1 or e.size < 2 or np.any(np.diff(e) <= 0):
        raise MetricError(f"edges must be at least two increasing numbers, got {list(edges)}")
    idx = np.searchsorted(e, q, side="right") - 1
    idx[q == e[-1]] = e.size - 2
    keep = (idx >= 0) & (idx < e.size - 1) & ~np.isnan(q)
    nb = e.size - 1
    count = np.bincount(idx[keep], minlength=nb)
    correct = np.bincount(idx[keep], weights=(p == t)[keep].astype(np.float64), minlength=nb)
    with np.errstate(invalid="ignore"):
        acc = np.where(count > 0, correct / np.maximum(count, 1), np.nan)
    return ParameterCurve((e[:-1] + e[1:]) / 2, acc, count.astype(np.int64))


def interval_mean_accuracy(curve: ParameterCurve, low: float, high: float, step: float = 1.0,
                           missing: str = "error") -> float:
    """Endo et al.'s eq. (1): the mean over q = low, low + step, ..., high of Acc(q).

    Acc(q) is the accuracy on images degraded with parameter q (a :class:`ParameterCurve` from
    :func:`accuracy_per_parameter`). Each grid value weighs the same whatever its sample count, so this differs
    from the pooled accuracy over the interval. missing: "error" (default) refuses a grid value without
    samples; "skip" averages over the values present.
    """
    if not high >= low or not step > 0:
        raise MetricError(f"need low <= high and step > 0, got low={low}, high={high}, step={step}")
    if missing not in ("error", "skip"):
        raise MetricError(f"missing must be 'error' or 'skip', got {missing!r}")
    grid = low + step * np.arange(int(np.floor((high - low) / step + 1e-9)) + 1)
    accs, absent = [], []
    for q in grid:
        hit = np.flatnonzero(np.isclose(curve.values, q, rtol=0, atol=1e-6 * max(1.0, abs(q))) & (curve.count > 0))
        if hit.size:
            accs.append(float(curve.accuracy[hit[0]]))
        else:
            absent.append(float(q))
    if absent and missing == "error":
        shown = ", ".join(f"{q:g}" for q in absent[:8]) + (" ..." if len(absent) > 8 else "")
        raise MetricError(f"no samples at parameter {shown} in [{low:g}, {high:g}]; evaluate every value of the "
                          "interval, or pass missing='skip'")
    return float(np.mean(accs)) if accs else float("nan")


@dataclass
class ClassificationResult:
    """What :class:`ClassificationMetrics` computes; ``to_dict`` is JSON-ready."""

    accuracy: float
    topk: Dict[int, float]
    confusion: np.ndarray
    scores: PerClassScores
    per_level: Dict[int, Dict[int, float]]
    parameter_curve: Optional[ParameterCurve]
    num_samples: int

    def to_dict(self, class_names: Optional[Sequence[str]] = None) -> Dict[str, Any]:
        names = _names(class_names, self.confusion.shape[0])
        out: Dict[str, Any] = {"num_samples": self.num_samples, "accuracy": _num(self.accuracy)}
        out.update({f"top{k}": _num(v) for k, v in self.topk.items()})
        out["confusion"] = self.confusion.tolist()
        out.update(self.scores.to_dict(names))
        type_name = (lambda ty: names[ty] if 0 <= ty < len(names) else str(ty))
        out["accuracy_per_level"] = {type_name(ty): {str(lv): _num(a) for lv, a in row.items()}
                                     for ty, row in self.per_level.items()}
        if self.parameter_curve is not None:
            out["accuracy_per_parameter"] = self.parameter_curve.to_dict()
        return out


class ClassificationMetrics:
    """Streaming classification metrics: ``update`` per batch, ``compute`` at the end (keeps ids, not scores).

    num_classes: C, the size of the vocabulary. topk: the k of top-k accuracies (needs scores; k > C dropped).
    """

    def __init__(self, num_classes: int, topk: Sequence[int] = (1, 5)):
        if num_classes < 1:
            raise MetricError(f"num_classes must be >= 1, got {num_classes}")
        self.num_classes = int(num_classes)
        self.topk = tuple(int(k) for k in topk if k <= num_classes)
        self.reset()

    def reset(self) -> None:
        self._preds: List[np.ndarray] = []
        self._targets: List[np.ndarray] = []
        self._topk_hits: Dict[int, List[np.ndarray]] = {k: [] for k in self.topk}
        self._levels: List[np.ndarray] = []
        self._types: List[np.ndarray] = []
        self._params: List[np.ndarray] = []
        self._scored = True

    def update(self, preds: ArrayLike, targets: ArrayLike, levels: Optional[ArrayLike] = None,
               params: Optional[ArrayLike] = None, types: Optional[ArrayLike] = None) -> None:
        """preds: scores [B, C] (or ids [B], then only top-1); targets [B]; optional per-sample levels (int,
        -1 = none), params (float, NaN = none) and types (grouping of the per-level table)."""
        p, t = _pair(preds, targets)
        n = p.shape[0]
        if n and (min(p.min(), t.min()) < 0 or max(p.max(), t.max()) >= self.num_classes):
            raise MetricError(f"class ids must lie in [0, {self.num_classes})")
        scores = as_array(preds, "preds")
        if scores.ndim == 2:
            if scores.shape[1] != self.num_classes:
                raise MetricError(f"preds: {scores.shape[1]} scores per sample, expected {self.num_classes}")
            top = np.argsort(-scores, axis=1, kind="stable")[:, :max(self.topk, default=1)]
            for k in self.topk:
                self._topk_hits[k].append((top[:, :k] == t[:, None]).any(axis=1))
        else:
            self._scored = False
        self._preds.append(p)
        self._targets.append(t)
        lv = np.full(n, -1, np.int64) if levels is None else _per_sample(levels, n, "levels").astype(np.int64)
        pa = np.full(n, np.nan) if params is None else _per_sample(params, n, "params").astype(np.float64)
        self._levels.append(lv)
        self._params.append(pa)
        self._types.append(t if types is None else _per_sample(types, n, "types").astype(np.int64))

    def compute(self, parameter_step: Optional[float] = None) -> ClassificationResult:
        """All metrics over what was seen; ``parameter_step`` as in :func:`accuracy_per_parameter`."""
        cat = (lambda xs, dt: np.concatenate(xs) if xs else np.zeros(0, dt))
        p, t = cat(self._preds, np.int64), cat(self._targets, np.int64)
        params = cat(self._params, np.float64)
        topk = {}
        if self._scored:
            topk = {k: (float(cat(v, bool).mean()) if p.size else float("nan")) for k, v in self._topk_hits.items()}
        conf = confusion_matrix(p, t, self.num_classes)
        curve = accuracy_per_parameter(p, t, params, parameter_step) if np.any(~np.isnan(params)) else None
        return ClassificationResult(
            accuracy=accuracy(p, t), topk=topk, confusion=conf, scores=precision_recall_f1(conf),
            per_level=accuracy_per_level(p, t, cat(self._levels, np.int64), cat(self._types, np.int64)),
            parameter_curve=curve, num_samples=int(p.size))


# ----------------------------------------------------------------------------------------------------------------
# regression


@dataclass
class RegressionResult:
    """What :class:`RegressionMetrics` computes, in the targets' own (physical) units: over every known
    (image, column) pair ``mae`` (mean |pred - target|), ``rmse`` and ``bias`` (mean pred - target); the same
    per column in ``per_column`` (lists of P); ``num_samples``: known pairs."""

    mae: float
    rmse: float
    bias: float
    per_column: Dict[str, List[float]]
    num_samples: int

    def to_dict(self) -> Dict[str, Any]:
        return {"num_samples": self.num_samples, "mae": _num(self.mae), "rmse": _num(self.rmse),
                "bias": _num(self.bias), "per_column": {k: [_num(v) for v in vs] for k, vs in self.per_column.items()}}


class RegressionMetrics:
    """Streaming errors of a parameter regression: ``update(preds Tensor[N, P], targets Tensor[N, >= P])``
    per batch (target columns beyond P are ignored, NaN targets skipped), ``compute`` at the end."""

    def __init__(self) -> None:
        self._sums: Optional[np.ndarray] = None  # [3, P]: sum |e|, sum e^2, sum e
        self._counts: Optional[np.ndarray] = None

    def update(self, preds: ArrayLike, targets: ArrayLike) -> None:
        p = as_array(preds, "preds").astype(np.float64)
        p = p.reshape(p.shape[0], -1)
        t = as_array(targets, "targets").astype(np.float64).reshape(p.shape[0], -1)
        if t.shape[1] < p.shape[1]:
            raise MetricError(f"targets: {t.shape[1]} column(s) for {p.shape[1]} predicted parameter(s)")
        e = p - t[:, :p.shape[1]]
        known = np.isfinite(e)
        e = np.where(known, e, 0.0)
        sums = np.stack([np.abs(e).sum(0), (e * e).sum(0), e.sum(0)])
        if self._sums is None:
            self._sums, self._counts = np.zeros_like(sums), np.zeros(p.shape[1], np.int64)
        if sums.shape != self._sums.shape:
            raise MetricError(f"preds: {p.shape[1]} parameter(s), earlier batches had {self._sums.shape[1]}")
        self._sums += sums
        self._counts += known.sum(0)

    def compute(self) -> RegressionResult:
        if self._sums is None:
            return RegressionResult(float("nan"), float("nan"), float("nan"), {}, 0)
        n = int(self._counts.sum())
        total = self._sums.sum(1) / max(n, 1) if n else np.full(3, np.nan)
        with np.errstate(invalid="ignore", divide="ignore"):
            col = self._sums / np.where(self._counts > 0, self._counts, np.nan)
        return RegressionResult(mae=float(total[0]), rmse=float(np.sqrt(total[1])), bias=float(total[2]),
                                per_column={"mae": col[0].tolist(), "rmse": np.sqrt(col[1]).tolist(),
                                            "bias": col[2].tolist()}, num_samples=n)


# ----------------------------------------------------------------------------------------------------------------
# detection


def box_iou_numpy(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU float64 [N, M] of xyxy boxes a [N, 4] and b [M, 4] (areas w*h, as pycocotools). Why its own: the
    metrics are numpy in float64 so that AP equals pycocotools' on the same boxes."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    area_a = np.clip(a[:, 2] - a[:, 0], 0, None) * np.clip(a[:, 3] - a[:, 1], 0, None)
    area_b = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    w = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    h = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = w * h
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / union, 0.0)


def region_size(boxes: ArrayLike, image_size: Tuple[int, int]) -> np.ndarray:
    """Relative size float64 [K] of xyxy boxes [K, 4] in an image of (H, W): sqrt(box area / image area)."""
    b = as_array(boxes, "boxes").astype(np.float64).reshape(-1, 4)
    h, w = image_size
    area = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    return np.sqrt(area / (float(h) * float(w)))


def precision_recall(tp: np.ndarray, num_gt: int) -> Tuple[np.ndarray, np.ndarray]:
    """Recall and precision float64 [D] after each detection, from true-positive flags [D] in decreasing score."""
    tp = np.asarray(tp, dtype=np.float64)
    ctp = np.cumsum(tp)
    cfp = np.cumsum(1.0 - tp)
    recall = ctp / num_gt if num_gt > 0 else np.full_like(ctp, np.nan)
    precision = ctp / np.maximum(ctp + cfp, np.finfo(np.float64).tiny)
    return recall, precision


def average_precision(recall: ArrayLike, precision: ArrayLike, interpolation: str = "all-point") -> float:
    """AP from a PR curve [D] (recall non-decreasing, in detection order).

    "all-point" (VOC 2010+): area under the precision envelope, sum_k (r_k - r_{k-1}) max_{j>=k} p_j with r_0 = 0.
    "101-point" (COCO): mean over r in 0, 0.01, ..., 1 of the envelope at the first point with recall >= r
    (0 beyond the last recall). The two differ by at most 1/101 + 1/100 (< 0.02) on the same curve.
    """
    r, p = np.asarray(recall, np.float64), np.asarray(precision, np.float64)
    if r.shape != p.shape or r.ndim != 1:
        raise MetricError(f"recall and precision must be 1-D of equal length, got {r.shape} and {p.shape}")
    if r.size and np.isnan(r[0]):
        return float("nan")
    if not r.size:
        return 0.0
    envelope = np.maximum.accumulate(p[::-1])[::-1]
    if interpolation == "all-point":
        return float(np.sum(np.diff(r, prepend=0.0) * envelope))
    if interpolation == "101-point":
        idx = np.searchsorted(r, np.linspace(0.0, 1.0, 101), side="left")
        q = np.zeros(101)
        ok = idx < r.size
        q[ok] = envelope[idx[ok]]
        return float(q.mean())
    raise MetricError(f"interpolation must be 'all-point' or '101-point', got {interpolation!r}")


def _match_image_class(ious: np.ndarray, gt_ignored: np.ndarray, det_outside: np.ndarray,
                       thresholds: np.ndarray, rule: str) -> np.ndarray:
    """Greedy matching of one image and class for every (size range a, threshold t) at once.

    ious [D, G] with detections in decreasing score; gt_ignored [A, G]; det_outside [A, D] (detection size out
    of range a). Returns status int8 [D, A, T]: 1 true positive, 0 false positive, -1 ignored.
    """
    d_n, g_n = ious.shape
    a_n, t_n = gt_ignored.shape[0], thresholds.size
    status = np.empty((d_n, a_n, t_n), np.int8)
    matched = np.zeros((a_n, t_n, g_n), bool)
    a_idx, t_idx = np.indices((a_n, t_n))
    unmatched = np.where(det_outside, _IGNORED, _FP).astype(np.int8)  # [A, D]
    status[:] = unmatched.T[:, :, None]
    # a detection below the lowest threshold with every box matches nothing under either rule
    for d in np.flatnonzero(ious.max(axis=1, initial=0.0) >= thresholds.min()):
        unmatched_status = unmatched[:, d, None]  # [A, 1]
        if rule == "voc":
            g = int(np.argmax(ious[d]))
            hit = ious[d, g] >= thresholds  # [T]
            ign = gt_ignored[:, g, None]  # [A, 1]
            status[d] = np.where(hit, np.where(ign, _IGNORED, np.where(matched[:, :, g], _FP, _TP)),
                                 unmatched_status)
            matched[:, :, g] |= hit[None, :]
        else:  # coco: best still-free box, non-ignored ones first, ties to the later box
            cand = ~matched & (ious[d][None, None, :] >= thresholds[None, :, None])  # [A, T, G]
            regular = cand & ~gt_ignored[:, None, :]
            pool = np.where(regular.any(-1, keepdims=True), regular, cand)
            found = pool.any(-1)
            score = np.where(pool, ious[d][None, None, :], -np.inf)
            m = g_n - 1 - np.argmax(score[..., ::-1], axis=-1)  # [A, T]
            matched[a_idx[found], t_idx[found], m[found]] = True
            ign = gt_ignored[a_idx, m]
            status[d] = np.where(found, np.where(ign, _IGNORED, _TP), unmatched_status)
    return status


@dataclass
class DetectionResult:
    """Detection metrics (see the module docstring). Arrays are indexed by ``class_ids`` [K], ``iou_thresholds``
    [T] and size buckets [B] (``size_edges`` [B + 1]); NaN marks a class (or bucket) without ground truth.

    ap [K, T]: all-point AP; ap101 [K, T]: COCO's 101-point AP; ap_by_size [K, B, T]: all-point AP per bucket
    (None when no image size was given); num_gt [K], num_gt_by_size [K, B], num_det [K];
    pr_curves: {iou: {class_id: (recall [D], precision [D])}} at the paper's thresholds.
    """

    class_ids: np.ndarray
    iou_thresholds: np.ndarray
    ap: np.ndarray
    ap101: np.ndarray
    num_gt: np.ndarray
    num_det: np.ndarray
    size_edges: Optional[np.ndarray] = None
    ap_by_size: Optional[np.ndarray] = None
    ap101_by_size: Optional[np.ndarray] = None
    num_gt_by_size: Optional[np.ndarray] = None
    pr_curves: Dict[float, Dict[int, Tuple[np.ndarray, np.ndarray]]] = field(default_factory=dict)

    def _t(self, iou: float) -> int:
        hit = np.flatnonzero(np.isclose(self.iou_thresholds, iou, rtol=0, atol=1e-9))
        if not hit.size:
            known = ", ".join(f"{t:g}" for t in self.iou_thresholds)
            raise MetricError(f"IoU {iou:g} was not evaluated (thresholds: {known}); add it to iou_thresholds")
        return int(hit[0])

    def ap_at(self, iou: float = 0.5) -> np.ndarray:
        """All-point AP per class [K] at one IoU threshold."""
        return self.ap[:, self._t(iou)]

    def map(self, iou: float = 0.5) -> float:
        """Mean all-point AP over the classes with ground truth, at one IoU threshold (the paper's mAP)."""
        return _nanmean(self.ap_at(iou))

    def map_per_threshold(self) -> np.ndarray:
        """All-point mAP at every threshold [T] (the mAP vs IoU curve)."""
        return np.array([_nanmean(self.ap[:, i]) for i in range(self.iou_thresholds.size)])

    @property
    def coco_map(self) -> float:
        """COCO's AP@[.5:.95]: 101-point AP averaged over the thresholds (COCO's ten by default) and classes."""
        keep = ~np.isnan(self.ap101).all(axis=1)
        return float(self.ap101[keep].mean()) if keep.any() else float("nan")

    def map_by_size(self, iou: float = 0.5) -> np.ndarray:
        """All-point mAP per size bucket [B] at one IoU threshold (Ahn Fig. 3)."""
        if self.ap_by_size is None:
            raise MetricError("no region sizes: pass image_size= to DetectionMetrics or image_sizes= to update")
        t = self._t(iou)
        return np.array([_nanmean(self.ap_by_size[:, b, t]) for b in range(self.ap_by_size.shape[1])])

    def to_dict(self, class_names: Optional[Mapping[int, str]] = None) -> Dict[str, Any]:
        """JSON-ready summary; class_names maps a class id to its name (default: the id as text)."""
        name = (lambda c: str(class_names.get(int(c), c)) if class_names else str(int(c)))
        paper = [t for t in PAPER_IOU_THRESHOLDS if np.isclose(self.iou_thresholds, t, atol=1e-9).any()]
        out: Dict[str, Any] = {f"mAP@{t:g}": _num(self.map(t)) for t in paper}
        out["mAP@[.5:.95]"] = _num(self.coco_map)
        out["per_class"] = {
            name(c): {**{f"AP@{t:g}": _num(self.ap[k, self._t(t)]) for t in paper},
                      "AP@[.5:.95]": _num(np.mean(self.ap101[k])), "num_gt": int(self.num_gt[k]),
                      "num_det": int(self.num_det[k])}
            for k, c in enumerate(self.class_ids)}
        out["mAP_per_iou"] = {f"{t:g}": _num(v) for t, v in zip(self.iou_thresholds, self.map_per_threshold())}
        if self.ap_by_size is not None:
            out["by_size"] = {"edges": [float(e) for e in self.size_edges],
                              "num_gt": [int(n) for n in self.num_gt_by_size.sum(axis=0)],
                              **{f"mAP@{t:g}": [_num(v) for v in self.map_by_size(t)] for t in paper}}
        return out


class DetectionMetrics:
    """Streaming detection metrics: ``update(preds, targets)`` per batch, ``compute()`` at the end.

    iou_thresholds: evaluated thresholds (default COCO's ten, which contain 0.5, 0.75 and 0.9).
    matching: "voc" or "coco" (module docstring). image_size: (H, W) of every image, enables the size buckets
    (or pass ``image_sizes`` to each update). size_edges: bucket edges on sqrt(box area / image area).
    class_ids: the classes to report (default: every label seen in ground truth or predictions).
    """

    def __init__(self, iou_thresholds: Sequence[float] = tuple(COCO_IOU_THRESHOLDS), matching: str = "voc",
                 image_size: Optional[Tuple[int, int]] = None, size_edges: Sequence[float] = DEFAULT_SIZE_EDGES,
                 class_ids: Optional[Sequence[int]] = None):
        self.iou_thresholds = np.asarray(iou_thresholds, dtype=np.float64).reshape(-1)
        if not self.iou_thresholds.size or np.any((self.iou_thresholds <= 0) | (self.iou_thresholds > 1)):
            raise MetricError(f"iou_thresholds must be in (0, 1], got {list(iou_thresholds)}")
        if matching not in ("voc", "coco"):
            raise MetricError(f"matching must be 'voc' or 'coco', got {matching!r}")
        self.matching = matching
        self.size_edges = np.asarray(size_edges, dtype=np.float64)
        if self.size_edges.ndim != 1 or self.size_edges.size < 2 or np.any(np.diff(self.size_edges) <= 0):
            raise MetricError(f"size_edges must be at least two increasing numbers, got {list(size_edges)}")
        self.image_size = None if image_size is None else _image_size(image_size)
        self.class_ids = None if class_ids is None else sorted(int(c) for c in class_ids)
        self.reset()

    def reset(self) -> None:
        self._scores: List[np.ndarray] = []
        self._labels: List[np.ndarray] = []
        self._status: List[np.ndarray] = []
        self._num_gt: Dict[int, np.ndarray] = {}
        self._sized: Optional[bool] = None

    def update(self, preds: Sequence[Mapping[str, Any]], targets: Sequence[Mapping[str, Any]],
               image_sizes: Optional[Sequence[Tuple[int, int]]] = None) -> None:
        """Add a batch: one prediction dict and one target dict per image; image_sizes [(H, W)] per image."""
        if len(preds) != len(targets):
            raise MetricError(f"{len(preds)} predictions for {len(targets)} targets; pass one dict per image")
        if image_sizes is not None and len(image_sizes) != len(targets):
            raise MetricError(f"{len(image_sizes)} image sizes for {len(targets)} images")
        for i, (pred, target) in enumerate(zip(preds, targets)):
            size = _image_size(image_sizes[i]) if image_sizes is not None else self.image_size
            if self._sized is None:
                self._sized = size is not None
            elif self._sized != (size is not None):
                raise MetricError("image sizes were given for some images only; give them for all or none")
            self._add_image(pred, target, size)

    def _add_image(self, pred: Mapping[str, Any], target: Mapping[str, Any], size: Optional[Tuple[int, int]]):
        db, ds, dl = _boxes(pred, "prediction", scores=True)
        gb, _, gl = _boxes(target, "target", scores=False)
        edges = self.size_edges
        n_ranges = 1 + (edges.size - 1 if size is not None else 0)

        def outside(boxes: np.ndarray) -> np.ndarray:  # [A, K]; range 0 is "all sizes"
            out = np.zeros((n_ranges, boxes.shape[0]), bool)
            if size is not None:
                s = region_size(boxes, size)
                lo, hi = edges[:-1, None], edges[1:, None]
                inside = (s[None] >= lo) & ((s[None] < hi) | ((hi == edges[-1]) & (s[None] <= hi)))
                out[1:] = ~inside
            return out

        order = np.argsort(-ds, kind="stable")
        db, ds, dl = db[order], ds[order], dl[order]
        det_out, gt_ign = outside(db), outside(gb)
        for c in np.unique(np.concatenate([dl, gl])):
            d_sel, g_sel = np.flatnonzero(dl == c), np.flatnonzero(gl == c)
            counts = (~gt_ign[:, g_sel]).sum(axis=1)
            acc = self._num_gt.setdefault(int(c), np.zeros(n_ranges, np.int64))
            acc += counts
            if not d_sel.size:
                continue
            if g_sel.size:
                status = _match_image_class(box_iou_numpy(db[d_sel], gb[g_sel]), gt_ign[:, g_sel],
                                            det_out[:, d_sel], self.iou_thresholds, self.matching)
            else:
                status = np.repeat(np.where(det_out[:, d_sel], _IGNORED, _FP).T[:, :, None].astype(np.int8),
                                   self.iou_thresholds.size, axis=2)
            self._scores.append(ds[d_sel])
            self._labels.append(np.full(d_sel.size, int(c), np.int64))
            self._status.append(status)

    def compute(self) -> DetectionResult:
        """AP tables over everything seen since the last reset."""
        thr = self.iou_thresholds
        n_ranges = 1 + (self.size_edges.size - 1 if self._sized else 0)
        scores = np.concatenate(self._scores) if self._scores else np.zeros(0)
        labels = np.concatenate(self._labels) if self._labels else np.zeros(0, np.int64)
        status = np.concatenate(self._status) if self._status else np.zeros((0, n_ranges, thr.size), np.int8)
        seen = set(self._num_gt) | set(labels.tolist())
        classes = np.array(self.class_ids if self.class_ids is not None else sorted(seen), dtype=np.int64)
        k_n = classes.size
        ap = np.full((k_n, n_ranges, thr.size), np.nan)
        ap101 = np.full((k_n, n_ranges, thr.size), np.nan)
        num_gt = np.zeros((k_n, n_ranges), np.int64)
        num_det = np.zeros(k_n, np.int64)
        pr_ious = [t for t in PAPER_IOU_THRESHOLDS if np.isclose(thr, t, atol=1e-9).any()]
        curves: Dict[float, Dict[int, Tuple[np.ndarray, np.ndarray]]] = {t: {} for t in pr_ious}
        for k, c in enumerate(classes):
            num_gt[k] = self._num_gt.get(int(c), np.zeros(n_ranges, np.int64))
            sel = np.flatnonzero(labels == c)
            num_det[k] = sel.size
            st = status[sel[np.argsort(-scores[sel], kind="stable")]]  # [Dc, A, T]
            for a in range(n_ranges):
                if num_gt[k, a] == 0:
                    continue
                for t in range(thr.size):
                    flags = st[:, a, t]
                    recall, precision = precision_recall(flags[flags != _IGNORED] == _TP, int(num_gt[k, a]))
                    ap[k, a, t] = average_precision(recall, precision, "all-point")
                    ap101[k, a, t] = average_precision(recall, precision, "101-point")
                    if a == 0:
                        for iou in pr_ious:
                            if np.isclose(thr[t], iou, atol=1e-9):
                                curves[iou][int(c)] = (recall, precision)
        sized = n_ranges > 1
        return DetectionResult(
            class_ids=classes, iou_thresholds=thr.copy(), ap=ap[:, 0], ap101=ap101[:, 0], num_gt=num_gt[:, 0],
            num_det=num_det, size_edges=self.size_edges.copy() if sized else None,
            ap_by_size=ap[:, 1:] if sized else None, ap101_by_size=ap101[:, 1:] if sized else None,
            num_gt_by_size=num_gt[:, 1:] if sized else None,
            pr_curves=curves)


def detection_metrics(preds: Sequence[Mapping[str, Any]], targets: Sequence[Mapping[str, Any]],
                      **options: Any) -> DetectionResult:
    """One-shot :class:`DetectionMetrics` over lists of per-image dicts (options as its constructor's)."""
    image_sizes = options.pop("image_sizes", None)
    m = DetectionMetrics(**options)
    m.update(preds, targets, image_sizes=image_sizes)
    return m.compute()


# ----------------------------------------------------------------------------------------------------------------
# small shared helpers


def _boxes(d: Mapping[str, Any], what: str, scores: bool) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    keys = ("boxes", "scores", "labels") if scores else ("boxes", "labels")
    if not isinstance(d, Mapping) or any(k not in d for k in keys):
        raise MetricError(f"each {what} must be a dict with keys {', '.join(keys)} (torchvision's format)")
    b = as_array(d["boxes"], f"{what} boxes").astype(np.float64)
    if b.size == 0:
        b = b.reshape(0, 4)
    if b.ndim != 2 or b.shape[1] != 4:
        raise MetricError(f"{what} boxes: expected [K, 4] xyxy, got shape {tuple(b.shape)}")
    labels = as_array(d["labels"], f"{what} labels").reshape(-1).astype(np.int64)
    s = as_array(d["scores"], f"{what} scores").reshape(-1).astype(np.float64) if scores else np.ones(b.shape[0])
    if labels.shape[0] != b.shape[0] or s.shape[0] != b.shape[0]:
        raise MetricError(f"{what}: boxes, labels{' and scores' if scores else ''} differ in length")
    if not np.isfinite(b).all() or not np.isfinite(s).all():
        raise MetricError(f"{what}: boxes and scores must be finite; drop NaN/inf detections first")
    return b, s, labels


def _image_size(size: Any) -> Tuple[int, int]:
    try:
        h, w = (int(v) for v in size)
    except Exception:
        raise MetricError(f"an image size is (H, W), got {size!r}") from None
    if h <= 0 or w <= 0:
        raise MetricError(f"an image size must be positive, got {(h, w)}")
    return h, w


def _nanmean(x: np.ndarray) -> float:
    x = np.asarray(x, np.float64)
    return float(np.nanmean(x)) if np.any(~np.isnan(x)) else float("nan")


def _num(x: float) -> Optional[float]:
    """A float for JSON: NaN becomes None (null)."""
    x = float(x)
    return None if np.isnan(x) else x


def _names(class_names: Optional[Sequence[str]], n: int) -> List[str]:
    if class_names is None:
        return [str(i) for i in range(n)]
    if len(class_names) != n:
        raise MetricError(f"{len(class_names)} class names for {n} classes")
    return [str(c) for c in class_names]

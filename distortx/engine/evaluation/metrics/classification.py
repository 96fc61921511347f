"""Classification metrics: accuracy, top-k, confusion, per-class P/R/F1, accuracy per level / parameter / interval (Endo's interval mean), and ClassificationMetrics."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Hashable, List, Optional, Sequence

import numpy as np

from .common import ArrayLike, MetricError, _class_ids, _names, _nanmean, _num, _pair, _per_sample, as_array


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



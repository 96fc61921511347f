"""Detection metrics: AP per class at IoU thresholds (VOC all-point, COCO 101-point), mAP, AP by region size."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from .common import (COCO_IOU_THRESHOLDS, DEFAULT_SIZE_EDGES, PAPER_IOU_THRESHOLDS, _FP, _IGNORED, _TP, ArrayLike,
                     MetricError, _nanmean, _num, as_array)


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



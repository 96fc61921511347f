"""Regression metrics: a parameter estimate per image against the truth (MAE, RMSE, bias in its units)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

import numpy as np

from .common import ArrayLike, MetricError, _num, as_array


@dataclass
class RegressionResult:
    """What :class:`RegressionMetrics` computes, in the targets' own (physical) units: over every known
    (image, column) pair ``mae`` (mean |pred - target|), ``rmse`` and ``bias`` (mean pred - target); the same
    per column in ``per_column`` (lists of P); ``num_samples``: known pairs; ``calibration``: the first column
    in ``CALIBRATION_BINS`` equal bins of the truth (:func:`calibration_bins`)."""

    mae: float
    rmse: float
    bias: float
    per_column: Dict[str, List[float]]
    num_samples: int
    calibration: List[Dict[str, float]] = field(default_factory=list)

    def to_dict(self) -> Dict[str, Any]:
        return {"num_samples": self.num_samples, "mae": _num(self.mae), "rmse": _num(self.rmse),
                "bias": _num(self.bias), "per_column": {k: [_num(v) for v in vs] for k, vs in self.per_column.items()},
                "calibration": [{k: _num(v) for k, v in b.items()} for b in self.calibration]}


#: bins of the truth in a regression's calibration table and figure
CALIBRATION_BINS = 10


def calibration_bins(truth: ArrayLike, estimate: ArrayLike, bins: int = CALIBRATION_BINS) -> List[Dict[str, float]]:
    """Per equal-width bin of ``truth`` [N] over its range: the bin's edges, count, mean truth, mean ``estimate``
    [N], and the error's (estimate - truth) S.D. ``sd``, mean ``bias`` and ``mae``. Empty bins are left out."""
    t = as_array(truth, "truth").astype(np.float64).reshape(-1)
    e = as_array(estimate, "estimate").astype(np.float64).reshape(-1)
    if t.size != e.size:
        raise MetricError(f"calibration: {t.size} truths for {e.size} estimates")
    known = np.isfinite(t) & np.isfinite(e)
    t, e = t[known], e[known]
    if t.size == 0:
        return []
    lo, hi = float(t.min()), float(t.max())
    edges = np.linspace(lo, hi if hi > lo else lo + 1.0, int(bins) + 1)
    which = np.clip(np.searchsorted(edges, t, side="right") - 1, 0, int(bins) - 1)
    out = []
    for k in range(int(bins)):
        m = which == k
        if m.any():
            d = e[m] - t[m]
            out.append({"low": float(edges[k]), "high": float(edges[k + 1]), "n": int(m.sum()),
                        "truth": float(t[m].mean()), "estimate": float(e[m].mean()), "sd": float(d.std()),
                        "bias": float(d.mean()), "mae": float(np.abs(d).mean())})
    return out


class RegressionMetrics:
    """Streaming errors of a parameter regression: ``update(preds Tensor[N, P], targets Tensor[N, >= P])``
    per batch (target columns beyond P are ignored, NaN targets skipped), ``compute`` at the end."""

    def __init__(self) -> None:
        self._sums: Optional[np.ndarray] = None  # [3, P]: sum |e|, sum e^2, sum e
        self._counts: Optional[np.ndarray] = None
        self._pairs: List[np.ndarray] = []  # [N, 2] (truth, estimate) of the first column, for the calibration

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
        self._pairs.append(np.stack([t[:, 0], p[:, 0]], axis=1))

    def compute(self) -> RegressionResult:
        if self._sums is None:
            return RegressionResult(float("nan"), float("nan"), float("nan"), {}, 0)
        n = int(self._counts.sum())
        total = self._sums.sum(1) / max(n, 1) if n else np.full(3, np.nan)
        with np.errstate(invalid="ignore", divide="ignore"):
            col = self._sums / np.where(self._counts > 0, self._counts, np.nan)
        pairs = np.concatenate(self._pairs)
        return RegressionResult(mae=float(total[0]), rmse=float(np.sqrt(total[1])), bias=float(total[2]),
                                per_column={"mae": col[0].tolist(), "rmse": np.sqrt(col[1]).tolist(),
                                            "bias": col[2].tolist()}, num_samples=n,
                                calibration=calibration_bins(pairs[:, 0], pairs[:, 1]))


# ----------------------------------------------------------------------------------------------------------------
# detection



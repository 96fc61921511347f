"""Regression metrics: a parameter estimate per image against the truth (MAE, RMSE, bias in its units)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional

import numpy as np

from .common import ArrayLike, MetricError, _num, as_array


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



"""What the metrics share: array conversion, argument checks, the error type, NaN-aware helpers."""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from ....errors import DistortxError

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


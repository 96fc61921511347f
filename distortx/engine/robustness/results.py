"""Robustness results: per-condition counts, the row metrics, the summary (AUC, CE, mCE, relative mCE; see
:mod:`distortx.engine.robustness.sweep`), and the results files (JSON, CSV, per-class CSV)."""
from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

import torch
from torch import Tensor

from ...io import atomic_write_bytes
from .protocol import CLEAN, CSV_FIELDS, FORMAT, PER_CLASS_CSV, RESULTS_CSV, RESULTS_JSON, Condition, RobustnessError


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

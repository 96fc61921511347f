"""Evaluation figures (matplotlib, Agg canvas): each function writes one PNG atomically and returns its path.

The figures of the seed papers, fed by :mod:`distortx.engine.evaluation.metrics`:

- :func:`plot_confusion_matrix` - row-normalised confusion matrix with counts (Hsieh);
- :func:`plot_pr_curves` - per-class precision-recall curves (interpolated precision, AP in the legend);
- :func:`plot_map_vs_iou` - mAP against the IoU threshold (Ahn Tables 2-3 as a curve);
- :func:`plot_ap_vs_region_size` - detection AP against region size (Ahn Fig. 3);
- :func:`plot_accuracy_per_level` - accuracy per severity level, one line per distortion type (Hsieh, Dodge);
- :func:`plot_accuracy_vs_parameter` - accuracy against the degradation parameter, one line per model (Endo
  Figs. 5-8), optionally shading Endo's intervals;
- :func:`plot_calibration` - a parameter estimator's mean estimate against the truth with +-1 S.D. bands, one
  line per estimator (Endo Fig. 4).

Every function takes ``size=(width, height)`` in pixels (the PNG has exactly that size) and ``dpi``. No
pyplot: figures are plain ``Figure`` objects on an Agg canvas, so nothing global changes and threads are safe.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from ..figures import new_figure, save_png
from .metrics import ArrayLike, MetricError, ParameterCurve, as_array

PathLike = Union[str, os.PathLike]
Size = Tuple[int, int]
Series = Union[ArrayLike, Mapping[str, ArrayLike]]


def _figure(size: Size, dpi: int):
    w, h = (int(v) for v in size)
    if w < 64 or h < 64 or dpi <= 0:
        raise MetricError(f"a figure needs size >= 64x64 pixels and dpi > 0, got size={size}, dpi={dpi}")
    return new_figure(w / dpi, h / dpi, dpi)


def _save(fig, path: PathLike) -> Path:
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise MetricError(f"{path}: figures are written as PNG; give a path ending in .png")
    return save_png(fig, path)


def _series(values: Series, n: int, what: str) -> Mapping[str, np.ndarray]:
    """One unnamed array or {name: array}, each [n] float."""
    items = values.items() if isinstance(values, Mapping) else [("", values)]
    out = {}
    for name, v in items:
        a = as_array(v, what).astype(np.float64).reshape(-1)
        if a.size != n:
            raise MetricError(f"{what} {name!r}: {a.size} values for {n} points")
        out[str(name)] = a
    if not out:
        raise MetricError(f"{what}: nothing to plot")
    return out


def _style_accuracy_axis(ax, label: str = "accuracy") -> None:
    ax.set_ylim(0, 1.02)
    ax.set_ylabel(label)
    ax.grid(True, alpha=0.3)


def plot_confusion_matrix(confusion: ArrayLike, class_names: Sequence[str], path: PathLike, *,
                          title: str = "Confusion matrix", size: Optional[Size] = None, dpi: int = 100) -> Path:
    """Confusion matrix [C, C] (rows true, columns predicted): colour = row-normalised rate (recall on the
    diagonal), each cell printed as rate and count. Default size grows with C."""
    m = as_array(confusion, "confusion").astype(np.int64)
    c = m.shape[0]
    if m.ndim != 2 or m.shape != (c, c) or len(class_names) != c:
        raise MetricError(f"confusion must be [C, C] with C = {len(class_names)} class names, got {tuple(m.shape)}")
    side = max(480, 60 * c + 220)
    fig = _figure(size or (side + 80, side), dpi)
    ax = fig.add_subplot()
    rows = m.sum(axis=1, keepdims=True)
    rate = np.divide(m, rows, out=np.zeros(m.shape), where=rows > 0)
    im = ax.imshow(rate, cmap="Blues", vmin=0.0, vmax=1.0)
    fontsize = max(5, min(10, 110 // max(c, 1)))
    for i in range(c):
        for j in range(c):
            if m[i, j] or i == j:
                ax.text(j, i, f"{rate[i, j]:.2f}\n{m[i, j]}", ha="center", va="center", fontsize=fontsize,
                        color="white" if rate[i, j] > 0.5 else "black")
    ax.set_xticks(range(c), [str(n) for n in class_names], rotation=45, ha="right")
    ax.set_yticks(range(c), [str(n) for n in class_names])
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"{title} (N = {int(m.sum())})")
    fig.colorbar(im, ax=ax, shrink=0.8, label="fraction of the true class")
    return _save(fig, path)


def plot_pr_curves(curves: Mapping[str, Tuple[ArrayLike, ArrayLike]], path: PathLike, *,
                   ap: Optional[Mapping[str, float]] = None, iou: Optional[float] = None,
                   title: str = "Precision-recall", size: Size = (640, 480), dpi: int = 100) -> Path:
    """Per-class PR curves: ``{name: (recall [D], precision [D])}`` in detection order (e.g.
    ``DetectionResult.pr_curves[0.5]`` keyed by class name). Drawn is the interpolated precision (the running
    maximum from the right, the envelope AP integrates); ``ap`` adds each class's AP to the legend."""
    fig = _figure(size, dpi)
    ax = fig.add_subplot()
    for name, (recall, precision) in curves.items():
        r, p = as_array(recall, "recall").astype(np.float64), as_array(precision, "precision").astype(np.float64)
        if r.shape != p.shape or r.ndim != 1:
            raise MetricError(f"curve {name!r}: recall and precision must be 1-D of equal length")
        label = str(name) if ap is None or name not in ap else f"{name} (AP {ap[name]:.3f})"
        if not r.size:
            ax.plot([], [], label=f"{label}: no detections")
            continue
        envelope = np.maximum.accumulate(p[::-1])[::-1]
        ax.plot(np.concatenate([[0.0], r]), np.concatenate([envelope[:1], envelope]), drawstyle="steps-pre",
                label=label)
    ax.set_xlim(0, 1.0)
    ax.set_xlabel("recall")
    _style_accuracy_axis(ax, "precision")
    ax.set_title(title + (f" at IoU {iou:g}" if iou is not None else ""))
    if curves:
        ax.legend(fontsize="small", loc="lower left")
    return _save(fig, path)


def plot_map_vs_iou(iou_thresholds: ArrayLike, maps: Series, path: PathLike, *,
                    marked: Sequence[float] = (0.5, 0.75, 0.9), title: str = "mAP vs IoU threshold",
                    size: Size = (640, 480), dpi: int = 100) -> Path:
    """mAP [T] against the IoU thresholds [T]; ``maps`` one array or ``{model: array}``. The ``marked``
    thresholds (Ahn's) get a dotted line and their values printed."""
    t = as_array(iou_thresholds, "iou_thresholds").astype(np.float64).reshape(-1)
    series = _series(maps, t.size, "mAP")
    fig = _figure(size, dpi)
    ax = fig.add_subplot()
    for i, (name, v) in enumerate(series.items()):
        line, = ax.plot(t, v, marker="o", label=name or None)
        for x in marked:
            hit = np.flatnonzero(np.isclose(t, x, atol=1e-9))
            if hit.size and not np.isnan(v[hit[0]]):  # labels of alternate series above / below their point
                ax.annotate(f"{v[hit[0]]:.3f}", (x, v[hit[0]]), textcoords="offset points",
                            xytext=(4, 6 if i % 2 == 0 else -14),
                            fontsize="small", color=line.get_color())
    for x in marked:
        ax.axvline(x, color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("IoU threshold")
    _style_accuracy_axis(ax, "mAP")
    ax.set_title(title)
    if len(series) > 1 or next(iter(series)):
        ax.legend(fontsize="small")
    return _save(fig, path)


def plot_ap_vs_region_size(size_edges: ArrayLike, aps: Series, path: PathLike, *,
                           counts: Optional[ArrayLike] = None, title: str = "Detection AP vs region size",
                           xlabel: str = "region size  sqrt(box area / image area)", size: Size = (720, 480),
                           dpi: int = 100) -> Path:
    """AP per size bucket [B] (``DetectionResult.map_by_size``) over buckets ``size_edges`` [B + 1]; ``aps``
    one array or ``{label: array}`` (IoU thresholds, models); NaN (a bucket without regions) leaves a gap.
    ``counts`` [B] draws the number of ground-truth regions per bucket as grey bars (right axis)."""
    e = as_array(size_edges, "size_edges").astype(np.float64).reshape(-1)
    if e.size < 2:
        raise MetricError("size_edges needs at least two values")
    centres, widths = (e[:-1] + e[1:]) / 2, np.diff(e)
    series = _series(aps, centres.size, "AP")
    fig = _figure(size, dpi)
    ax = fig.add_subplot()
    if counts is not None:
        n = as_array(counts, "counts").astype(np.float64).reshape(-1)
        if n.size != centres.size:
            raise MetricError(f"counts: {n.size} values for {centres.size} buckets")
        ax2 = ax.twinx()
        ax2.bar(centres, n, width=widths * 0.9, color="0.85", zorder=0)
        ax2.set_ylabel("ground-truth regions", color="0.45")
        ax2.tick_params(axis="y", colors="0.45")
        ax.set_zorder(ax2.get_zorder() + 1)
        ax.patch.set_visible(False)
    for name, v in series.items():
        ax.plot(centres, v, marker="o", label=name or None)
    ax.set_xticks(e)
    ax.set_xticklabels([f"{x:g}" for x in e])
    ax.set_xlim(e[0], e[-1])
    ax.set_xlabel(xlabel)
    _style_accuracy_axis(ax, "AP")
    ax.set_title(title)
    if len(series) > 1 or next(iter(series)):
        ax.legend(fontsize="small", loc="lower right")
    return _save(fig, path)


def plot_accuracy_per_level(table: Mapping[str, Mapping[object, float]], path: PathLike, *,
                            level_names: Optional[Sequence[str]] = None, title: str = "Accuracy per level",
                            size: Size = (640, 480), dpi: int = 100) -> Path:
    """Accuracy per severity level, one line per distortion type: ``{type: {level: accuracy}}`` (levels are
    indices 0 = mildest, e.g. :func:`~distortx.engine.evaluation.metrics.accuracy_per_level` keyed by names);
    ``level_names`` label the level indices (default "level 1", "level 2", ...)."""
    if not table:
        raise MetricError("accuracy per level: nothing to plot")
    levels = sorted({int(k) for row in table.values() for k in row})
    fig = _figure(size, dpi)
    ax = fig.add_subplot()
    for name, row in table.items():
        acc = {int(k): float(v) for k, v in row.items()}
        ax.plot(levels, [acc.get(lv, np.nan) for lv in levels], marker="o", label=str(name))
    names = list(level_names) if level_names is not None else [f"level {lv + 1}" for lv in levels]
    if len(names) < len(levels):
        raise MetricError(f"{len(names)} level names for levels {levels}")
    ax.set_xticks(levels, [names[i] for i in range(len(levels))])
    ax.set_xlabel("severity (mild -> severe)")
    _style_accuracy_axis(ax)
    ax.set_title(title)
    ax.legend(fontsize="small", ncols=2 if len(table) > 6 else 1)
    return _save(fig, path)


def plot_accuracy_vs_parameter(curves: Mapping[str, Union[ParameterCurve, Tuple[ArrayLike, ArrayLike]]],
                               path: PathLike, *, parameter: str = "degradation parameter",
                               intervals: Optional[Sequence[Tuple[float, float]]] = None,
                               title: str = "Accuracy vs degradation parameter", size: Size = (720, 480),
                               dpi: int = 100) -> Path:
    """Endo-style curves: ``{model: ParameterCurve | (values [U], accuracy [U])}`` against the parameter (JPEG
    quality, noise sigma...). ``intervals`` [(low, high)] shades alternate intervals of the interval mean
    accuracy table."""
    if not curves:
        raise MetricError("accuracy vs parameter: nothing to plot")
    fig = _figure(size, dpi)
    ax = fig.add_subplot()
    for i, (lo, hi) in enumerate(intervals or ()):
        if i % 2 == 0:
            ax.axvspan(lo, hi, color="0.93", zorder=0)
    for name, curve in curves.items():
        values, acc = (curve.values, curve.accuracy) if isinstance(curve, ParameterCurve) else curve
        x = as_array(values, "values").astype(np.float64).reshape(-1)
        y = as_array(acc, "accuracy").astype(np.float64).reshape(-1)
        if x.size != y.size:
            raise MetricError(f"curve {name!r}: {x.size} parameter values for {y.size} accuracies")
        order = np.argsort(x, kind="stable")
        ax.plot(x[order], y[order], marker="." if x.size > 30 else "o", markersize=3 if x.size > 30 else 5,
                label=str(name))
    ax.set_xlabel(parameter)
    _style_accuracy_axis(ax)
    ax.set_title(title)
    ax.legend(fontsize="small")
    return _save(fig, path)


def plot_calibration(series: Mapping[str, Sequence[Mapping[str, float]]], path: PathLike, *,
                     parameter: str = "parameter", title: str = "Estimate vs truth", residual: bool = False,
                     size: Size = (560, 520), dpi: int = 100) -> Path:
    """``{estimator: calibration bins}`` (:func:`~distortx.engine.evaluation.metrics.calibration_bins`: per bin its
    mean ``truth``, mean ``estimate``, ``bias`` and the error's S.D. ``sd``): the mean estimate against the truth
    with a band of +-1 S.D. of the error and the diagonal an unbiased estimator follows; ``residual=True`` draws
    the mean error (bias) and its band around 0 instead, for errors too small to see on the parameter's scale."""
    if not series or not any(series.values()):
        raise MetricError("calibration: nothing to plot")
    fig = _figure(size, dpi)
    ax = fig.add_subplot()
    lo, hi = np.inf, -np.inf
    for name, bins in series.items():
        if not bins:
            continue
        t = np.array([b["truth"] for b in bins], dtype=np.float64)
        e = np.array([b["bias"] if residual else b["estimate"] for b in bins], dtype=np.float64)
        sd = np.array([b["sd"] for b in bins], dtype=np.float64)
        line, = ax.plot(t, e, marker="o", markersize=4, label=str(name))
        ax.fill_between(t, e - sd, e + sd, color=line.get_color(), alpha=0.15, linewidth=0)
        lo, hi = min(lo, float(t.min())), max(hi, float(t.max()))
    if residual:
        ax.axhline(0.0, color="0.5", linestyle="--", linewidth=1, label="no bias")
        ax.set_ylabel(f"estimate - truth ({parameter}; mean, +-1 S.D.)")
    else:
        ax.plot([lo, hi], [lo, hi], color="0.5", linestyle="--", linewidth=1, label="estimate = truth")
        ax.set_ylabel(f"estimated {parameter} (mean, +-1 S.D. of the error)")
    ax.set_xlabel(f"true {parameter}")
    ax.grid(True, alpha=0.3)
    ax.set_title(title)
    ax.legend(fontsize="small")
    return _save(fig, path)

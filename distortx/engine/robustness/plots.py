"""Figures of robustness sweeps: Dodge & Karam's curves and Hsieh et al.'s quality analysis (the one plotting
convention, :mod:`distortx.engine.figures`: Agg Figure objects, atomic PNG writes).

* :func:`plot_curves`: one panel per distortion, top-1 (solid) and top-5 (dashed) accuracy vs the level value,
  one colour per model (results file), the clean top-1 as a dotted horizontal line.
* :func:`plot_quality`: accuracy vs the mean SSIM (top row) and PSNR (bottom row) of the distorted inputs at
  each level, one panel per distortion, one colour per model (levels that leave the input identical, such
  as contrast 0, have no finite PSNR and are left out of the PSNR row).

Both take results dicts as written by :func:`distortx.engine.robustness.sweep.run_sweep` (``results.json``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

from ..figures import colour_cycle, new_figure, save_png
from .image_quality import PSNR_CAP
from .protocol import CLEAN

_LINE_WIDTH = 1.6


def _axis_label(distortion: str) -> str:
    from ...registry import get_distortion

    try:
        p = get_distortion(distortion).parameters[0]
    except Exception:  # a plugin distortion not installed here: its name is enough
        return "level value"
    return f"{p.name} ({p.doc})" if p.doc and len(p.doc) <= 28 else p.name


def _distortions(results: Sequence[Dict[str, Any]]) -> List[str]:
    names: List[str] = []
    for res in results:
        for r in res["rows"]:
            if r["distortion"] != CLEAN and r["distortion"] not in names:
                names.append(r["distortion"])
    return names


def _series(res: Dict[str, Any], distortion: str, key: str):
    rows = [r for r in res["rows"] if r["distortion"] == distortion and r.get(key) is not None]
    xs = [r["value"] if r["value"] is not None else r["level"] for r in rows]
    return rows, xs


def _grid(n: int, ncols: int, panel=(3.4, 2.8)):
    ncols = max(1, min(ncols, n))
    nrows = (n + ncols - 1) // ncols
    fig = new_figure(panel[0] * ncols, panel[1] * nrows, layout="tight")
    return fig, fig.subplots(nrows, ncols, squeeze=False)


def plot_curves(results: Sequence[Dict[str, Any]], out: Union[str, Path], labels: Optional[Sequence[str]] = None,
                ncols: int = 3) -> Path:
    """Dodge & Karam's figure: top-1 / top-5 vs level per distortion, one line per model. Returns ``out``."""
    labels = list(labels) if labels else [r.get("name", f"model {i}") for i, r in enumerate(results)]
    names = _distortions(results)
    fig, axes = _grid(len(names) + 1, ncols)
    colours = colour_cycle()
    flat = list(axes.flat)
    for ax, name in zip(flat, names):
        for i, res in enumerate(results):
            c = colours[i % len(colours)]
            rows, xs = _series(res, name, "top1")
            ax.plot(xs, [r["top1"] for r in rows], "-o", color=c, lw=_LINE_WIDTH, ms=3)
            ax.plot(xs, [r["top5"] for r in rows], "--", color=c, lw=_LINE_WIDTH)
            clean = next((r for r in res["rows"] if r["distortion"] == CLEAN), None)
            if clean and clean.get("top1") is not None:
                ax.axhline(clean["top1"], color=c, lw=0.8, ls=":")
        ax.set_title(name, fontsize=10)
        ax.set_xlabel(_axis_label(name), fontsize=8)
        ax.set_ylabel("accuracy", fontsize=8)
        ax.set_ylim(0.0, 1.02)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=8)
    legend_ax = flat[len(names)]
    legend_ax.axis("off")
    handles = []
    for i, lab in enumerate(labels):
        c = colours[i % len(colours)]
        handles.append(legend_ax.plot([], [], "-", color=c, lw=_LINE_WIDTH, label=f"{lab}")[0])
    handles.append(legend_ax.plot([], [], "-", color="0.3", label="top-1")[0])
    handles.append(legend_ax.plot([], [], "--", color="0.3", label="top-5")[0])
    handles.append(legend_ax.plot([], [], ":", color="0.3", label="clean top-1")[0])
    legend_ax.legend(handles=handles, loc="center", fontsize=8, frameon=False)
    for ax in flat[len(names) + 1:]:
        ax.axis("off")
    fig.suptitle("Accuracy under distortion (Dodge & Karam protocol)", fontsize=11)
    return save_png(fig, out)


def plot_quality(results: Sequence[Dict[str, Any]], out: Union[str, Path], labels: Optional[Sequence[str]] = None) -> Path:
    """Hsieh et al.'s analysis: top-1 vs mean SSIM (row 1) and PSNR (row 2) of the inputs, per distortion."""
    labels = list(labels) if labels else [r.get("name", f"model {i}") for i, r in enumerate(results)]
    names = _distortions(results)
    fig = new_figure(3.1 * max(1, len(names)), 5.4, layout="tight")
    axes = fig.subplots(2, max(1, len(names)), squeeze=False)
    colours = colour_cycle()
    for j, name in enumerate(names):
        for row, (key, xlabel) in enumerate((("ssim", "mean SSIM of the input"), ("psnr", "mean PSNR of the input (dB)"))):
            ax = axes[row, j]
            for i, res in enumerate(results):
                rows = [r for r in res["rows"] if r["distortion"] == name and r.get(key) is not None
                        and not (key == "psnr" and r[key] >= PSNR_CAP)]  # identical inputs: no finite PSNR
                ax.plot([r[key] for r in rows], [r["top1"] for r in rows], "-o", ms=3, lw=_LINE_WIDTH,
                        color=colours[i % len(colours)], label=labels[i])
            ax.set_xlabel(xlabel, fontsize=8)
            ax.set_ylim(0.0, 1.02)
            ax.grid(alpha=0.3)
            ax.tick_params(labelsize=8)
            if j == 0:
                ax.set_ylabel("top-1 accuracy", fontsize=8)
            if row == 0:
                ax.set_title(name, fontsize=10)
    if names:
        axes[0, 0].legend(fontsize=7, loc="lower right")
    fig.suptitle("Accuracy vs input quality (Hsieh et al.'s analysis)", fontsize=11)
    return save_png(fig, out)


__all__ = ["plot_curves", "plot_quality"]

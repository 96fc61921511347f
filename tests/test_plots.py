"""distortx.engine.evaluation.plots: every figure function writes a drawn PNG of exactly the requested size."""
import numpy as np
import pytest
from PIL import Image

from distortx.engine.evaluation.metrics import MetricError, ParameterCurve, detection_metrics
from distortx.engine.evaluation.plots import (
    plot_accuracy_per_level, plot_accuracy_vs_parameter, plot_ap_vs_region_size, plot_confusion_matrix,
    plot_map_vs_iou, plot_pr_curves,
)

NAMES = ["clean", "jpeg", "gaussian_blur"]


def _check_png(path, size):
    """A real PNG of ``size`` with drawn content: many colours, and dark pixels (text, lines) on white."""
    assert path.is_file() and path.stat().st_size > 2000
    with Image.open(path) as im:
        assert im.format == "PNG" and im.size == size
        a = np.asarray(im.convert("RGB"))
    assert len(np.unique(a.reshape(-1, 3), axis=0)) > 20
    assert (a.max(axis=2) < 100).mean() > 0.002
    return a


@pytest.fixture(scope="module")
def detection_result():
    gt = [{"boxes": np.array([[0, 0, 30, 30], [50, 50, 90, 95]], float), "labels": np.array([1, 2])},
          {"boxes": np.array([[10, 10, 40, 60]], float), "labels": np.array([1])}]
    preds = [{"boxes": np.array([[1, 0, 30, 31], [50, 52, 88, 95], [0, 50, 20, 70]], float),
              "scores": np.array([0.9, 0.8, 0.7]), "labels": np.array([1, 2, 2])},
             {"boxes": np.array([[12, 10, 40, 55]], float), "scores": np.array([0.6]), "labels": np.array([1])}]
    return detection_metrics(preds, gt, image_size=(100, 100), size_edges=(0.0, 0.2, 0.4, 0.6, 1.0))


def test_confusion_matrix_figure(tmp_path):
    m = np.array([[8, 1, 1], [0, 9, 1], [2, 0, 8]])
    out = plot_confusion_matrix(m, NAMES, tmp_path / "cm.png", size=(500, 420))
    a = _check_png(out, (500, 420))
    # the colour map is Blues: strong diagonal cells are dark blue
    assert ((a[..., 2] > 90) & (a[..., 0] < 60)).mean() > 0.01
    default = _check_png(plot_confusion_matrix(m, NAMES, tmp_path / "cm_default.png"), (560, 480))
    assert default.shape == (480, 560, 3)


def test_pr_curves_figure(tmp_path, detection_result):
    curves = {NAMES[c]: rp for c, rp in detection_result.pr_curves[0.5].items()}
    ap = {NAMES[c]: a for c, a in zip(detection_result.class_ids, detection_result.ap_at(0.5))}
    out = plot_pr_curves(curves, tmp_path / "pr.png", ap=ap, iou=0.5, size=(400, 300))
    _check_png(out, (400, 300))


def test_map_vs_iou_figure(tmp_path, detection_result):
    r = detection_result
    out = plot_map_vs_iou(r.iou_thresholds, {"a": r.map_per_threshold(), "b": r.map_per_threshold() / 2},
                          tmp_path / "map.png", size=(640, 480))
    _check_png(out, (640, 480))
    _check_png(plot_map_vs_iou(r.iou_thresholds, r.map_per_threshold(), tmp_path / "one.png"), (640, 480))


def test_ap_vs_region_size_figure(tmp_path, detection_result):
    r = detection_result
    series = {f"IoU {t:g}": r.map_by_size(t) for t in (0.5, 0.75, 0.9)}
    out = plot_ap_vs_region_size(r.size_edges, series, tmp_path / "size.png", counts=r.num_gt_by_size.sum(0),
                                 size=(720, 480))
    _check_png(out, (720, 480))


def test_accuracy_per_level_figure(tmp_path):
    table = {"jpeg": {0: 0.6, 1: 0.8, 2: 0.95}, "gaussian_blur": {0: 0.5, 2: 0.9}}
    out = plot_accuracy_per_level(table, tmp_path / "level.png", level_names=["q 20", "q 10", "q 5"],
                                  size=(600, 400))
    _check_png(out, (600, 400))


def test_accuracy_vs_parameter_figure(tmp_path):
    q = np.arange(1, 101, dtype=float)
    curves = {"Org": ParameterCurve(q, 0.9 - 0.8 * np.exp(-q / 30), np.ones(100, np.int64)),
              "Jpg": (q, 0.9 - 0.6 * np.exp(-q / 15))}
    out = plot_accuracy_vs_parameter(curves, tmp_path / "param.png", parameter="JPEG quality",
                                     intervals=[(1, 20), (21, 40), (41, 60)], size=(720, 480))
    _check_png(out, (720, 480))


def test_figure_input_errors(tmp_path):
    with pytest.raises(MetricError, match="ending in .png"):
        plot_accuracy_per_level({"a": {0: 1.0}}, tmp_path / "x.jpg")
    with pytest.raises(MetricError, match="3 class names"):
        plot_confusion_matrix(np.eye(2), NAMES, tmp_path / "cm.png")
    with pytest.raises(MetricError, match="2 values for 3 points"):
        plot_map_vs_iou([0.5, 0.75, 0.9], [0.1, 0.2], tmp_path / "m.png")
    with pytest.raises(MetricError, match="size >= 64x64"):
        plot_map_vs_iou([0.5], [0.1], tmp_path / "m.png", size=(10, 10))
    assert not list(tmp_path.iterdir())  # nothing half-written

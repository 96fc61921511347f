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
from .classification import (ClassificationMetrics, ClassificationResult, GroupAccuracy, ParameterCurve, PerClassScores,
                             accuracy, accuracy_by_group, accuracy_per_interval, accuracy_per_level,
                             accuracy_per_parameter, confusion_matrix, interval_mean_accuracy, precision_recall_f1,
                             topk_accuracy)
from .common import COCO_IOU_THRESHOLDS, DEFAULT_SIZE_EDGES, PAPER_IOU_THRESHOLDS, ArrayLike, MetricError, as_array
from .detection import (DetectionMetrics, DetectionResult, average_precision, box_iou_numpy, detection_metrics,
                        precision_recall, region_size)
from .regression import CALIBRATION_BINS, RegressionMetrics, RegressionResult, calibration_bins

__all__ = ["ArrayLike", "CALIBRATION_BINS", "COCO_IOU_THRESHOLDS", "ClassificationMetrics", "ClassificationResult", "DEFAULT_SIZE_EDGES", "DetectionMetrics", "DetectionResult", "GroupAccuracy", "MetricError", "PAPER_IOU_THRESHOLDS", "ParameterCurve", "PerClassScores", "RegressionMetrics", "RegressionResult", "accuracy", "accuracy_by_group", "accuracy_per_interval", "accuracy_per_level", "accuracy_per_parameter", "as_array", "average_precision", "box_iou_numpy", "calibration_bins", "confusion_matrix", "detection_metrics", "interval_mean_accuracy", "precision_recall", "precision_recall_f1", "region_size", "topk_accuracy"]

"""distortx.engine.evaluation.metrics: hand-computed values, and per-class AP cross-checked against pycocotools."""
import contextlib
import io
import json

import numpy as np
import pytest
import torch

from distortx.engine.evaluation.metrics import (
    COCO_IOU_THRESHOLDS, ClassificationMetrics, DetectionMetrics, MetricError, accuracy, accuracy_by_group,
    accuracy_per_interval, accuracy_per_level, accuracy_per_parameter, average_precision, box_iou_numpy,
    confusion_matrix, detection_metrics, interval_mean_accuracy, precision_recall, precision_recall_f1,
    region_size, topk_accuracy,
)
from distortx.errors import DistortxError

# ---------------------------------------------------------------------------------------------- classification


def test_accuracy_from_ids_and_from_scores():
    assert accuracy(torch.tensor([0, 1, 2, 1]), torch.tensor([0, 1, 1, 1])) == 0.75
    scores = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    assert accuracy(scores, [0, 1, 1]) == pytest.approx(2 / 3)


def test_topk_accuracy():
    scores = torch.tensor([[0.5, 0.3, 0.2, 0.0],    # target 1: rank 2
                           [0.1, 0.2, 0.3, 0.4],    # target 0: rank 4
                           [0.0, 0.1, 0.7, 0.2]])   # target 2: rank 1
    targets = torch.tensor([1, 0, 2])
    assert topk_accuracy(scores, targets, k=1) == pytest.approx(1 / 3)
    assert topk_accuracy(scores, targets, k=2) == pytest.approx(2 / 3)
    assert topk_accuracy(scores, targets, k=4) == 1.0
    with pytest.raises(MetricError, match="k must be between 1 and"):
        topk_accuracy(scores, targets, k=5)


def test_confusion_matrix_and_precision_recall_f1_by_hand():
    targets = [0, 0, 1, 1, 2, 2]
    preds = [0, 1, 1, 1, 0, 2]
    m = confusion_matrix(preds, targets, num_classes=4)
    expected = np.array([[1, 1, 0, 0], [0, 2, 0, 0], [1, 0, 1, 0], [0, 0, 0, 0]])
    np.testing.assert_array_equal(m, expected)
    s = precision_recall_f1(m)
    # class 0: TP 1, FP 1, FN 1; class 1: TP 2, FP 1, FN 0; class 2: TP 1, FP 0, FN 1; class 3 absent
    np.testing.assert_allclose(s.precision[:3], [1 / 2, 2 / 3, 1.0])
    np.testing.assert_allclose(s.recall[:3], [1 / 2, 1.0, 1 / 2])
    np.testing.assert_allclose(s.f1[:3], [1 / 2, 4 / 5, 2 / 3])
    assert np.isnan(s.precision[3]) and np.isnan(s.recall[3]) and np.isnan(s.f1[3])
    np.testing.assert_array_equal(s.support, [2, 2, 2, 0])
    assert s.macro["f1"] == pytest.approx((1 / 2 + 4 / 5 + 2 / 3) / 3)
    assert s.weighted["recall"] == pytest.approx((1 / 2 + 1 + 1 / 2) / 3)


def test_f1_of_a_class_never_predicted_is_zero_not_nan():
    s = precision_recall_f1(confusion_matrix([0, 0], [0, 1], num_classes=2))
    assert np.isnan(s.precision[1]) and s.recall[1] == 0.0 and s.f1[1] == 0.0


def test_confusion_matrix_refuses_ids_outside_the_vocabulary():
    with pytest.raises(MetricError, match="class ids must lie in"):
        confusion_matrix([0, 3], [0, 1], num_classes=3)
    with pytest.raises(MetricError, match="differ in length"):
        confusion_matrix([0, 1, 1], [0, 1])


def test_accuracy_per_level_groups_by_type_and_skips_unlevelled_samples():
    targets = np.array([1, 1, 1, 1, 2, 2, 0])
    preds = np.array([1, 0, 1, 1, 2, 1, 0])
    levels = np.array([0, 0, 1, 2, 0, 0, -1])   # the clean sample has no level
    table = accuracy_per_level(preds, targets, levels)
    assert table == {1: {0: 0.5, 1: 1.0, 2: 1.0}, 2: {0: 0.5}}
    groups = accuracy_by_group(preds, targets, levels)
    assert (groups[0].correct, groups[0].count, groups[-1].count) == (2, 4, 1)


def test_interval_mean_accuracy_on_a_toy_example():
    # q:       1  2  2  2  3  3  4
    # correct: y  y  n  n  n  n  y   -> Acc(1)=1, Acc(2)=1/3, Acc(3)=0, Acc(4)=1
    params = np.array([1, 2, 2, 2, 3, 3, 4], dtype=float)
    targets = np.zeros(7, dtype=np.int64)
    preds = np.array([0, 0, 1, 1, 1, 1, 0])
    curve = accuracy_per_parameter(preds, targets, params)
    np.testing.assert_array_equal(curve.values, [1, 2, 3, 4])
    np.testing.assert_allclose(curve.accuracy, [1, 1 / 3, 0, 1])
    np.testing.assert_array_equal(curve.count, [1, 3, 2, 1])
    # eq. (1): each q weighs the same, unlike the pooled accuracy 3/7
    assert interval_mean_accuracy(curve, 1, 4) == pytest.approx((1 + 1 / 3 + 0 + 1) / 4)
    assert interval_mean_accuracy(curve, 2, 3) == pytest.approx(1 / 6)
    with pytest.raises(MetricError, match="no samples at parameter 5"):
        interval_mean_accuracy(curve, 1, 5)
    assert interval_mean_accuracy(curve, 1, 5, missing="skip") == pytest.approx((1 + 1 / 3 + 0 + 1) / 4)


def test_accuracy_per_parameter_rounds_continuous_values_and_skips_nan():
    params = np.array([0.4, 0.6, 1.4, np.nan])
    curve = accuracy_per_parameter([0, 1, 0, 0], [0, 0, 0, 0], params, step=1)
    np.testing.assert_array_equal(curve.values, [0, 1])
    np.testing.assert_allclose(curve.accuracy, [1.0, 0.5])


def test_accuracy_per_interval_pools_samples_per_bin():
    # bins [0, 10), [10, 20), [20, 30] (the last one closed), 35 falls outside, NaN is skipped
    params = np.array([0.0, 5.0, 10.0, 15.0, 20.0, 30.0, 35.0, np.nan])
    preds = [0, 1, 0, 0, 1, 0, 0, 0]
    curve = accuracy_per_interval(preds, [0] * 8, params, edges=[0, 10, 20, 30])
    np.testing.assert_allclose(curve.values, [5, 15, 25])
    np.testing.assert_allclose(curve.accuracy, [0.5, 1.0, 0.5])
    np.testing.assert_array_equal(curve.count, [2, 2, 2])
    empty = accuracy_per_interval([0], [0], [1.0], edges=[0, 2, 4])
    assert empty.accuracy[0] == 1.0 and np.isnan(empty.accuracy[1])


def test_classification_accumulator_matches_the_one_shot_functions():
    g = torch.Generator().manual_seed(0)
    scores = torch.rand(50, 5, generator=g)
    targets = torch.randint(0, 5, (50,), generator=g)
    levels = torch.randint(-1, 3, (50,), generator=g)
    params = torch.randint(1, 5, (50,), generator=g).float()
    acc = ClassificationMetrics(num_classes=5, topk=(1, 3))
    for s in range(0, 50, 16):
        acc.update(scores[s:s + 16], targets[s:s + 16], levels=levels[s:s + 16], params=params[s:s + 16])
    r = acc.compute()
    assert r.num_samples == 50
    assert r.accuracy == accuracy(scores, targets) == r.topk[1]
    assert r.topk[3] == topk_accuracy(scores, targets, k=3)
    np.testing.assert_array_equal(r.confusion, confusion_matrix(scores, targets, 5))
    assert r.per_level == accuracy_per_level(scores, targets, levels)
    np.testing.assert_allclose(r.parameter_curve.accuracy, accuracy_per_parameter(scores, targets, params).accuracy)
    doc = r.to_dict(["clean", "a", "b", "c", "d"])
    json.dumps(doc, allow_nan=False)
    assert set(doc["per_class"]) == {"clean", "a", "b", "c", "d"}


# --------------------------------------------------------------------------------------------------- detection


def _pred(boxes, scores, labels):
    return {"boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
            "scores": torch.tensor(scores, dtype=torch.float32), "labels": torch.tensor(labels, dtype=torch.int64)}


def _gt(boxes, labels):
    return {"boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
            "labels": torch.tensor(labels, dtype=torch.int64)}


def test_average_precision_all_point_and_101_point_by_hand():
    # 3 ground-truth boxes; detections in score order: TP, FP, TP, FP, FP
    recall, precision = precision_recall(np.array([1, 0, 1, 0, 0], bool), num_gt=3)
    np.testing.assert_allclose(recall, [1 / 3, 1 / 3, 2 / 3, 2 / 3, 2 / 3])
    np.testing.assert_allclose(precision, [1, 1 / 2, 2 / 3, 1 / 2, 2 / 5])
    # envelope 1, 2/3, 2/3, 1/2, 2/5: area = 1/3 * 1 + 1/3 * 2/3
    assert average_precision(recall, precision) == pytest.approx(1 / 3 + 2 / 9)
    # recall points 0..0.33 -> 1 (34 of them), 0.34..0.66 -> 2/3 (33), 0.67..1 -> 0
    assert average_precision(recall, precision, "101-point") == pytest.approx((34 + 33 * 2 / 3) / 101)
    assert average_precision([], [], "all-point") == 0.0


def test_detection_ap_by_hand_at_two_thresholds():
    gt = [_gt([[0, 0, 10, 10], [20, 0, 30, 10]], [1, 1])]
    # exact hit (0.9), duplicate of it (0.8), IoU 0.6 with the second box (0.7)
    pred = [_pred([[0, 0, 10, 10], [0, 0, 10, 10], [20, 0, 30, 6]], [0.9, 0.8, 0.7], [1, 1, 1])]
    r = detection_metrics(pred, gt)
    # IoU 0.5: TP FP TP -> recall .5 .5 1, precision 1 .5 2/3 -> AP = .5 + .5 * 2/3
    assert r.map(0.5) == pytest.approx(0.5 + 1 / 3)
    # IoU 0.75 and 0.9: TP FP FP -> AP = .5
    assert r.map(0.75) == pytest.approx(0.5)
    assert r.map(0.9) == pytest.approx(0.5)
    np.testing.assert_array_equal(r.num_gt, [2])
    np.testing.assert_array_equal(r.num_det, [3])


def test_voc_and_coco_matching_differ_on_overlapping_ground_truth():
    gt = [_gt([[0, 0, 10, 10], [0, 2, 10, 12]], [1, 1])]
    # det 2 overlaps box A (IoU 0.905, already taken) more than box B (IoU 0.739)
    pred = [_pred([[0, 0, 10, 10], [0, 0.5, 10, 10.5]], [0.9, 0.8], [1, 1])]
    assert box_iou_numpy(np.array([[0, 0.5, 10, 10.5]]), np.array([[0, 2, 10, 12]]))[0, 0] == pytest.approx(85 / 115)
    voc = detection_metrics(pred, gt, matching="voc")
    coco = detection_metrics(pred, gt, matching="coco")
    assert voc.map(0.5) == pytest.approx(0.5)   # best box taken -> false positive
    assert coco.map(0.5) == pytest.approx(1.0)  # next free box with IoU >= 0.5 -> true positive
    assert coco.map(0.75) == pytest.approx(0.5)


def _random_scene(seed, n_img=20, side=300, num_classes=3):
    """Ground truth + plausible detections (jittered copies, wrong labels, random boxes), numpy arrays."""
    rng = np.random.default_rng(seed)
    preds, targets = [], []
    for _ in range(n_img):
        g = int(rng.integers(1, 6))
        wh = rng.uniform(0.05, 0.7, (g, 2)) * side
        xy = rng.uniform(0, 1, (g, 2)) * (side - wh)
        gb = np.concatenate([xy, xy + wh], 1)
        gl = rng.integers(1, num_classes + 1, g)
        keep = rng.random(g) < 0.8
        jb = gb[keep] + rng.normal(0, 0.08, (int(keep.sum()), 4)) * np.tile(wh[keep], 2)
        jb = np.concatenate([np.minimum(jb[:, :2], jb[:, 2:]), np.maximum(jb[:, :2], jb[:, 2:])], 1)
        jl = np.where(rng.random(int(keep.sum())) < 0.85, gl[keep], rng.integers(1, num_classes + 1, int(keep.sum())))
        r = int(rng.integers(0, 5))
        rwh = rng.uniform(0.05, 0.7, (r, 2)) * side
        rxy = rng.uniform(0, 1, (r, 2)) * (side - rwh)
        boxes = np.concatenate([jb, np.concatenate([rxy, rxy + rwh], 1)])
        labels = np.concatenate([jl, rng.integers(1, num_classes + 1, r)])
        preds.append({"boxes": boxes, "scores": rng.random(len(boxes)), "labels": labels})
        targets.append({"boxes": gb, "labels": gl})
    return preds, targets


def test_ground_truth_used_as_detections_scores_exactly_one():
    _, targets = _random_scene(1)
    preds = [{"boxes": t["boxes"], "scores": np.ones(len(t["boxes"])), "labels": t["labels"]} for t in targets]
    for matching in ("voc", "coco"):
        r = detection_metrics(preds, targets, matching=matching, image_size=(300, 300))
        assert np.all(r.ap == 1.0) and np.all(r.ap101 == 1.0)
        assert r.map(0.5) == r.map(0.75) == r.map(0.9) == r.coco_map == 1.0
        has_gt = r.num_gt_by_size > 0
        assert np.all(r.ap_by_size[has_gt] == 1.0) and np.all(np.isnan(r.ap_by_size[~has_gt]))


def test_classes_without_ground_truth_are_nan_and_left_out_of_the_mean():
    gt = [_gt([[0, 0, 10, 10]], [1])]
    pred = [_pred([[0, 0, 10, 10], [50, 50, 60, 60]], [0.9, 0.8], [1, 2])]
    r = detection_metrics(pred, gt, class_ids=[1, 2, 3])
    np.testing.assert_array_equal(r.class_ids, [1, 2, 3])
    assert r.ap_at(0.5)[0] == 1.0 and np.isnan(r.ap_at(0.5)[1]) and np.isnan(r.ap_at(0.5)[2])
    assert r.map(0.5) == 1.0
    # a class with ground truth and no detection scores 0
    r = detection_metrics([_pred([], [], [])], [_gt([[0, 0, 10, 10]], [4])])
    assert r.map(0.5) == 0.0


def test_ap_by_region_size_buckets():
    # 100x100 image: a small box (size 0.15) missed, a large one (0.5) found, a small false positive
    gt = [_gt([[0, 0, 15, 15], [40, 40, 90, 90]], [1, 1])]
    pred = [_pred([[40, 40, 90, 90], [70, 0, 84, 14]], [0.9, 0.95], [1, 1])]
    np.testing.assert_allclose(region_size(gt[0]["boxes"], (100, 100)), [0.15, 0.5])
    r = detection_metrics(pred, gt, image_size=(100, 100), size_edges=(0.0, 0.1, 0.2, 0.4, 0.6, 1.0))
    np.testing.assert_array_equal(r.num_gt_by_size[0], [0, 1, 0, 1, 0])
    by_size = r.map_by_size(0.5)
    assert np.isnan(by_size[0]) and by_size[1] == 0.0 and np.isnan(by_size[2]) and by_size[3] == 1.0
    # overall: FP (0.95) then TP (0.9): recall 0, .5; precision 0, .5 -> AP .25
    assert r.map(0.5) == pytest.approx(0.25)


def test_streaming_updates_equal_one_update():
    preds, targets = _random_scene(2)
    whole = detection_metrics(preds, targets, image_size=(300, 300))
    acc = DetectionMetrics(image_size=(300, 300))
    for s in range(0, len(preds), 7):
        acc.update(preds[s:s + 7], targets[s:s + 7])
    parts = acc.compute()
    np.testing.assert_array_equal(parts.ap, whole.ap)
    np.testing.assert_array_equal(parts.ap_by_size, whole.ap_by_size)
    acc.reset()
    acc.update(preds[:1], targets[:1])
    assert acc.compute().num_gt.sum() == len(targets[0]["labels"])


def _pycocotools_ap(preds, targets, side, edges, num_classes=3):
    """Per-class 101-point AP [T, K, 1 + B] from pycocotools, area ranges from our size buckets."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    anns, dets = [], []
    for i, (p, t) in enumerate(zip(preds, targets)):
        for b, lab in zip(t["boxes"], t["labels"]):
            w, h = b[2] - b[0], b[3] - b[1]
            anns.append({"id": len(anns) + 1, "image_id": i + 1, "category_id": int(lab),
                         "bbox": [b[0], b[1], w, h], "area": w * h, "iscrowd": 0})
        for b, s, lab in zip(p["boxes"], p["scores"], p["labels"]):
            dets.append({"image_id": i + 1, "category_id": int(lab), "score": float(s),
                         "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]]})
    gt = COCO()
    gt.dataset = {"images": [{"id": i + 1, "width": side, "height": side} for i in range(len(targets))],
                  "annotations": anns, "categories": [{"id": k} for k in range(1, num_classes + 1)]}
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
        ev = COCOeval(gt, gt.loadRes(dets), "bbox")
        ranges = [[(lo * side) ** 2, (hi * side) ** 2] for lo, hi in zip(edges[:-1], edges[1:])]
        ev.params.areaRng = [[0, 1e10]] + ranges
        ev.params.areaRngLbl = [str(i) for i in range(len(ev.params.areaRng))]
        ev.evaluate()
        ev.accumulate()
    precision = ev.eval["precision"][..., -1]  # [T, R, K, A] at maxDets 100
    return np.where((precision > -1).all(axis=1), precision.mean(axis=1), np.nan)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_per_class_ap_matches_pycocotools(seed):
    """With COCO's matching and 101-point rule our per-class AP equals pycocotools' to 1e-12, in every area
    range; our all-point AP on the same curves differs by at most 1/101 + 1/100 < 0.02 (a bound, proven in
    average_precision's docstring: both are Riemann sums of the same non-increasing envelope)."""
    side, edges = 300, (0.0, 0.2, 0.4, 0.7, 1.0)
    preds, targets = _random_scene(seed, side=side)
    ref = _pycocotools_ap(preds, targets, side, edges)
    r = detection_metrics(preds, targets, matching="coco", image_size=(side, side), size_edges=edges)
    np.testing.assert_array_equal(r.class_ids, [1, 2, 3])
    np.testing.assert_allclose(r.iou_thresholds, COCO_IOU_THRESHOLDS)
    np.testing.assert_allclose(r.ap101.T, ref[:, :, 0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(r.ap101_by_size.transpose(2, 0, 1), ref[:, :, 1:], rtol=0, atol=1e-12)
    assert r.coco_map == pytest.approx(np.nanmean(ref[:, :, 0]), abs=1e-12)
    assert np.nanmax(np.abs(r.ap.T - ref[:, :, 0])) < 1 / 101 + 1 / 100
    assert 0.05 < r.coco_map < 0.95  # the scene is neither trivial nor hopeless


def test_detection_result_to_dict_is_json():
    preds, targets = _random_scene(3, n_img=4)
    doc = detection_metrics(preds, targets, image_size=(300, 300)).to_dict({1: "jpeg", 2: "blur", 3: "noise"})
    json.dumps(doc, allow_nan=False)
    assert {"mAP@0.5", "mAP@0.75", "mAP@0.9", "mAP@[.5:.95]"} <= set(doc)
    assert set(doc["per_class"]) == {"jpeg", "blur", "noise"}
    assert len(doc["by_size"]["mAP@0.9"]) == 8


def test_detection_input_errors_are_one_line_distortx_errors():
    gt = [_gt([[0, 0, 10, 10]], [1])]
    with pytest.raises(MetricError, match="1 predictions for 2 targets"):
        detection_metrics([_pred([], [], [])], gt * 2)
    with pytest.raises(MetricError, match="dict with keys boxes, scores, labels"):
        detection_metrics([{"boxes": torch.zeros(0, 4)}], gt)
    with pytest.raises(MetricError, match=r"expected \[K, 4\] xyxy"):
        detection_metrics([{"boxes": torch.zeros(2, 5), "scores": torch.ones(2), "labels": torch.ones(2)}], gt)
    with pytest.raises(MetricError, match="must be finite"):
        detection_metrics([_pred([[0, 0, float("nan"), 1]], [0.5], [1])], gt)
    with pytest.raises(MetricError, match="matching must be"):
        DetectionMetrics(matching="pascal")
    m = DetectionMetrics()
    m.update([_pred([], [], [])], gt, image_sizes=[(20, 20)])
    with pytest.raises(MetricError, match="some images only"):
        m.update([_pred([], [], [])], gt)
    with pytest.raises(MetricError, match="IoU 0.42 was not evaluated"):
        m.compute().map(0.42)
    assert issubclass(MetricError, DistortxError)

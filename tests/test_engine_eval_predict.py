"""evaluate and predict end to end on a tiny trained Y-net, and the tiling arithmetic of predict."""
from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from distortx.engine.training.config import load_config
from distortx.engine.inference.predict import Predictor, predict, tile_origins
from distortx.engine.training.train import Trainer
from distortx.models.output import ModelOutput

DET = """
name = "tiny-det"
task = "detection"
distortions = ["gaussian_noise", "gaussian_blur"]
level_mode = "variable"
crop = 64
regions = [1, 2]
region_ratio = [0.4, 0.6]
per_image = 3
[splits]
train = 0.67
test = 0.33
"""
CLS = """
name = "tiny-cls"
task = "classification"
distortions = ["gaussian_noise", "gaussian_blur"]
level_mode = "grid"
include_reference = true
crop = 64
[level_sets]
gaussian_noise = "ahn"
gaussian_blur = "ahn"
[splits]
train = 0.67
test = 0.33
"""


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    d = tmp_path_factory.mktemp("engine")
    (d / "det.toml").write_text(DET)
    (d / "cls.toml").write_text(CLS)
    cfg = load_config(base={
        "model": {"arch": "ynet", "backbone": "dx_small"},
        "data": {"detection": {"preset": str(d / "det.toml"), "batch_size": 3},
                 "classification": {"preset": str(d / "cls.toml"), "batch_size": 4}},
        "optim": {"name": "adamw", "lr": 1e-3}, "schedule": {"name": "constant"},
        "train": {"steps": 4, "out": str(d / "run"), "eval_batches": 1, "threads": 1},
    })
    Trainer(cfg, progress=False).run()
    return d


def test_evaluate_writes_tables_metrics_and_figures(run, tmp_path):
    from distortx.engine.evaluation.evaluate import evaluate

    rep = evaluate(run / "run", [str(run / "det.toml"), str(run / "cls.toml")], out=tmp_path / "ev", max_batches=2)
    tables = rep.tables()
    for needle in ("| **mAP** |", "AP@0.5 | AP@0.75 | AP@0.9", "| overall |", "| false alarms on clean images |",
                   "| L1 | L2 | L3 |", "images/s"):
        assert needle in tables, needle
    m = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert set(m["detection"]) >= {"mAP@0.5", "mAP@0.75", "mAP@0.9", "mAP@[.5:.95]", "per_class", "by_size"}
    assert 0 <= m["classification"]["accuracy"] <= 1 and m["classification"]["num_samples"] > 0
    for fig in ("confusion_matrix.png", "accuracy_per_level.png", "map_vs_iou.png", "ap_vs_region_size.png"):
        assert (tmp_path / "ev" / fig).stat().st_size > 1000, fig
    s = rep.summary()
    assert {"detection/map50", "detection/map75", "detection/map90", "classification/accuracy"} <= set(s)


def test_predict_names_classes_and_writes_outputs(run, tmp_path):
    from distortx.data.samples import load_sample
    from distortx.io import read_image, save_image

    img = load_sample("coffee")[:, :100, :130]
    save_image(tmp_path / "photo.png", img)
    preds = predict([str(tmp_path / "photo.png")], model=run / "run", out=tmp_path / "out", score_threshold=0.0)
    p = preds[0]
    # the training crop (64) is the tile, overlapping by 64 // 6 = 10 px: 3 columns x 2 rows
    assert (p.width, p.height, p.tiles) == (130, 100, 6) and tile_origins(130, 64, 10) == [0, 54, 66]
    names = [n for n, _ in p.probabilities]
    assert sorted(names) == ["clean", "gaussian_blur", "gaussian_noise"]
    assert abs(sum(q for _, q in p.probabilities) - 1) < 1e-5
    for r in p.regions:
        assert r.type in ("gaussian_noise", "gaussian_blur")
        x0, y0, x1, y1 = r.box
        assert 0 <= x0 <= x1 <= 130 and 0 <= y0 <= y1 <= 100
    records = json.loads((tmp_path / "out" / "predictions.json").read_text())
    assert records[0]["label"] == p.label and records[0]["file"].endswith("photo.png")
    coco = json.loads((tmp_path / "out" / "coco_results.json").read_text())
    assert [c["name"] for c in coco["categories"]] == ["gaussian_noise", "gaussian_blur"]
    assert len(coco["annotations"]) == len(p.regions)
    drawn = read_image(tmp_path / "out" / "photo.png")
    assert drawn.shape == (3, 100, 130)


def test_tile_origins_cover_the_photo():
    assert tile_origins(300, 300, 50) == [0]
    assert tile_origins(200, 300, 50) == [0]
    assert tile_origins(700, 300, 50) == [0, 250, 400]
    for n in (301, 555, 1000):
        starts = tile_origins(n, 300, 50)
        assert starts[0] == 0 and starts[-1] + 300 == n
        assert all(b - a <= 250 for a, b in zip(starts, starts[1:]))


class FixedTileModel(nn.Module):
    """Every tile: class probabilities (0.2, 0.8) and one 'blur' box at tile pixels (100, 100, 200, 200)."""

    classes = ("clean", "gaussian_blur")
    det_classes = ("background", "gaussian_blur")
    config = {"image_size": 300}

    def __init__(self):
        super().__init__()
        self.p = nn.Parameter(torch.zeros(1))

    def forward(self, x, postprocess=None):
        n = x.shape[0]
        logits = torch.log(torch.tensor([[0.2, 0.8]])).repeat(n, 1)
        det = [{"boxes": torch.tensor([[100.0, 100.0, 200.0, 200.0]]), "scores": torch.tensor([0.9]),
                "labels": torch.tensor([1])} for _ in range(n)]
        return ModelOutput(logits=logits, detections=det)


def test_predictor_maps_tile_boxes_to_the_photo():
    pred = Predictor(FixedTileModel(), overlap=50)(torch.rand(3, 400, 700), "x")
    assert pred.tiles == 2 * 3 and pred.label == "gaussian_blur"
    assert pred.probabilities[0][1] == pytest.approx(0.8)
    boxes = sorted(tuple(round(v) for v in r.box) for r in pred.regions)
    # tile origins: y in (0, 100), x in (0, 250, 400); every tile's box, shifted, survives (none in an overlap band)
    expected = sorted((x + 100, y + 100, x + 200, y + 200) for y in (0, 100) for x in (0, 250, 400))
    # boxes of the y=0 and y=100 tiles overlap by IoU 0.33 < 0.45: both kept
    assert boxes == expected


def test_predictor_pads_small_photos_and_downscales_huge_ones():
    small = Predictor(FixedTileModel())(torch.rand(3, 120, 90), "small")
    assert small.tiles == 1 and (small.width, small.height) == (90, 120)
    for r in small.regions:  # the fixed box lies in the padding beyond 90 px: clipped to the photo
        assert r.box[2] <= 90 and r.box[3] <= 120
    huge = Predictor(FixedTileModel(), max_side=1000)(torch.rand(3, 2100, 900), "huge")
    assert huge.downscale == 3 and (huge.width, huge.height) == (900, 2100)
    assert all(v <= 2100 for r in huge.regions for v in r.box)


class WhiteSquareModel(nn.Module):
    """An exact detector of bright pixels: each tile's box = the bounding box of its pixels > 0.5 (score 0.9)."""

    classes = ("clean", "gaussian_blur")
    det_classes = ("background", "gaussian_blur")

    def __init__(self, tile):
        super().__init__()
        self.config = {"image_size": tile}
        self.p = nn.Parameter(torch.zeros(1))

    def forward(self, x, postprocess=None):
        dets = []
        for img in x:
            ys, xs = torch.nonzero(img[0] > 0.5, as_tuple=True)
            if ys.numel():
                box = torch.tensor([[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]], dtype=torch.float32)
                dets.append({"boxes": box, "scores": torch.tensor([0.9]), "labels": torch.tensor([1])})
            else:
                dets.append({"boxes": torch.zeros(0, 4), "scores": torch.zeros(0), "labels": torch.zeros(0, dtype=torch.int64)})
        return ModelOutput(logits=torch.zeros(x.shape[0], 2), detections=dets)


def _square(h, w, box):
    img = torch.zeros(3, h, w)
    x0, y0, x1, y1 = box
    img[:, y0:y1, x0:x1] = 1.0
    return img


@pytest.mark.parametrize("tile, size, box", [
    (300, (300, 600), (200, 60, 400, 240)),    # a region across the x seams of three tiles
    (300, (600, 300), (40, 180, 260, 420)),    # across the y seams
    (192, (300, 300), (60, 80, 220, 230)),     # v1's fragments case: a 192-px model tiling Ahn's 300-px image
    (192, (300, 300), (100, 90, 260, 210)),
])
def test_a_region_cut_by_tile_seams_comes_back_as_one_box(tile, size, box):
    from distortx.detection import box_iou

    pred = Predictor(WhiteSquareModel(tile))(_square(*size, box), "x")
    assert pred.tiles > 1
    assert len(pred.regions) == 1, [r.box for r in pred.regions]
    iou = float(box_iou(torch.tensor([pred.regions[0].box]), torch.tensor([box], dtype=torch.float32)))
    assert iou >= 0.8


def test_merge_seam_fragments_rules():
    from distortx.engine.inference.predict import merge_seam_fragments

    boxes = torch.tensor([[0., 0., 100., 100.], [98., 5., 180., 95.], [300., 0., 350., 50.], [98., 200., 180., 260.]])
    scores = torch.tensor([0.6, 0.9, 0.8, 0.7])
    labels = torch.tensor([1, 1, 1, 1])
    cut = torch.zeros(4, 4, dtype=torch.bool)
    cut[0, 2] = True                                       # box 0 is cut on its right side
    b, s, lab = merge_seam_fragments(boxes, scores, labels, cut, tol=4)
    got = sorted((tuple(round(v) for v in x), round(float(y), 2)) for x, y in zip(b.tolist(), s))
    # 0 + 1 joined (union, max score); 2 too far; 3 overlaps 0 along y by nothing
    assert got == [((0, 0, 180, 100), 0.9), ((98, 200, 180, 260), 0.7), ((300, 0, 350, 50), 0.8)]
    # no cut side: nothing is joined; another label: nothing is joined
    assert merge_seam_fragments(boxes, scores, labels, torch.zeros(4, 4, dtype=torch.bool), tol=4)[0].shape[0] == 4
    assert merge_seam_fragments(boxes, scores, torch.tensor([1, 2, 1, 1]), cut, tol=4)[0].shape[0] == 4

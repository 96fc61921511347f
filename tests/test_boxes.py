"""SSD box utilities: default boxes (golden values), encode/decode, ground-truth matching."""
import math

import pytest
import torch

from distortx.detection import (BACKGROUND, LOG_SCALE_CLAMP, SSD300, SSD512, PriorConfig, assign_targets, box_iou,
                                cxcywh_to_xyxy, decode, default_boxes, encode, match, ssd_config, xyxy_to_cxcywh)
from distortx.errors import ParameterError


def f32(*values):
    """float64 values rounded once to float32 (how default_boxes computes)."""
    return torch.tensor(values, dtype=torch.float64).float()


# -- default boxes ----------------------------------------------------------------------------------------------
def test_ssd300_counts():
    assert SSD300.boxes_per_location() == (4, 6, 6, 6, 4, 4)
    assert SSD300.boxes_per_map() == (5776, 2166, 600, 150, 36, 4)
    assert SSD300.num_priors() == 8732
    boxes = default_boxes()
    assert boxes.shape == (8732, 4) and boxes.dtype == torch.float32
    assert default_boxes(SSD512).shape == (24564, 4)  # the SSD512 paper count


def test_ssd300_first_cell_golden_values():
    boxes = default_boxes()
    c = 0.5 / 37.5  # 300 / 8 = 37.5 cells per unit
    s, sp, r = 0.1, math.sqrt(0.1 * 0.2), math.sqrt(2.0)
    expected = torch.stack([f32(c, c, s, s), f32(c, c, sp, sp), f32(c, c, s * r, s / r), f32(c, c, s / r, s * r)])
    assert torch.equal(boxes[:4], expected)
    # next cell to the right (column 1, row 0), then the first cell of row 1
    assert torch.equal(boxes[4], f32(1.5 / 37.5, c, s, s))
    assert torch.equal(boxes[4 * 38], f32(c, 1.5 / 37.5, s, s))


def test_ssd300_map_starts_and_last_cell():
    boxes = default_boxes()
    # map 2 (19x19, step 16, min 60, max 111, ratios 2 and 3) starts at 5776
    c, s = 0.5 / 18.75, 0.2
    sp = math.sqrt(0.2 * 111 / 300)
    r2, r3 = math.sqrt(2.0), math.sqrt(3.0)
    expected = torch.stack([f32(c, c, s, s), f32(c, c, sp, sp), f32(c, c, s * r2, s / r2), f32(c, c, s / r2, s * r2),
                            f32(c, c, s * r3, s / r3), f32(c, c, s / r3, s * r3)])
    assert torch.equal(boxes[5776:5782], expected)
    # the 1x1 map: centre 0.5, s = 0.88, s' = sqrt(0.88 * 1.05); the wide box is clipped to w = 1
    s, sp = 264 / 300, math.sqrt(264 / 300 * 315 / 300)
    expected = torch.stack([f32(0.5, 0.5, s, s), f32(0.5, 0.5, sp, sp), f32(0.5, 0.5, 1.0, s / r2),
                            f32(0.5, 0.5, s / r2, 1.0)])
    assert torch.equal(boxes[-4:], expected)


def test_clip_and_unclipped():
    boxes = default_boxes()
    assert float(boxes.min()) >= 0.0 and float(boxes.max()) <= 1.0
    raw = default_boxes(PriorConfig(clip=False))
    assert float(raw[:, 2:].max()) == pytest.approx(264 / 300 * math.sqrt(2), rel=1e-6)
    assert torch.equal(raw.clamp(0, 1), boxes)


def test_ssd_config_generator():
    assert ssd_config(300, (38, 19, 10, 5, 3, 1), steps=SSD300.steps) == SSD300
    cfg = ssd_config(512, (64, 32, 16, 8, 4, 2, 1))
    assert cfg.min_sizes[0] == pytest.approx(51.2) and cfg.max_sizes[-1] == pytest.approx(512 * 1.04)  # d = 70 // 5 = 14: 90 + 14 %
    assert cfg.boxes_per_location() == (4, 6, 6, 6, 6, 4, 4)
    boxes = default_boxes(cfg)
    assert boxes.shape == (cfg.num_priors(), 4) == (64 * 64 * 4 + 32 * 32 * 6 + 16 * 16 * 6 + 8 * 8 * 6 + 4 * 4 * 6 + 4 * 4 + 4, 4)
    # default steps put the centres on the map grid: the first map's last centre is (63.5 / 64)
    assert float(boxes[64 * 4 - 4, 0]) == pytest.approx(63.5 / 64)


def test_config_validation():
    with pytest.raises(ParameterError):
        PriorConfig(steps=(8, 16))
    with pytest.raises(ParameterError):
        PriorConfig(min_sizes=(30, 60, 111, 162, 213, 400))
    with pytest.raises(ParameterError):
        ssd_config(300, (10,))


# -- box coding -------------------------------------------------------------------------------------------------
def test_encode_known_values():
    prior = torch.tensor([[0.5, 0.5, 0.2, 0.4]])
    box = torch.tensor([[0.42, 0.3, 0.62, 0.7]])  # centre +0.02 in x, same size
    assert torch.allclose(encode(box, prior), torch.tensor([[1.0, 0.0, 0.0, 0.0]]), atol=1e-5)
    box = torch.tensor([[0.3, 0.1, 0.7, 0.9]])  # twice the prior in both directions
    assert torch.allclose(encode(box, prior), torch.tensor([[0.0, 0.0, math.log(2) / 0.2, math.log(2) / 0.2]]), atol=1e-5)


def test_round_trip_and_torchvision_boxcoder():
    from torchvision.models.detection._utils import BoxCoder

    g = torch.Generator().manual_seed(0)
    priors = default_boxes()[::7]
    centre = torch.rand(priors.shape[0], 2, generator=g)
    size = torch.rand(priors.shape[0], 2, generator=g) * 0.5 + 0.01
    gt = cxcywh_to_xyxy(torch.cat([centre, size], 1))
    loc = encode(gt, priors)
    assert torch.allclose(decode(loc, priors), gt, atol=2e-6)
    assert torch.allclose(xyxy_to_cxcywh(cxcywh_to_xyxy(priors)), priors, atol=1e-7)
    coder = BoxCoder(weights=(10.0, 10.0, 5.0, 5.0))
    anchors = cxcywh_to_xyxy(priors)
    assert torch.allclose(coder.encode_single(gt, anchors), loc, atol=1e-4)
    assert torch.allclose(coder.decode_single(loc, anchors), decode(loc, priors), atol=2e-6)


def test_decode_clamps_log_scale_and_keeps_nan():
    prior = torch.tensor([[0.5, 0.5, 0.1, 0.1]])
    loc = torch.tensor([[[0.0, 0.0, 1e4, math.inf], [0.0, 0.0, -math.inf, 0.0], [math.nan, 0.0, 0.0, 0.0]]])
    out = decode(loc, prior.expand(3, 4))[0]
    w_max = 0.1 * math.exp(LOG_SCALE_CLAMP)  # 6.25: 62.5x the prior
    assert torch.allclose(out[0], torch.tensor([0.5 - w_max / 2, 0.5 - w_max / 2, 0.5 + w_max / 2, 0.5 + w_max / 2]))
    assert torch.equal(out[1, [0, 2]], torch.tensor([0.5, 0.5]))  # exp(-inf) = 0: an empty box, still finite
    assert torch.isnan(out[2, [0, 2]]).all() and torch.isfinite(out[2, [1, 3]]).all()


def test_variances_validated():
    with pytest.raises(ParameterError):
        decode(torch.zeros(1, 4), torch.ones(1, 4), variances=(0.1, 0.0))


# -- matching ---------------------------------------------------------------------------------------------------
PRIORS_XYXY = torch.tensor([
    [0.0, 0.0, 1.0, 1.0],   # 0
    [0.0, 0.0, 2.0, 1.0],   # 1
    [4.0, 4.0, 5.0, 5.0],   # 2
    [4.0, 4.0, 6.0, 6.0],   # 3
    [10.0, 10.0, 11.0, 11.0],  # 4
    [20.0, 20.0, 21.0, 21.0],  # 5
])


def test_box_iou_values():
    iou = box_iou(PRIORS_XYXY[:2], PRIORS_XYXY[:4])
    assert torch.equal(iou, torch.tensor([[1.0, 0.5, 0.0, 0.0], [0.5, 1.0, 0.0, 0.0]]))


def test_match_threshold_and_forcing():
    gt = torch.tensor([
        [0.0, 0.0, 2.0, 1.0],     # gt 0: IoU 1 with prior 1, exactly 0.5 with prior 0 (>= 0.5 -> matched)
        [4.0, 4.0, 5.9, 5.9],     # gt 1: IoU 0.9025^.. with prior 3 (0.9025), 0.277 with prior 2
        [10.0, 10.0, 13.0, 13.0],  # gt 2: best IoU 1/9 with prior 4 -> below 0.5, forced
    ])
    idx = match(gt, PRIORS_XYXY)
    assert idx.dtype == torch.int64
    assert idx.tolist() == [0, 0, BACKGROUND, 1, 2, BACKGROUND]


def test_match_conflicts_and_edge_cases():
    # two ground truths whose best prior is prior 0: the prior's own best (gt 0, IoU 1) loses to forcing by the
    # later gt 1; gt 0 still keeps prior 1 through the threshold (IoU 0.5)
    gt = torch.tensor([[0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 0.9, 0.9]])
    assert match(gt, PRIORS_XYXY).tolist() == [1, 0, -1, -1, -1, -1]
    # ground truth overlapping no prior is not forced anywhere
    assert match(torch.tensor([[50.0, 50.0, 51.0, 51.0]]), PRIORS_XYXY).tolist() == [-1] * 6
    assert match(torch.zeros(0, 4), PRIORS_XYXY).tolist() == [-1] * 6
    with pytest.raises(ParameterError):
        match(torch.tensor([[0.0, 0.0, math.nan, 1.0]]), PRIORS_XYXY)
    # either side of the threshold for a prior that is not forced (prior 1 is the gt's best and is forced)
    below = torch.tensor([[0.0, 0.0, 1.0 / 0.499, 1.0]])  # IoU with prior 0 = 0.499
    above = torch.tensor([[0.0, 0.0, 1.0 / 0.501, 1.0]])  # IoU with prior 0 = 0.501
    assert match(below, PRIORS_XYXY).tolist()[:2] == [BACKGROUND, 0]
    assert match(above, PRIORS_XYXY).tolist()[:2] == [0, 0]


def test_assign_targets():
    priors = xyxy_to_cxcywh(PRIORS_XYXY)
    gt = torch.tensor([[0.0, 0.0, 2.0, 1.0], [4.0, 4.0, 5.9, 5.9]])
    labels_in = torch.tensor([3, 7])
    loc, labels = assign_targets(gt, labels_in, priors)
    assert labels.tolist() == [3, 3, 0, 7, 0, 0]
    assert torch.equal(loc[1], torch.zeros(4))  # gt 0 equals prior 1
    assert torch.equal(loc[[2, 4, 5]], torch.zeros(3, 4))
    assert torch.allclose(decode(loc[3:4], priors[3:4]), gt[1:2], atol=1e-6)
    loc, labels = assign_targets(torch.zeros(0, 4), torch.zeros(0, dtype=torch.int64), priors)
    assert labels.tolist() == [0] * 6 and torch.equal(loc, torch.zeros(6, 4))

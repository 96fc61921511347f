"""experiments/default_model/hidden_sides.py: which box sides later regions hide, and the visible extent."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "experiments" / "default_model"))

from hidden_sides import hidden_sides, visible_extent, with_true_sides  # noqa: E402


def test_a_later_box_hides_the_right_side_of_an_earlier_one():
    boxes = np.array([[10, 10, 60, 50], [40, 0, 100, 100]])  # the second covers x 40..99 over every row of the first
    hidden = hidden_sides(boxes, 100)
    assert hidden.tolist() == [[False, False, True, False], [False, False, False, False]]
    # the first box is seen from x 10 to 40 only
    assert visible_extent(boxes, 100).tolist() == [[10, 10, 40, 50], [40, 0, 100, 100]]


def test_a_side_half_covered_or_less_is_shown():
    # the later box covers rows 0..29 of the earlier box's right column (rows 10..49): 20 of 40 rows = one half
    boxes = np.array([[10, 10, 60, 50], [50, 0, 100, 30]])
    assert hidden_sides(boxes, 100)[0].tolist() == [False, False, False, False]
    assert visible_extent(boxes, 100)[0].tolist() == [10, 10, 60, 50]
    # an earlier box does not hide a later one's sides
    assert not hidden_sides(boxes, 100)[1].any()


def test_true_sides_replace_only_the_chosen_ones():
    gt = {"boxes": torch.tensor([[10., 10., 60., 50.], [40., 0., 100., 100.]]), "labels": torch.tensor([1, 2])}
    det = {"boxes": torch.tensor([[12., 8., 90., 52.]]), "scores": torch.tensor([0.9]), "labels": torch.tensor([1])}
    hidden = hidden_sides(gt["boxes"].numpy().astype(int), 100)
    assert with_true_sides(det, gt, hidden, "hidden")["boxes"].tolist() == [[12, 8, 60, 52]]
    assert with_true_sides(det, gt, hidden, "shown")["boxes"].tolist() == [[10, 10, 90, 50]]
    assert with_true_sides(det, gt, hidden, "all")["boxes"].tolist() == [[10, 10, 60, 50]]
    # another type is not matched: the box stays
    other = dict(det, labels=torch.tensor([2]))
    assert with_true_sides(other, gt, hidden, "all")["boxes"].tolist() == [[12, 8, 90, 52]]
